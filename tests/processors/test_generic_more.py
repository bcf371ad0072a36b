"""add_field and skip (ODSQL), split, transpose, simplify and on_error, on real files through the
real loader; expected values computed independently with the csv module or shapely. The
communes file is loaded as a real subset of it (every fifth commune, Corsica's among them)."""

from __future__ import annotations

import csv

import pytest
import shapely

from portail.catalog import services
from portail.ingest.errors import IngestError
from tests.processors.pipelines import load
from tests.search_oracle import levenshtein

COMMUNES = "referentiels/communes_france_enrichies.csv"


@pytest.fixture(scope="module")
def communes_file(refdata, tmp_path_factory):
    """Every fifth line of the communes file (one record a line, no quoted line breaks), its
    header kept: ~7,200 real communes load in a fraction of the whole file's time."""
    with open(refdata / COMMUNES, encoding="utf-8") as handle:
        header, *lines = handle.readlines()
    path = tmp_path_factory.mktemp("communes") / "communes_france_enrichies.csv"
    path.write_text(header + "".join(lines[::5]), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def communes(communes_file):
    with open(communes_file, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) > 7000 and any(c["insee_dep"] == "2A" for c in rows) and rows[0]["insee_com"] == "01001"
    return rows


def test_add_field_and_skip_compile_odsql(instance, communes_file, communes):
    result, location = load(instance, communes_file, [
        {"processor": "add_field", "output": "evolution", "expression": "population_2021 - population_2015",
         "label": "Évolution 2015-2021"},
        {"processor": "add_field", "output": "nom_majuscules", "expression": "upper(commune)"},
        {"processor": "skip", "where": "insee_dep = '2A' or insee_dep = '2B' or population_2021 is null"},
    ])
    expected_skipped = sum(1 for c in communes if c["insee_dep"] in ("2A", "2B") or not c["population_2021"])
    assert result.report.processors[2] == {"step": 3, "processor": "skip", "skipped": expected_skipped}
    assert result.report.rows == len(communes) - expected_skipped
    assert {f.name: f.type for f in result.report.fields}["evolution"] == "int"
    rows = {r["insee_com"]: r for r in instance.store.query(
        location, "SELECT insee_com, evolution, nom_majuscules FROM records").to_pylist()}
    for c in communes:
        if c["insee_dep"] in ("2A", "2B") or not c["population_2021"]:
            assert c["insee_com"] not in rows
        elif c["population_2015"]:
            assert rows[c["insee_com"]]["evolution"] == int(c["population_2021"]) - int(c["population_2015"])
    assert rows["01001"]["nom_majuscules"] == "ABERGEMENT-CLÉMENCIAT"


def test_skip_on_a_full_text_search(instance, communes_file, communes):
    """A load's engine has no full-text index: the match runs as its scan, word by word,
    accent- and case-insensitive, the last word a prefix (as on the API)."""
    import re
    import unicodedata

    def words(text: str) -> list[str]:
        folded = "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")
        return re.findall(r"[^\W_]+", folded)

    result, _ = load(instance, communes_file, [{"processor": "skip", "where": 'search(commune, "SAINT-ETIEN")'}])
    def holds(name: str) -> bool:  # "saint" fuzzy (one edit, first letter kept), "etien" a prefix
        have = words(name)
        return any(w[:1] == "s" and levenshtein(w, "saint") <= 1 for w in have) and any(w.startswith("etien") for w in have)

    expected = sum(1 for c in communes if holds(c["commune"]))
    assert expected > 5
    assert result.report.processors[0]["skipped"] == expected and result.report.rows == len(communes) - expected


def test_odsql_text_never_reaches_sql(instance, tmp_path):
    source = tmp_path / "s.csv"
    source.write_text("a;b\n1;x\n2;y\n", encoding="utf-8")
    with pytest.raises(IngestError, match="pipeline step 1 \\(skip\\): Unexpected character \";\""):
        load(instance, source, [{"processor": "skip", "where": "a = 1; DROP TABLE records"}])
    with pytest.raises(IngestError, match="pipeline step 1 \\(add_field\\): .*nope"):
        load(instance, source, [{"processor": "add_field", "output": "c", "expression": "nope + 1"}])
    with pytest.raises(IngestError, match="one value per record"):
        load(instance, source, [{"processor": "add_field", "output": "c", "expression": "count(*)"}])
    # a quote in a constant stays a constant
    result, location = load(instance, source, [{"processor": "skip", "where": "b = \"x'); DROP TABLE records; --\""}])
    assert result.report.processors[0]["skipped"] == 0 and result.report.rows == 2


def test_split_into_fields_and_multivalued(instance, communes_file, communes):
    result, location = load(instance, communes_file, [
        {"processor": "split", "field": "commune", "separator": "-", "into": ["partie_1", "partie_2"]},
        {"processor": "concat", "fields": ["code_postal", "insee_com"], "output": "codes", "separator": " / "},
        {"processor": "split", "field": "codes", "separator": "/", "multivalued": True},
    ])
    hyphenated = [c for c in communes if "-" in c["commune"].strip()]
    assert result.report.processors[0] == {"step": 1, "processor": "split", "changed": len(hyphenated),
                                           "extra_parts": sum(1 for c in hyphenated if c["commune"].count("-") > 1)}
    assert result.report.processors[2]["changed"] == sum(1 for c in communes if c["code_postal"] and c["insee_com"])
    rows = {(r["insee_com"], r["commune"]): r for r in instance.store.query(
        location, "SELECT insee_com, commune, partie_1, partie_2, codes FROM records").to_pylist()}
    for c in communes:
        parts = [p.strip() for p in c["commune"].split("-")]
        row = rows[c["insee_com"], c["commune"]]
        assert (row["partie_1"], row["partie_2"]) == (parts[0], parts[1] if len(parts) > 1 else None)
    first = communes[0]
    assert rows[first["insee_com"], first["commune"]]["codes"] == f"{first['code_postal']}/{first['insee_com']}"
    with instance.session() as s:
        stored = {f["name"]: f for f in services.get_dataset(s, "p").current.fields}
    assert stored["codes"]["annotations"]["multivalued"] == ["/"]
    # the multivalued field answers ODSQL's "in"
    from portail.odsql import Query, compile_query, to_sql
    from portail.schema import fields_from_json

    sql = to_sql(compile_query(Query(select="count(*) as n", where=[f'"{first["insee_com"]}" in codes']),
                               fields_from_json(list(stored.values()))))
    assert instance.store.query(location, sql).to_pylist()[0]["n"] == sum(1 for c in communes if c["insee_com"] == first["insee_com"])


def test_transpose_columns_to_rows(instance, communes_file, communes):
    result, location = load(instance, communes_file, [
        {"processor": "transpose", "fields": ["population_2015", "population_2021"], "key": "annee", "value": "population"},
        {"processor": "replace", "field": "annee", "find": "population_", "replace": ""},
    ])
    present = sum(bool(c["population_2015"]) + bool(c["population_2021"]) for c in communes)
    assert result.report.processors[0] == {"step": 1, "processor": "transpose", "records_in": len(communes),
                                           "records_out": present}
    assert result.report.rows == present
    names = [f.name for f in result.report.fields]
    assert "population_2015" not in names and names[-2:] == ["annee", "population"]
    rows = instance.store.query(location, "SELECT annee, population FROM records WHERE insee_com = '01001' ORDER BY annee").to_pylist()
    by_code = {c["insee_com"]: c for c in communes}
    assert rows == [{"annee": "2015", "population": int(by_code["01001"]["population_2015"])},
                    {"annee": "2021", "population": int(by_code["01001"]["population_2021"])}]


def test_simplify_shapes(instance, refdata):
    result, location = load(instance, refdata / "geo" / "departements.geojson",
                            [{"processor": "simplify", "tolerance": 0.01}])
    counts = result.report.processors[0]
    assert counts["vertices_after"] < counts["vertices_before"] / 3
    rows = instance.store.query(location, "SELECT code, ST_AsWKB(geo_shape) g FROM records").to_pylist()
    import json

    with open(refdata / "geo" / "departements.geojson", encoding="utf-8") as handle:
        original = {f["properties"]["code"]: shapely.geometry.shape(f["geometry"]) for f in json.load(handle)["features"]}
    for row in rows:
        simplified = shapely.from_wkb(row["g"])
        assert simplified.is_valid
        # the same algorithm as GEOS's (shapely's) topology-preserving simplification
        expected = shapely.simplify(original[row["code"]], 0.01, preserve_topology=True)
        assert shapely.normalize(simplified).equals_exact(shapely.normalize(expected), 1e-7), row["code"]
    with pytest.raises(IngestError, match="tolerance must be a positive number"):
        load(instance, refdata / "geo" / "departements.geojson", [{"processor": "simplify", "tolerance": "big"}])


def test_on_error_fail_everywhere_keeps_the_published_version(instance, tmp_path):
    source = tmp_path / "s.csv"
    source.write_text("lat;lon;a\n45.1;4.2;1\n95;500;2\n", encoding="utf-8")
    load(instance, source, [])
    # geopoint counts after the write: its on_error still applies
    with pytest.raises(IngestError, match=r"step 1 \(geopoint\): 1 records failed and the step is set to fail"):
        load(instance, source, [{"processor": "geopoint", "lat": "lat", "lon": "lon", "on_error": "fail"}])
    with pytest.raises(services.CatalogError, match="on_error must be skip or fail"), instance.session() as s:
        services.set_pipeline(s, services.get_dataset(s, "p"), [{"processor": "skip", "where": "a = 1", "on_error": "maybe"}])
    result, _ = load(instance, source, [{"processor": "geopoint", "lat": "lat", "lon": "lon", "on_error": "skip"}])
    assert result.report.processors[0]["failed"] == 1 and result.report.rows == 2
    assert result.report.processors[0].get("failed_records") is None  # only enrichment steps list records
    with instance.session() as s:
        dataset = services.get_dataset(s, "p")
        assert [v.status for v in dataset.versions] == ["ready", "failed", "ready"] and dataset.current_version == 3


def test_date_normalize_reads_excel_serials(instance, tmp_path):
    from datetime import date, timedelta

    source = tmp_path / "dates.csv"
    source.write_text("d\n45292\n36526\n05/03/2021\n2958466\nhier\n", encoding="utf-8")
    result, location = load(instance, source, [{"processor": "date_normalize", "field": "d", "formats": ["%d/%m/%Y", "excel"]}])
    assert result.report.processors[0]["failed"] == 2  # past year 9999, and a word
    got = [r["d"] for r in instance.store.query(location, "SELECT d FROM records").to_pylist()]
    epoch = date(1899, 12, 30)
    assert got == [epoch + timedelta(days=45292), epoch + timedelta(days=36526), date(2021, 3, 5), None, None]
