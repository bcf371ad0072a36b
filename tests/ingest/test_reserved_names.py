"""A column named as the engine's own row id (``rowid``) is renamed at load (``schema.RESERVED_NAMES``):
kept as it was, it shadowed the row id that the key and full-text indexes, the page file and
the record-id table are built and read on."""

from __future__ import annotations

from fastapi.testclient import TestClient

from portail.api import create_app
from portail.catalog import services
from portail.schema import normalize_name, unique_names
from tests.conftest import Published, published_instance, semicolon_csv

RECORDS = "/api/explore/v2.1/catalog/datasets/{}/records"


def test_the_name_is_reserved_whatever_its_spelling_and_stays_stable():
    assert [normalize_name(label) for label in ("rowid", "RowId", " ROWID ", "row id", "rowid_")] == \
        ["rowid_", "rowid_", "rowid_", "row_id", "rowid_"]
    assert unique_names(["rowid", "rowid_", "RowID"]) == ["rowid_", "rowid__2", "rowid__3"]


def test_a_rowid_column_of_texts_or_numbers_is_indexed_and_found(tmp_path):
    texts = semicolon_csv(tmp_path / "texts.csv", [{"rowid": f"R{i:03d}", "code": f"C{i:04d}", "nom": f"nom {i}"}
                                                  for i in range(40)])
    numbers = semicolon_csv(tmp_path / "numbers.csv", [{"rowid": str(900 - i % 3), "code": f"C{i:04d}",
                                                        "nom": f"nom {i}"} for i in range(40)])
    instance = published_instance(tmp_path / "home", Published("texts", texts, "Textes"),
                                  Published("numbers", numbers, "Nombres"))
    try:
        with instance.session() as session:
            for slug in ("texts", "numbers"):
                version = services.get_dataset(session, slug).current
                assert [f["name"] for f in version.fields] == ["rowid_", "code", "nom"]
                assert not [note for note in version.report["notes"] if "not built" in note], version.report["notes"]
                assert instance.store.has_index(version.location)
        with TestClient(create_app(instance)) as client:
            for slug, value in (("texts", "R007"), ("numbers", 900 - 7 % 3)):
                for params in ({"refine": "code:C0007"}, {"where": '"nom 7"'}, {"where": 'code = "C0007"'}):
                    answer = client.get(RECORDS.format(slug), params=params).json()
                    assert answer["results"] == [{"rowid_": value, "code": "C0007", "nom": "nom 7"}], (slug, params)
    finally:
        instance.store.close()
