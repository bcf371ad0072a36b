"""Processor pipelines on real files, through the real loader; results checked independently."""

from __future__ import annotations

import csv
import json

import pytest
from pyproj import Transformer
from typer.testing import CliRunner

from portail.catalog import services
from portail.cli import app
from portail.ingest.errors import IngestError
from tests.processors.pipelines import load


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
    runner = CliRunner()
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text("- processor: geopoint\n  field: coordonnees_gps\n  output: position\n"
                        "- processor: delete\n  fields: [ligne_5]\n", encoding="utf-8")
    source = refdata / "referentiels" / "laposte_hexasmal.csv"
    assert runner.invoke(app, ["dataset", "create", "cp", "--title", "Codes postaux", "--from", str(source)], env=env).exit_code == 0
    result = runner.invoke(app, ["dataset", "pipeline", "cp", "--set", str(pipeline)], env=env)
    assert "pipeline of 2 steps saved" in result.output
    assert "coordonnees_gps" in runner.invoke(app, ["dataset", "pipeline", "cp"], env=env).output
    assert runner.invoke(app, ["dataset", "reload", "cp"], env=env).exit_code == 0
    shown = json.loads(runner.invoke(app, ["dataset", "show", "cp", "--json"], env=env).output)
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
