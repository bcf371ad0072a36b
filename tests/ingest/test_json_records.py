"""JSON and JSON Lines records DuckDB misreads, loaded through the real loader and compared with
the json module's reading: JSON Lines behind a byte order mark load as without it; an empty key
(its values were stored as nulls) and a scalar among the records are refused naming the record."""

from __future__ import annotations

import json

import pytest

from portail.ingest.errors import IngestError
from tests.ingest.files import load, rows

# --- JSON Lines behind a byte order mark --------------------------------------------------

def test_json_lines_with_a_byte_order_mark_load_as_without(instance, tmp_path):
    """Windows tools write a BOM before JSON Lines; DuckDB refuses it there ("malformed JSON ...
    byte order mark (BOM) is not supported", on line 2), where it reads one before an array."""
    records = [{"code_commune": "01001", "nom": "L'Abergement-Clémenciat", "population": 832, "taux": 0.5},
               {"code_commune": "2A004", "nom": "Ajaccio", "population": 68916, "taux": None},
               {"code_commune": "97101", "nom": "Les Abymes", "taux": 1.25}]
    path = tmp_path / "communes.jsonl"
    path.write_bytes(("\ufeff" + "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n\n").encode())
    result = load(instance, path)
    assert "UTF-8 byte order mark skipped" in result.report.notes
    expected = [json.loads(line) for line in path.read_text(encoding="utf-8-sig").splitlines() if line]
    assert rows(instance) == [{key: r.get(key) for key in ("code_commune", "nom", "population", "taux")}
                              for r in expected]
    assert not [p.name for p in instance.settings.tmp_dir.glob("jsonl-*")]  # the copy is gone


def test_a_bad_line_behind_a_byte_order_mark_is_named(instance, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n{"a": 2}\n{"a": 3,, }\n')
    with pytest.raises(Exception) as refused:
        load(instance, path)
    assert str(refused.value).startswith("bad.jsonl, line 3: malformed JSON")
    assert not [p.name for p in instance.settings.tmp_dir.glob("jsonl-*")]


# --- JSON: an empty key -------------------------------------------------------------------

@pytest.mark.parametrize("name, body, said", [
    ("communes.json", '[{"code": "01001", "": 832}, {"code": "2A004", "": 68916}]',
     "communes.json: element 1 of the array"),
    ("communes.jsonl", '{"code": "01001"}\n\n{"code": "2A004", "": 68916}\n', "communes.jsonl, line 3"),
    ("wrapped.json", '{"data": [{"code": "01001", "": 832}]}', "wrapped.json"),
])
def test_an_empty_key_is_refused_naming_its_record(instance, tmp_path, name, body, said):
    """DuckDB names an empty key ``C<position>`` and then finds no such key: its values (832,
    68916) were stored as nulls under a field ``c1``; a wrapped document failed as "malformed
    JSON (Binder Error: Key name for struct_extract ...)"."""
    path = tmp_path / name
    path.write_text(body)
    with pytest.raises(IngestError) as refused:
        load(instance, path)
    assert str(refused.value) == f'{said}: a key of the records is empty (""): every field needs a name, give it one'


def test_a_key_spelt_as_duckdbs_name_for_an_empty_one_still_loads(instance, tmp_path):
    path = tmp_path / "c1.json"
    path.write_text('[{"code": "01001", "C1": 832, "nested": {"": 1}}, {"code": "2A004", "C1": 68916}]')
    load(instance, path)
    assert rows(instance) == [{"code": "01001", "c1": 832, "nested": '{"":1}'},
                              {"code": "2A004", "c1": 68916, "nested": None}]


# --- JSON: a stray value among the records ------------------------------------------------

@pytest.mark.parametrize("body, said", [
    ('[{"code": "01001"}, {"code": "2A004"}, 5, {"code": "75056"}]', "element 3 of the array is a number"),
    ('["en-tête", {"code": "01001"}]', "element 1 of the array is a string"),
    ('[{"code": "01001"}, [1, 2]]', "element 2 of the array is an array"),
])
def test_a_scalar_among_the_records_is_named_not_called_no_records(instance, tmp_path, body, said):
    """DuckDB refuses a number or a string among the records as "expected records", which was
    said as "no records: ... (an empty array, or an array of plain values, has none)"."""
    path = tmp_path / "communes.json"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(IngestError) as refused:
        load(instance, path)
    assert str(refused.value) == f"communes.json: {said}: each element must be a JSON object"
