"""The CSV export quotes a value only where it must (Opendatasoft's default, ``quote_all``
false; Python's ``csv.QUOTE_MINIMAL``): checked against Python's csv writer on random batches,
whichever of the export's two ways writes each batch (pyarrow's writer unquoted, or the cells
quoted one by one when pyarrow refuses a text holding the delimiter, a quote or a line break)."""

from __future__ import annotations

import csv
import io

import pyarrow as pa
from hypothesis import given, settings, strategies as st

from portail.exports.formats import ExportOptions, write_csv
from portail.schema import Field, FieldType

#: No character a formula starts with, nor a leading control: those cells are neutralised
#: (``'=…``), which tests/api/test_exports.py checks.
TEXT = st.text(alphabet="ab é;,|\"\n\r'\t", max_size=6).filter(lambda t: not t[:1] in ("\t", "\r", "\n"))
CELL = st.one_of(st.none(), TEXT)


def expected(rows: list[list], delimiter: str) -> bytes:
    """Python's csv module: a null as an empty cell (``""`` alone on its row, as it writes an
    empty lone field), the header first."""
    sink = io.StringIO()
    writer = csv.writer(sink, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    width = len(rows[0])
    writer.writerow([f"c{i}" for i in range(width)])
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return sink.getvalue().encode("utf-8")


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 3).flatmap(lambda width: st.lists(st.lists(CELL, min_size=width, max_size=width), min_size=1,
                                                         max_size=8)),
       st.sampled_from([";", ",", "\t", "|"]), st.integers(1, 4))
def test_cells_are_quoted_where_python_quotes_them(rows, delimiter, batch_size):
    width = len(rows[0])
    fields = [Field(f"c{i}", f"c{i}", FieldType.TEXT) for i in range(width)]
    table = pa.table({f"c{i}": pa.array([row[i] for row in rows], pa.string()) for i in range(width)})
    written = b"".join(write_csv(fields, iter(table.to_batches(max_chunksize=batch_size)),
                                 ExportOptions(delimiter=delimiter, with_bom=False)))
    assert written == expected(rows, delimiter)


def test_numbers_dates_and_texts_in_one_batch_quoted_where_needed():
    fields = [Field("code", "code", FieldType.TEXT), Field("n", "n", FieldType.INT), Field("x", "x", FieldType.DOUBLE),
              Field("d", "d", FieldType.DATE), Field("ok", "ok", FieldType.BOOLEAN)]
    batch = pa.record_batch([pa.array(["01001", 'dit "le bourg"', None]), pa.array([1, None, -3]),
                             pa.array([1.5, 2.25, None]), pa.array([0, 19000, None], pa.date32()),
                             pa.array([True, None, False])], names=[f.name for f in fields])
    text = b"".join(write_csv(fields, iter([batch]), ExportOptions(with_bom=False))).decode()
    assert text == ('code;n;x;d;ok\r\n01001;1;1.5;1970-01-01;True\r\n"dit ""le bourg""";;2.25;2022-01-08;\r\n'
                    ';-3;;;False\r\n')


def test_large_and_dictionary_texts_are_quoted_too():
    """pyarrow's unquoted writer refuses a delimiter in a plain string column only: a large or
    dictionary-encoded one was written ``a;b``, a cell too many."""
    fields = [Field("a", "a", FieldType.TEXT), Field("n", "n", FieldType.INT)]
    for column in (pa.array(["a;b", "c"], pa.large_string()), pa.array(["a;b", "c"]).dictionary_encode()):
        batch = pa.record_batch([column, pa.array([1, 2])], names=["a", "n"])
        assert b"".join(write_csv(fields, iter([batch]), ExportOptions(with_bom=False))) == b'a;n\r\n"a;b";1\r\nc;2\r\n'
