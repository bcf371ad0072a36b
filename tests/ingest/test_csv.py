"""CSV with French quirks, loaded through the real loader into real DuckDB version files."""

from __future__ import annotations

from datetime import date, timezone

import duckdb
import pytest

from portail.catalog import services
from portail.ingest import infer
from portail.ingest.errors import IngestError
from portail.ingest.readers.csv import _duckdb_reason, detect_encoding, sniff_delimiter
from portail.ingest.types import ReadOptions
from tests.ingest.files import load, rows, types, write


def test_encoding_is_decided_on_the_whole_file(tmp_path):
    # Pure ASCII for 50,000 lines, then one Windows-1252 character: a sample would say UTF-8.
    body = "nom;ville\n" + "a;b\n" * 50_000 + "Œuvre;Saint-Étienne – 5 €\n"
    path = write(tmp_path / "late.csv", body, "cp1252")
    assert detect_encoding(path) == "cp1252"
    assert detect_encoding(write(tmp_path / "u.csv", "é;è\n")) == "utf-8"
    assert detect_encoding(write(tmp_path / "bom.csv", "\ufeffa;b\n")) == "utf-8-sig"
    # 0x81 is undefined in Windows-1252: only Latin-1 decodes it.
    (tmp_path / "l1.csv").write_bytes(b"a;b\n\x81;\xe9\n")
    assert detect_encoding(tmp_path / "l1.csv") == "latin-1"


def test_mixed_encodings_are_refused_at_the_first_line_that_is_not_utf8(instance, tmp_path):
    """UTF-8 lines and one Windows-1252 line were all read as Windows-1252: mojibake everywhere."""
    path = tmp_path / "mixed.csv"
    path.write_bytes(("nom;ville\n" + "Élodie;Orléans\n" * 10).encode() + "Zoé;Besançon\n".encode("cp1252"))
    with pytest.raises(IngestError, match=r"^mixed.csv, line 12: the file mixes encodings.*--encoding"):
        load(instance, path)
    # Windows-1252 French whose bytes happen to hold a valid UTF-8 pair ("É" + no-break space) is not mixed,
    # nor when that pair, or a first accent cut by the end of a chunk, is far from the bytes that are not UTF-8.
    assert detect_encoding(write(tmp_path / "caps.csv", "titre\nÉTÉ\u00a0: café\n", "cp1252")) == "cp1252"
    far = "titre;n\nCAFÉ\u00a0!;1\n" + "abc;2\n" * 200_000 + "café;3\n"
    assert detect_encoding(write(tmp_path / "far.csv", far, "cp1252")) == "cp1252"
    from portail.ingest.readers.csv import CHUNK

    head = "t;n\n" + "x" * (CHUNK - 1 - len("t;n\n")) + "é"  # the accent is the first chunk's last byte
    cut = write(tmp_path / "cut.csv", head + ";1\nabc;2\nbé;3\n", "cp1252")
    assert detect_encoding(cut) == "cp1252"


def test_windows_1252_accents_come_out_right(instance, tmp_path):
    body = "nom;ville\n" + "a;b\n" * 50_000 + "Œuvre;Saint-Étienne – 5 €\n"
    load(instance, write(tmp_path / "late.csv", body, "cp1252"))
    last = rows(instance)[-1]
    assert last == {"nom": "Œuvre", "ville": "Saint-Étienne – 5 €"}


@pytest.mark.parametrize("delimiter", [";", ",", "\t", "|"])
def test_delimiter_sniffing(delimiter):
    sample = delimiter.join(["code", "libellé", "valeur"]) + "\n" + delimiter.join(['"01001"', '"A, B; C"', "1"]) + "\n"
    assert sniff_delimiter(sample * 3) == delimiter


def test_a_title_line_holding_a_comma_does_not_decide_the_delimiter(instance, tmp_path):
    """The width of the first line decided: a title "Population légale 2021, communes" gave ','
    two cells and ';' one, never considered, and the file was refused line 2."""
    assert sniff_delimiter("Population légale 2021, communes\ncode;nom\n01001;A\n01002;B\n") == ";"
    result = load(instance, write(tmp_path / "titre.csv", "Population légale 2021, communes\ncode;nom\n01001;A\n"))
    assert rows(instance) == [{"code": "01001", "nom": "A"}] and "delimiter ';'" in result.report.notes
    # a one-cell title above two columns, or above a header of years, was taken for the header
    load(instance, write(tmp_path / "deux.csv", "Population légale 2021\ncode;nom\n01002;B\n"), slug="deux")
    assert rows(instance, "deux") == [{"code": "01002", "nom": "B"}]
    load(instance, write(tmp_path / "annees.csv", "Population légale\ncommune;2020;2021\nParis;1;2\n"), slug="annees")
    assert rows(instance, "annees") == [{"commune": "Paris", "2020": 1, "2021": 2}]


def test_french_file_types(instance, tmp_path):
    text = (
        "Code INSEE;Commune;Montant;Date;Horodatage;Actif;Population\n"
        '01001;"L\'Abergement-Clémenciat";1 234,50;05/03/2021;2021-03-05T10:00:00+01:00;vrai;832\n'
        '2A004;Ajaccio;-12,5;31/12/2020;2021-03-05 11:30;faux;71361\n'
        '75056;"Paris, ""capitale""\nsur deux lignes";0,75;;2021-03-05 12:00;vrai;2133111\n'
    )
    result = load(instance, write(tmp_path / "fr.csv", text))
    assert types(result) == {"code_insee": "text", "commune": "text", "montant": "double", "date": "date",
                             "horodatage": "datetime", "actif": "boolean", "population": "int"}
    data = rows(instance)
    assert [r["code_insee"] for r in data] == ["01001", "2A004", "75056"]
    assert [r["montant"] for r in data] == [1234.5, -12.5, 0.75]
    assert data[0]["date"] == date(2021, 3, 5) and data[2]["date"] is None
    assert data[2]["commune"] == 'Paris, "capitale"\nsur deux lignes'
    assert data[1]["actif"] is False
    # Naive datetimes are read in the dataset's timezone (Europe/Paris): 11:30 there is 10:30 UTC.
    assert data[1]["horodatage"].astimezone().utctimetuple()[3:5] == (10, 30)


@pytest.mark.parametrize("written, utc", [
    ("2024-01-05T10:00+01:00", "2024-01-05T09:00:00+00:00"), ("2024-01-05T10:00Z", "2024-01-05T10:00:00+00:00"),
    ("2024-01-05 10:00+01:00", "2024-01-05T09:00:00+00:00"), ("2024-01-05T10:00-0530", "2024-01-05T15:30:00+00:00"),
    ("2024-01-05T10:00+01", "2024-01-05T09:00:00+00:00"), ("2024-01-05 10:00Z", "2024-01-05T10:00:00+00:00"),
    ("2024-01-05T10:00:00.250+01:00", "2024-01-05T09:00:00.250000+00:00"),
    ("2024-01-05 10:00:00Z", "2024-01-05T10:00:00+00:00")])
def test_iso_datetimes_with_an_offset_read_with_or_without_seconds(instance, tmp_path, written, utc):
    """``10:00+01:00`` passed the classification, but the engine reads an offset only after
    seconds: a column of them was refused as unreadable, and beside one value with seconds the
    others were stored null."""
    text = f"id;debut\n1;{written}\n2;2024-06-05T08:30:00+02:00\n3;{written}\n"
    result = load(instance, write(tmp_path / "dt.csv", text))
    assert types(result)["debut"] == "datetime" and result.report.rejected == {}
    stored = [r["debut"].astimezone(timezone.utc).isoformat() for r in rows(instance, order="ORDER BY id")]
    assert stored == [utc, "2024-06-05T06:30:00+00:00", utc]
    alone = f"id;debut\n1;{written}\n2;{written}\n"
    assert types(load(instance, write(tmp_path / "alone.csv", alone), "alone"))["debut"] == "datetime"
    assert rows(instance, "alone")[0]["debut"].astimezone(timezone.utc).isoformat() == utc


def test_month_first_dates_are_detected_from_the_data(instance, tmp_path):
    text = "d\n03/05/2021\n12/31/2020\n"
    result = load(instance, write(tmp_path / "us.csv", text))
    assert types(result)["d"] == "date"
    assert [r["d"] for r in rows(instance)] == [date(2021, 3, 5), date(2020, 12, 31)]


def test_codes_keep_their_leading_zeros_and_code_names_stay_text(instance, tmp_path):
    text = "code_postal;siren;dep;annee\n01400;005520135;1;2020\n75001;552100554;75;2021\n"
    result = load(instance, write(tmp_path / "codes.csv", text))
    assert types(result) == {"code_postal": "text", "siren": "text", "dep": "text", "annee": "int"}
    assert rows(instance)[0]["siren"] == "005520135"


def test_codes_with_dots_or_spaces_keep_their_leading_zeros(instance, tmp_path):
    """A NAF code 01.11 became the double 1.11, a SIREN 052 100 554 the double 52100554; the
    names here say nothing: the leading zero followed by a digit does."""
    text = "activite;identifiant;taux;part\n01.11;052 100 554;0.5;0,25\n62.01;552 100 554;1.5;1,5\n"
    result = load(instance, write(tmp_path / "naf.csv", text))
    assert types(result) == {"activite": "text", "identifiant": "text", "taux": "double", "part": "double"}
    assert rows(instance)[0] == {"activite": "01.11", "identifiant": "052 100 554", "taux": 0.5, "part": 0.25}


def test_code_names_keep_grouped_and_decimal_numbers_as_written(instance, tmp_path):
    """A SIREN printed in groups of three (``552 100 554``) was stored as the double 552100554.0,
    a postcode ``75 001`` as 75001.0 and a NAF code ``56.10`` as 56.1: under a code's name,
    numbers of any form are text as written, as integers were. Other names keep their numbers."""
    text = ("siren;code_postal;code_naf;montant;taux\n552 100 554;75 001;47.11;1 234,50;0.5\n"
            "732 829 320;13 008;56.10;12;1.25\n")
    result = load(instance, write(tmp_path / "codes.csv", text))
    assert types(result) == {"siren": "text", "code_postal": "text", "code_naf": "text", "montant": "double",
                             "taux": "double"}
    assert rows(instance) == [
        {"siren": "552 100 554", "code_postal": "75 001", "code_naf": "47.11", "montant": 1234.5, "taux": 0.5},
        {"siren": "732 829 320", "code_postal": "13 008", "code_naf": "56.10", "montant": 12.0, "taux": 1.25}]
    assert {f.name: f.notes for f in result.report.fields}["code_naf"] == [infer.CODE_NUMBERS_NOTE]


def test_an_override_still_types_a_code_named_column(instance, tmp_path):
    """The rule is inference's: a publisher who wants ``code_naf`` as a number still gets one."""
    with instance.session() as session:
        services.set_field_override(session, services.create_dataset(session, "ds", "Test"), "code_naf", type="double")
    result = load(instance, write(tmp_path / "naf.csv", "code_naf\n47.11\n56.10\n"))
    assert types(result) == {"code_naf": "double"}
    assert [r["code_naf"] for r in rows(instance)] == [47.11, 56.1]


def test_oui_non_columns_are_booleans_o_n_stay_letters(instance, tmp_path):
    """Sirene's O/N flags also take P, and S is a no-value marker (a North/South column lost its
    S): single letters stay text, whatever one file holds."""
    text = "a;b;c;d;e;sens\noui;Oui;O;vrai;O;N\nnon;Non;N;faux;Ouest;S\n"
    result = load(instance, write(tmp_path / "b.csv", text))
    assert types(result) == {"a": "boolean", "b": "boolean", "c": "text", "d": "boolean", "e": "text", "sens": "text"}
    assert [list(r.values()) for r in rows(instance)] == [[True, True, "O", True, "O", "N"],
                                                          [False, False, "N", False, "Ouest", "S"]]


def test_a_late_value_types_its_column_as_in_a_small_file(instance, tmp_path):
    """Past the 50,000-row sample, rows were checked with casts, laxer than the classification:
    a late 1.5 in an integer column was stored as 2, 0x10 as 16, 1_000 in a double column as 1000."""
    usual = {"entier_dec": "7", "entier_hex": "7", "entier_exp": "7", "decimal_us": "7.5", "booleen": "vrai"}
    late = {"entier_dec": "1.5", "entier_hex": "0x10", "entier_exp": "1e3", "decimal_us": "1_000", "booleen": "1"}
    expected = {"entier_dec": "double", "entier_hex": "text", "entier_exp": "double", "decimal_us": "text",
                "booleen": "text"}
    for slug, count in (("small", 3), ("big", 50_001)):
        text = ";".join(usual) + "\n" + (";".join(usual.values()) + "\n") * count + ";".join(late.values()) + "\n"
        assert types(load(instance, write(tmp_path / f"{slug}.csv", text), slug)) == expected, slug
        assert rows(instance, slug)[-1] == {"entier_dec": 1.5, "entier_hex": "0x10", "entier_exp": 1000.0,
                                            "decimal_us": "1_000", "booleen": "1"}


def test_a_late_na_does_not_crash_and_is_counted_as_a_marker(instance, tmp_path):
    lines = ["valeur;note"] + [f"{i};{i}.5" for i in range(10_000)] + ["N/A;n.d.", "12;autre chose"]
    result = load(instance, write(tmp_path / "na.csv", "\n".join(lines) + "\n"))
    assert types(result)["valeur"] == "int"
    assert result.report.rejected == {}  # N/A says "no value": nothing failed to read
    assert "1 'no value' marker(s) (N/A, -, nd…) read as null" in result.report.fields[0].notes
    # A real text value anywhere makes the column text, whatever came before.
    assert types(result)["note"] == "text"
    assert rows(instance)[-2]["valeur"] is None


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_line_break_in_a_quoted_field_of_a_small_file(instance, tmp_path, newline):
    """DuckDB's parallel scanner refused it when it padded short rows ("CSV Error on Line: 2")."""
    text = f'a;b{newline}1;"x{newline}y"{newline}2;z{newline}'
    load(instance, write(tmp_path / "q.csv", text))
    assert rows(instance) == [{"a": 1, "b": f"x{newline}y"}, {"a": 2, "b": "z"}]


def test_blank_lines_are_skipped_and_old_mac_line_endings_are_read(instance, tmp_path):
    load(instance, write(tmp_path / "blank.csv", "a;b\n1;2\n\n3;4\n\n"))
    assert rows(instance) == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
    load(instance, write(tmp_path / "cr.csv", 'a;b\r1;"x\ry"\r3;4\r'))  # was "the file is empty (no header line)"
    assert rows(instance) == [{"a": 1, "b": "x\ry"}, {"a": 3, "b": "4"}]


def test_the_engine_reason_is_the_line_after_csv_error(tmp_path):
    """DuckDB's first line is often only "CSV Error on Line: N": the reason comes next."""
    path = write(tmp_path / "short.csv", "a;b;c\n1;2\n")
    with pytest.raises(duckdb.Error) as caught:
        duckdb.connect().execute(f"SELECT * FROM read_csv('{path}', delim=';', header=true, auto_detect=false, "
                                 "columns={'a': 'VARCHAR', 'b': 'VARCHAR', 'c': 'VARCHAR'})").fetchall()
    assert _duckdb_reason(caught.value) == "Expected Number of Columns: 3 Found: 2"


def test_empty_strings_and_nulls_are_told_apart(instance, tmp_path):
    text = 'a;b\n"";x\n;y\n'
    load(instance, write(tmp_path / "e.csv", text))
    assert [r["a"] for r in rows(instance)] == ["", None]


def test_duplicate_and_empty_headers(instance, tmp_path):
    result = load(instance, write(tmp_path / "h.csv", "Nom;;nom;Libellé du  département\n1;2;3;4\n"))
    assert [(f.name, f.label) for f in result.report.fields] == [
        ("nom", "Nom"), ("field_2", "field_2"), ("nom_2", "nom"), ("libelle_du_departement", "Libellé du  département")]


def test_headers_made_of_quotes_and_comments_are_only_names(instance, tmp_path):
    """Quotes, comments and semicolons in headers are labels: the columns are staged, inferred
    and stored under normalized names."""
    text = '"a""b";"c\'d";"x"" --";"y; DROP TABLE records; --"\n1;2,5;01/02/2024;vrai\n3;4,5;31/12/2023;faux\n'
    result = load(instance, write(tmp_path / "q.csv", text))
    assert [f.label for f in result.report.fields] == ['a"b', "c'd", 'x" --', "y; DROP TABLE records; --"]
    assert [f.name for f in result.report.fields] == ["a_b", "c_d", "x", "y_drop_table_records"]
    assert list(types(result).values()) == ["int", "double", "date", "boolean"]


def test_geo_text_columns(instance, tmp_path):
    text = ('geo_point_2d;geo_shape\n"48.8339, 2.3981";"{""type"": ""Point"", ""coordinates"": [2.3981, 48.8339]}"\n')
    result = load(instance, write(tmp_path / "g.csv", text))
    assert types(result) == {"geo_point_2d": "geo_point_2d", "geo_shape": "geo_shape"}
    with instance.session() as session:
        location = services.get_dataset(session, "ds").current.location
    x, y = instance.store.query(location, "SELECT ST_X(geo_point_2d) x, ST_Y(geo_point_2d) y FROM records").to_pylist()[0].values()
    assert (x, y) == (2.3981, 48.8339)  # "lat, lon" text became a lon/lat point


def test_override_survives_the_next_reload(instance, tmp_path):
    path = write(tmp_path / "o.csv", "n;m\n1;x\n2;y\n")
    assert types(load(instance, path))["n"] == "int"
    with instance.session() as session:
        services.set_field_override(session, services.get_dataset(session, "ds"), "n", type="text", label="Numéro")
    result = load(instance, path)
    assert types(result)["n"] == "text"
    assert result.report.fields[0].label == "Numéro"
    assert rows(instance)[0]["n"] == "1"


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"a;b\n1;2\n3;\"4\n5;6\n", "line 3"),  # unterminated quote
        (b"a;b\n1;2\n3;4;5\n", "line 3"),  # more fields than the header
        (b"a;b;c\n1;2;3\n4;5\n6;7;8\n", "line 3: 2 fields where the header has 3"),  # fewer: refused, not padded
        (b"\x00\x01\x02binary\x00garbage" * 100, "binary content"),
        (b"", "empty"),
    ],
)
def test_bad_csv_is_reported_with_file_and_line_and_nothing_published_changes(instance, tmp_path, content, expected):
    good = write(tmp_path / "good.csv", "a;b\n1;2\n")
    load(instance, good)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    with pytest.raises(IngestError) as caught:
        load(instance, bad)
    assert "bad.csv" in str(caught.value) and expected in str(caught.value)
    assert rows(instance) == [{"a": 1, "b": 2}]
    with instance.session() as session:
        dataset = services.get_dataset(session, "ds")
        assert dataset.current_version == 1
        assert dataset.version(2).status == "failed" and "bad.csv" in dataset.version(2).error


def test_a_giant_line_is_refused(tmp_path):
    from tests.conftest import make_instance

    instance = make_instance(tmp_path / "home", max_line_bytes=1 << 20)
    path = tmp_path / "long.csv"
    with open(path, "w") as handle:
        handle.write("a;b\n1;")
        handle.write("x" * (3 << 20))
        handle.write("\n2;3\n")
    with pytest.raises(IngestError, match="longer than the 1,048,576 bytes allowed"):
        load(instance, path)


def test_unknown_format_is_refused(instance, tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 64)
    with pytest.raises(IngestError, match="unsupported file format"):
        load(instance, path)


@pytest.mark.parametrize(("name", "content", "options", "expected"), [
    ("scalar.json", b"42\n", {}, "named .json but holds no JSON array or object"),
    ("fake.pdf", b"hello this is not a pdf\n", {}, "named .pdf but its content is not a PDF"),
    ("codes.csv", "code;nom\n01001;Clémenciat\n".encode(), {"encoding": "bogus"}, "unknown encoding 'bogus'"),
    ("codes.csv", "code;nom\n01001;Clémenciat\n".encode(), {"encoding": "ascii"}, "line 2: the file is not ascii text"),
])
def test_a_file_that_is_not_what_it_says_is_an_error_and_the_served_version_stays(instance, tmp_path, name, content,
                                                                                   options, expected):
    """A scalar .json and a .pdf of text were read as CSV (a published version of no record,
    the served one replaced); an unknown or wrong forced encoding ended in a traceback."""
    load(instance, write(tmp_path / "good.csv", "a;b\n1;2\n"))
    bad = tmp_path / name
    bad.write_bytes(content)
    with pytest.raises(IngestError) as caught:
        load(instance, bad, options=ReadOptions(**options))
    assert str(caught.value).startswith(name) and expected in str(caught.value)
    assert rows(instance) == [{"a": 1, "b": 2}]


def test_a_trailing_separator_on_every_line_adds_no_column(instance, tmp_path):
    """Spreadsheet exports end each line with a ``;``: an unnamed column without a value made a
    ``field_3`` of nulls. One with a value somewhere, or with a header, stays."""
    result = load(instance, write(tmp_path / "trail.csv", "code;nom;\n01001;Abergement;\n01002;Ambronay;\n"))
    assert list(types(result)) == ["code", "nom"]
    assert "1 column(s) without a header nor any value left out" in result.report.notes
    assert rows(instance, order="code") == [{"code": "01001", "nom": "Abergement"}, {"code": "01002", "nom": "Ambronay"}]
    kept = load(instance, write(tmp_path / "some.csv", "code;nom;;vide\n01001;A;x;\n01002;B;;\n"), slug="kept")
    assert list(types(kept)) == ["code", "nom", "field_3", "vide"]
