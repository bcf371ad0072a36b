"""v1's analyze (ods-widgets' charts, scripts): series per x value, checked against the files."""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from tests.conftest import ANNOTATED_CSV, Published, annotated, logements_file, published_instance

ANALYZE = "/api/records/1.0/analyze/"


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    folder = tmp_path_factory.mktemp("v1-analyze")
    formulas = folder / "formulas.csv"
    formulas.write_text('nom;n\n=HYPERLINK("http://x");1\n@SUM(A1);2\nplain;3\n', encoding="utf-8")
    instance = published_instance(folder / "home", Published(
        "logements", logements_file(refdata), "Logements sociaux", {"bs": {"facet": []}}), annotated(folder),
        Published("formulas", formulas, "Formulas"))
    yield TestClient(create_app(instance))
    instance.store.close()


@pytest.fixture(scope="module")
def rows(refdata):
    with open(logements_file(refdata), encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


@pytest.fixture(scope="module")
def annotated_rows():
    return list(csv.DictReader(io.StringIO(ANNOTATED_CSV), delimiter=";"))


def get(client, **params):
    response = client.get(ANALYZE, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def grouped(rows, key, value=lambda r: 1):
    groups = defaultdict(list)
    for r in rows:
        groups[key(r)].append(value(r))
    return groups


def test_count_and_aggregates_per_text_value(client, rows):
    points = get(client, dataset="logements", x="arrdt", **{
        "y.n.func": "COUNT", "y.total.func": "SUM", "y.total.expr": "nb_logmt_total",
        "y.mean.func": "avg", "y.mean.expr": "nb_logmt_total", "y.low.func": "MIN", "y.low.expr": "nb_plai",
        "y.high.func": "MAX", "y.high.expr": "nb_plai", "y.sq.func": "SUMSQUARES", "y.sq.expr": "nb_pls",
        "y.sd.func": "STDDEV", "y.sd.expr": "nb_logmt_total", "y.mix.func": "SUM", "y.mix.expr": "(nb_plai + nb_pls) * 2"})
    by_arrdt = grouped(rows, lambda r: int(r["arrdt"]), lambda r: r)
    assert [p["x"] for p in points] == sorted(by_arrdt)  # ascending x by default, as the documented examples
    for point in points:
        members = by_arrdt[point["x"]]
        totals = [int(r["nb_logmt_total"]) for r in members]
        mean = sum(totals) / len(totals)
        assert point["n"] == len(members) and point["total"] == sum(totals)
        assert point["mean"] == pytest.approx(mean)
        assert point["low"] == min(int(r["nb_plai"]) for r in members)
        assert point["high"] == max(int(r["nb_plai"]) for r in members)
        assert point["sq"] == sum(int(r["nb_pls"]) ** 2 for r in members)
        assert point["sd"] == pytest.approx(math.sqrt(sum((t - mean) ** 2 for t in totals) / len(totals)), rel=1e-6)
        assert point["mix"] == sum((int(r["nb_plai"]) + int(r["nb_pls"])) * 2 for r in members)


def test_sort_maxpoints_cumulative_and_filters(client, rows):
    params = {"dataset": "logements", "x": "annee", "y.n.func": "COUNT", "refine.bs": "RES.URB.", "q": "nb_logmt_total>=20"}
    chosen = [r for r in rows if r["bs"] == "RES.URB." and int(r["nb_logmt_total"]) >= 20]
    counts = {year: len(v) for year, v in grouped(chosen, lambda r: int(r["annee"])).items()}
    assert {p["x"]: p["n"] for p in get(client, **params)} == counts
    top = get(client, **params, sort="n", maxpoints=3)
    assert [p["n"] for p in top] == sorted(counts.values(), reverse=True)[:3]
    assert [p["x"] for p in get(client, **params, sort="x")] == sorted(counts, reverse=True)
    assert [p["x"] for p in get(client, **params, sort="-x")] == sorted(counts)
    running = get(client, **params, **{"y.n.cumulative": "true"})
    assert [p["n"] for p in running] == [sum(counts[y] for y in sorted(counts) if y <= year) for year in sorted(counts)]
    # exclude., a geofilter (a circle of 1 km around Place d'Italie)
    lat, lon = 48.8313, 2.3557
    near = [r for r in rows if r["code_postal"] != "75013" and _metres(r["geo_point_2d"], lat, lon) <= 1000]
    points = get(client, dataset="logements", x="code_postal", **{"y.n.func": "COUNT", "exclude.code_postal": "75013",
                                                                 "geofilter.distance": f"{lat},{lon},1000"})
    expected = {k: len(v) for k, v in grouped(near, lambda r: r["code_postal"]).items()}
    assert {p["x"]: p["n"] for p in points} == expected and sum(expected.values()) > 0


def _metres(point: str, lat: float, lon: float) -> float:
    plat, plon = (math.radians(float(v)) for v in point.split(","))
    dlat, dlon = plat - math.radians(lat), plon - math.radians(lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(plat) * math.cos(math.radians(lat)) * math.sin(dlon / 2) ** 2
    return 2 * 6371008.8 * math.asin(math.sqrt(h))


def test_several_x_give_an_object_per_point(client, rows):
    points = get(client, dataset="logements", x=["arrdt", "bs"], sort="-x.bs", **{"y.n.func": "COUNT"})
    expected = {k: len(v) for k, v in grouped(rows, lambda r: (int(r["arrdt"]), r["bs"])).items()}
    assert {(p["x"]["arrdt"], p["x"]["bs"]): p["n"] for p in points} == expected
    assert [p["x"]["bs"] for p in points] == sorted(p["x"]["bs"] for p in points)


def test_date_x_by_precision_and_periodic(client, annotated_rows):
    dated = [r for r in annotated_rows if r["d"]]
    days = [date.fromisoformat(r["d"]) for r in dated]

    def series(**params):
        return [(p["x"], p["n"]) for p in get(client, dataset="mv", x="d", **{"y.n.func": "COUNT"}, **params)]

    def counted(key):
        return sorted({k: sum(1 for d in days if key(d) == k) for k in map(key, days)}.items())

    assert series() == [({"year": y, "month": m, "day": d}, n) for (y, m, d), n in counted(lambda d: (d.year, d.month, d.day))]
    assert series(precision="month") == [({"year": y, "month": m}, n) for (y, m), n in counted(lambda d: (d.year, d.month))]
    assert series(precision="year") == [({"year": y}, n) for y, n in counted(lambda d: d.year)]
    assert series(periodic="month", precision="month") == [({"month": m}, n) for m, n in counted(lambda d: d.month)]
    assert series(periodic="weekday") == [({"weekday": w}, n) for w, n in counted(lambda d: d.weekday())]  # 0: Monday
    assert series(precision="week") == [({"year": y, "week": w}, n) for (y, w), n in
                                        counted(lambda d: tuple(d.isocalendar())[:2])]
    # an instant is cut in the request's timezone
    paris = ZoneInfo("Europe/Paris")
    instants = [datetime.fromisoformat(r["dt"]).astimezone(paris) for r in annotated_rows if r["dt"]]
    points = get(client, dataset="mv", x="dt", precision="year", timezone="Europe/Paris", **{"y.n.func": "COUNT"})
    years = sorted({i.year for i in instants})
    assert points == [{"x": {"year": y}, "n": sum(1 for i in instants if i.year == y)} for y in years]
    hours = get(client, dataset="mv", x="dt", periodic="hour", precision="hour", **{"y.n.func": "COUNT"})
    utc = [datetime.fromisoformat(r["dt"]) for r in annotated_rows if r["dt"]]
    assert {p["x"]["hour"]: p["n"] for p in hours} == {h: sum(1 for i in utc if i.hour == h) for h in {i.hour for i in utc}}


def test_jsonp_and_csv(client, rows):
    params = {"dataset": "logements", "x": "arrdt", "y.total.func": "SUM", "y.total.expr": "nb_logmt_total"}
    plain = get(client, **params)
    padded = client.get(ANALYZE, params={**params, "callback": "chart.draw"})
    assert padded.headers["content-type"].startswith("application/javascript")
    assert json.loads(padded.text[len("/**/chart.draw("):-2]) == plain
    table = client.get(ANALYZE, params={**params, "format": "csv", "csv_separator": ","})
    assert table.headers["content-type"].startswith("text/csv")
    read = list(csv.DictReader(table.content.decode("utf-8-sig").splitlines()))
    assert [(int(r["x"]), int(r["total"])) for r in read] == [(p["x"], p["total"]) for p in plain]
    dated = client.get(ANALYZE, params={"dataset": "mv", "x": "d", "precision": "month", "format": "csv",
                                        "y.n.func": "COUNT"}).content.decode("utf-8-sig").splitlines()
    assert dated[0].replace('"', "") == "x.year;x.month;n"
    # cells a spreadsheet would run are neutralised, as in every CSV export
    cells = list(csv.DictReader(client.get(ANALYZE, params={"dataset": "formulas", "x": "nom", "y.n.func": "SUM",
                                                            "y.n.expr": "n", "format": "csv"}
                                           ).content.decode("utf-8-sig").splitlines(), delimiter=";"))
    assert {r["x"]: r["n"] for r in cells} == {"'=HYPERLINK(\"http://x\")": "1", "'@SUM(A1)": "2", "plain": "3"}


@pytest.mark.parametrize("params, fragment", [
    ({"y.n.func": "COUNT"}, "x"),
    ({"x": "nope", "y.n.func": "COUNT"}, "nope"),
    ({"x": "arrdt", "y.n.func": "MEDIAN", "y.n.expr": "nb_plai"}, "y.n.func"),
    ({"x": "arrdt", "y.n.func": "SUM"}, "y.n.expr"),
    ({"x": "arrdt", "y.n.func": "SUM", "y.n.expr": "nope * 2"}, "nope"),
    ({"x": "arrdt", "y.n.func": "SUM", "y.n.expr": "nb_plai); DROP TABLE records; --"}, "y.n.expr"),
    ({"x": "arrdt", "y.n.func": "SUM", "y.n.expr": "sqrt(nb_plai)"}, "sqrt"),
    ({"x": "arrdt", "y.n.func": "COUNT", "sort": "elsewhere"}, "sort"),
    ({"x": "arrdt", "y.n.func": "COUNT", "maxpoints": "-1"}, "maxpoints"),
    ({"x": "arrdt", "y.n.func": "COUNT", "format": "jsonp"}, "callback"),
    ({"x": "arrdt", "y.n.func": "COUNT", "csv_separator": "1", "format": "csv"}, "csv_separator"),
])
def test_bad_requests_are_400_naming_the_parameter(client, params, fragment):
    response = client.get(ANALYZE, params={"dataset": "logements", **params})
    assert response.status_code == 400, response.text
    assert fragment in response.json()["message"]


def test_a_date_period_finer_than_its_precision_is_refused(client):
    response = client.get(ANALYZE, params={"dataset": "mv", "x": "d", "periodic": "day", "precision": "month",
                                           "y.n.func": "COUNT"})
    assert response.status_code == 400 and "periodic" in response.json()["message"]
    assert client.get(ANALYZE, params={"dataset": "zz", "x": "d"}).status_code == 404
