"""The ``portail`` command, driven as an administrator would."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.cli import PORTAIL, cli, invoke  # noqa: F401 - cli: the fixture

ROOT = Path(__file__).resolve().parents[1]


def test_dataset_lifecycle(cli, refdata, tmp_path):
    """Create, ingest, publish, roll back, show, retype a field and reload, delete: the file is
    loaded three times, so it is a real subset of the reference file (every fifth record, one a
    line: 3,600 of 17,996, 5 of its 22 ``NA``), read as the whole is (cp1252, ``NA`` markers)."""
    header, *lines = (refdata / "retraites" / "drees_eacr_age_liquidation.csv").read_bytes().splitlines(keepends=True)
    retraites = tmp_path / "drees_eacr_age_liquidation.csv"
    retraites.write_bytes(header + b"".join(lines[::5]))
    created = cli("dataset", "create", "retraites", "--title", "Âge de liquidation", "--from", str(retraites),
                  "--portal", "both")
    assert "version 1 published: 3,600 records" in created.output
    assert "encoding cp1252" in created.output and "values could not be read" not in created.output
    assert "field 'ageliq': 5 'no value' marker(s)" in created.output  # how each field was read, said
    ingest = cli("dataset", "ingest", "retraites", str(retraites))
    assert "version 2 ready (not published" in ingest.output
    assert "version 2 published" in cli("dataset", "publish", "retraites").output
    assert "rolled back to version 1" in cli("dataset", "rollback", "retraites", "--to", "1").output
    listing = json.loads(cli("dataset", "list", "--json").output)
    assert listing == [{"dataset_id": "retraites", "uid": listing[0]["uid"], "title": "Âge de liquidation",
                        "portals": ["public", "internal"], "version": 1, "records": 3600}]
    shown = json.loads(cli("dataset", "show", "retraites", "--json").output)
    assert [v["status"] for v in shown["versions"]] == ["ready", "ready"]
    assert "ageliq" in cli("dataset", "show", "retraites").output
    cli("dataset", "field", "retraites", "generation", "--type", "text")
    assert "version 3 published" in cli("dataset", "reload", "retraites").output
    shown = json.loads(cli("dataset", "show", "retraites", "--json").output)
    assert shown["versions"][-1]["report"]["fields"][5] == {"name": "generation", "label": "generation", "type": "text",
                                                             "values": 3600, "rejected": 0, "notes": [],
                                                             "examples": [], "example_line": None}
    assert "deleted" in cli("dataset", "delete", "retraites", "--yes").output
    assert json.loads(cli("dataset", "list", "--json").output) == []


def test_field_annotations_set_from_the_command_line_drive_the_facets(cli, refdata, tmp_path):
    from fastapi.testclient import TestClient

    from portail.api import create_app
    from tests.conftest import make_instance

    cli("dataset", "create", "senateurs", "--title", "Sénateurs", "--from",
        str(refdata / "elus" / "rne_elus-senateurs-sen.csv"))
    cli("dataset", "field", "senateurs", "libelle_du_departement", "--annotate", "facet", "--annotate", "hierarchical=-")
    cli("dataset", "reload", "senateurs")
    assert "facet, hierarchical=-" in cli("dataset", "show", "senateurs").output
    with open(refdata / "elus" / "rne_elus-senateurs-sen.csv", encoding="utf-8") as handle:
        departements = [line.split(";")[1].strip('"') for line in list(handle)[1:]]
    instance = make_instance(tmp_path / "home")
    client = TestClient(create_app(instance))
    facets = client.get("/api/explore/v2.1/catalog/datasets/senateurs/facets").json()["facets"]
    assert [f["name"] for f in facets] == ["libelle_du_departement"]  # the annotated field is the default facet
    seine = next(e for e in facets[0]["facets"] if e["value"] == "Seine")  # Seine-Maritime, Seine-et-Marne…
    assert seine["count"] == sum(d.startswith("Seine-") for d in departements) > 0
    cli("dataset", "field", "senateurs", "libelle_du_departement", "--clear-annotations")
    cli("dataset", "reload", "senateurs")
    assert client.get("/api/explore/v2.1/catalog/datasets/senateurs/facets").json()["facets"] == []
    instance.store.close()


def test_a_relative_source_reloads_from_any_folder(cli, tmp_path, monkeypatch):
    folder = tmp_path / "here"
    folder.mkdir()
    (folder / "rel.csv").write_text("code;nom\n01001;Abergement\n")
    monkeypatch.chdir(folder)
    cli("dataset", "create", "z", "--title", "Z", "--from", "rel.csv")
    monkeypatch.chdir(tmp_path)
    assert "version 2 published" in cli("dataset", "reload", "z").output


def test_errors_name_file_and_line(cli, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text('a;b\n1;2\n3;"4\n')
    cli("dataset", "create", "x", "--title", "X")
    result = cli("dataset", "ingest", "x", str(bad), ok=False)
    assert result.exit_code == 1
    assert "Error: bad.csv, line 3: a quoted field opened here is never closed" in result.output
    assert "Unknown dataset: nope" in cli("dataset", "publish", "nope", ok=False).output
    assert "--portal must be" in cli("dataset", "create", "y", "--title", "Y", "--portal", "intranet", ok=False).output


def test_demo_without_reference_files_generates_one(cli, tmp_path):
    output = cli("demo", "--refdata", str(tmp_path / "missing")).output
    assert f"reference files not found at {tmp_path / 'missing'} (--refdata): loading a generated sample" in output
    assert "equipements-demo: 5,000 records" in output
    row = next(line for line in cli("dataset", "show", "equipements-demo").output.splitlines() if "montant" in line)
    assert "Montant" in row and "double" in row and "unit=€, decimals=2" in row  # the pages write 1 234,50 €
    assert "equipements-demo: version 2 published: 5,000 records" in cli("dataset", "reload", "equipements-demo").output


def test_installed_entry_point(tmp_path):
    result = subprocess.run([str(PORTAIL), "dataset", "list", "--json"], capture_output=True,
                            text=True, env={**os.environ, "PORTAIL_HOME": str(tmp_path / "h")})
    assert result.returncode == 0 and json.loads(result.stdout) == []


def test_metadata_and_attachments(cli, tmp_path):
    cli("dataset", "create", "m", "--title", "M")
    cli("dataset", "meta", "m", "--theme", "Territoires", "--theme", "Logement", "--keyword", "commune",
        "--frequency", "annual", "--temporal-start", "2020-01-01", "--owner", "Jeanne Martin", "--portal", "both",
        "--rename", "m2")
    shown = json.loads(cli("dataset", "show", "m2", "--json").output)
    assert shown["themes"] == ["Territoires", "Logement"] and shown["keywords"] == ["commune"]
    assert (shown["update_frequency"], shown["temporal_start"], shown["owner"]) == ("annual", "2020-01-01", "Jeanne Martin")
    assert shown["portals"] == ["public", "internal"]
    assert "update_frequency must be one of" in cli("dataset", "meta", "m2", "--frequency", "often", ok=False).output
    notice = tmp_path / "Notice d'utilisation.pdf"
    notice.write_bytes(b"%PDF-1.4")
    assert "as notice_d_utilisation_pdf" in cli("dataset", "attach", "m2", str(notice)).output
    shown = json.loads(cli("dataset", "show", "m2", "--json").output)
    assert shown["attachments"] == [{"id": "notice_d_utilisation_pdf", "title": "Notice d'utilisation.pdf",
                                     "mimetype": "application/pdf", "size_bytes": 8}]
    assert "already exists" in cli("dataset", "attach", "m2", str(notice), ok=False).output


def test_reindex_writes_a_versions_index_file_again(cli, refdata, tmp_path):
    """A version whose index file is missing (built before index files, or its index build
    failed) is served by scans; ``dataset reindex`` writes the file and queries use it. The
    départements (101 rows): the index is built whatever the size, and the test builds it three
    times (the load, then ``reindex`` twice), so the postcodes' 39,000 rows cost ~15 s for nothing."""
    from portail.config import Settings
    from portail.operations import open_instance
    from portail.store.duckdb_store import index_path

    cli("dataset", "create", "cp", "--title", "Départements", "--from", str(refdata / "referentiels" / "cog2026_departements.csv"))
    instance = open_instance(Settings(home=tmp_path / "home"))
    try:
        with instance.session() as s:
            from portail.catalog import services

            location = services.get_dataset(s, "cp").current.location
        index_path(location).unlink()
        assert not instance.store.has_index(location)
        assert "version 1 indexed" in cli("dataset", "reindex", "cp").output
        assert index_path(location).exists() and instance.store.has_index(location)
        missing = cli("dataset", "reindex", "cp", "--version", "7", ok=False)
        assert missing.exit_code == 1 and "no such version" in missing.output
        # After an upgrade that changes how words are indexed: every published version at once.
        index_path(location).unlink()
        instance.store.close()
        assert "cp: version 1 indexed" in cli("dataset", "reindex", "--all").output
        assert instance.store.has_index(location)
        for wrong in (("dataset", "reindex"), ("dataset", "reindex", "cp", "--all"), ("dataset", "reindex", "--all", "--version", "1")):
            refused = cli(*wrong, ok=False)
            assert refused.exit_code == 2 and "or give --all" in refused.output  # a usage error
    finally:
        instance.store.close()


@pytest.mark.slow
def test_serve_without_a_base_url_publishes_uris_of_where_it_answers(tmp_path, refdata):
    """``portail serve --port N`` with no PORTAIL_BASE_URL: DCAT URIs name that port (they named
    the default 127.0.0.1:8000, a wrong address for every harvester); a set one is kept."""
    import httpx

    from tests.live import free_port, wait_listening

    home = tmp_path / "home"
    source = refdata / "referentiels" / "cog2026_regions.csv"  # any published dataset has a URI: a small one
    created = invoke(["dataset", "create", "regions", "--title", "Régions", "--from", str(source), "--portal", "public"],
                     {"PORTAIL_HOME": str(home)})
    assert created.exit_code == 0, created.output
    servers = {}  # both started at once: each spends its first seconds importing, and the test waits once
    try:
        for configured in (None, "https://data.example.org"):
            port = next(p for p in iter(free_port, None) if p not in {q for q, _ in servers.values()})
            env = {"PORTAIL_HOME": str(home), "PATH": os.environ.get("PATH", "")} | (
                {"PORTAIL_BASE_URL": configured} if configured else {})
            servers[configured or f"http://127.0.0.1:{port}"] = port, subprocess.Popen(
                [str(PORTAIL), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for expected, (port, process) in servers.items():
            wait_listening(process, port)
            data = httpx.get(f"http://127.0.0.1:{port}/api/explore/v2.1/catalog/exports/data.json").json()
            assert data["dataset"] and all(d["identifier"].startswith(expected + "/") for d in data["dataset"])
    finally:
        for _, process in servers.values():
            process.terminate()
        for _, process in servers.values():
            process.wait(timeout=10)
