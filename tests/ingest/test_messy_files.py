"""Messy files a hunt found: each loaded through the real loader, its types the same whatever
the file's size, its values never silently changed."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from portail.ingest import infer
from portail.ingest.errors import IngestError
from portail.ingest.readers import json as json_reader
from tests.ingest.files import load, rows, types, write


@pytest.mark.parametrize("good, late", [("01/01/2020", "05/01/20"), ("2020-01-01", "2020-1-5"),
                                        ("2020-01-01 10:00", "2020-1-5 1:2:3")])
def test_a_late_date_of_another_shape_makes_the_column_text_whatever_the_size(instance, tmp_path, monkeypatch,
                                                                               good, late):
    source = write(tmp_path / "d.csv", f"d\n{good}\n{good}\n{good}\n{good}\n{late}\n")
    whole = load(instance, source, "whole")  # the sample is the whole file: every value classified
    # A sample of 3 rows stands for a file past SAMPLE_ROWS: the late value is only checked.
    monkeypatch.setattr(infer, "SAMPLE_ROWS", 3)
    past = load(instance, source, "past")
    assert types(whole) == types(past) == {"d": "text"}
    assert rows(instance, "past")[-1] == {"d": late}


def test_a_date_in_a_datetime_column_is_a_local_midnight(instance, tmp_path):
    result = load(instance, write(tmp_path / "t.csv", "t\n2020-01-05\n2020-01-05 10:00\n2020-01-05 00:00\n"))
    assert types(result) == {"t": "datetime"}
    stored = [r["t"].astimezone(timezone.utc) for r in rows(instance)]
    midnight_paris = datetime(2020, 1, 4, 23, 0, tzinfo=timezone.utc)
    assert stored == [midnight_paris, datetime(2020, 1, 5, 9, 0, tzinfo=timezone.utc), midnight_paris]


@pytest.mark.parametrize("name, body, said", [
    ("c.jsonl", '{"a": 1, "A": 2}\n{"a": 3, "A": 4}\n', "line 1: keys 'A' and 'a' differ only by case"),
    ("c.json", '[{"a": 1, "A": 2}]', "element 1 of the array: keys 'A' and 'a' differ only by case"),
    # the record that brings the second spelling is named: the line of a JSON Lines file (blank lines count)
    ("l.jsonl", '{"a": 1}\n\n{"b": 2}\n{"A": 3, "b": 4}\n', "line 4: keys 'A' and 'a' differ only by case"),
    ("l.json", '[{"a": 1}, {"b": 2}, {"b": 3, "A": 4}]', "element 3 of the array: keys 'A' and 'a' differ only by case"),
    ("w.json", '{"marches": [{"a": 1, "A": 2}]}', "keys differing only by case ('A'"),
    # renamed twice: ``AB`` beside ``ab`` and ``ab_1`` is ``AB_1_1``, whose first base is spelled once
    ("r.jsonl", '{"ab": 1}\n{"ab_1": 2}\n{"AB": 3}\n', "line 3: keys 'AB' and 'ab' differ only by case"),
    ("r.json", '[{"ab": 1}, {"ab_1": 2}, {"AB": 3}]', "element 3 of the array: keys 'AB' and 'ab' differ only by case"),
])
def test_keys_differing_only_by_case_are_refused_never_read_as_nulls(instance, tmp_path, name, body, said):
    with pytest.raises(IngestError) as refused:
        load(instance, write(tmp_path / name, body))
    assert str(refused.value).startswith(f"{name}, {said}" if said.startswith("line") else f"{name}: {said}")


def test_a_spelling_no_record_holds_names_no_record(tmp_path):
    """The record of a second spelling is looked up only to name it: none found (a key's first
    record is NULL) is a refusal without a record, never a crash."""
    path = write(tmp_path / "s.jsonl", '{"a": 1}\n{"b": 2}\n')
    objects = f"read_json_objects({json_reader.sql_literal(str(path))}, format='newline_delimited')"
    assert json_reader._second_spelling(path, json_reader.Layout("newline_delimited"), objects, ["A", "a"]) is None


def test_a_key_named_as_a_renamed_one_still_loads(instance, tmp_path):
    """``adresse`` beside ``adresse_1``, as French files number their address lines: two keys,
    not one renamed, both loaded with their values."""
    load(instance, write(tmp_path / "a.jsonl", '{"adresse": "1 rue A", "adresse_1": "bât. B"}\n'))
    assert [(r["adresse"], r["adresse_1"]) for r in rows(instance)] == [("1 rue A", "bât. B")]


def test_a_utf8_bom_with_a_late_windows_1252_byte_is_refused_as_mixed_encodings(instance, tmp_path):
    source = tmp_path / "b.csv"
    source.write_bytes(b"\xef\xbb\xbfid;nom\n1;Evry\n2;Evry\n3;\xc9vry\n")
    with pytest.raises(IngestError) as refused:
        load(instance, source)
    assert str(refused.value).startswith("b.csv, line 4: the file mixes encodings")


@pytest.mark.parametrize("name, body, said", [
    ("n.jsonl", '{"id": 1}\n\n{"id": 2}\nnull\n{"id": 3}\n', "n.jsonl, line 4: each line must be a JSON object"),
    ("n.json", '[{"id": 1}, {"id": 2}, null, {"id": 3}]', "n.json: element 3 of the array is null"),
])
def test_a_null_record_is_refused_as_a_scalar_one_is(instance, tmp_path, name, body, said):
    with pytest.raises(IngestError) as refused:
        load(instance, write(tmp_path / name, body))
    assert str(refused.value).startswith(said)
