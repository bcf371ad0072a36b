"""Edge cases of ``ods_formats`` on files other producers (or hostile uploads) write: a content.xml
that stops after its last sheet (calamine reads it), a long sheet before the one read, thousands
of ``table:table-column`` elements each repeated to the sheet's width. Memory is measured with
``tracemalloc`` (allocations, not time)."""

from __future__ import annotations

import tracemalloc
import zipfile
from multiprocessing import get_context
from pathlib import Path

import python_calamine as calamine

from portail.ingest.readers.ods_formats import error_cells, zero_padded_columns
from tests.ingest.ods_xml import NAMESPACES, error, number, row, table, text, write_ods


def _error_cells_in_child(path: Path, sheet: str, queue) -> None:
    queue.put(error_cells(path, sheet))


def test_content_ending_right_after_its_last_sheet_is_read_to_its_end(tmp_path):
    """The XML stops after ``</table:table>``, its closing tags missing (calamine reads the sheet):
    the last bytes, shorter than a row's end tag, were waited on forever (a load spinning at 100 %
    CPU, never answering). Run in a child process so that a hang fails the test, not the run."""
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {NAMESPACES}><office:body>'
               f'<office:spreadsheet><table:table table:name="S">{row(text("a"), text("b"))}'
               f'{row(number(1), error("1/0", "#DIV/0!"))}</table:table>')
    path = tmp_path / "cut.ods"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                         'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry '
                         'manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
                         '</manifest:manifest>')
        archive.writestr("content.xml", content)
    assert list(calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("S").iter_rows()) == [
        ["a", "b"], [1.0, ""]]
    context = get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_error_cells_in_child, args=(path, "S", queue))
    child.start()
    child.join(60)  # a bound on a hang, not a measure of speed: the call takes milliseconds
    hung = child.is_alive()
    if hung:
        child.kill()
        child.join()
    assert not hung, "error_cells never returned"
    assert queue.get(timeout=5) == {(1, 1): "#DIV/0!"}


def _peak_mib(call) -> tuple[object, float]:
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_a_long_sheet_before_the_one_read_is_not_held_in_memory(tmp_path):
    """Formats are read from the chosen sheet, the second here: the first one's 30,000 rows were
    parsed into a tree held whole until its end (300 MB per 100,000 rows of five cells); the memory
    used no longer grows with it."""
    long = [row(number(i), text("x"), number(2 * i), number(3), text("y")) for i in range(30_000)]
    path = write_ods(tmp_path / "two.ods", [table("Long", long), table("Data", [row(text("code")),
                                                                                row(number(1001, "ce1"))])])
    widths, peak = _peak_mib(lambda: zero_padded_columns(path, "Data", 1))
    assert widths == {0: 5}
    # held whole: ~85 MiB; its rows emptied but kept as the sheet's children: 2.5 MiB; dropped: 0.3 MiB
    assert peak < 1.5, f"{peak:.1f} MiB"


def test_columns_repeated_beyond_the_sheet_width_are_not_expanded(tmp_path):
    """2,000 ``table:table-column`` elements of 16,384 columns each (a zip of 2 kB): each was capped
    at the sheet's width, not their sum, and made a list of 32 million styles (277 MB)."""
    columns = '<table:table-column table:number-columns-repeated="16384"/>' * 2000
    path = write_ods(tmp_path / "wide.ods", [table("Data", [row(text("code")), row(number(1001, "ce1"))], columns)])
    assert path.stat().st_size < 10_000
    widths, peak = _peak_mib(lambda: zero_padded_columns(path, "Data", 1))
    assert widths == {0: 5}
    assert peak < 20, f"{peak:.0f} MiB"


def test_error_cells_whose_formula_holds_a_greater_than_sign_are_placed(tmp_path):
    """XML lets an attribute's value hold ``>`` unescaped (LibreOffice writes ``&gt;``, other
    writers need not): a tag's attributes were cut at it, so the error marker after the formula
    was not seen, nor a ``number-columns-repeated`` after it (the cells after it misplaced)."""
    def failed(formula: str, repeated: int = 1) -> str:
        times = f' table:number-columns-repeated="{repeated}"' if repeated > 1 else ""
        return (f'<table:table-cell table:formula="of:={formula}"{times} office:value-type="string" '
                f'office:string-value="" calcext:value-type="error"><text:p>#DIV/0!</text:p></table:table-cell>')

    path = write_ods(tmp_path / "formulas.ods", [table("S", [
        row(text("a"), text("b"), text("c"), text("d")),
        row(number(1), failed("IF([.A2]>0;1/0;1)", repeated=2), failed("IF([.A2]<>0;1/0;1)")),
    ])])
    assert list(calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("S").iter_rows()) == [
        ["a", "b", "c", "d"], [1.0, "", "", ""]]
    assert error_cells(path, "S") == {(1, 1): "#DIV/0!", (1, 2): "#DIV/0!", (1, 3): "#DIV/0!"}
