"""The Sirene register in the hub (both layouts, zipped or not) and the sirene processor; the
unmatched numbers listed with their record in the report (CLI and management API)."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from typer.testing import CliRunner

from portail.catalog import services
from portail.cli import app
from portail.ingest.errors import IngestError
from portail.refdata import install_sirene
from tests.processors.pipelines import load
from tests.conftest import operator_client

V3 = "sirene/sirene_v3_etablissements_isere_commerce_alimentaire.csv"
OLD = "sirene/geo-sirene_35_small.csv"


def rows_of(refdata, path):
    with open(refdata / path, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def current(instance, slug):
    with instance.session() as s:
        return services.get_dataset(s, slug).current.location


def test_v3_register_and_enrichment_by_siret_and_siren(instance, refdata, tmp_path):
    assert list(install_sirene(instance, refdata / V3, "2022")) == ["ref-src-sirene: 973 records", "ref-sirene: 973 records"]
    with instance.session() as s:
        meta = services.get_dataset(s, "ref-sirene").extra_metas
        assert meta["reference"] is True and meta["vintage"] == "2022"
    expected = {r["siret"]: r for r in rows_of(refdata, V3)}
    # Every establishment of the file finds itself by SIRET (spaces typed inside are ignored).
    result, location = load(instance, refdata / V3, [{"processor": "sirene", "field": "siret", "prefix": "s"}])
    assert result.report.processors[0] == {"step": 1, "processor": "sirene", "unmatched": 0, "unmatched_records": []}
    got = instance.store.query(location, "SELECT siret, s_nom, s_naf, s_adresse, s_code_commune FROM records").to_pylist()
    for row in got:
        source = expected[row["siret"]]
        name = source["denominationUniteLegale"] or " ".join(p for p in (source["prenom1UniteLegale"], source["nomUniteLegale"]) if p)
        assert row["s_nom"] == name and row["s_naf"] == source["activitePrincipaleEtablissement"]
        assert row["s_code_commune"] == source["codeCommuneEtablissement"]
        if source["libelleVoieEtablissement"]:
            assert row["s_adresse"].endswith(source["libelleVoieEtablissement"])
    # A SIREN brings its head office when the register has it.
    head = next(r for r in expected.values() if r["etablissementSiege"] == "true")
    other = next(r for r in expected.values() if r["etablissementSiege"] == "false"
                 and not any(x["siren"] == r["siren"] and x["etablissementSiege"] == "true" for x in expected.values()))
    mine = tmp_path / "fournisseurs.csv"
    mine.write_text(f"nom;numero\nA;{head['siren'][:3]} {head['siren'][3:6]} {head['siren'][6:]}\nB;{other['siret']}\n"
                    f"C;123456789\nD;12\nE;\n", encoding="utf-8")
    result, location = load(instance, mine, [{"processor": "sirene", "field": "numero"}], slug="fournisseurs")
    report = result.report.processors[0]
    assert report["unmatched"] == 2, (report, {f.name: f.type for f in result.report.fields})
    assert [r["nom"] for r in report["unmatched_records"]] == ["C", "D"]
    rows = instance.store.query(location, "SELECT nom, sirene_siret, sirene_nom FROM records ORDER BY nom").to_pylist()
    assert rows[0]["sirene_siret"] == head["siret"] and rows[1]["sirene_siret"] == other["siret"]


def test_2017_layout_zipped_through_the_cli(tmp_path, refdata):
    archive = tmp_path / "StockEtablissement.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(refdata / OLD, "StockEtablissement_utf8.csv")
    env = {"PORTAIL_HOME": str(tmp_path / "home")}
    result = CliRunner().invoke(app, ["refdata", "sirene", str(archive), "--vintage", "2018-04"], env=env)
    assert result.exit_code == 0, result.output
    assert "ref-sirene: 99 records" in result.output
    from tests.conftest import make_instance

    instance = make_instance(tmp_path / "home", page_files=False)  # references are joined, not paged (page files: tests/store)
    try:
        rows = {r["siret"]: r for r in instance.store.query(current(instance, "ref-sirene"), "SELECT * FROM records").to_pylist()}
        for source in rows_of(refdata, OLD):
            row = rows[source["SIREN"] + source["NIC"]]
            assert (row["nom"], row["naf"], row["code_postal"]) == (source["NOMEN_LONG"], source["APET700"], source["CODPOS"])
            assert row["code_commune"] == source["DEPET"] + source["COMET"] and row["siege"] == (source["SIEGE"] == "1")
    finally:
        instance.store.close()
    bad = CliRunner().invoke(app, ["refdata", "sirene", str(refdata / "referentiels" / "cog2026_regions.csv")], env=env)
    assert bad.exit_code == 1 and "not a Sirene establishments file" in bad.output


def test_unmatched_codes_listed_in_cli_and_api(instance, refdata, tmp_path):
    list(install_sirene(instance, refdata / V3))
    with instance.session() as s:
        dataset = services.create_dataset(s, "achats", "Achats")
        services.set_pipeline(s, dataset, [{"processor": "sirene", "field": "siret", "on_error": "skip"}])
    lines = ["siret;montant"] + [f"{i:014d};{i}" for i in range(1, 151)] + [f"{rows_of(refdata, V3)[0]['siret']};7"]
    content = ("\n".join(lines) + "\n").encode()
    response = operator_client(instance).post("/api/management/v1/datasets/achats/data", params={"publish_now": True},
                                             files={"file": ("achats.csv", io.BytesIO(content), "text/csv")})
    assert response.status_code == 200, response.text
    step = response.json()["report"]["processors"][0]
    assert step["unmatched"] == 150 and len(step["unmatched_records"]) == 100
    assert {"siret", "montant", "sirene_nom"} <= set(step["unmatched_records"][0])
    with instance.session() as s:
        services.set_pipeline(s, services.get_dataset(s, "achats"), [{"processor": "sirene", "field": "siret", "on_error": "fail"}])
    with pytest.raises(IngestError, match="150 records unmatched and the step is set to fail"):
        load(instance, _write(tmp_path, content), [{"processor": "sirene", "field": "siret", "on_error": "fail"}], slug="achats")
    with instance.session() as s:
        assert services.get_dataset(s, "achats").current_version == 1


def _write(tmp_path, content: bytes):
    path = tmp_path / "achats.csv"
    path.write_bytes(content)
    return path


def test_cli_prints_step_counts_and_first_unmatched(tmp_path, refdata):
    env = {"PORTAIL_HOME": str(tmp_path / "home")}
    runner = CliRunner()
    assert runner.invoke(app, ["refdata", "sirene", str(refdata / V3)], env=env).exit_code == 0
    source = tmp_path / "f.csv"
    source.write_text("nom;siret\nX;99999999999999\n", encoding="utf-8")
    assert runner.invoke(app, ["dataset", "create", "f", "--title", "F", "--from", str(source)], env=env).exit_code == 0
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("- processor: sirene\n  field: siret\n", encoding="utf-8")
    assert runner.invoke(app, ["dataset", "pipeline", "f", "--set", str(pipeline)], env=env).exit_code == 0
    result = runner.invoke(app, ["dataset", "reload", "f"], env=env)
    assert result.exit_code == 0, result.output
    assert "step 1 (sirene): unmatched 1" in result.output and "siret=99999999999999" in result.output
