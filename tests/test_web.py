"""The HTML portal, server-rendered: pages, URLs shared with Opendatasoft, the filter state
shared by the dataset tabs, language switch, bad input as clear pages (never a 500)."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.catalog import services
from portail.operations import load_file
from portail.web.catalogue import fold
from portail.web.filters import FilterState
from portail.web.i18n import STRINGS, format_date, format_number


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    from tests.conftest import make_instance

    instance = make_instance(tmp_path_factory.mktemp("web") / "home", portal_title="Données de test")
    with instance.session() as s:
        services.create_dataset(s, "logements", "Logements sociaux financés à Paris", themes=["Logement"],
                                keywords=["HLM"], publisher="Ville de Paris",
                                description="Programmes **financés** depuis 2001.", license="ODbL")
        services.create_dataset(s, "senateurs", "Sénateurs", themes=["Administration"], license="Licence Ouverte")
        services.create_dataset(s, "departements", "Départements", themes=["Administration"])
        services.create_dataset(s, "interne", "Interne", portals=["internal"])
    load_file(instance, "logements", refdata / "logement" / "logements-sociaux-finances-a-paris.csv", publish=True)
    load_file(instance, "senateurs", refdata / "elus" / "rne_elus-senateurs-sen.csv", publish=True)
    load_file(instance, "departements", refdata / "geo" / "departements-version-simplifiee.geojson", publish=True)
    load_file(instance, "interne", refdata / "elus" / "rne_elus-senateurs-sen.csv", publish=True)
    yield TestClient(create_app(instance))
    instance.store.close()


def links(html: str, cls: str) -> list[str]:
    return [unescape(h) for h in re.findall(rf'<a class="{cls}" href="([^"]+)"', html)]


def test_home_lists_themes_latest_largest_and_totals(client):
    html = client.get("/", headers={"Accept-Language": "fr-FR,fr;q=0.9"}).text
    assert '<html lang="fr">' in html and "Données de test" in html
    assert "Administration <span>(2)</span>" in html and "Sénateurs" in html
    assert "Interne" not in html  # internal-only datasets stay off the public portal
    assert "<strong>4\u202f618</strong> enregistrements publiés" in html  # 4 174 + 348 + 96
    assert "Pas encore de compteur de consultations" in html
    largest = html.split('id="h-largest"')[1]
    assert largest.index("Logements sociaux") < largest.index("Sénateurs") < largest.index("Départements")
    english = client.get("/", headers={"Accept-Language": "en-GB"}).text
    assert "<strong>4,618</strong> published records" in english


def test_catalogue_search_facets_sort_and_language(client):
    html = client.get("/explore/", params={"q": "paris"}).text
    assert "Logements sociaux financés à Paris" in html and "Sénateurs</a>" not in html
    assert "Programmes financés depuis 2001." in html  # the Markdown description as plain text
    # field labels and keywords are searched too, accents ignored
    assert "Sénateurs</a>" in client.get("/explore/", params={"q": "categorie socio"}).text
    assert "Logements sociaux" in client.get("/explore/", params={"q": "hlm"}).text
    by_theme = client.get("/explore/", params={"refine.theme": "Administration"}).text
    assert "Sénateurs" in by_theme and "Logements sociaux" not in by_theme and "2 jeux de données" in by_theme
    assert "Sénateurs" in client.get("/explore/", params={"theme": "Administration"}).text  # the old parameter
    geo = client.get("/explore/", params={"refine.features": "geo"}).text
    assert "Départements</a>" in geo and "Sénateurs</a>" not in geo and "Données géographiques" in geo
    both = client.get("/explore/", params=[("refine.theme", "Administration"), ("refine.license", "Licence Ouverte")]).text
    assert "1 jeu de données" in both and "Sénateurs</a>" in both
    assert "Ville de Paris" in client.get("/explore/").text  # publisher facet
    titles = re.findall(r'<h2><a href="[^"]+">([^<]+)</a></h2>', client.get("/explore/", params={"sort": "title"}).text)
    assert titles == sorted(titles, key=fold) and len(titles) == 3
    largest = re.findall(r'<h2><a href="[^"]+">([^<]+)</a></h2>', client.get("/explore/", params={"sort": "-popularity"}).text)
    assert largest[0] == "Logements sociaux financés à Paris" and largest[-1] == "Départements"
    english = client.get("/explore/", params={"lang": "en", "q": "zzz"}).text
    assert '<html lang="en">' in english and "No dataset matches." in english
    assert client.get("/explore/", headers={"Accept-Language": "en-GB"}).text.count('lang="en"') == 1
    assert client.get("/explore/", params={"page": "abc", "sort": "nonsense"}).status_code == 200


def test_dataset_tabs_at_opendatasoft_urls(client):
    assert client.get("/explore/dataset/logements/", follow_redirects=False).headers["location"] == \
        "/explore/dataset/logements/information/"
    info = client.get("/explore/dataset/logements/information/").text
    assert "<strong>financés</strong>" in info and "ODbL" in info and "<code>code_postal</code>" in info
    assert "/api/explore/v2.1/catalog/exports/dcat" in info
    for tab in ("table", "map", "analyze", "export", "api"):
        assert f'/explore/dataset/logements/{tab}/"' in info
    table = client.get("/explore/dataset/logements/table/", params={"sort": "-nb_logmt_total", "page": 2}).text
    assert "4\u202f174 enregistrements" in table and "Page 2 sur 167" in table and 'aria-sort="descending"' in table
    cells = re.findall(r"<tbody>(.*?)</tbody>", table, re.S)[-1]
    assert cells.count("<tr>") == 25
    totals = [int(n.replace(" ", "")) for n in re.findall(r"<td>(\d[\d ]*)</td>", cells)]
    assert totals  # numbers are written the French way
    export = client.get("/explore/dataset/logements/export/").text
    assert "/api/explore/v2.1/catalog/datasets/logements/exports/geojson" in export
    no_geo = client.get("/explore/dataset/senateurs/export/").text
    assert "exports/csv" in no_geo and "exports/geojson" not in no_geo
    assert client.get("/explore/dataset/interne/information/").status_code == 404
    assert client.get("/explore/dataset/logements/nonsense/", follow_redirects=False).status_code == 307
    assert client.get("/static/portail.css").status_code == 200


def test_one_filter_state_drives_table_facets_export_map_and_console(client):
    params = {"refine.bs": "RIVP", "q": "rue"}
    table = client.get("/explore/dataset/logements/table/", params=params).text
    count = int(re.search(r'id="records-count" role="status">([\d\u202f]+) enregistrements', table).group(1).replace("\u202f", ""))
    api = client.get("/api/explore/v2.1/catalog/datasets/logements/records",
                     params={"refine": "bs:RIVP", "qv1": "rue", "limit": 0}).json()
    assert count == api["total_count"] and 0 < count < 783
    assert "bs = RIVP" in table  # the active filter, with a link to remove it
    # every tab link keeps the state
    tab_links = re.findall(r'href="(/explore/dataset/logements/\w+/\?[^"]+)"', table)
    assert tab_links and all("refine.bs=RIVP" in unescape(h) and "q=rue" in h for h in tab_links)
    # the export links are the API's, with the same filters, and give the same rows
    filtered = [h for h in links(client.get("/explore/dataset/logements/export/", params=params).text, "filtered") if "/csv" in h]
    rows = client.get(filtered[0]).content.decode("utf-8-sig").splitlines()
    assert len(rows) == count + 1
    whole = [h for h in links(client.get("/explore/dataset/logements/export/", params=params).text, "whole") if "/csv" in h]
    assert "?" not in whole[0]
    # map and console get the same filters, as API parameters
    for tab in ("map", "api", "analyze"):
        page = client.get(f"/explore/dataset/logements/{tab}/", params=params).text
        filters = dict(parse_qsl(unescape(re.search(r'data-filters="([^"]*)"', page).group(1))))
        assert filters == {"qv1": "rue", "refine": "bs:RIVP"}


def test_table_facets_refine_exclude_dates_and_record_detail(client):
    table = client.get("/explore/dataset/logements/table/").text
    assert 'id="tf-bs"' in table and 'id="tf-id_livraison"' not in table  # one value per record: no facet
    refine = unescape(re.search(r'href="(\?refine\.bs=RIVP)"', table).group(1))
    exclude = unescape(re.search(r'href="(\?exclude\.bs=RIVP)"', table).group(1))
    refined = client.get("/explore/dataset/logements/table/" + refine).text
    excluded = client.get("/explore/dataset/logements/table/" + exclude).text
    assert "783 enregistrements" in refined and f"{4174 - 783:,}".replace(",", "\u202f") + " enregistrements" in excluded
    # the date hierarchy: years, then the months of a refined year
    years = client.get("/explore/dataset/senateurs/table/").text
    assert 'href="?refine.date_de_naissance=1950"' in years
    months = client.get("/explore/dataset/senateurs/table/", params={"refine.date_de_naissance": "1950"}).text
    assert "refine.date_de_naissance=1950%2F03" in months and "8 enregistrements" in months
    # an excluded value stays listed, without a count (the page failed on the missing count)
    response = client.get("/explore/dataset/senateurs/table/", params={"exclude.date_de_naissance": "1950"})
    assert response.status_code == 200 and "340 enregistrements" in response.text
    assert re.search(r'<a href="\?refine\.date_de_naissance=1950"\s+class="excluded">1950</a>', response.text)
    # record detail
    record = unescape(re.search(r'href="(\?[^"]*record=[0-9a-f]{40})#record-title"', refined).group(1))
    detail = client.get("/explore/dataset/logements/table/" + record).text
    assert 'id="record-title"' in detail and "RIVP" in detail.split('id="record-title"')[1].split("</section>")[0]


def test_bad_input_gives_clear_pages_not_500(client):
    for params in ({"refine.nope": "1"}, {"exclude.nope": "x"}):
        response = client.get("/explore/dataset/logements/table/", params=params)
        assert response.status_code == 400 and "Filtre invalide" in response.text and "nope" in response.text
    for tab in ("map", "analyze", "export"):
        response = client.get(f"/explore/dataset/logements/{tab}/", params={"refine.nope": "1"})
        assert response.status_code == 400 and 'role="alert"' in response.text
    assert client.get("/explore/dataset/logements/table/", params={"page": "-5"}).status_code == 200
    assert "Page 167 sur 167" in client.get("/explore/dataset/logements/table/", params={"page": "99999"}).text
    past = client.get("/explore/dataset/logements/table/", params={"page": "99999999999999999999"})
    assert "Page 167 sur 167" in past.text  # past any offset the engine takes: the last page
    superscript = "\u00b2"  # a digit to str.isdigit(), not to int()
    assert "Page 1 sur 167" in client.get("/explore/dataset/logements/table/", params={"page": superscript}).text
    assert client.get("/explore/", params={"page": superscript}).status_code == 200
    assert client.get("/explore/dataset/logements/table/", params={"record": "zz"}).status_code == 200
    missing = client.get("/explore/dataset/nope/table/")
    assert missing.status_code == 404 and "Jeu de données inconnu : nope" in missing.text and "<html" in missing.text
    assert client.get("/explore/dataset/logements/table/", params={"q": 'a"b\\'}).status_code == 200


def test_map_analyze_and_console_pages(client):
    dep = client.get("/explore/dataset/departements/map/").text
    assert 'data-geo="geo_shape"' in dep and "/static/vendor/maplibre-gl/maplibre-gl.js" in dep
    assert "/static/vendor/echarts" not in dep  # each library on its own tab only
    no_geo = client.get("/explore/dataset/senateurs/map/").text
    assert "pas de champ géographique" in no_geo and "maplibre" not in no_geo
    chart = client.get("/explore/dataset/senateurs/analyze/", params={"chart.type": "line", "chart.bucket": "month"}).text
    assert '<option value="line" selected>' in chart and '<option value="month" selected>' in chart
    assert '<option value="date_de_naissance" selected>' in chart  # a date field first on the X axis
    assert '<option value="annee" selected>' in client.get("/explore/dataset/logements/analyze/").text  # else a year
    assert "/static/vendor/echarts/echarts.min.js" in chart and "maplibre" not in chart
    catalogue = client.get("/explore/").text
    assert "vendor" not in catalogue and "<script" not in catalogue  # the catalogue loads no script at all
    console = client.get("/explore/dataset/logements/api/", params={"sort": "-annee"}).text
    assert 'value="`annee` desc"' in console and "/static/console.js" in console


def test_filter_state_round_trip():
    state = FilterState.from_query([("q", "rue"), ("refine.bs", "RIVP"), ("refine.bs", "RIVP"), ("exclude.ville", "Paris"),
                                    ("sort", "-annee"), ("lang", "en"), ("page", "3")])
    assert state.refine == (("bs", "RIVP"),) and state.exclude == (("ville", "Paris"),)
    assert state.api_params() == [("qv1", "rue"), ("refine", "bs:RIVP"), ("exclude", "ville:Paris")]
    assert state.order_by == "`annee` desc" and state.sorted_by("annee").sort == "annee"
    assert state.toggle("bs", "RIVP").refine == () and state.toggle("bs", "RIVP", exclude=True).exclude[-1] == ("bs", "RIVP")
    assert "page=2" in state.query_string(page=2) and "lang=en" in state.query_string()
    assert urlsplit(state.cleared().query_string()).query == "sort=-annee&lang=en"


def test_localised_numbers_dates_and_complete_strings():
    from datetime import date

    assert format_number(1234567, "fr") == "1\u202f234\u202f567" and format_number(1234567, "en") == "1,234,567"
    assert format_number(3.5, "fr") == "3,5" and format_date(date(2025, 3, 12), "fr") == "12 mars 2025"
    assert format_number(0.004, "fr") == "0,004" and format_number(48.85661234, "en") == "48.85661234"  # never rounded away
    assert format_date(date(2025, 3, 12), "en") == "March 12, 2025"
    assert STRINGS["fr"].keys() == STRINGS["en"].keys()


def test_every_link_stays_under_the_portal_prefix(tmp_path, refdata):
    from portail.config import Portal
    from tests.conftest import make_instance

    instance = make_instance(tmp_path / "home", portals=[
        Portal(id="public", title="Public"),
        Portal(id="internal", title="Données des quartiers", prefix="/quartiers/", primary_color="#6a1b9a")])
    with instance.session() as s:
        services.create_dataset(s, "logements", "Logements sociaux", themes=["Logement"], portals=["internal"])
    load_file(instance, "logements", refdata / "logement" / "logements-sociaux-finances-a-paris.csv", publish=True)
    client = TestClient(create_app(instance))
    try:
        home = client.get("/quartiers/").text
        assert "Données des quartiers" in home and "--accent: #6a1b9a" in home
        assert 'href="/quartiers/explore/dataset/logements/information/' in home
        assert 'href="/quartiers/explore/?refine.theme=Logement' in home
        assert "logements" not in client.get("/").text  # not on the root portal
        catalogue = client.get("/quartiers/explore/", params={"q": "logement"}).text
        assert 'href="/quartiers/explore/?q=logement&amp;refine.theme=Logement"' in catalogue
        assert client.get("/quartiers/explore/dataset/logements/", follow_redirects=False).headers["location"] == \
            "/quartiers/explore/dataset/logements/information/"
        table = client.get("/quartiers/explore/dataset/logements/table/").text
        hrefs = re.findall(r'href="(/[^"]*)"', table)
        assert all(h.startswith(("/quartiers/", "/static/", "/api/docs")) for h in hrefs), hrefs
        export = client.get("/quartiers/explore/dataset/logements/export/").text
        csv_link = [h for h in links(export, "whole") if h.endswith("/csv")][0]
        assert csv_link == "/quartiers/api/explore/v2.1/catalog/datasets/logements/exports/csv"
        assert client.get(csv_link).status_code == 200
        assert 'data-api="/quartiers/api/explore/v2.1/catalog/datasets/logements"' in \
            client.get("/quartiers/explore/dataset/logements/map/").text
        assert client.get("/explore/dataset/logements/table/").status_code == 404
    finally:
        instance.store.close()


def test_table_pages_past_the_api_window(instance, tmp_path):
    """The table renders deep pages itself: page 450 of 25 rows is records 11,226–11,250, past the
    API's 10,000-record offset window (which still binds API clients)."""
    source = tmp_path / "grand.csv"
    source.write_text("n;libelle\n" + "".join(f"{n};ligne {n}\n" for n in range(12_345)), encoding="utf-8")
    with instance.session() as s:
        services.create_dataset(s, "grand", "Grand")
    load_file(instance, "grand", source, publish=True)
    web = TestClient(create_app(instance))
    page = web.get("/explore/dataset/grand/table/", params={"sort": "n", "page": 450})
    assert page.status_code == 200
    assert "ligne 11225" in page.text and "ligne 11249" in page.text and "ligne 11250" not in page.text
    last = web.get("/explore/dataset/grand/table/", params={"sort": "n", "page": 10_000})
    assert "ligne 12344" in last.text  # past the end: the last page
    api = web.get("/api/explore/v2.1/catalog/datasets/grand/records", params={"offset": 11_225, "limit": 25})
    assert api.status_code == 400


def test_a_geo_field_annotated_facet_is_left_out_of_the_table_facets(tmp_path, refdata):
    from tests.conftest import Published, published_instance

    instance = published_instance(tmp_path / "home", Published(
        "logements", refdata / "logement" / "logements-sociaux-finances-a-paris.csv", "Logements",
        {"geo_point_2d": {"facet": []}, "bs": {"facet": []}}))
    table = TestClient(create_app(instance)).get("/explore/dataset/logements/table/")
    assert table.status_code == 200 and "RIVP" in table.text  # the bs facet is listed
    instance.store.close()


def test_a_licence_link_is_only_ever_a_web_address(client, tmp_path):
    """A ``javascript:`` licence URL would run in every visitor's browser when clicked."""
    instance = client.app.state.instance
    with instance.session() as s:
        dataset = services.get_dataset(s, "senateurs")
        for bad in ("javascript:alert('lic')", "data:text/html,<script>1</script>", "//evil.example/x", "ftp://x/y"):
            with pytest.raises(services.CatalogError, match="license_url must be an http"):
                services.update_metadata(s, dataset, license_url=bad)
        services.update_metadata(s, dataset, license_url="  https://www.etalab.gouv.fr/licence-ouverte  ")
        assert dataset.license_url == "https://www.etalab.gouv.fr/licence-ouverte"
        dataset.license_url = "javascript:alert(1)"  # a row written before the check: never a link
    html = client.get("/explore/dataset/senateurs/information/").text
    assert "javascript:alert" not in html and "Licence Ouverte" in html
    with instance.session() as s:
        services.update_metadata(s, services.get_dataset(s, "senateurs"), license_url="https://www.etalab.gouv.fr/lo")
    assert '<a href="https://www.etalab.gouv.fr/lo">Licence Ouverte</a>' in \
        client.get("/explore/dataset/senateurs/information/").text


def test_pages_with_numbers_past_what_python_reads_show_the_last_page(client):
    huge = "9" * 5000
    catalogue = client.get("/explore/", params={"page": huge})
    assert catalogue.status_code == 200
    table = client.get("/explore/dataset/logements/table/", params={"page": huge})
    assert table.status_code == 200 and 'rel="next"' not in table.text and 'rel="prev"' in table.text


def test_a_point_column_is_not_offered_as_a_sort(client):
    html = client.get("/explore/dataset/logements/table/").text
    header = html.split("<thead>")[1].split("</thead>")[0]
    assert "sort=geo_point_2d" not in header and "geo_point_2d" in header and "sort=annee" in header


def test_an_unknown_record_says_so_and_an_unknown_address_is_a_page(client):
    html = client.get("/explore/dataset/logements/table/", params={"record": "zzz"},
                      headers={"Accept-Language": "fr"}).text
    assert "Cet enregistrement n&#39;existe pas, ou plus." in html
    assert "<table><tbody></tbody></table>" not in html  # no empty table after the message
    page = client.get("/nope", headers={"Accept": "text/html,application/xhtml+xml", "Accept-Language": "fr"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Cette page n&#39;existe pas." in page.text and 'rel="icon"' in page.text
    assert "<title>Page introuvable" in page.text  # the title says what the heading says
    inside = client.get("/interne/nope", headers={"Accept": "text/html"}, follow_redirects=False)
    assert inside.status_code == 303 and inside.headers["location"] == "/interne/login?next=/interne/nope"  # private
    api = client.get("/api/explore/v2.1/nope", headers={"Accept": "text/html"})  # APIs answer JSON
    assert api.status_code == 404 and api.json()["error_code"] == "NotFound"
    assert client.get("/nope").json()["error_code"] == "NotFound"  # a script asking no HTML


def test_the_console_copy_button_reads_its_label_in_both_languages(client):
    """Jinja reads ``t.copy`` as the dict's ``copy`` method: no key may be a dict method's name."""
    assert not [k for k in STRINGS["fr"] if hasattr(dict, k)]
    french = client.get("/explore/dataset/logements/api/", params={"lang": "fr"}).text
    english = client.get("/explore/dataset/logements/api/", params={"lang": "en"}).text
    assert '<button type="button" id="a-copy">Copier l&#39;URL</button>' in french
    assert '<button type="button" id="a-copy">Copy the URL</button>' in english
    assert "built-in method" not in french + english


def test_a_quoted_catalogue_search_finds_what_the_api_finds(client):
    api = client.get("/api/explore/v2.1/catalog/datasets", params={"where": '"sénateurs"'}).json()["total_count"]
    for q in ('"sénateurs"', "sénateurs", '"logements sociaux"'):
        html = client.get("/explore/", params={"q": q}).text
        assert "1 jeu de données" in html, q
    assert api == 1


def titles_found(client, q: str) -> tuple[int, list[str]]:
    """The status and the titles of the catalogue page's answer to the search box ``q``."""
    page = client.get("/explore/", params={"q": q})
    return page.status_code, sorted(re.findall(r'<h2><a href="[^"]+">([^<]+)</a></h2>', page.text))


@pytest.mark.parametrize("q", ["paris", "ris", "financ", "categorie socio", "code_postal", "hlm", "departem", "senat",
                               "theme:Logement", "paris OR sénateurs", "NOT paris", '"sociaux logements"', "zzz"])
def test_the_catalogue_page_finds_what_the_catalogue_api_finds(client, q):
    """The page matched substrings of its own text (``ris`` found Paris, ``theme:Logement``
    nothing) where the API's catalogue search, which Opendatasoft's portal search box sends,
    reads v1's ``q``: words whole but the last, a prefix; field queries; field names and labels."""
    api = client.get("/api/datasets/1.0/search/", params={"q": q, "rows": 100}).json()
    assert titles_found(client, q) == (200, sorted(d["metas"]["title"] for d in api["datasets"]))


def test_a_catalogue_search_the_api_refuses_is_said_on_the_page(client):
    status, titles = titles_found(client, "title:(")
    page = client.get("/explore/", params={"q": "title:(", "refine.theme": "Logement"}).text
    assert (status, titles) == (400, [])
    assert '<strong>Recherche invalide :</strong> Fin de requête inattendue (dans la recherche).' in page
    assert 'aria-current="true"' in page and "Logement" in page  # the refinement stays listed, to remove


def test_a_failed_sign_in_keeps_the_page_language(tmp_path):
    from portail.auth import services as auth
    from tests.conftest import make_instance

    instance = make_instance(tmp_path / "home", session_cookie_secure=False)
    with instance.session() as s:
        auth.create_user(s, "alice", password="Correct-horse-42")
    client = TestClient(create_app(instance))
    try:
        assert 'href="/login?lang=en&amp;next=' in client.get("/", params={"lang": "en"}).text  # the header's link too
        form = client.get("/login", params={"lang": "en"}).text
        action = unescape(re.search(r'<form method="post" action="([^"]+)"', form).group(1))
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        wrong = client.post(action, data={"login": "alice", "password": "nope", "csrf_token": token})
        assert wrong.status_code == 401 and '<html lang="en">' in wrong.text and "Invalid login or password" in wrong.text
    finally:
        instance.store.close()


def test_an_unknown_or_hidden_sort_shows_the_default_order(tmp_path, refdata):
    """A sort is a preference, not a filter: a link sorting on a field that is gone (or hidden
    from this visitor) shows the table in its default order; filter errors stay errors."""
    from portail.auth import services as auth
    from tests.conftest import Published, published_instance

    instance = published_instance(tmp_path / "home", Published(
        "logements", refdata / "logement" / "logements-sociaux-finances-a-paris.csv", "Logements"))
    client = TestClient(create_app(instance))
    try:
        plain = client.get("/explore/dataset/logements/table/").text
        first = re.findall(r"<tbody>(.*?)</tbody>", plain, re.S)[-1]
        with instance.session() as s:
            auth.set_dataset_security(s, services.get_dataset(s, "logements"), hidden_fields={"*": ["bs"]})
        for sort in ("foo", "-bs", "geo_point_2d"):
            response = client.get("/explore/dataset/logements/table/", params={"sort": sort, "lang": "en"})
            assert response.status_code == 200 and "Invalid filter" not in response.text, sort
            tabs = response.text.split('<nav class="tabs"')[1].split("</nav>")[0]
            assert "4,174 records" in response.text and f"sort={sort}" not in tabs  # not passed on either
        assert re.findall(r"<tbody>(.*?)</tbody>", response.text, re.S)[-1].count("<tr>") == first.count("<tr>")
        assert client.get("/explore/dataset/logements/table/", params={"refine.bs": "RIVP"}).status_code == 400
        assert 'aria-sort="descending"' in client.get("/explore/dataset/logements/table/", params={"sort": "-annee"}).text
    finally:
        instance.store.close()


def test_counts_agree_in_number_the_french_and_english_way(client):
    from portail.web.i18n import plural

    assert [plural("records", n, "fr") for n in (0, 1, 2)] == ["enregistrement", "enregistrement", "enregistrements"]
    assert [plural("records", n, "en") for n in (0, 1, 2)] == ["records", "record", "records"]
    one = client.get("/explore/dataset/departements/table/", params={"q": "Corrèze", "lang": "fr"}).text
    assert '"records-count" role="status">1 enregistrement sur 96</p>' in one
    none = client.get("/explore/dataset/departements/export/", params={"q": "zzzz", "lang": "fr"}).text
    assert "(0 enregistrement)</th>" in none  # (the map tab says there is none to show, no map drawn: test_web_map_points)
    placed = client.get("/explore/dataset/departements/map/", params={"q": "Corrèze", "lang": "fr"}).text
    assert '"points_shown_one": "enregistrement affich\\u00e9"' in unescape(placed)
    english = client.get("/explore/dataset/departements/export/", params={"q": "Corrèze", "lang": "en"}).text
    assert "With the current filters (1 record)" in english and "Whole dataset (96 records)" in english
    assert "1 jeu de données" in client.get("/explore/", params={"q": '"Sénateurs"'}).text


def test_the_information_tab_names_frequency_and_types_in_the_page_language(client):
    from portail.catalog.services import FREQUENCIES
    from portail.schema import FieldType

    for strings in STRINGS.values():  # every value the catalogue allows has its words
        assert all(f"frequency_{f}" in strings for f in FREQUENCIES) and all(f"type_{t}" in strings for t in FieldType)
    instance = client.app.state.instance
    with instance.session() as s:
        services.update_metadata(s, services.get_dataset(s, "departements"), update_frequency="annual")
    french = client.get("/explore/dataset/departements/information/", params={"lang": "fr"}).text
    english = client.get("/explore/dataset/departements/information/", params={"lang": "en"}).text
    assert "<td>Annuelle</td>" in french and "<td>Annual</td>" in english and "<td>annual</td>" not in french
    assert "<td>Forme géographique</td>" in french and "<td>Geographic shape</td>" in english
    assert "<td>Texte</td>" in french and "<td>text</td>" not in french


def test_the_chart_groups_by_a_field_with_few_values_and_buckets_dates_only(instance, tmp_path):
    """No date, no year, no facet annotation: the X axis is the first text field with few values,
    not an id with one record per value (the chart would show its first 1,000 groups)."""
    source = tmp_path / "communes.csv"
    source.write_text("insee_com;nom;type;population\n" + "".join(
        f"{n:05d};Commune {n};{'COM' if n % 3 else 'ARM'};{n * 10}\n" for n in range(300)), encoding="utf-8")
    with instance.session() as s:
        services.create_dataset(s, "communes", "Communes")
    load_file(instance, "communes", source, publish=True)
    web = TestClient(create_app(instance))
    page = web.get("/explore/dataset/communes/analyze/").text
    assert '<option value="type" selected>' in page
    assert '<div hidden><label for="c-bucket">' in page and 'name="chart.bucket" disabled>' in page
    assert '<option value="nom" selected>' in web.get("/explore/dataset/communes/analyze/", params={"chart.x": "nom"}).text


def test_date_bucketing_is_offered_for_a_date_axis(client):
    dated = client.get("/explore/dataset/senateurs/analyze/").text
    assert '<option value="date_de_naissance" selected>' in dated
    assert '<div ><label for="c-bucket">' in dated and 'name="chart.bucket" >' in dated


def test_the_record_detail_has_its_own_title(client):
    table = client.get("/explore/dataset/logements/table/").text
    assert "<title>Tableau · Logements sociaux" in table
    record = unescape(re.search(r'href="(\?[^"]*record=[0-9a-f]{40})#record-title"', table).group(1))
    assert "<title>Enregistrement · Logements sociaux" in client.get("/explore/dataset/logements/table/" + record).text
    english = client.get("/explore/dataset/logements/table/" + record + "&lang=en").text
    assert "<title>Record · Logements sociaux" in english


def test_the_catalogue_page_folds_ligatures_as_the_index_does():
    """The catalogue page sorts titles and facet values as the full-text index folds words
    (``store.fulltext``): "Œuvres" beside "oeuvres"."""
    from portail.web import catalogue

    assert catalogue.fold("Œuvres d'Æsop, GROßE Straße, Énergie") == "oeuvres d'aesop, grosse strasse, energie"


def test_a_multivalued_field_is_listed_in_the_table_and_the_record(tmp_path):
    """The table showed a multivalued field as Python writes a list: ['rouge', 'vert']."""
    from tests.conftest import Published, published_instance

    path = tmp_path / "tags.csv"
    path.write_text("nom;couleurs\nA;rouge;vert\n".replace("rouge;vert", '"rouge;vert"'), encoding="utf-8")
    instance = published_instance(tmp_path / "home", Published("tags", path, annotations={"couleurs": {"multivalued": [";"]}}))
    client = TestClient(create_app(instance))
    try:
        table = client.get("/explore/dataset/tags/table/").text
        assert "rouge, vert" in table and "[&#39;rouge&#39;" not in table and "['rouge'" not in table
        record_id = re.search(r"record=([0-9a-f]{40})", table).group(1)
        record = client.get("/explore/dataset/tags/table/", params={"record": record_id}).text
        assert "rouge, vert" in record
    finally:
        instance.store.close()


def test_the_search_box_finds_the_words_a_visitor_begins(client):
    """The box reads v1's q (``qv1``), whose words are search(*, …)'s: "boulev" finds the
    boulevards, which the API's bare string "boulev" (whole words only, as the reference reads
    it) does not."""
    table = client.get("/explore/dataset/logements/table/", params={"q": "boulev"}).text
    count = int(re.search(r'id="records-count" role="status">([\d\u202f]+) enregistrements', table).group(1).replace("\u202f", ""))
    records = "/api/explore/v2.1/catalog/datasets/logements/records"
    assert count == client.get(records, params={"qv1": "boulev", "limit": 0}).json()["total_count"] > 0
    assert count == client.get(records, params={"where": 'search(*, "boulev")', "limit": 0}).json()["total_count"]
    assert client.get(records, params={"where": '"boulev"', "limit": 0}).json()["total_count"] == 0


def test_the_search_box_reads_phrases_and_field_queries_as_v1_q(client):
    """As the catalogue page's box and Opendatasoft's dataset pages: a "quoted phrase" is its
    words in a row, ``field:value`` a field query. The box sent search(*, …), which read the
    phrase as its words anywhere and ``bs:RIVP`` as two words."""
    def count(q: str) -> int:
        table = client.get("/explore/dataset/logements/table/", params={"q": q}).text
        return int(re.search(r'id="records-count" role="status">([\d\u202f]+) enregistrement', table).group(1).replace("\u202f", ""))

    records = "/api/explore/v2.1/catalog/datasets/logements/records"
    assert count("bs:RIVP") == client.get(records, params={"refine": "bs:RIVP", "limit": 0}).json()["total_count"] > 0
    in_a_row = count('"rue de"')
    assert 0 < in_a_row < count("rue de")
    assert count('"de rue"') == 0


def test_a_pasted_paragraph_searches_its_first_words(client):
    """Each word is an index lookup, and a table page asks several questions of the box's text:
    600 words took 8 s. The API refuses more than MAX_SEARCH_WORDS words; the box keeps its first."""
    from portail.odsql.functions import MAX_SEARCH_WORDS

    records = "/api/explore/v2.1/catalog/datasets/logements/records"
    long = " ".join(["rue"] * (MAX_SEARCH_WORDS + 1))
    for where in (f'"{long}"', f'search(*, "{long}")', f'suggest(*, "{long}")'):
        refused = client.get(records, params={"where": where})
        assert refused.status_code == 400 and f"at most {MAX_SEARCH_WORDS} words" in refused.json()["message"]
    assert client.get(records, params={"where": " ".join(["rue"] * MAX_SEARCH_WORDS).join('""')}).status_code == 200
    table = client.get("/explore/dataset/logements/table/", params={"q": " ".join(["rue"] * 600)})
    assert table.status_code == 200
    count = int(re.search(r'id="records-count" role="status">([\d\u202f]+) enregistrements', table.text).group(1).replace("\u202f", ""))
    assert count == client.get(records, params={"where": 'search(*, "rue")', "limit": 0}).json()["total_count"] > 0



def test_structured_values_read_as_json_with_their_accents(instance, tmp_path):
    """A json field's objects showed as Python's repr in the table ({'nom': …}) and, in the
    record's detail, lists of objects too, objects with their accents escaped (\\u00e9)."""
    import json

    source = tmp_path / "marches.json"
    source.write_text(json.dumps([{"id": "1", "acheteur": {"nom": "SDIS de la Vendée"},
                                   "titulaires": [{"nom": "Société Générale"}, {"nom": "Île Bâtiment"}]}],
                                 ensure_ascii=False), encoding="utf-8")
    with instance.session() as s:
        services.create_dataset(s, "marches", "Marchés")
    load_file(instance, "marches", source, publish=True)
    web = TestClient(create_app(instance))
    page = web.get("/explore/dataset/marches/table/").text
    table = unescape(page)
    assert '{"nom": "SDIS de la Vendée"}' in table and "{'nom'" not in table
    assert '[{"nom": "Société Générale"}, {"nom": "Île Bâtiment"}]' in table
    record = re.search(r"record=([0-9a-f]{40})", page).group(1)
    detail = unescape(web.get("/explore/dataset/marches/table/", params={"record": record}).text)
    assert '<code>{"nom": "SDIS de la Vendée"}</code>' in detail and "\\u00e9" not in detail
    assert '<code>[{"nom": "Société Générale"}, {"nom": "Île Bâtiment"}]</code>' in detail


def test_the_export_of_the_view_keeps_the_tables_order(instance, tmp_path):
    source = tmp_path / "pop.csv"
    source.write_text("code;pop\n01001;10\n01002;30\n01003;20\n", encoding="utf-8")
    with instance.session() as s:
        services.create_dataset(s, "pop", "Pop")
    load_file(instance, "pop", source, publish=True)
    web = TestClient(create_app(instance))
    page = unescape(web.get("/explore/dataset/pop/export/", params={"sort": "-pop", "refine.code": "01002"}).text)
    link = re.search(r'href="([^"]*/exports/csv\?[^"]*)"', page).group(1)
    assert dict(parse_qsl(urlsplit(link).query))["order_by"] == "`pop` desc"
    ordered = web.get("/explore/dataset/pop/export/", params={"sort": "-pop", "exclude.code": "99999"}).text
    csv_link = re.search(r'href="([^"]*/exports/csv\?[^"]*)"', unescape(ordered)).group(1)
    rows = web.get(csv_link.replace("http://testserver", "")).text.splitlines()[1:]
    assert [r.split(";")[0].strip('"\ufeff') for r in rows] == ["01002", "01003", "01001"]
