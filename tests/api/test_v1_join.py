"""v1 analyze's ``join.<name>.*``, as ods-widgets' aggregation map layer sends it: regional
councillors counted per region, each region's point carrying the region's shape from another
dataset. Expected values come from the published files, read here with plain Python."""

from __future__ import annotations

import csv
from collections import Counter
from statistics import mean

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape

from portail.api import create_app
from portail.api.explore_service import GROUP_WINDOW
from tests.api.v1_join_data import COUNCILLORS, REGIONS, councillors, regions  # noqa: F401 - the join's files, as fixtures
from tests.conftest import Published, published_instance

ANALYZE = "/api/records/1.0/analyze/"
COMMUNES = ("referentiels", "populations_legales_communes.csv")  # ~35,000: more than a query's window
#: The parameters MapRenderingAggregation sends (its hover field: the region's name).
LAYER = {"dataset": "cr", "join.agg1.fields": "geo_shape,nom", "join.agg1.remotedataset": "regions",
         "join.agg1.remotekey": "code", "join.agg1.localkey": "code_de_la_region", "agg.agg1.func": "MIN,MAX",
         "agg.agg1.expr": "serie1", "y.serie1.expr": "code_de_la_region", "y.serie1.func": "COUNT"}


#: Region codes as integers, with values (4, La Réunion, has no shape in the regions file).
SCORES = [(11, 2.5), (11, 3.5), (24, 1.0), (93, 7.25), (94, 4.0), (53, 0.5), (53, 1.5), (53, 2.0), (4, 9.0)]


@pytest.fixture(scope="module")
def instance(tmp_path_factory, refdata):
    folder = tmp_path_factory.mktemp("v1-join")
    scores = folder / "scores.csv"
    scores.write_text("region;valeur\n" + "".join(f"{c};{str(v).replace('.', ',')}\n" for c, v in SCORES),
                      encoding="utf-8")
    instance = published_instance(folder / "home",
                                  Published("cr", refdata.joinpath(*COUNCILLORS), "Conseillers régionaux"),
                                  Published("regions", refdata.joinpath(*REGIONS), "Régions"),
                                  Published("scores", scores, "Scores par région"),
                                  Published("communes", refdata.joinpath(*COMMUNES), "Populations légales"))
    yield instance
    instance.store.close()


@pytest.fixture(scope="module")
def client(instance):
    return TestClient(create_app(instance))


def analyze(client, **params):
    response = client.get(ANALYZE, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_each_region_gets_its_count_and_its_shape(client, councillors, regions):
    counts = Counter(r["Code de la région"] for r in councillors)
    joined = {code: n for code, n in counts.items() if code in regions}
    assert len(joined) < len(counts)  # overseas regions have no shape there: left out
    body = analyze(client, **LAYER)
    assert [p["x"][0]["fields"]["nom"] for p in body["results"]] == \
        [regions[code]["properties"]["nom"] for code in sorted(joined)]  # ascending x, as without a join
    for point in body["results"]:
        (record,) = point["x"]
        code = next(c for c, f in regions.items() if f["properties"]["nom"] == record["fields"]["nom"])
        assert point["serie1"] == joined[code]
        assert set(record["fields"]) == {"geo_shape", "nom"}  # the fields asked for, the key not added
        assert record["datasetid"] == "regions" and len(record["recordid"]) == 40
        assert shape(record["fields"]["geo_shape"]).equals_exact(shape(regions[code]["geometry"]), 1e-9)
    assert body["aggregations"] == {"agg1": {"min": min(joined.values()), "max": max(joined.values())}}


def test_series_sort_maxpoints_and_the_remote_records_in_full(client, councillors, regions):
    counts = Counter(r["Code de la région"] for r in councillors if r["Code de la région"] in regions)
    params = {k: v for k, v in LAYER.items() if k != "join.agg1.fields"}
    body = analyze(client, **params, sort="serie1", maxpoints=3)
    top = [code for code, _ in counts.most_common(3)]
    assert [(p["x"][0]["fields"]["code"], p["serie1"]) for p in body["results"]] == [(c, counts[c]) for c in top]
    assert set(body["results"][0]["x"][0]["fields"]) == {"code", "nom", "geo_shape"}  # no fields: all
    assert body["results"][0]["x"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_a_numeric_key_matches_a_text_one(client, regions):
    """Scores keyed by an integer region code (``11``), joined to the text codes there."""
    assert client.get("/api/explore/v2.1/catalog/datasets/scores").json()["fields"][0]["type"] == "int"
    body = analyze(client, **{**LAYER, "dataset": "scores", "join.agg1.localkey": "region",
                              "y.serie1.expr": "valeur", "y.serie1.func": "AVG"})
    expected = {}
    for code, value in SCORES:
        if str(code) in regions:
            expected.setdefault(regions[str(code)]["properties"]["nom"], []).append(value)
    assert {p["x"][0]["fields"]["nom"]: p["serie1"] for p in body["results"]} == \
        pytest.approx({name: mean(values) for name, values in expected.items()})
    assert body["aggregations"]["agg1"]["max"] == pytest.approx(max(mean(v) for v in expected.values()))


def test_filters_apply_to_the_local_dataset(client, councillors, regions):
    women = Counter(r["Code de la région"] for r in councillors if r["Code sexe"] == "F" and r["Code de la région"] in regions)
    body = analyze(client, **LAYER, **{"refine.code_sexe": "F"})
    assert {p["x"][0]["fields"]["nom"]: p["serie1"] for p in body["results"]} == \
        {regions[c]["properties"]["nom"]: n for c, n in women.items()}


def test_csv_writes_the_first_records_fields(client, councillors, regions):
    response = client.get(ANALYZE, params={**LAYER, "join.agg1.fields": "nom", "format": "csv"})
    assert response.status_code == 200
    rows = list(csv.DictReader(response.text.lstrip("\ufeff").splitlines(), delimiter=";"))
    counts = Counter(r["Code de la région"] for r in councillors)
    assert {r["x.nom"]: int(r["serie1"]) for r in rows} == \
        {f["properties"]["nom"]: counts[c] for c, f in regions.items() if c in counts}


@pytest.mark.parametrize("change, status, fragment", [
    ({"join.agg2.remotedataset": "regions"}, 400, "one join is expected"),
    ({"join.agg1.remotekey": ""}, 400, "join.agg1.remotekey"),
    ({"join.agg1.color": "red"}, 400, "join.agg1.color"),
    ({"join.agg1.remotedataset": "nulle-part"}, 404, "Unknown dataset: nulle-part"),
    ({"join.agg1.remotekey": "insee"}, 400, "'insee' is not a field of dataset 'regions'"),
    ({"join.agg1.fields": "geo_shape,population"}, 400, "'population' is not a field"),
    ({"join.agg1.localkey": "nulle_part"}, 400, "unknown field 'nulle_part'"),
    ({"join.agg1.localkey": "date_de_naissance"}, 400, "date field"),
    ({"x": "code_sexe"}, 400, "x is its localkey"),
])
def test_bad_joins_are_refused_naming_the_parameter(client, change, status, fragment):
    response = client.get(ANALYZE, params={**LAYER, **change})
    assert response.status_code == status and fragment in response.json()["error"], response.text


def test_the_remote_dataset_is_read_as_the_caller_may_read_it(tmp_path, refdata, councillors, regions):
    """Its row filter and hidden fields for the caller's group hold (a hidden field reads as an
    unknown one), and a dataset the caller may not read is one that does not exist: a join shows
    nothing the caller could not read by itself."""
    from portail.auth import services as auth
    from portail.catalog import services as catalog

    instance = published_instance(tmp_path / "home", Published("cr", refdata.joinpath(*COUNCILLORS), "CR"),
                                  Published("regions", refdata.joinpath(*REGIONS), "Régions"),
                                  Published("cachees", refdata.joinpath(*REGIONS), "Régions privées"))
    with instance.session() as s:
        auth.create_group(s, "lecteurs")
        auth.set_dataset_security(s, catalog.get_dataset(s, "regions"), visibility="restricted",
                                  record_filters={"lecteurs": "code != '11'"}, hidden_fields={"lecteurs": ["nom"]})
        auth.grant(s, catalog.get_dataset(s, "regions"), "group", "lecteurs")
        auth.set_dataset_security(s, catalog.get_dataset(s, "cachees"), visibility="restricted")
        alice = auth.create_user(s, "alice", role="viewer")
        auth.add_member(s, auth.get_group(s, "lecteurs"), alice)
        key = auth.create_api_key(s, alice)[1]
    client = TestClient(create_app(instance), headers={"Authorization": f"Apikey {key}"})
    body = analyze(client, **{**LAYER, "join.agg1.fields": "code"})
    shown = {p["x"][0]["fields"]["code"] for p in body["results"]}
    assert shown == {r["Code de la région"] for r in councillors if r["Code de la région"] in regions} - {"11"}
    hidden = client.get(ANALYZE, params=LAYER)
    absent = client.get(ANALYZE, params={**LAYER, "join.agg1.fields": "geo_shape,nom2"})
    assert hidden.status_code == absent.status_code == 400 and hidden.text == absent.text.replace("nom2", "nom")
    for caller, remote in ((client, "cachees"), (TestClient(create_app(instance)), "regions")):
        private = caller.get(ANALYZE, params={**LAYER, "join.agg1.remotedataset": remote})
        unknown = caller.get(ANALYZE, params={**LAYER, "join.agg1.remotedataset": "inconnues"})
        assert private.status_code == unknown.status_code == 404
        assert private.json()["error"] == unknown.json()["error"].replace("inconnues", remote)
    instance.store.close()


def test_cumulative_sums_run_over_the_joined_points(client, regions):
    body = analyze(client, **{**LAYER, "dataset": "scores", "join.agg1.localkey": "region", "y.serie1.expr": "valeur",
                              "y.serie1.func": "SUM", "y.serie1.cumulative": "true"})
    sums: dict[int, float] = {}
    for code, value in SCORES:
        if str(code) in regions:  # La Réunion (4), first in x order, has no shape: not summed
            sums[code] = sums.get(code, 0) + value
    running, expected = 0.0, []
    for code in sorted(sums):
        running += sums[code]
        expected.append(running)
    assert [p["serie1"] for p in body["results"]] == pytest.approx(expected)


def test_every_match_is_written_past_the_query_window(client, councillors, refdata):
    """Each region's point carries all of its communes: more than one query's window (20,000
    records) match the batch of region codes, which is asked again in halves."""
    with open(refdata.joinpath(*COMMUNES), encoding="utf-8") as handle:
        communes = Counter(row["REG"] for row in csv.DictReader(handle, delimiter=";"))
    expected = {code: communes[code] for code in {r["Code de la région"] for r in councillors} if code in communes}
    assert sum(expected.values()) > GROUP_WINDOW
    body = analyze(client, dataset="cr", x="code_de_la_region", **{
        "y.n.func": "COUNT", "join.c.remotedataset": "communes", "join.c.localkey": "code_de_la_region",
        "join.c.remotekey": "reg", "join.c.fields": "com,reg"})
    got = {}
    for point in body:
        codes = [record["fields"]["com"] for record in point["x"]]
        assert len(set(codes)) == len(codes)  # each commune once
        (region,) = {record["fields"]["reg"] for record in point["x"]}
        got[region] = len(codes)
    assert got == expected
