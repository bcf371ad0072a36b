"""v1's analyze (ods-widgets' charts, cross tables and aggregations, scripts): series per x
value, each expected value computed here from the published files with plain Python."""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter, defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.api import v1_analysis
from tests.conftest import ANNOTATED_CSV, Published, annotated, logements_file, published_instance

ANALYZE = "/api/records/1.0/analyze/"
ELUS = ("elus", "rne_elus-conseillers-departementaux-cd.csv")
BIRTH = "date_de_naissance"


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    folder = tmp_path_factory.mktemp("v1-analyze")
    formulas = folder / "formulas.csv"
    formulas.write_text('nom;n\n=HYPERLINK("http://x");1\n@SUM(A1);2\nplain;3\n', encoding="utf-8")
    instance = published_instance(folder / "home", Published(
        "logements", logements_file(refdata), "Logements sociaux", {"bs": {"facet": []}}), annotated(folder),
        Published("formulas", formulas, "Formulas"),
        Published("elus", refdata.joinpath(*ELUS), "Conseillers départementaux"))
    yield TestClient(create_app(instance))
    instance.store.close()


@pytest.fixture(scope="module")
def rows(logements_rows):
    return logements_rows


@pytest.fixture(scope="module")
def elus(refdata):
    with open(refdata.joinpath(*ELUS), encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


@pytest.fixture(scope="module")
def births(elus):
    return [date.fromisoformat(r["Date de naissance"]) for r in elus if r["Date de naissance"]]


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


def percentile(values, p):
    """Linear interpolation between the closest ranks."""
    ordered = sorted(values)
    position = p / 100 * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def test_count_and_aggregates_per_text_value(client, rows):
    points = get(client, dataset="logements", x="arrdt", **{
        "y.n.func": "COUNT", "y.n.expr": "nb_plai", "y.total.func": "SUM", "y.total.expr": "nb_logmt_total",
        "y.mean.func": "avg", "y.mean.expr": "nb_logmt_total", "y.low.func": "MIN", "y.low.expr": "nb_plai",
        "y.high.func": "MAX", "y.high.expr": "nb_plai", "y.sq.func": "SUMSQUARES", "y.sq.expr": "nb_pls",
        "y.sd.func": "STDDEV", "y.sd.expr": "nb_logmt_total", "y.mix.func": "SUM", "y.mix.expr": "(nb_plai + nb_pls) * 2",
        "y.q.func": "QUANTILES", "y.q.expr": "nb_logmt_total", "y.q.subsets": "25,90", "y.med.func": "quantiles",
        "y.med.expr": "nb_plai"})
    by_arrdt = grouped(rows, lambda r: int(r["arrdt"]), lambda r: r)
    assert [p["x"] for p in points] == sorted(by_arrdt)  # ascending x by default
    for point in points:
        members = by_arrdt[point["x"]]
        totals = [int(r["nb_logmt_total"]) for r in members]
        mean = sum(totals) / len(totals)
        assert point["n"] == len(members) and point["total"] == sum(totals)  # COUNT counts records, whatever expr
        assert point["mean"] == pytest.approx(mean)
        assert point["low"] == min(int(r["nb_plai"]) for r in members)
        assert point["high"] == max(int(r["nb_plai"]) for r in members)
        assert point["sq"] == sum(int(r["nb_pls"]) ** 2 for r in members)
        assert point["sd"] == pytest.approx(math.sqrt(sum((t - mean) ** 2 for t in totals) / len(totals)), rel=1e-6)
        assert point["mix"] == sum((int(r["nb_plai"]) + int(r["nb_pls"])) * 2 for r in members)
        # ods-widgets' percentiles: an object keyed as the charts read it ("50.0")
        assert point["q"] == {"25.0": pytest.approx(percentile(totals, 25)), "90.0": pytest.approx(percentile(totals, 90))}
        assert point["med"] == {"50.0": pytest.approx(percentile([int(r["nb_plai"]) for r in members], 50))}


def test_expressions_use_javas_math_functions_as_documented(client, rows):
    """The documentation's ``sin(area_hectares)*2`` and its list of functions (Java's Math, names
    case-insensitive): each against Python's math over the file; NaN and infinities (sqrt below
    0, log of 0) are left out of the aggregate as nulls are."""
    def java(function, *args):
        try:
            value = function(*args)
        except (ValueError, OverflowError):
            return None
        return value if math.isfinite(value) else None

    series = {
        "s": ("sin(nb_plai)*2", lambda r: math.sin(r["nb_plai"]) * 2),
        "r": ("SQRT(nb_plai - 3)", lambda r: java(math.sqrt, r["nb_plai"] - 3)),
        "l": ("log(nb_pls) + log10(nb_logmt_total)",
              lambda r: java(lambda a, b: math.log(a) + math.log10(b), r["nb_pls"], r["nb_logmt_total"])),
        "p": ("pow(nb_plai, 2) + hypot(nb_plai, nb_pls) + toDegrees(atan2(nb_pls, nb_plai))",
              lambda r: r["nb_plai"] ** 2 + math.hypot(r["nb_plai"], r["nb_pls"])
              + math.degrees(math.atan2(r["nb_pls"], r["nb_plai"]))),
        "g": ("signum(nb_plai - 5) * max(nb_plai, nb_pls) + min(1, nb_pls)",
              lambda r: float((r["nb_plai"] > 5) - (r["nb_plai"] < 5)) * max(r["nb_plai"], r["nb_pls"])
              + min(1, r["nb_pls"])),
        # Java's Math.round: floor(x + 0.5), so -2.5 is -2 (halves up, not away from zero)
        "o": ("round(nb_plai - nb_pls / 2 - 5.5) + ROUND(0 - nb_pls / 2)",
              lambda r: math.floor(r["nb_plai"] - r["nb_pls"] / 2 - 5.5 + 0.5) + math.floor(-r["nb_pls"] / 2 + 0.5)),
    }
    params = {k: v for name, (expr, _) in series.items() for k, v in ((f"y.{name}.func", "SUM"), (f"y.{name}.expr", expr))}
    points = get(client, dataset="logements", x="arrdt", **params)
    for wrong in ("round()", "round(nb_plai, 1)", "round(nb_plai,)"):  # Java's round takes one argument
        answer = client.get("/api/records/1.0/analyze/", params={"dataset": "logements", "x": "arrdt",
                                                                 "y.s.func": "SUM", "y.s.expr": wrong})
        assert answer.status_code == 400 and "round() takes one argument" in answer.json()["error"], (wrong, answer.text)
    numbers = [{k: int(r[k]) for k in ("nb_plai", "nb_pls", "nb_logmt_total")} | {"arrdt": int(r["arrdt"])} for r in rows]
    by_arrdt = grouped(numbers, lambda r: r["arrdt"], lambda r: r)
    assert [p["x"] for p in points] == sorted(by_arrdt)
    for point in points:
        for name, (_, compute) in series.items():
            values = [v for v in map(compute, by_arrdt[point["x"]]) if v is not None]
            expected = sum(values) if values else None
            assert point[name] == (pytest.approx(expected, rel=1e-9) if expected is not None else None), (name, point)


def test_filters_sort_maxpoints_and_cumulative(client, rows):
    params = {"dataset": "logements", "x": "annee", "y.n.func": "COUNT", "refine.bs": "RIVP", "q": "nb_logmt_total>=20"}
    chosen = [r for r in rows if r["bs"] == "RIVP" and int(r["nb_logmt_total"]) >= 20]
    counts = {year: len(v) for year, v in grouped(chosen, lambda r: int(r["annee"])).items()}
    assert len(counts) > 10
    assert get(client, **params) == [{"x": year, "n": counts[year]} for year in sorted(counts)]
    # a serie is descending unless "-" (top values first), x ascending unless "-"
    assert [p["n"] for p in get(client, **params, sort="n", maxpoints=3)] == sorted(counts.values(), reverse=True)[:3]
    assert [p["n"] for p in get(client, **params, sort="-n")] == sorted(counts.values())
    assert [p["n"] for p in get(client, **params, sort="y")] == sorted(counts.values(), reverse=True)
    assert [p["n"] for p in get(client, **params, sort="-y.n")] == sorted(counts.values())
    assert [p["x"] for p in get(client, **params, sort="x")] == sorted(counts)
    assert [p["x"] for p in get(client, **params, sort="-x", maxpoints=4)] == sorted(counts, reverse=True)[:4]
    assert [p["x"] for p in get(client, **params, sort="-x.annee")] == sorted(counts, reverse=True)
    # a key naming neither x nor a serie is left out (ods-widgets' contexts pass their own sort along)
    assert [p["x"] for p in get(client, **params, sort="-nb_plai")] == sorted(counts)
    # maxpoints empty (as the charts send it) or 0: every point
    assert len(get(client, **params, maxpoints="")) == len(get(client, **params, maxpoints=0)) == len(counts)
    superscript = client.get(ANALYZE, params={**params, "maxpoints": "\u00b2"})  # isdigit(), not int()
    assert superscript.status_code == 400 and "maxpoints" in superscript.json()["message"]
    running = get(client, **params, **{"y.n.cumulative": "true", "y.m.func": "COUNT", "y.m.cumulative": "false"})
    assert [p["n"] for p in running] == [sum(counts[y] for y in counts if y <= year) for year in sorted(counts)]
    assert [p["m"] for p in running] == [counts[year] for year in sorted(counts)]


def test_cumulative_runs_along_x_ascending_whatever_the_sort(client, rows):
    """records_api.md: ``serie(x) = serie(x) + serie(x-1)``; ``sort`` and ``maxpoints`` then order
    and cut the running totals (they were summed in the answer's order: newest first, from the newest)."""
    params = {"dataset": "logements", "x": "annee", "y.n.func": "COUNT", "y.n.cumulative": "true"}
    counts = Counter(int(r["annee"]) for r in rows)
    running = {year: sum(n for y, n in counts.items() if y <= year) for year in counts}
    assert len(counts) > 10
    assert get(client, **params) == [{"x": year, "n": running[year]} for year in sorted(counts)]
    newest_first = get(client, **params, sort="-x", maxpoints=4)
    assert newest_first == [{"x": year, "n": running[year]} for year in sorted(counts, reverse=True)[:4]]
    assert newest_first[0]["n"] == len(rows)
    by_total = get(client, **params, sort="n", maxpoints=3)  # a serie's sort orders the running totals
    assert [p["n"] for p in by_total] == sorted(running.values(), reverse=True)[:3]


def test_exclude_disjunctive_and_geofilter(client, rows):
    both = {"dataset": "logements", "x": "bs", "y.n.func": "COUNT", "refine.bs": ["RIVP", "AXIMO"]}
    assert get(client, **both) == []  # refinements of one field are ANDed…
    counts = Counter(r["bs"] for r in rows if r["bs"] in ("RIVP", "AXIMO"))
    assert get(client, **both, **{"disjunctive.bs": "true"}) == [{"x": k, "n": counts[k]} for k in sorted(counts)]  # …or ORed
    lat, lon = 48.8313, 2.3557  # a circle of 1 km around Place d'Italie
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


def test_without_x_one_point_over_every_record(client, rows):
    """ods-widgets' odsAggregation: no x, ``data[0].serie1``."""
    chosen = [int(r["nb_logmt_total"]) for r in rows if r["bs"] == "PARIS HABITAT"]
    points = get(client, dataset="logements", **{"refine.bs": "PARIS HABITAT", "y.serie1.func": "SUM",
                                                 "y.serie1.expr": "nb_logmt_total", "y.c.func": "COUNT"})
    assert points == [{"x": None, "serie1": sum(chosen), "c": len(chosen)}]
    assert get(client, dataset="logements", q="nb_logmt_total>100000", **{"y.c.func": "COUNT"}) == [{"x": None, "c": 0}]


def test_several_x_give_an_object_per_point(client, rows):
    points = get(client, dataset="logements", x=["arrdt", "bs"], sort="-x.bs", **{"y.n.func": "COUNT"})
    expected = {k: len(v) for k, v in grouped(rows, lambda r: (int(r["arrdt"]), r["bs"])).items()}
    assert {(p["x"]["arrdt"], p["x"]["bs"]): p["n"] for p in points} == expected
    assert [p["x"]["bs"] for p in points] == sorted((p["x"]["bs"] for p in points), reverse=True)
    # ods-widgets' cross table: every x ascending, the first deciding
    table = get(client, dataset="logements", x=["bs", "arrdt"], sort="x.bs,x.arrdt", **{"y.n.func": "COUNT"})
    assert [(p["x"]["bs"], p["x"]["arrdt"], p["n"]) for p in table] == \
        sorted((bs, arrdt, n) for (arrdt, bs), n in expected.items())
    # the brief's several keys of mixed directions: bs descending, then the largest counts
    mixed = get(client, dataset="logements", x=["bs", "arrdt"], sort="-x.bs,n", **{"y.n.func": "COUNT"})
    assert [(p["x"]["bs"], p["n"]) for p in mixed] == sorted(((bs, n) for (_, bs), n in expected.items()),
                                                           key=lambda t: (t[0], t[1]), reverse=True)


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
    paris_hours = get(client, dataset="mv", x="dt.hour", timezone="Europe/Paris", **{"y.n.func": "COUNT"})
    assert {p["x"]["hour"]: p["n"] for p in paris_hours} == dict(Counter(i.hour for i in instants))


def test_a_daily_chart_over_decades(client, births):
    """Thousands of days, as a chart of daily values over years draws them: all there, in order."""
    points = get(client, dataset="elus", x=BIRTH, **{"y.n.func": "COUNT"})
    by_day = Counter(births)
    assert len(by_day) > 5 * 365
    assert points == [{"x": {"year": d.year, "month": d.month, "day": d.day}, "n": n} for d, n in sorted(by_day.items())]
    by_year = Counter(d.year for d in births)
    newest = get(client, dataset="elus", x=BIRTH, precision="year", sort="-x", maxpoints=2, **{"y.n.func": "COUNT"})
    assert newest == [{"x": {"year": y}, "n": by_year[y]} for y in sorted(by_year, reverse=True)[:2]]


def test_date_parts_as_ods_widgets_ask_for_them(client, births, elus):
    """odsChart's timescales and cross tables: ``x=<field>.<part>`` and ``sort=x.<field>.<part>,…``."""
    chart = client.get(ANALYZE, params=[("dataset", "elus"), ("x", f"{BIRTH}.year"), ("x", f"{BIRTH}.month"),
                                         ("sort", f"x.{BIRTH}.year,x.{BIRTH}.month"), ("maxpoints", ""),
                                         ("y.serie1-1.func", "COUNT"), ("y.serie1-1.cumulative", "false"),
                                         ("timezone", "Europe/Paris"), ("lang", "fr")])
    assert chart.status_code == 200, chart.text
    months = Counter((d.year, d.month) for d in births)
    assert chart.json() == [{"x": {"year": y, "month": m}, "serie1-1": n} for (y, m), n in sorted(months.items())]
    weekdays = Counter(d.isoweekday() for d in births)  # ISO's 1 (Monday) … 7, as the widgets' date helper reads it
    assert get(client, dataset="elus", x=f"{BIRTH}.weekday", sort=f"x.{BIRTH}.weekday", **{"y.n.func": "COUNT"}) == \
        [{"x": {"weekday": w}, "n": weekdays[w]} for w in range(1, 8)]
    yeardays = Counter(d.timetuple().tm_yday for d in births)
    last = get(client, dataset="elus", x=f"{BIRTH}.yearday", sort="-x", maxpoints=3, **{"y.n.func": "COUNT"})
    assert last == [{"x": {"yearday": k}, "n": yeardays[k]} for k in sorted(yeardays, reverse=True)[:3]]
    assert 366 in yeardays and len(yeardays) == 366
    # a breakdown: the date's parts under its name, beside the other field
    pairs = Counter((date.fromisoformat(r["Date de naissance"]).year, r["Code sexe"]) for r in elus)
    broken = get(client, dataset="elus", x=[f"{BIRTH}.year", "code_sexe"], sort=f"x.{BIRTH}.year,x.code_sexe",
                 **{"y.n.func": "COUNT"})
    assert broken == [{"x": {BIRTH: {"year": y}, "code_sexe": s}, "n": n} for (y, s), n in sorted(pairs.items())]


def test_maxpoints_keeps_the_sorted_points_and_the_window_says_when_it_cuts(client, rows, monkeypatch):
    counts = Counter(int(r["arrdt"]) for r in rows)
    deviations = get(client, dataset="logements", x="arrdt", sort="sd", maxpoints=3,
                     **{"y.sd.func": "STDDEV", "y.sd.expr": "nb_logmt_total"})
    spread = {}
    for arrdt, values in grouped(rows, lambda r: int(r["arrdt"]), lambda r: int(r["nb_logmt_total"])).items():
        mean = sum(values) / len(values)
        spread[arrdt] = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    assert [p["x"] for p in deviations] == sorted(spread, key=spread.get, reverse=True)[:3]
    monkeypatch.setattr(v1_analysis, "GROUP_WINDOW", 5)  # 20 arrondissements: more groups than the window
    cut = client.get(ANALYZE, params={"dataset": "logements", "x": "arrdt", "y.n.func": "COUNT"})
    assert cut.headers["ODS-Analyze-Truncated"] == "true"
    assert cut.json() == [{"x": a, "n": counts[a]} for a in sorted(counts)[:5]]  # the first x values
    top = client.get(ANALYZE, params={"dataset": "logements", "x": "arrdt", "y.n.func": "COUNT", "sort": "n", "maxpoints": 3})
    assert "ODS-Analyze-Truncated" not in top.headers  # the engine ordered and stopped at maxpoints: nothing left out
    assert [p["n"] for p in top.json()] == sorted(counts.values(), reverse=True)[:3]
    padded = client.get(ANALYZE, params={"dataset": "logements", "x": "arrdt", "y.n.func": "COUNT", "callback": "f"})
    assert padded.headers["ODS-Analyze-Truncated"] == "true"


def test_jsonp_csv_and_post(client, rows):
    params = {"dataset": "logements", "x": "arrdt", "y.total.func": "SUM", "y.total.expr": "nb_logmt_total"}
    plain = get(client, **params)
    padded = client.get(ANALYZE, params={**params, "callback": "chart.draw"})
    assert padded.headers["content-type"].startswith("application/javascript")
    assert json.loads(padded.text[len("/**/chart.draw("):-2]) == plain
    posted = client.post(ANALYZE, data=params)  # v1 clients post the parameters they would put in the URL
    assert posted.status_code == 200 and posted.json() == plain
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
    ({}, "x"),
    ({"x": "nope", "y.n.func": "COUNT"}, "nope"),
    ({"x": "arrdt", "y.n.func": "MEDIAN", "y.n.expr": "nb_plai"}, "y.n.func"),
    ({"x": "arrdt", "y.n.func": "SUM"}, "y.n.expr"),
    ({"x": "arrdt", "y.n.func": "SUM", "y.n.expr": "nope * 2"}, "nope"),
    ({"x": "arrdt", "y.n.func": "SUM", "y.n.expr": "bs"}, "sum()"),
    ({"x": "arrdt", "y.n.func": "SUM", "y.n.expr": "nb_plai); DROP TABLE records; --"}, "y.n.expr"),
    ({"x": "arrdt", "y.n.func": "SUM", "y.n.expr": "nb_plai` + `nb_pls"}, "y.n.expr"),
    ({"x": "arrdt", "y.n.func": "SUM", "y.n.expr": "random(nb_plai)"}, "random"),
    ({"x": "arrdt", "y.n.func": "SUM", "y.n.expr": "ln(nb_plai)"}, "ln"),  # v1 says log
    ({"x": "arrdt", "y.n.func": "QUANTILES", "y.n.expr": "nb_plai", "y.n.subsets": "150"}, "y.n.subsets"),
    ({"x": "bs.year", "y.n.func": "COUNT"}, "bs.year"),
    ({"x": ["arrdt", "arrdt"], "y.n.func": "COUNT"}, "twice"),
    ({"x": "arrdt", "y.n.func": "COUNT", "maxpoints": "-1"}, "maxpoints"),
    ({"x": "arrdt", "y.n.func": "COUNT", "maxpoints": "ten"}, "maxpoints"),
    ({"x": "arrdt", "y.n.func": "COUNT", "periodic": "decade"}, "periodic"),
    ({"x": "arrdt", "y.n.func": "COUNT", "format": "jsonp"}, "callback"),
    ({"x": "arrdt", "y.n.func": "COUNT", "callback": "alert(1)//"}, "callback"),
    ({"x": "arrdt", "y.n.func": "COUNT", "csv_separator": "1", "format": "csv"}, "csv_separator"),
])
def test_bad_requests_are_400_naming_the_parameter(client, params, fragment):
    response = client.get(ANALYZE, params={"dataset": "logements", **params})
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] in ("InvalidRESTParameterError", "ODSQLError")
    assert fragment in response.json()["message"]


def test_a_date_period_finer_than_its_precision_is_refused(client):
    response = client.get(ANALYZE, params={"dataset": "mv", "x": "d", "periodic": "day", "precision": "month",
                                           "y.n.func": "COUNT"})
    assert response.status_code == 400 and "periodic" in response.json()["message"]
    assert client.get(ANALYZE, params={"dataset": "zz", "x": "d"}).status_code == 404
    assert client.get(ANALYZE, params={"x": "d"}).status_code == 400  # dataset is required


def test_aggregations_sum_up_a_serie_over_the_points(client, rows):
    """ods-widgets' odsAnalysis sends agg.<name>.expr=<serie>&agg.<name>.func=SUM for its totals,
    its joined map layers agg.agg1.func=MIN,MAX: the answer is then {results, aggregations}."""
    params = {"dataset": "logements", "x": "arrdt", "y.n.func": "COUNT", "y.total.func": "SUM",
              "y.total.expr": "nb_logmt_total", "agg.n.expr": "n", "agg.n.func": "SUM",
              "agg.range.expr": "total", "agg.range.func": "MIN,MAX"}
    body = get(client, **params)
    totals = {int(k): sum(int(r["nb_logmt_total"]) for r in rows if r["arrdt"] == k) for k in {r["arrdt"] for r in rows}}
    assert [(p["x"], p["total"]) for p in body["results"]] == sorted(totals.items())
    assert body["aggregations"] == {"n": len(rows), "range": {"min": min(totals.values()), "max": max(totals.values())}}
    assert isinstance(get(client, **{k: v for k, v in params.items() if not k.startswith("agg.")}), list)
    for bad in ({"agg.n.func": "MEDIAN"}, {"agg.n.expr": "nope"}):
        assert client.get(ANALYZE, params={**params, **bad}).status_code == 400, bad


def test_q_dot_parameters_filter_as_q(client, births):
    """ods-widgets' time range filter: ``q.timerange=date_de_naissance>=1970`` counted every record."""
    since = sum(d.year >= 1970 for d in births)
    assert 0 < since < len(births)
    asked = {"dataset": "elus", "y.n.func": "COUNT"}
    assert get(client, **asked, q=f"{BIRTH}>=1970") == get(client, **asked, **{"q.timerange": f"{BIRTH}>=1970"}) == \
        [{"x": None, "n": since}]
