"""Side channels the leak matrix does not probe.

The matrix (``test_leak_matrix``) looks for canary *text* in every GET route's answer. These
tests ask what a caller can *infer*: counts, hit/no-hit oracles of full text (``phrase``,
``suggest``, fuzzy words, v1 ``q`` field queries and ranges), ``geofilter.distance`` and
``sort=-dist``, a hidden geo or date field, hidden field labels in the catalogue's full
text, a join to a dataset with public metadata, v1 POST bodies, and the headers of API
answers to a signed-in browser.

One small instance of its own (a few rows, built in about a second):

- ``personnes`` (public): the default ruleset hides ``salaire`` and ``siret`` (labelled, with
  unit and facet annotations); group ``bzh`` sees only ``region = 'Bretagne'`` rows, without
  those fields;
- ``projet-kryptonite`` (restricted): granted to group ``grpb`` only; canaries in its title,
  description, keyword and theme;
- ``lieux`` (public): its only geo field and its only date field are hidden from everyone;
- ``carnets`` (restricted, metadata public): no grant;
- ``regions-ouvertes`` (public): the side a v1 analyze join starts from.

The one leak found (API answers to a session carried no cache policy) is fixed in ``api.guard``.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.auth import services as auth, sessions
from portail.catalog import services
from tests.conftest import Published, fast_passwords, published_instance, semicolon_csv

PERS, SECRET, LIEUX, CARNETS, OPEN = "personnes", "projet-kryptonite", "lieux", "carnets", "regions-ouvertes"
API = "/api/explore/v2.1/catalog/datasets"
V1 = "/api/records/1.0/search"
ANALYZE = "/api/records/1.0/analyze"

ROWS = [
    dict(nom="Alice", region="Bretagne", ville="Rennes", salaire="42000", siret="SIRETBZHALPHA",
         commentaire="rennaise", annee="2015", geo_point_2d="48.11,-1.68"),
    dict(nom="Bob", region="Bretagne", ville="Brest", salaire="38000", siret="SIRETBZHBRAVO",
         commentaire="brestois", annee="2018", geo_point_2d="48.39,-4.49"),
    dict(nom="Carole", region="Bretagne", ville="Quimper", salaire="99999", siret="SIRETBZHCHARLIE",
         commentaire="quimperoise", annee="2020", geo_point_2d="48.0,-4.1"),
    dict(nom="Zebulonia", region="Normandie", ville="Caen", salaire="75000", siret="SIRETNORMDELTA",
         commentaire="secretnormand", annee="2012", geo_point_2d="49.18,-0.37"),
    dict(nom="Yvettix", region="Occitanie", ville="Toulouse", salaire="61000", siret="SIRETOCCECHO",
         commentaire="toulousaine", annee="2019", geo_point_2d="43.6,1.44"),
    dict(nom="Xavierix", region="Normandie", ville="Rouen", salaire="55000", siret="SIRETNORMFOXTROT",
         commentaire="rouennais", annee="2021", geo_point_2d="49.44,1.09"),
]
BZH = 3  # rows group bzh sees
HIDDEN_LABEL = "Remuneration ZQLABEL"
SECRET_WORDS = ("Kryptonite", "MOTSECRETDESC", "motclesecret", "Zorgtheme", "KRYPTOPROJ")
LIEUX_ROWS = [dict(nom="Refuge", categorie="abri", lieu="45.123456,6.654321", visite="2024-03-17"),
              dict(nom="Planque", categorie="abri", lieu="44.987654,4.876543", visite="2023-11-05")]
LIEUX_SECRETS = ("45.123456", "6.654321", "44.987654", "4.876543", "2024-03-17", "20240317")


class Site:
    def __init__(self, instance, client, keys):
        self.instance, self.client, self.keys = instance, client, keys

    def get(self, who: str, path: str, **params):
        key = self.keys.get(who)
        return self.client.get(path, params=params, headers={"Authorization": f"Apikey {key}"} if key else {},
                               follow_redirects=False)

    def count(self, who: str, path: str, **params) -> int:
        body = self.get(who, path, **params).json()
        return body["total_count"] if "total_count" in body else body["nhits"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with fast_passwords():  # argon2 at its cheapest while the accounts are made
        home = tmp_path_factory.mktemp("hunt")
        instance = published_instance(
            home,
            Published(PERS, semicolon_csv(home / "p.csv", ROWS), "Personnes",
                      labels={"salaire": HIDDEN_LABEL, "siret": "Identifiant ZQSIRLABEL"},
                      annotations={"salaire": {"unit": ["€"], "decimals": ["2"], "facet": []}, "siret": {"facet": []}}),
            Published(SECRET, semicolon_csv(home / "s.csv", [dict(region="Bretagne", budget="1000", projet="KRYPTOPROJ"),
                                                             dict(region="Normandie", budget="2000", projet="KRYPTOAUTRE")]),
                      "Projet Kryptonite", metadata={"description": "Plan confidentiel MOTSECRETDESC",
                                                     "keywords": ["motclesecret"], "themes": ["Zorgtheme"]}),
            Published(LIEUX, semicolon_csv(home / "l.csv", LIEUX_ROWS), "Lieux"),
            Published(CARNETS, semicolon_csv(home / "c.csv", [dict(region="Bretagne", carnet="CARNETSECRET")]), "Carnets"),
            Published(OPEN, semicolon_csv(home / "o.csv", [dict(region="Bretagne", chef_lieu="Rennes"),
                                                           dict(region="Normandie", chef_lieu="Rouen")]), "Régions"),
        )
        keys: dict[str, str] = {}
        with instance.session() as s:
            get = lambda slug: services.get_dataset(s, slug)  # noqa: E731
            for group in ("bzh", "grpb"):
                auth.create_group(s, group)
            auth.set_dataset_security(s, get(PERS), record_filters={"bzh": "region = 'Bretagne'"},
                                      hidden_fields={"*": ["salaire", "siret"], "bzh": ["salaire", "siret"]})
            auth.set_dataset_security(s, get(SECRET), visibility="restricted")
            auth.grant(s, get(SECRET), "group", "grpb")
            auth.set_dataset_security(s, get(LIEUX), hidden_fields={"*": ["lieu", "visite"]})
            auth.set_dataset_security(s, get(CARNETS), visibility="restricted", metadata_public=True)
            users = {login: auth.create_user(s, login, role=role) for login, role in
                     [("ua", "viewer"), ("ub", "viewer"), ("root", "admin")]}
            auth.add_member(s, auth.get_group(s, "bzh"), users["ua"])
            auth.add_member(s, auth.get_group(s, "grpb"), users["ub"])
            for login, user in users.items():
                _, keys[login] = auth.create_api_key(s, user, login)
    yield Site(instance, TestClient(create_app(instance)), keys)
    instance.store.close()


# -- leaks found, now fixed ------------------------------------------------------------------------------------
def test_api_answers_to_a_session_are_not_cacheable(site):
    """A browser signed in on the portal reads restricted records and downloads exports from
    ``/api/…`` (the export tab links there, the map and charts fetch there) with its cookie. The
    pages it is served carry ``Cache-Control: private, no-store`` (``api.guard._no_store``: "after
    sign-out, Back must not show a restricted table again"), the same CSV served by
    ``/explore/dataset/<id>/download`` too; the API's answers carry no policy at all, so a
    shared cache or the browser's may keep and replay the restricted rows."""
    with site.instance.session() as s:
        token = sessions.open_session(s, auth.get_user(s, "ub")).token
    browser = TestClient(create_app(site.instance))
    browser.cookies.set(sessions.cookie_name(sessions.COOKIE_NAME, True), token)  # Secure: the default
    page = browser.get(f"/explore/dataset/{SECRET}/download")
    assert page.status_code == 200 and "KRYPTOPROJ" in page.text
    assert "no-store" in page.headers["cache-control"]  # the page route already does it
    for path in (f"{API}/{SECRET}/records", f"{API}/{SECRET}/exports/csv",
                 f"{V1}?dataset={SECRET}"):
        answer = browser.get(path)
        assert answer.status_code == 200 and "KRYPTOPROJ" in answer.text, path  # the session does read it
        policy = answer.headers.get("cache-control", "")
        assert "no-store" in policy or "private" in policy, path


# -- non-leaks the matrix does not pin ----------------------------------------------------------
#: Full-text forms that read every field (``*``) or name none: each finds a hidden value for the
#: admin (``found``) and nothing for a caller it is hidden from (else counting is an oracle).
HIDDEN_VALUE_PROBES = [
    (f"{API}/{PERS}/records", "where", 'phrase(*, "SIRETBZHALPHA")', 1),
    (f"{API}/{PERS}/records", "where", 'search(*, "SIRETBZHALPHA")', 1),
    (f"{API}/{PERS}/records", "where", 'search("SIRETBZHALPHX rennaise")', 1),  # a fuzzy earlier word
    (f"{API}/{PERS}/records", "where", 'suggest(*, "SIRETBZ")', 3),
    (f"{API}/{PERS}/records", "where", '"SIRETBZHALPHA"', 1),
    (f"{API}/{PERS}/records", "where", '"SIRETBZH*"', 3),
    (f"{API}/{PERS}/records", "qv1", "SIRETBZHALPHA", 1),
    (f"{API}/{PERS}/records", "qv1", '"SIRETBZHALPHA"', 1),
    (f"/api/v2/catalog/datasets/{PERS}/records", "where", '"SIRETBZHALPHA"', 1),
    (V1, "q", "SIRETBZHALPHA", 1),
    (V1, "q", "SIRETBZH*", 3),
    (V1, "q", '"SIRETBZHALPHA"', 1),
    (V1, "q", "siret:SIRETBZHALPHA", 1),
    (V1, "q", "salaire>=99999", 1),
    (V1, "q", "salaire:[50000 TO *]", 4),
]


@pytest.mark.parametrize("path, name, value, found", HIDDEN_VALUE_PROBES)
def test_full_text_and_v1_queries_find_no_hidden_value(site, path, name, value, found):
    extra = {"dataset": PERS} if path == V1 else {}
    assert site.count("root", path, **extra, **{name: value}) == found  # the probe can find it
    for who in ("anon", "ua", "ub"):
        assert site.count(who, path, **extra, **{name: value}) == 0, who


def test_v1_field_queries_and_ranges_on_a_hidden_field_read_as_an_unknown_one(site):
    for q in ("salaire:42000", "salaire>50000", "salaire:[50000 TO *]", "NOT salaire:42000", "siret:SIRETBZHALPHA"):
        hidden = site.get("anon", V1, dataset=PERS, q=q, rows=0)
        unknown = site.get("anon", V1, dataset=PERS, q=q.replace("salaire", "nulle").replace("siret", "nulle"), rows=0)
        assert (hidden.status_code, hidden.json()["nhits"]) == (unknown.status_code, unknown.json()["nhits"]), q
    # v1 analyze series, sort and join keys naming it: the unknown field's answer
    for params in ({"y.s.func": "SUM", "y.s.expr": "salaire*1"}, {"x": "salaire", "y.s.func": "COUNT"},
                   {"y.n.func": "COUNT", "join.j.remotedataset": OPEN, "join.j.localkey": "salaire",
                    "join.j.remotekey": "region", "join.j.fields": "chef_lieu"}):
        hidden = site.get("anon", ANALYZE, dataset=PERS, **params)
        unknown = site.get("anon", ANALYZE, dataset=PERS, **{k: v.replace("salaire", "nulle") for k, v in params.items()})
        assert hidden.status_code == unknown.status_code == 400, params
        assert hidden.text == unknown.text.replace("nulle", "salaire"), params


def test_a_row_filter_holds_in_fuzzy_words_prefixes_and_distances(site):
    for path, extra, name, value in [
        (f"{API}/{PERS}/records", {}, "where", 'search(*, "Zebulonix caen")'),  # fuzzy earlier word
        (f"{API}/{PERS}/records", {}, "where", 'suggest(*, "Zebul")'),
        (f"{API}/{PERS}/records", {}, "where", 'phrase(commentaire, "secretnormand")'),
        (V1, {"dataset": PERS}, "q", "Zebul*"),
        (V1, {"dataset": PERS}, "q", "Zebulonix caen"),
        (V1, {"dataset": PERS}, "q", "annee:[2010 TO 2013]"),
    ]:
        assert site.count("root", path, **extra, **{name: value}) == 1, value
        assert site.count("ua", path, **extra, **{name: value}) == 0, value
    # geofilter.distance around a held-back row, and sort=-dist over all of them
    assert site.count("root", V1, dataset=PERS, rows=0, **{"geofilter.distance": "49.18,-0.37,100"}) == 1
    assert site.count("ua", V1, dataset=PERS, rows=0, **{"geofilter.distance": "49.18,-0.37,100"}) == 0
    near = site.get("ua", V1, dataset=PERS, rows=100, sort="-dist", **{"geofilter.distance": "48.11,-1.68,10000000"}).json()
    assert near["nhits"] == BZH and {r["fields"]["region"] for r in near["records"]} == {"Bretagne"}
    assert [r["fields"]["nom"] for r in near["records"]][0] == "Alice"
    # a disjunctive facet still counts the caller's rows only
    facets = site.get("ua", f"{API}/{PERS}/facets", facet="region", refine="region:Bretagne",
                      **{"disjunctive.region": "true"}).json()["facets"][0]["facets"]
    assert [(f["value"], f["count"]) for f in facets] == [("Bretagne", BZH)]


def test_a_hidden_geo_or_date_field_is_no_geo_or_date_field(site):
    for path, params in [("/api/records/1.0/geocluster/", {"clusterprecision": 20}), ("/api/records/1.0/geopreview/", {}),
                         ("/api/records/1.0/boundingbox/", {}), (V1, {"geofilter.distance": "45.123456,6.654321,10"}),
                         (V1, {"sort": "-dist", "geofilter.distance": "45.123456,6.654321,1000000"})]:
        answer = site.get("anon", path, dataset=LIEUX, **params)
        assert answer.status_code == 400 and "no geo field" in answer.json()["message"], path
        assert site.get("root", path, dataset=LIEUX, **params).status_code == 200, path
    for fmt in ("geojson", "kml", "gpx", "ical"):
        answer = site.get("anon", f"{API}/{LIEUX}/exports/{fmt}")
        assert answer.status_code == 400, fmt
    for fmt in ("csv", "json", "jsonld", "turtle"):
        answer = site.get("anon", f"{API}/{LIEUX}/exports/{fmt}")
        assert answer.status_code == 200 and not [c for c in LIEUX_SECRETS if c in answer.text], fmt
    assert "geo" not in site.get("anon", f"{API}/{LIEUX}").json()["features"]
    assert "geo" in site.get("root", f"{API}/{LIEUX}").json()["features"]


def test_the_catalogue_full_text_knows_no_ungranted_dataset_nor_hidden_label(site):
    catalogue, v1 = API, "/api/datasets/1.0/search"
    for where in ('"Kryptonite"', 'search(*, "MOTSECRETDESC")', 'phrase(*, "confidentiel MOTSECRETDESC")',
                  'suggest(*, "MOTSECRET")', 'search(*, "MOTSECRETDESX plan")', 'keyword = "motclesecret"',
                  'theme = "Zorgtheme"'):
        assert site.count("ub", catalogue, where=where) == 1, where  # the granted caller finds it
        for who in ("anon", "ua"):
            assert site.count(who, catalogue, where=where) == 0, (who, where)
    for q in ("MOTSECRET*", '"Plan confidentiel"', "MOTSECRETDESX confidentiel", "keyword:motclesecret"):
        assert site.count("ub", v1, q=q) == 1 and site.count("anon", v1, q=q) == 0, q
    # the label of a field hidden from the caller is not searched either
    assert site.count("root", catalogue, where='"ZQLABEL"') == 1 and site.count("root", v1, q="ZQLAB*") == 1
    for who in ("anon", "ua"):
        assert site.count(who, catalogue, where='"ZQLABEL"') == 0 and site.count(who, v1, q="ZQLAB*") == 0
    # facets, aggregates on records_count and every catalogue export
    for who in ("anon", "ua"):
        for path, params in [("/api/explore/v2.1/catalog/facets", {"facet": ["theme", "keyword", "features"]}),
                             (catalogue, {"group_by": "records_count", "select": "count(*) as n"}),
                             *[(f"/api/explore/v2.1/catalog/exports/{fmt}", {})
                               for fmt in ("csv", "json", "rss", "rdf", "ttl", "jsonld", "data.json", "dublin_core")]]:
            text = site.get(who, path, **params).text
            assert not [w for w in SECRET_WORDS if w.lower() in text.lower()], (who, path)
    grouped = site.get("ua", catalogue, group_by="records_count", select="count(*) as n").json()["results"]
    assert 6 not in {g["records_count"] for g in grouped}  # personnes counts the caller's 3 rows


def test_a_join_reads_its_remote_as_the_caller_may(site):
    def join(who: str, remote: str, fields: str = "projet"):
        return site.get(who, ANALYZE, dataset=OPEN, x="region", **{
            "y.n.func": "COUNT", "join.j.remotedataset": remote, "join.j.localkey": "region",
            "join.j.remotekey": "region", "join.j.fields": fields})

    nowhere = join("anon", "zz-nope")
    for who in ("anon", "ua"):
        for remote in (SECRET, f"{SECRET}@public"):
            answer = join(who, remote)
            twin = join(who, remote.replace(SECRET, "zz-nope"))
            assert (answer.status_code, answer.text) == (twin.status_code, twin.text.replace("zz-nope", SECRET)), remote
    assert nowhere.status_code == 404
    assert join("ub", SECRET).status_code == 200 and "KRYPTOPROJ" in join("ub", SECRET).text
    # public metadata, restricted records: refused as the records are, never joined
    assert join("anon", CARNETS, "carnet").status_code == 401
    assert join("ua", CARNETS, "carnet").status_code == 403
    assert "CARNETSECRET" in join("root", CARNETS, "carnet").text
    # the row filter and hidden fields of the remote hold in the joined records
    joined = join("ua", PERS, "nom,region").text
    assert "Alice" in joined and not [c for c in ("Zebulonia", "Xavierix", "Normandie") if c in joined]
    assert join("anon", PERS, "salaire").status_code == 400


def test_v1_post_bodies_read_no_other_dataset_than_the_query_string(site):
    for path in (V1, "/api/records/1.0/download", "/api/records/1.0/geopreview"):
        for query, form in (({"dataset": PERS}, {"dataset": SECRET}), ({"dataset": SECRET}, {"dataset": PERS}), ({}, {"dataset": SECRET})):
            answer = site.client.post(path, params=query, data=form)
            assert answer.status_code in (400, 404), (path, query, form)
            assert "KRYPTO" not in answer.text, (path, query, form)
    answer = site.client.post(ANALYZE, params={"dataset": SECRET}, data={"dataset": PERS, "y.n.func": "COUNT"})
    assert "KRYPTO" not in answer.text
    answer = site.client.post(ANALYZE, data={"dataset": SECRET, "y.n.func": "COUNT"})
    assert answer.status_code == 404 and "KRYPTO" not in answer.text


def test_security_changes_show_on_the_next_call(site):
    """The caches of resolved access (``catalog.generation``) forget a revoked grant or a
    changed ruleset at once."""
    assert site.get("ub", f"{API}/{SECRET}/records").status_code == 200
    assert site.count("ua", f"{API}/{PERS}/records") == BZH
    try:
        with site.instance.session() as s:
            auth.revoke_grant(s, services.get_dataset(s, SECRET), "group", "grpb")
            auth.set_dataset_security(s, services.get_dataset(s, PERS), record_filters={"bzh": "region = 'Occitanie'"})
        assert site.get("ub", f"{API}/{SECRET}/records").status_code == 404
        assert site.count("ua", f"{API}/{PERS}/records") == 1
        assert SECRET not in site.get("ub", API).text
    finally:
        with site.instance.session() as s:
            auth.grant(s, services.get_dataset(s, SECRET), "group", "grpb")
            auth.set_dataset_security(s, services.get_dataset(s, PERS), record_filters={"bzh": "region = 'Bretagne'"})
    assert site.count("ua", f"{API}/{PERS}/records") == BZH
