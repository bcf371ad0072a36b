"""select: every scalar function, arithmetic (null on division by zero), literals, aliases,
output names, include()/exclude() and how each type is serialised, compared row by row with
plain Python over the file."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.conformance.api import KEYS, get, key_of

FR_MONTHS = "janvier février mars avril mai juin juillet août septembre octobre novembre décembre".split()
EN_MONTHS = "January February March April May June July August September October November December".split()
FR_DAYS = "lundi mardi mercredi jeudi vendredi samedi dimanche".split()
FR_SHORT_DAYS = "lun. mar. mer. jeu. ven. sam. dim.".split()
EN_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
# CLDR's names (format forms); Arabic abbreviates neither months nor days
AR_MONTHS = "يناير فبراير مارس أبريل مايو يونيو يوليو أغسطس سبتمبر أكتوبر نوفمبر ديسمبر".split()
AR_DAYS = "الاثنين الثلاثاء الأربعاء الخميس الجمعة السبت الأحد".split()
EU_MONTHS = "urtarrila otsaila martxoa apirila maiatza ekaina uztaila abuztua iraila urria azaroa abendua".split()
EU_SHORT_MONTHS = "urt. ots. mar. api. mai. eka. uzt. abu. ira. urr. aza. abe.".split()
EU_DAYS = "astelehena asteartea asteazkena osteguna ostirala larunbata igandea".split()
EU_SHORT_DAYS = "al. ar. az. og. or. lr. ig.".split()

#: Which rows each dataset's cases read (each set fits in one page).
ROWS = {
    "communes": ('population_2021 > 150000 and commune_type = "COM"',
                 lambda r: r["population_2021"] > 150000 and r["commune_type"] == "COM"),
    "communes_nulls": ('insee_dep = "01" and population_2021 < 60',  # includes communes déléguées (null region)
                       lambda r: r["insee_dep"] == "01" and r["population_2021"] < 60),
    "elus": ('libelle_du_departement = "Ain"', lambda r: r["libelle_du_departement"] == "Ain"),
    "decp": ("montant > 2000000", lambda r: r["montant"] is not None and r["montant"] > 2000000),
    "logements": ('annee = 2001 and arrdt = 12', lambda r: r["annee"] == 2001 and r["arrdt"] == 12),
    "sirene": ('codepostaletablissement = "38100"', lambda r: r["codepostaletablissement"] == "38100"),
}


def _half_up(x: float, digits: int = 0) -> float:
    scale = 10 ** digits
    return math.floor(abs(x) * scale + 0.5) / scale * (1 if x >= 0 else -1)


def _concat(*parts) -> str:
    return "".join(str(p) for p in parts if p is not None)


def _div(a, b):
    return None if a is None or b in (None, 0) else a / b


def _week(d: date) -> int:
    return d.isocalendar()[1]


SELECT = [
    ("communes", "length(commune)", lambda r: len(r["commune"])),
    ("communes", "lower(commune)", lambda r: r["commune"].lower()),
    ("communes", "upper(commune)", lambda r: r["commune"].upper()),
    ("communes", 'concat(commune, " (", insee_dep, ")")', lambda r: f"{r['commune']} ({r['insee_dep']})"),
    ("communes", "population_2021 * 2", lambda r: r["population_2021"] * 2),
    ("communes", "population_2021 + population_2015", lambda r: r["population_2021"] + r["population_2015"]),
    ("communes", "population_2021 - population_2015", lambda r: r["population_2021"] - r["population_2015"]),
    ("communes", "population_2021 / superficie_km2", lambda r: r["population_2021"] / r["superficie_km2"]),
    ("communes", "population_2021 / 0", lambda r: None),
    ("communes", "population_2021 / (population_2015 - population_2015)", lambda r: None),
    ("communes", "(population_2021 - population_2015) * 100 / population_2015",
     lambda r: (r["population_2021"] - r["population_2015"]) * 100 / r["population_2015"]),
    ("communes", "-population_2021", lambda r: -r["population_2021"]),
    ("communes", "population_2021 - 7 * 3", lambda r: r["population_2021"] - 21),
    # past INT64: exact while a HUGEINT holds it, then a double (never null)
    ("communes", "population_2021 * 100000000000000000", lambda r: r["population_2021"] * 10**17),
    ("communes", "-population_2021 - 9223372036854775807", lambda r: -r["population_2021"] - 9223372036854775807),
    ("communes", "population_2021 * population_2021 * population_2021", lambda r: float(r["population_2021"] ** 2) * r["population_2021"]),
    ("communes", "round(superficie_km2, 1)", lambda r: _half_up(r["superficie_km2"], 1)),
    ("communes", "round(lat)", lambda r: _half_up(r["lat"])),
    ("communes", "abs(lng)", lambda r: abs(r["lng"])),
    ("communes", "floor(lat)", lambda r: math.floor(r["lat"])),
    ("communes", "ceil(lng)", lambda r: math.ceil(r["lng"])),
    ("communes", '"hello"', lambda r: "hello"),
    ("communes", "'l\\'eau'", lambda r: "l'eau"),
    ("communes", "42", lambda r: 42),
    ("communes", "1.5", lambda r: 1.5),
    ("communes", "true", lambda r: True),
    ("communes", "null", lambda r: None),
    ("communes", "superficie_km2", lambda r: r["superficie_km2"]),
    ("communes", "code_postal", lambda r: r["code_postal"]),
    ("communes_nulls", "insee_reg", lambda r: r["insee_reg"]),
    ("communes_nulls", 'ifnull(insee_reg, "aucune")', lambda r: r["insee_reg"] if r["insee_reg"] is not None else "aucune"),
    ("communes_nulls", 'concat(insee_reg, "-", commune)', lambda r: _concat(r["insee_reg"], "-", r["commune"])),
    ("communes_nulls", "length(insee_parente)", lambda r: None if r["insee_parente"] is None else len(r["insee_parente"])),
    ("communes_nulls", "lower(insee_reg)", lambda r: r["insee_reg"]),
    ("communes_nulls", "ifnull(pop_15_64_chomage_2021, -1)", lambda r: r["pop_15_64_chomage_2021"] if r["pop_15_64_chomage_2021"] is not None else -1),
    ("communes_nulls", "deces_2022 / naissances_2022", lambda r: _div(r["deces_2022"], r["naissances_2022"])),
    ("elus", "date_de_naissance", lambda r: r["date_de_naissance"].isoformat()),
    ("elus", "date_de_debut_de_la_fonction", lambda r: r["date_de_debut_de_la_fonction"] and r["date_de_debut_de_la_fonction"].isoformat()),
    ("elus", "year(date_de_naissance)", lambda r: r["date_de_naissance"].year),
    ("elus", "month(date_de_naissance)", lambda r: r["date_de_naissance"].month),
    ("elus", "day(date_de_naissance)", lambda r: r["date_de_naissance"].day),
    ("elus", "quarter(date_de_naissance)", lambda r: (r["date_de_naissance"].month - 1) // 3 + 1),
    ("elus", "dayofweek(date_de_naissance)", lambda r: r["date_de_naissance"].isoweekday()),
    ("elus", "year(date_de_debut_de_la_fonction)", lambda r: r["date_de_debut_de_la_fonction"] and r["date_de_debut_de_la_fonction"].year),
    ("elus", "date_format(date_de_naissance, 'yyyy-MM-dd')", lambda r: r["date_de_naissance"].isoformat()),
    ("elus", "date_format(date_de_naissance, 'dd/MM/yyyy')", lambda r: r["date_de_naissance"].strftime("%d/%m/%Y")),
    ("elus", "date_format(date_de_naissance, 'd/M/yy')", lambda r: f"{r['date_de_naissance'].day}/{r['date_de_naissance'].month}/{r['date_de_naissance'].year % 100:02d}"),
    ("elus", "date_format(date_de_naissance, 'MMMM')", lambda r: FR_MONTHS[r["date_de_naissance"].month - 1]),
    ("elus", "date_format(date_de_naissance, 'EEEE')", lambda r: FR_DAYS[r["date_de_naissance"].weekday()]),
    ("elus", "date_format(date_de_naissance, 'E')", lambda r: FR_SHORT_DAYS[r["date_de_naissance"].weekday()]),
    ("elus", "date_format(date_de_naissance, 'e')", lambda r: str(r["date_de_naissance"].isoweekday())),
    ("elus", "date_format(date_de_naissance, 'DDD')", lambda r: f"{r['date_de_naissance'].timetuple().tm_yday:03d}"),
    ("elus", "date_format(date_de_naissance, 'D')", lambda r: str(r["date_de_naissance"].timetuple().tm_yday)),
    ("elus", "date_format(date_de_naissance, 'ww')", lambda r: f"{_week(r['date_de_naissance']):02d}"),
    ("elus", "date_format(date_de_naissance, 'xxxx')", lambda r: str(r["date_de_naissance"].isocalendar()[0])),
    ("elus", "date_format(date_de_naissance, \"'le' d MMMM yyyy\")",
     lambda r: f"le {r['date_de_naissance'].day} {FR_MONTHS[r['date_de_naissance'].month - 1]} {r['date_de_naissance'].year}"),
    ("elus", "date_format(date_de_naissance, \"yyyy''MM\")", lambda r: f"{r['date_de_naissance'].year}'{r['date_de_naissance'].month:02d}"),
    ("elus", 'concat(prenom_de_l_elu, " ", nom_de_l_elu)', lambda r: f"{r['prenom_de_l_elu']} {r['nom_de_l_elu']}"),
    ("decp", "montant", lambda r: r["montant"]),
    ("decp", "montant / dureemois", lambda r: _div(r["montant"], r["dureemois"])),
    ("decp", "acheteur", lambda r: r["acheteur"]),
    ("decp", "json_format(objet)", lambda r: r["objet"]),  # text that is no JSON comes back as text (§5.7)
    ("decp", "json_format(objet, null)", lambda r: None),
    ("decp", "titulaires", lambda r: r["titulaires"]),
    ("decp", "datenotification", lambda r: r["datenotification"] and r["datenotification"].isoformat()),
    ("logements", "geo_point_2d", lambda r: {"lon": r["geo_point_2d"].x, "lat": r["geo_point_2d"].y}),
    ("logements", "geo_shape", lambda r: {"type": "Feature", "geometry": {"type": "Point", "coordinates": [r["geo_shape"].x, r["geo_shape"].y]}, "properties": {}}),
    ("logements", "nb_plai + nb_plus + nb_pluscd + nb_pls", lambda r: r["nb_plai"] + r["nb_plus"] + r["nb_pluscd"] + r["nb_pls"]),
    ("sirene", "etablissementsiege", lambda r: r["etablissementsiege"]),
    ("sirene", "datederniertraitementetablissement",
     lambda r: r["datederniertraitementetablissement"].astimezone(timezone.utc).isoformat()),
    ("sirene", "hour(datederniertraitementetablissement)", lambda r: r["datederniertraitementetablissement"].astimezone(timezone.utc).hour),
    ("sirene", "minute(datederniertraitementetablissement)", lambda r: r["datederniertraitementetablissement"].minute),
    ("sirene", "second(datederniertraitementetablissement)", lambda r: r["datederniertraitementetablissement"].second),
    ("sirene", "datecreationetablissement", lambda r: r["datecreationetablissement"] and r["datecreationetablissement"].isoformat()),
]

#: Cases read in another timezone or language.
SELECT_PARAMS = [
    ("elus", "date_format(date_de_naissance, 'MMMM')", {"lang": "en"}, lambda r: EN_MONTHS[r["date_de_naissance"].month - 1]),
    ("elus", "date_format(date_de_naissance, 'EEEE d MMMM')", {"lang": "en"},
     lambda r: f"{EN_DAYS[r['date_de_naissance'].weekday()]} {r['date_de_naissance'].day} {EN_MONTHS[r['date_de_naissance'].month - 1]}"),
    ("elus", "date_format(date_de_naissance, 'EEEE d MMMM / E MMM')", {"lang": "ar"},
     lambda r: f"{AR_DAYS[r['date_de_naissance'].weekday()]} {r['date_de_naissance'].day} {AR_MONTHS[r['date_de_naissance'].month - 1]}"
               f" / {AR_DAYS[r['date_de_naissance'].weekday()]} {AR_MONTHS[r['date_de_naissance'].month - 1]}"),
    ("elus", "date_format(date_de_naissance, 'EEEE d MMMM / E MMM')", {"lang": "eu"},
     lambda r: f"{EU_DAYS[r['date_de_naissance'].weekday()]} {r['date_de_naissance'].day} {EU_MONTHS[r['date_de_naissance'].month - 1]}"
               f" / {EU_SHORT_DAYS[r['date_de_naissance'].weekday()]} {EU_SHORT_MONTHS[r['date_de_naissance'].month - 1]}"),
    # lang read as clients send it: any case, a region form naming its language
    ("elus", "date_format(date_de_naissance, 'MMMM')", {"lang": "EN"}, lambda r: EN_MONTHS[r["date_de_naissance"].month - 1]),
    ("elus", "date_format(date_de_naissance, 'MMMM')", {"lang": "en_US"}, lambda r: EN_MONTHS[r["date_de_naissance"].month - 1]),
    ("elus", "date_format(date_de_naissance, 'MMMM')", {"lang": "fr-FR"}, lambda r: FR_MONTHS[r["date_de_naissance"].month - 1]),
    ("sirene", "hour(datederniertraitementetablissement)", {"timezone": "Europe/Paris"}, lambda r: r["datederniertraitementetablissement"].hour),
    ("sirene", "day(datederniertraitementetablissement)", {"timezone": "America/New_York"},
     lambda r: r["datederniertraitementetablissement"].astimezone(ZoneInfo("America/New_York")).day),
    # reference §4.9: datetimes are written with the offset of the requested timezone
    ("sirene", "datederniertraitementetablissement", {"timezone": "Europe/Paris"},
     lambda r: r["datederniertraitementetablissement"].isoformat()),
    ("sirene", "date_format(datederniertraitementetablissement, 'HH:mm:ss')", {"timezone": "Europe/Paris"},
     lambda r: r["datederniertraitementetablissement"].strftime("%H:%M:%S")),
]


def _comparable(value):
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return repr(sorted((k, _comparable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return repr([_comparable(v) for v in value])
    return value


def check_select(client, source, rows: str, expression: str, expected, **params) -> None:
    slug = rows.split("_")[0]
    where, predicate = ROWS[rows]
    body = get(client, slug, where=where, select=",".join(KEYS[slug]) + f", {expression} as value", limit=100, **params)
    chosen = [r for r in source(slug) if predicate(r)]
    assert 0 < body["total_count"] == len(chosen) <= 100
    got = Counter((key_of(slug, r), _comparable(r["value"])) for r in body["results"])
    assert got == Counter((key_of(slug, r), _comparable(expected(r))) for r in chosen)


@pytest.mark.parametrize(("rows", "expression", "expected"), [pytest.param(*c, id=f"{c[0]}: select {c[1]}") for c in SELECT])
def test_select_expression(portal, source, rows, expression, expected):
    check_select(portal, source, rows, expression, expected)


@pytest.mark.parametrize(("rows", "expression", "params", "expected"),
                         [pytest.param(*c, id=f"{c[0]}: select {c[1]} {c[2]}") for c in SELECT_PARAMS])
def test_select_expression_in_context(portal, source, rows, expression, params, expected):
    check_select(portal, source, rows, expression, expected, **params)


NAMES = [  # select → the keys of each result, in order
    ("insee_com, commune", ["insee_com", "commune"]),
    ("commune AS nom", ["nom"]),
    ("2 * population_2021 AS double_population", ["double_population"]),
    ("length(commune)", ["length(commune)"]),
    ("LENGTH( commune ) ", ["LENGTH( commune )"]),
    ("population_2021/2", ["population_2021/2"]),
    ('"hello" as h, commune', ["h", "commune"]),
    ("include(pop_*)", ["pop_15_64_totale_2021", "pop_15_64_chomage_2021", "pop_15_64_active_2021"]),
    ("include(population*)", ["population_2021", "population_2015"]),
    ("commune, include(insee_*)", ["commune", "insee_com", "insee_reg", "insee_dep", "insee_parente"]),
    ("exclude(pop_*)", ["insee_com", "insee_reg", "insee_dep", "commune", "commune_article", "code_postal", "commune_type",
                        "insee_parente", "lat", "lng", "superficie_km2", "population_2021", "population_2015",
                        "menages_2021", "naissances_2022", "deces_2022"]),
    ("exclude(insee_*), exclude(pop*), exclude(commune*)",
     ["code_postal", "lat", "lng", "superficie_km2", "menages_2021", "naissances_2022", "deces_2022"]),
    # include() and exclude() in either order: the included fields but the excluded ones
    ("include(insee*), exclude(insee_com)", ["insee_reg", "insee_dep", "insee_parente"]),
    ("exclude(insee_com), include(insee*)", ["insee_reg", "insee_dep", "insee_parente"]),
    ("exclude(insee_com), commune, include(insee_d*)", ["commune", "insee_dep"]),
    ("*", ["insee_com", "insee_reg", "insee_dep", "commune", "commune_article", "code_postal", "commune_type",
           "insee_parente", "lat", "lng", "superficie_km2", "population_2021", "population_2015", "menages_2021",
           "naissances_2022", "deces_2022", "pop_15_64_totale_2021", "pop_15_64_chomage_2021", "pop_15_64_active_2021"]),
    ("`commune`", ["commune"]),
]


@pytest.mark.parametrize(("select", "keys"), [pytest.param(s, k, id=f"communes: select {s}") for s, k in NAMES])
def test_output_names(portal, source, select, keys):
    body = get(portal, "communes", select=select, where='insee_com = "01001"')
    assert [list(r) for r in body["results"]] == [keys]
    row = next(r for r in source("communes") if r["insee_com"] == "01001")
    for key, value in body["results"][0].items():
        if key in row:
            assert value == row[key]


def test_json_answers_name_their_charset(portal):
    """Reference §1: ``Content-Type: application/json; charset=utf-8`` (records hold é, Œ…)."""
    for path in ("/api/explore/v2.1/catalog/datasets/communes/records", "/api/explore/v2.1/catalog/datasets/elus/facets"):
        response = portal.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json; charset=utf-8", path


def test_errors_and_catalogue_answers_name_their_charset_too(portal):
    """Every JSON answer, not only records and facets: the catalogue, a dataset, v1 and errors."""
    for path, status in [("/api/explore/v2.1/catalog/datasets", 200), ("/api/explore/v2.1/catalog/datasets/communes", 200),
                         ("/api/records/1.0/search/?dataset=communes", 200), ("/api/explore/v2.1/catalog/datasets/nope", 404),
                         ("/api/explore/v2.1/catalog/datasets/communes/records?limit=1000", 400),
                         ("/api/explore/v2.1/catalog/datasets/communes/records?where=nope%3D1", 400)]:
        response = portal.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"] == "application/json; charset=utf-8", path
