"""Real clients, unmodified, against a live server process: Opendatasoft's own JS client
(`@opendatasoft/api-client` from npm, its query builder), the Python client `portalkit`
(PyPI) reading a dataset past the 10,000-record window, and `odsclient` (PyPI), which downloads
through the dataset page's legacy link (``/explore/dataset/<id>/download/``). Every figure they return is checked
against a computation over the source file read here with the csv module, not through Portail."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import pandas
import pytest

from tests.conftest import Published
from tests.live import serve_published

pytestmark = pytest.mark.slow
JS = Path(__file__).parent / "js"
DATASET = "logements-sociaux"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f, delimiter=";"))


@pytest.fixture(scope="module")
def served(tmp_path_factory, refdata):
    home = tmp_path_factory.mktemp("clients") / "home"
    source = refdata / "logement" / "logements-sociaux-finances-a-paris.csv"
    big = tmp_path_factory.mktemp("big") / "grand.csv"
    with big.open("w", encoding="utf-8") as f:
        f.write("n;code;libelle\n")
        for n in range(12_345):
            f.write(f"{n};{n % 97:05d};ligne {n}\n")
    with serve_published(home, Published(DATASET, source, "Logements sociaux financés à Paris",
                                         metadata={"themes": ["Logement"]}),
                         Published("grand", big, "Plus de dix mille lignes")) as base:
        yield base, _rows(source)


@pytest.fixture(scope="module")
def js_answers(served):
    node = shutil.which("node")
    if node is None or not (JS / "node_modules" / "@opendatasoft" / "api-client").is_dir():
        pytest.fail("the JS client is not installed: `make install` runs npm ci in tests/clients/js")
    base, _ = served
    done = subprocess.run([node, "run.mjs", base, DATASET], cwd=JS, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _body(answers: dict, name: str):
    answer = answers[name]
    assert "error" not in answer, f"{answer['url']}: {answer['error']}"
    return answer["body"]


def test_js_client_catalog(js_answers):
    catalog = _body(js_answers, "catalog")
    ids = {d["dataset_id"] for d in catalog["results"]}
    assert {DATASET, "grand"} <= ids and catalog["total_count"] == len(catalog["results"])
    dataset = _body(js_answers, "catalog_dataset")
    assert dataset["dataset_id"] == DATASET
    assert "nb_logmt_total" in {f["name"] for f in dataset["fields"]}


def test_js_client_records_and_filters(js_answers, served):
    _, rows = served
    page = _body(js_answers, "first_page")
    expected = sorted(rows, key=lambda r: r["id_livraison"])[:20]
    assert [r["id_livraison"] for r in page["results"]] == [r["id_livraison"] for r in expected]
    assert page["total_count"] == len(rows)
    filtered = _body(js_answers, "filtered")
    matching = [r for r in rows if r["annee"] and int(r["annee"]) >= 2010 and r["bs"] == "RIVP"]
    assert filtered["total_count"] == len(matching)
    assert {r["id_livraison"] for r in filtered["results"]} <= {r["id_livraison"] for r in matching}


def test_js_client_group_by(js_answers, served):
    _, rows = served
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        totals[int(r["annee"])][0] += int(r["nb_logmt_total"] or 0)
        totals[int(r["annee"])][1] += 1
    body = _body(js_answers, "by_year")
    assert [(g["annee"], g["total"], g["n"]) for g in body["results"]] == [(y, t, n) for y, (t, n) in sorted(totals.items())]


def test_js_client_refine_exclude_and_facets(js_answers, served):
    _, rows = served
    refined = _body(js_answers, "refined")
    assert refined["results"][0]["n"] == sum(1 for r in rows if r["bs"] == "RIVP" and r["annee"] != "2001")
    facets = {f["name"]: {v["name"]: v["count"] for v in f["facets"]} for f in _body(js_answers, "facets")["facets"]}
    assert facets["bs"] == dict(Counter(r["bs"] for r in rows if r["bs"]))
    assert facets["arrdt"] == dict(Counter(r["arrdt"] for r in rows if r["arrdt"]))


def test_js_client_export(js_answers, served):
    _, rows = served
    exported = _body(js_answers, "export_json")
    assert sorted(str(r["id_livraison"]) for r in exported) == sorted(r["id_livraison"] for r in rows if r["arrdt"] == "12")


def test_portalkit_reads_past_ten_thousand_rows(served):
    import portalkit

    base, _ = served
    portal = portalkit.open(base, cache=False)
    assert portal.name == "opendatasoft"
    assert {d.id for d in portal.search("dix mille")} == {"grand"}
    frame = portal.dataset("grand").to_pandas()
    assert len(frame) == 12_345
    assert sorted(frame["n"].astype(int)) == list(range(12_345))
    assert frame.set_index(frame["n"].astype(int))["code"][42] == "00042"


def test_odsclient_downloads_whole_datasets_through_the_page_link(served, tmp_path, monkeypatch):
    """odsclient's only way in is ``/explore/dataset/<id>/download/?format=csv…``; an HTML
    answer (the page this URL gave before) is "no rights" to it."""
    import odsclient
    from odsclient.core import ODSException

    monkeypatch.chdir(tmp_path)  # no ods.apikey file around
    monkeypatch.delenv("ODS_APIKEY", raising=False)
    base, rows = served
    frame = odsclient.get_whole_dataframe(DATASET, base_url=base, use_keyring=False)
    fields = httpx.get(f"{base}/api/explore/v2.1/catalog/datasets/{DATASET}").json()["fields"]
    label = next(f["label"] for f in fields if f["name"] == "id_livraison")
    assert len(frame) == len(rows) and list(frame.columns) == [f["label"] for f in fields]
    assert sorted(frame[label].astype(str)) == sorted(r["id_livraison"] for r in rows)
    text = odsclient.get_whole_dataset("grand", base_url=base, use_keyring=False, use_labels_for_header=False,
                                       csv_separator=",", **{"refine.code": "00042"})
    written = pandas.read_csv(io.StringIO(text), dtype=str)  # as its users read it (a BOM first, as exports)
    assert sorted(written["n"].astype(int)) == [n for n in range(12_345) if n % 97 == 42]
    assert set(written["code"]) == {"00042"}
    with pytest.raises(ODSException) as error:
        odsclient.get_whole_dataset("nope", base_url=base, use_keyring=False)
    assert error.value.status_code == 404 and "Unknown dataset: nope" in str(error.value)
