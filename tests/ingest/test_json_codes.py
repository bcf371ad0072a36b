"""Codes written as JSON numbers, and keys differing only by case, in JSON, JSON Lines and
GeoJSON files loaded through the real loader: a property named like a code (``code_insee``,
``siret``) holding integers is text as written, by the CSV rule and with its note (plus how many
values are shorter than the widest: a JSON number cannot hold a leading zero); ``Nom`` beside
``nom`` refuses a GeoJSON file as it refuses a JSON one, naming the feature."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portail.ingest.errors import IngestError
from tests.ingest.files import POINT, geojson, load, rows, types, write

CODE_NOTE = "integers kept as text: the name says it is a code"
SHORTER = "fewer digits than the widest (leading zeros lost by the producer?)"


def notes(result) -> dict[str, list[str]]:
    return {f.name: f.notes for f in result.report.fields}


def jsonl(path: Path, records: list[dict]) -> Path:
    return write(path, "".join(json.dumps(record) + "\n" for record in records))


def test_jsonl_integers_under_a_code_name_are_text_as_written(instance, tmp_path):
    """siret and code_insee loaded as INT: 1001 for Ambérieu's 01001, summable SIRETs."""
    path = jsonl(tmp_path / "etablissements.jsonl", [
        {"siret": 35600000000048, "code_insee": 75056, "population": 2133111, "montant": 12.5, "actif": True},
        {"siret": 35600000000049, "code_insee": 1001, "population": 832, "montant": 3, "actif": False},
        {"siret": 35600000000050, "code_insee": 13055, "population": 870731, "montant": 7.25, "actif": True}])
    result = load(instance, path)
    assert types(result) == {"siret": "text", "code_insee": "text", "population": "int", "montant": "double",
                             "actif": "boolean"}
    assert notes(result)["siret"] == [CODE_NOTE]  # every SIRET has 14 digits: nothing to say
    assert notes(result)["code_insee"] == [f"{CODE_NOTE}; 1 value has {SHORTER}"]
    assert [(r["siret"], r["code_insee"], r["population"]) for r in rows(instance)] == [
        ("35600000000048", "75056", 2133111), ("35600000000049", "1001", 832), ("35600000000050", "13055", 870731)]


def test_json_floats_under_a_code_name_stay_numbers(instance, tmp_path):
    """75056.0 is no integer: a JSON key of such numbers is declared DOUBLE whatever its name (the
    choice made here; a CSV column of numbers written so under a code's name is text as written,
    since the text is all a CSV has); a key of integers beside it becomes text."""
    path = jsonl(tmp_path / "mixed.jsonl", [{"code_postal": 75001.0, "cp": 75001}, {"code_postal": 1000.0, "cp": 1000}])
    result = load(instance, path)
    assert types(result) == {"code_postal": "double", "cp": "text"}
    assert [r["cp"] for r in rows(instance)] == ["75001", "1000"]


def test_a_wrapped_json_document_counts_short_codes_over_the_whole_file(instance, tmp_path):
    """Past the inference sample (50,000 rows), the one short code is still counted."""
    records = [{"code_commune": 75056, "n": i} for i in range(50_000)] + [{"code_commune": 1001, "n": 50_000}]
    path = write(tmp_path / "communes.json", json.dumps({"meta": {"source": "x"}, "data": records}))
    result = load(instance, path)
    assert types(result) == {"code_commune": "text", "n": "int"}
    assert notes(result)["code_commune"] == [f"{CODE_NOTE}; 1 value has {SHORTER}"]
    assert rows(instance, order="WHERE n >= 49999 ORDER BY n") == [
        {"code_commune": "75056", "n": 49_999}, {"code_commune": "1001", "n": 50_000}]


def test_a_csv_column_of_codes_gets_the_same_count(instance, tmp_path):
    """One rule in one place: a CSV that went through a spreadsheet lost the same zeros."""
    result = load(instance, write(tmp_path / "cp.csv", "code_postal;population\n1000;5\n75001;7\n6000;9\n"))
    assert types(result) == {"code_postal": "text", "population": "int"}
    assert notes(result)["code_postal"] == [f"{CODE_NOTE}; 2 values have {SHORTER}"]


def test_geojson_integers_under_a_code_name_are_text_as_written(instance, tmp_path):
    path = geojson(tmp_path / "communes.geojson", [({"insee": 1001, "population": 832}, POINT),
                                                   ({"insee": 75056, "population": 2133111}, POINT)])
    result = load(instance, path)
    assert types(result)["insee"] == "text" and types(result)["population"] == "int"
    assert notes(result)["insee"] == [f"{CODE_NOTE}; 1 value has {SHORTER}"]
    assert [(r["insee"], r["population"]) for r in rows(instance)] == [("1001", 832), ("75056", 2133111)]


@pytest.mark.parametrize("features, feature", [
    ([{"Nom": "Paris", "n": 1}, {"n": 2}, {"nom": "Lyon", "n": 3}], 3),  # one spelling per feature
    ([{"n": 1}, {"Nom": "Paris", "nom": "Lyon", "n": 2}], 2),  # both in one feature
])
def test_geojson_keys_differing_only_by_case_are_refused_naming_the_feature(instance, tmp_path, features, feature):
    """GDAL loaded them as two fields, nom and nom_2, which nobody could tell apart."""
    path = geojson(tmp_path / "villes.geojson", [(properties, POINT) for properties in features])
    with pytest.raises(IngestError) as caught:
        load(instance, path)
    assert caught.value.source == "villes.geojson"
    assert caught.value.message == (f"feature {feature}: keys 'Nom' and 'nom' differ only by case: fields cannot be "
                                    "told apart by case, rename all but one")


def test_a_property_id_beside_the_features_own_id_still_loads(instance, tmp_path):
    """GDAL makes a field of a feature's string "id": a property "ID" beside it is no clash of
    properties and loads as before (a guard: the refusal's first draft refused it)."""
    path = write(tmp_path / "ids.geojson", json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": f"a{n}", "properties": {"ID": n}, "geometry": POINT} for n in (1, 2)]}))
    result = load(instance, path)
    assert [(r["id"], r["id_2"]) for r in rows(instance)] == [("a1", 1), ("a2", 2)]
    assert result.version == 1
