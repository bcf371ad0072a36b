"""A dataset page whose search box or URL filters are refused says why in the page's language
(French pages in French, English pages as the API words it), answers 400 and stays usable;
the API's own messages stay in English, as Opendatasoft's clients expect."""

from __future__ import annotations

import re
from html import unescape

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.catalog import services
from portail.operations import load_file
from portail.web.refusals import refusal
from tests.chart_form import chart_config

RECORDS = "/api/explore/v2.1/catalog/datasets/logements/records"
TABLE = "/explore/dataset/logements/table/"


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    from tests.conftest import make_instance

    instance = make_instance(tmp_path_factory.mktemp("web_errors_fr") / "home")
    with instance.session() as s:
        services.create_dataset(s, "logements", "Logements sociaux financés à Paris")
        services.create_dataset(s, "senateurs", "Sénateurs")
    load_file(instance, "logements", refdata / "logement" / "logements-sociaux-finances-a-paris.csv", publish=True)
    load_file(instance, "senateurs", refdata / "elus" / "rne_elus-senateurs-sen.csv", publish=True)
    yield TestClient(create_app(instance))
    instance.store.close()


def alert(html: str) -> str | None:
    """The page's error notice, as a visitor reads it (tags dropped, entities decoded)."""
    found = re.search(r'<p class="error" role="alert">(.*?)</p>', html, re.S)
    return unescape(re.sub(r"<[^>]+>", "", found.group(1))) if found else None


def usable(html: str) -> bool:
    """The refused page still has its tabs and its search box, to fix the query from."""
    return '<nav class="tabs"' in html and 'name="q" type="search"' in html


def test_search_box_refusals_are_in_the_page_language(client):
    for tab in ("table", "map", "analyze", "export"):
        french = client.get(f"/explore/dataset/logements/{tab}/", params={"q": "bs:RIVP AND (", "lang": "fr"})
        assert french.status_code == 400 and usable(french.text), tab
        assert alert(french.text) == "Filtre invalide : Fin de requête inattendue (dans la recherche).", tab
    english = client.get(TABLE, params={"q": "bs:RIVP AND ("}, headers={"Accept-Language": "en-GB"})
    assert english.status_code == 400 and usable(english.text)
    assert alert(english.text) == "Invalid filter: Unexpected end of query (in the search)."
    # v1's q: a NUL is a space between words (as the API's qv1 reads it), not a refusal
    assert client.get(TABLE, params={"q": "rue\x00x", "lang": "fr"}).status_code == 200
    french = client.get(TABLE, params={"q": "annee>=abc", "lang": "fr"})
    assert french.status_code == 400 and alert(french.text) == \
        "Filtre invalide : Ce n'est pas un nombre : « abc » (dans la recherche)."
    # an unbalanced quote is text to search, not a broken query
    for q in ('rue"', "l'", '"'):
        page = client.get(TABLE, params={"q": q, "lang": "fr"})
        assert page.status_code == 200 and alert(page.text) is None, q
    # past the longest clause ODSQL reads (a field query of the box is an ODSQL condition)
    long = client.get(TABLE, params={"q": 'bs:"' + "x" * 20_000 + '"', "lang": "fr"})
    assert long.status_code == 400 and alert(long.text) == "Filtre invalide : Le texte dépasse 20000 caractères " \
                                                           "(dans la recherche)."
    # v1's own refusals of the box: an unknown #function, a date that is none
    unknown = alert(client.get(TABLE, params={"q": "#null(nochamp)", "lang": "fr"}).text)
    assert unknown.startswith("Filtre invalide : #null(nochamp) n'est pas une fonction d'un champ connu (#null(field), "), unknown
    senators = client.get("/explore/dataset/senateurs/table/", params={"q": "date_de_naissance:2020/13", "lang": "fr"})
    assert senators.status_code == 400 and alert(senators.text) == "Filtre invalide : « 2020/13 » n'est pas une date."


def test_too_many_search_words_are_cut_and_the_api_refusal_reads_in_french(client):
    from portail.odsql.functions import MAX_SEARCH_WORDS

    words = " ".join(["rue"] * (MAX_SEARCH_WORDS + 1))
    page = client.get(TABLE, params={"q": words, "lang": "fr"})  # the box keeps its first words
    assert page.status_code == 200 and alert(page.text) is None
    api = client.get(RECORDS, params={"where": f'search(*, "{words}")'})
    assert api.status_code == 400 and api.json()["message"].startswith("ODSQL query is malformed: A full-text")
    assert refusal(api.json()["message"], "fr") == (f"Une recherche en texte intégral prend au plus {MAX_SEARCH_WORDS} "
                                                    f"mots ({MAX_SEARCH_WORDS + 1} donnés) (dans la recherche).")
    assert refusal(api.json()["message"], "en") == (f"A full-text search takes at most {MAX_SEARCH_WORDS} words "
                                                    f"({MAX_SEARCH_WORDS + 1} given) (in the search).")


def test_url_filter_refusals_are_in_the_page_language(client):
    cases = [
        (TABLE, {"refine.nope": "1"}, "Champ inconnu : nope (dans les filtres).",
         "Unknown field: nope (in the filters)."),
        (TABLE, {"exclude.nope": "1"}, "Champ inconnu : nope (dans les exclusions).",
         "Unknown field: nope (in the exclusions)."),
        (TABLE, {"refine.annee": "deux mille"}, "Valeur « deux mille » invalide pour le champ annee, de type nombre entier.",
         "Invalid value 'deux mille' for field annee of type int."),
        (TABLE, {"refine.annee": "l'an"}, "Valeur « l'an » invalide pour le champ annee, de type nombre entier.",
         "Invalid value \"l'an\" for field annee of type int."),
        (TABLE, {"refine.annee": "1\x00"}, "La valeur du paramètre refine contient un caractère nul (NUL), qui n'est pas "
                                           "accepté.",
         "Invalid value for refine API parameter: the value holds a NUL character."),
        ("/explore/dataset/senateurs/table/", {"refine.date_de_naissance": "1950/13"},
         "Date « 1950/13 » invalide : AAAA, AAAA/MM ou AAAA/MM/JJ est attendu.",
         "Invalid date path '1950/13': YYYY, YYYY/MM or YYYY/MM/DD is expected."),
    ]
    for path, params, french, english in cases:
        page = client.get(path, params={**params, "lang": "fr"})
        assert page.status_code == 400 and usable(page.text), params
        assert alert(page.text) == f"Filtre invalide : {french}", params
        page = client.get(path, params={**params, "lang": "en"})
        assert page.status_code == 400 and alert(page.text) == f"Invalid filter: {english}", params
    for tab in ("map", "analyze", "export"):
        page = client.get(f"/explore/dataset/logements/{tab}/", params={"refine.nope": "1"})
        assert page.status_code == 400 and alert(page.text) == "Filtre invalide : Champ inconnu : nope (dans les filtres)."
    # what the visitor typed is shown as typed, escaped
    page = client.get(TABLE, params={"refine.<b>x</b>": "1"})
    assert "Champ inconnu : &lt;b&gt;x&lt;/b&gt;" in page.text and "<b>x</b>" not in page.text
    # an unknown field in sort is dropped and where is not a page parameter: no refusal at all
    for params in ({"sort": "nope"}, {"sort": "-nope"}, {"where": "nope = 1"}):
        page = client.get(TABLE, params=params)
        assert page.status_code == 200 and alert(page.text) is None, params


def test_odsql_wordings_are_all_in_the_french_table():
    """The table is keyed on the English of ``odsql``: a rewording there shows here."""
    from portail import odsql
    from portail.schema import Field, FieldType

    fields = [Field(name="annee", label="Année", type=FieldType.INT)]
    cases = {
        '"abc': 'Caractère « " » inattendu à la position 1',  # an unbalanced quote typed in a where
        "annee =": "Fin de requête inattendue",
        "annee = = 1": "« = » inattendu à la position 9",
        "annee = 1 ;": "Caractère « ; » inattendu à la position 11",
        "nope = 1": "Champ inconnu : nope",
        "annee = 99999999999999999999999": "Valeur invalide : entier hors limites : 99999999999999999999999",
        "date'2020-13-45' = annee": "Date invalide : 2020-13-45",
        "x" * 20_001: "Le texte dépasse 20000 caractères",
    }
    for where, french in cases.items():
        with pytest.raises(odsql.ODSQLError) as refused:
            odsql.compile_plan(odsql.Query(where=[where]), fields, None)
        assert refusal(refused.value.message, "fr") == f"{french} (dans la recherche).", refused.value.message


def test_unknown_messages_fall_back_to_a_french_sentence_with_the_original():
    odsql = "ODSQL query is malformed: Something new {x}. Clause(s) containing the error(s): where."
    assert refusal(odsql, "fr") == f"La requête a été refusée. Message d'origine : {odsql}"
    assert refusal("Quota exceeded.", "fr") == "La requête a été refusée. Message d'origine : Quota exceeded."
    assert refusal(odsql, "en") == "Something new {x} (in the search)."  # the English detail, without the envelope
    assert refusal("Quota exceeded.", "en") == "Quota exceeded."
    unknown_clause = "ODSQL query is malformed: Unknown field: x Clause(s) containing the error(s): facet."
    assert refusal(unknown_clause, "fr") == "Champ inconnu : x (dans la clause facet)."


def test_chart_settings_keep_only_what_the_form_offers(client):
    """chart.js writes chart.* into its API query: an edited link would draw only the API's
    English refusal, so what the form does not offer falls back to its default."""
    analyze = "/explore/dataset/logements/analyze/"
    page = client.get(analyze, params={"chart.type": "evil", "chart.x": "annee", "chart.bucket": "week",
                                       "chart.y": "median", "chart.yfield": "nope", "chart.series": "nope"})
    assert page.status_code == 200
    config = chart_config(page.text)
    assert config == {"type": "column", "x": "annee", "bucket": "year", "y": "count", "yfield": "", "series": ""}
    kept = {"chart.type": "line", "chart.x": "bs", "chart.bucket": "month", "chart.y": "sum", "chart.yfield": "annee",
            "chart.series": "bs"}
    config = chart_config(client.get(analyze, params=kept).text)
    assert config == {k.removeprefix("chart."): v for k, v in kept.items()}
