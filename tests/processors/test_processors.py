"""Processor pipelines on real files, through the real loader; results checked independently
(pyproj, the csv module, shapely). add_field and skip (ODSQL), split and transpose run on a real
subset of the communes file (every fifth commune, Corsica's among them)."""

from __future__ import annotations

import csv
import json

import pytest
import shapely
from pyproj import Transformer

from portail.catalog import services
from portail.ingest.errors import IngestError
from tests.cli import invoke
from tests.processors.pipelines import load
from tests.search_oracle import levenshtein


def test_lambert93_to_wgs84_matches_pyproj(instance, refdata):
    path = refdata / "logement" / "logements-sociaux-finances-a-paris.csv"
    result, location = load(instance, path, [
        {"processor": "reproject", "x": "coord_x_l93", "y": "coord_y_l93", "output": "point_l93"},
        {"processor": "delete", "fields": ["geo_shape"]},
    ])
    assert result.report.processors == [{"step": 1, "processor": "reproject", "failed": 0}, {"step": 2, "processor": "delete"}]
    types = {f.name: f.type for f in result.report.fields}
    assert types["point_l93"] == "geo_point_2d" and "geo_shape" not in types
    rows = instance.store.query(location, "SELECT coord_x_l93 x, coord_y_l93 y, ST_X(point_l93) lon, ST_Y(point_l93) lat, "
                                          "ST_X(geo_point_2d) plon, ST_Y(geo_point_2d) plat FROM records LIMIT 200").to_pylist()
    to_wgs84 = Transformer.from_crs(2154, 4326, always_xy=True)
    for row in rows:
        lon, lat = to_wgs84.transform(row["x"], row["y"])
        assert abs(row["lon"] - lon) < 1e-7 and abs(row["lat"] - lat) < 1e-7
        # and it agrees with the point the city published, within a few metres
        assert abs(row["lon"] - row["plon"]) < 1e-4 and abs(row["lat"] - row["plat"]) < 1e-4


def test_text_and_record_processors(instance, tmp_path):
    source = tmp_path / "s.csv"
    source.write_text("Numéro;Voie;Commune;Lat;Lon;Date\n"
                      "12;rue  de la  Paix ;  saint-étienne ;45,43;4,39;20210305\n"
                      "12;rue  de la  Paix ;  saint-étienne ;45,43;4,39;20210305\n"
                      "3;avenue Foch;Paris;48.87;2.29;19991231\n"
                      "5;place X;Nulle part;95;500;pas une date\n", encoding="utf-8")
    steps = [
        {"processor": "deduplicate"},
        {"processor": "normalize", "field": "voie"},
        {"processor": "normalize", "field": "commune", "case": "upper", "accents": "strip"},
        {"processor": "concat", "fields": ["numero", "voie"], "output": "adresse"},
        {"processor": "replace", "field": "adresse", "find": "^(\\d+) ", "replace": "\\1, ", "regex": True},
        {"processor": "geopoint", "lat": "lat", "lon": "lon"},
        {"processor": "date_normalize", "field": "date", "formats": ["%Y%m%d"]},
        {"processor": "rename", "field": "commune", "to": "ville"},
        {"processor": "set_type", "field": "numero", "type": "text"},
    ]
    result, location = load(instance, source, steps)
    counts = {r["processor"] + str(r["step"]): {k: v for k, v in r.items() if k not in ("step", "processor")}
              for r in result.report.processors}
    assert counts["deduplicate1"] == {"removed": 1}
    assert counts["normalize3"] == {"changed": 3} and counts["geopoint6"] == {"failed": 1}
    assert counts["date_normalize7"] == {"failed": 1}
    rows = instance.store.query(location, "SELECT numero, voie, ville, adresse, ST_X(geo_point_2d) lon, date "
                                          "FROM records ORDER BY adresse").to_pylist()
    assert [r["adresse"] for r in rows] == ["12, rue de la Paix", "3, avenue Foch", "5, place X"]
    assert [r["ville"] for r in rows] == ["SAINT-ETIENNE", "PARIS", "NULLE PART"]
    assert [r["lon"] for r in rows] == [4.39, 2.29, None]
    assert str(rows[0]["date"]) == "2021-03-05" and rows[2]["date"] is None
    assert rows[0]["numero"] == "12"
    assert [f.name for f in result.report.fields][-2:] == ["adresse", "geo_point_2d"]


def test_a_field_a_step_makes_takes_the_publishers_label_and_annotations(instance, tmp_path):
    """An override names the published field: one a step adds (an enrichment's EPCI name, an
    address made of two fields) gets its label, description and facet annotation as a file's
    field does; they were ignored, so such a field could be no facet."""
    source = tmp_path / "s.csv"
    source.write_text("numero;voie\n12;rue de la Paix\n3;avenue Foch\n", encoding="utf-8")
    with instance.session() as session:
        dataset = services.create_dataset(session, "adresses", "Adresses")
        services.set_field_override(session, dataset, "adresse", label="Adresse postale", description="Numéro et voie",
                                    annotations={"facet": []})
        services.set_field_override(session, dataset, "numero", label="Numéro")
    load(instance, source, [{"processor": "concat", "fields": ["numero", "voie"], "output": "adresse"}], slug="adresses")
    with instance.session() as session:
        fields = {f.name: f for f in services.current_fields(services.get_dataset(session, "adresses"))}
    assert (fields["adresse"].label, fields["adresse"].description) == ("Adresse postale", "Numéro et voie")
    assert "facet" in fields["adresse"].annotations and fields["adresse"].type.value == "text"
    assert fields["numero"].label == "Numéro" and "facet" not in fields["numero"].annotations


def test_bad_pipelines_are_refused_and_keep_the_published_version(instance, tmp_path):
    source = tmp_path / "s.csv"
    source.write_text("a;b\n1;x\n", encoding="utf-8")
    load(instance, source, [])
    with pytest.raises(services.CatalogError, match="unknown processor 'explode'"), instance.session() as s:
        services.set_pipeline(s, services.get_dataset(s, "p"), [{"processor": "explode"}])
    with pytest.raises(services.CatalogError, match="unknown parameter 'colour'"), instance.session() as s:
        services.set_pipeline(s, services.get_dataset(s, "p"), [{"processor": "delete", "fields": "a", "colour": 1}])
    with pytest.raises(IngestError, match="pipeline step 1 \\(rename\\): unknown field 'zz'"):
        load(instance, source, [{"processor": "rename", "field": "zz", "to": "y"}])
    with pytest.raises(IngestError, match="1 records failed and the step is set to fail"):
        load(instance, source, [{"processor": "set_type", "field": "b", "type": "int", "on_error": "fail"}])
    with instance.session() as s:
        dataset = services.get_dataset(s, "p")
        assert dataset.current_version == 1 and [v.status for v in dataset.versions] == ["ready", "failed", "failed"]


def test_pipeline_from_the_cli(tmp_path, refdata):
    env = {"PORTAIL_HOME": str(tmp_path / "home")}
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text("- processor: geopoint\n  field: coordonnees_gps\n  output: position\n"
                        "- processor: delete\n  fields: [ligne_5]\n", encoding="utf-8")
    with open(refdata / "referentiels" / "laposte_hexasmal.csv", encoding="utf-8") as handle:
        header, *lines = handle.readlines()
    # Every tenth line of La Poste's file (one record a line, no quotes) and all those without
    # coordinates, its header kept: two loads of ~4,000 rows show what two of 39,192 showed.
    source = tmp_path / "laposte_hexasmal.csv"
    source.write_text(header + "".join(line for i, line in enumerate(lines)
                                       if i % 10 == 0 or not line.rstrip("\n").split(";")[5].strip()), encoding="utf-8")
    assert invoke(["dataset", "create", "cp", "--title", "Codes postaux", "--from", str(source)], env=env).exit_code == 0
    result = invoke(["dataset", "pipeline", "cp", "--set", str(pipeline)], env=env)
    assert "pipeline of 2 steps saved" in result.output
    assert "coordonnees_gps" in invoke(["dataset", "pipeline", "cp"], env=env).output
    assert invoke(["dataset", "reload", "cp"], env=env).exit_code == 0
    shown = json.loads(invoke(["dataset", "show", "cp", "--json"], env=env).output)
    report = shown["versions"][-1]["report"]
    with open(source, encoding="utf-8") as handle:
        empty = sum(1 for r in csv.DictReader(handle, delimiter=";") if not r["coordonnees_gps"].strip())
    assert report["processors"][0] == {"step": 1, "processor": "geopoint", "failed": 0}
    assert {f["name"]: f["type"] for f in report["fields"]}["position"] == "geo_point_2d"
    assert "ligne_5" not in {f["name"] for f in report["fields"]}
    assert empty == 270  # empty coordinates are not failures: there was nothing to convert


def test_every_processor_is_documented():
    from pathlib import Path

    from portail.processors import REGISTRY

    doc = (Path(__file__).resolve().parents[2] / "docs" / "processors.md").read_text(encoding="utf-8")
    for spec in REGISTRY.values():
        assert f"## `{spec.name}`" in doc
        for parameter in spec.params:
            assert f"| `{parameter}` |" in doc, (spec.name, parameter)


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
    with pytest.raises(IngestError, match="tolerance must be a positive number"):  # any file with a shape: a small one
        load(instance, refdata / "geo" / "regions-version-simplifiee.geojson", [{"processor": "simplify", "tolerance": "big"}])


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
