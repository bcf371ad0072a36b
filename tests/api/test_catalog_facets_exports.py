"""The catalogue's facets and exports in the Explore API v2.1 against Opendatasoft's documented behaviour: the
catalogue exports write instants in the asked ``timezone`` as ``/catalog/datasets`` does, the
catalogue's date facets honour ``facet(sort=, limit=)``, and a dataset restricted to a group
counts nowhere for a caller outside it (totals, groups, facets, exports)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.auth import services as auth
from portail.catalog import services
from tests.conftest import Published, published_instance, semicolon_csv

API = "/api/explore/v2.1/catalog"
#: slug, modified (UTC), keywords; ``secret`` is restricted to the group ``agents``, ``arbres``
#: renamed ``arbres-remarquables``
DATASETS = [
    ("velos", datetime(2024, 5, 3, 8, 0, tzinfo=timezone.utc), ["mobilité", "vélo"]),
    ("bus", datetime(2024, 1, 15, 23, 30, tzinfo=timezone.utc), ["mobilité"]),
    ("budget", datetime(2023, 11, 20, 12, 0, tzinfo=timezone.utc), ["finances"]),
    ("arbres", datetime(2022, 7, 1, 6, 0, tzinfo=timezone.utc), []),
    ("secret", datetime(2021, 3, 1, 12, 0, tzinfo=timezone.utc), ["mobilité", "confidentiel"]),
]


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    folder = tmp_path_factory.mktemp("catalog_facets_exports")
    instance = published_instance(folder / "home", *(
        Published(slug, semicolon_csv(folder / f"{slug}.csv", [{"nom": slug, "n": "1"}]), title=f"Jeu {slug}",
                  metadata={"keywords": keywords} if keywords else {})
        for slug, _, keywords in DATASETS))
    with instance.session() as s:
        services.rename_dataset(s, services.get_dataset(s, "arbres"), "arbres-remarquables")
    with instance.session() as s:
        for slug, modified, _ in DATASETS:  # a former id (arbres) still names its dataset
            services.get_dataset(s, slug).modified = modified
        auth.set_dataset_security(s, services.get_dataset(s, "secret"), visibility="restricted")
        member = auth.create_user(s, "agent", role="viewer")
        auth.add_member(s, auth.create_group(s, "agents"), member)
        auth.grant(s, services.get_dataset(s, "secret"), "group", "agents")
        key = auth.create_api_key(s, member)[1]
    yield TestClient(create_app(instance)), {"Authorization": f"Apikey {key}"}
    instance.store.close()


def _get(client, path: str, headers=None, **params):
    response = client.get(f"{API}{path}", params=params, headers=headers or {})
    assert response.status_code == 200, response.text
    return response


def test_catalogue_exports_write_instants_in_the_asked_timezone(catalogue):
    """A whole dataset object in the JSON export (no select) carried its metas' instants in UTC
    whatever ``timezone`` said, while ``/catalog/datasets`` and a select in the same export wrote
    them with the zone's offset."""
    client, _ = catalogue
    params = {"timezone": "Europe/Paris", "order_by": "dataset_id", "where": "dataset_id='bus'"}
    listed = _get(client, "/datasets", **params).json()["results"][0]
    exported = _get(client, "/exports/json", **params).json()[0]
    assert exported["metas"]["default"]["modified"] == listed["metas"]["default"]["modified"] \
        == "2024-01-16T00:30:00+01:00"
    assert exported["metas"]["dcat"]["created"] == listed["metas"]["dcat"]["created"]
    selected = _get(client, "/exports/json", select="modified", **params).json()
    assert selected == [{"modified": "2024-01-16T00:30:00+01:00"}]
    row = next(csv.DictReader(io.StringIO(_get(client, "/exports/csv", select="*", **params).text.lstrip("\ufeff")),
                              delimiter=";"))
    assert '"modified": "2024-01-16T00:30:00+01:00"' in row["metas"]


def _entries(client, facet: str, headers=None, **params) -> list[tuple[str, int | None]]:
    """A facet's top-level (value, count) pairs, in order."""
    body = _get(client, "/facets", headers, facet=facet, **params).json()
    return [(e["value"], e.get("count")) for e in body["facets"][0]["facets"]]  # an excluded value has no count


def test_catalogue_date_facets_follow_their_sort_and_limit(catalogue):
    """``facet(name="modified", sort=…, limit=…)`` was ignored on the catalogue (every year,
    newest first, whatever was asked), where the dataset facets and Opendatasoft's reference
    order and cut a date facet as asked; each refined level follows them too."""
    client, _ = catalogue
    assert _entries(client, 'facet(name="modified", sort="alphanum")') == [("2022", 1), ("2023", 1), ("2024", 2)]
    assert _entries(client, 'facet(name="modified", sort="-alphanum")') == [("2024", 2), ("2023", 1), ("2022", 1)]
    # calendar order by default, as the dataset facets and Opendatasoft (test_date_facet_order.py)
    assert _entries(client, 'facet(name="modified", limit=1)') == [("2022", 1)]
    assert _entries(client, "modified") == [("2022", 1), ("2023", 1), ("2024", 2)]
    refined = _get(client, "/facets", facet='facet(name="modified", sort="alphanum")',
                   refine="modified:2024").json()["facets"][0]["facets"]
    assert [(e["value"], e["state"]) for e in refined] == [("2024", "refined")]
    assert [m["value"] for m in refined[0]["facets"]] == ["2024/01", "2024/05"]
    cut = _get(client, "/facets", facet='facet(name="modified", sort="-alphanum", limit=1)',
               refine="modified:2024").json()["facets"][0]["facets"]
    assert [m["value"] for m in cut[0]["facets"]] == ["2024/05"]


def test_a_restricted_dataset_counts_only_for_its_group(catalogue):
    """Totals, groups, facet counts (refine and exclude together) and exports count the datasets
    the caller sees: the member of ``agents`` sees ``secret``, anonymous callers do not."""
    client, member = catalogue
    for headers, seen in ((None, 4), (member, 5)):
        assert _get(client, "/datasets", headers, limit=0).json()["total_count"] == seen
        groups = _get(client, "/datasets", headers, group_by="keyword", select="count(*) as n").json()["results"]
        assert {g["keyword"]: g["n"] for g in groups}["mobilité"] == seen - 2
        keywords = dict(_entries(client, "keyword", headers, refine="keyword:mobilité", exclude="keyword:vélo"))
        assert keywords == {"mobilité": seen - 3, "vélo": None} | ({} if seen == 4 else {"confidentiel": 1})
        assert len(_get(client, "/exports/json", headers, select="dataset_id").json()) == seen
        years = {"2024": 2, "2023": 1, "2022": 1} | ({} if seen == 4 else {"2021": 1})
        assert dict(_entries(client, "modified", headers)) == years
    assert "secret" not in _get(client, "/exports/csv").text
    assert "confidentiel" not in _get(client, "/exports/rss").text + _get(client, "/exports/ttl").text
    assert client.get(f"{API}/datasets/secret").status_code == 404


@pytest.mark.parametrize("api, format, syntax", [("v2.1", "ttl", "turtle"), ("v2.1", "jsonld", "json-ld"),
                                                 ("v2.0", "ttl", "turtle")])
def test_dcat_paging_links_stay_on_the_export_asked(catalogue, api, format, syntax):
    """Hydra's next page of a Turtle or JSON-LD catalogue named v2.1's RDF/XML ``dcat`` export
    whatever was asked: a harvester walking Turtle pages was handed RDF/XML at page 2."""
    from rdflib import Graph, URIRef

    client, _ = catalogue
    hydra = "http://www.w3.org/ns/hydra/core#"
    response = client.get(f"/api/explore/{api}/catalog/exports/{format}", params={"page_size": 2, "where": "records_count=1"})
    assert response.status_code == 200, response.text
    graph = Graph().parse(data=response.text, format=syntax)
    view = next(graph.subjects(URIRef(hydra + "next"), None))
    following = urlsplit(str(graph.value(view, URIRef(hydra + "next"))))
    assert following.path == f"/api/explore/{api}/catalog/exports/{format}"
    assert following.query == "where=records_count%3D1&page_size=2&page=2"
    second = client.get(f"{following.path}?{following.query}")
    assert second.status_code == 200 and second.headers["content-type"] == response.headers["content-type"]


def test_catalogue_refinements_read_values_as_their_type(catalogue):
    """``refine=has_records:True`` kept no dataset (the text ``True`` against ``true``) and
    ``has_records:yes`` answered an empty catalogue, where a dataset's records refine a boolean
    or a number by its value (``True``, ``1``, ``013``) and refuse one the type cannot hold."""
    client, _ = catalogue
    for refine in ("has_records:True", "has_records:1", "records_count:01", "records_count:1"):
        assert _get(client, "/datasets", refine=refine, limit=0).json()["total_count"] == 4, refine
    assert _get(client, "/datasets", exclude="has_records:TRUE", limit=0).json()["total_count"] == 0
    facet = _get(client, "/facets", facet="has_records", refine="has_records:True").json()["facets"][0]["facets"]
    assert facet == [{"name": "true", "value": "true", "count": 4, "state": "refined"}]
    for path in ("/datasets", "/facets", "/exports/json"):
        wrong = client.get(f"{API}{path}", params={"refine": "has_records:yes"})
        assert wrong.status_code == 400 and wrong.json()["error_code"] == "InvalidRESTParameterError", wrong.text


def test_catalogue_lists_an_excluded_date_at_its_level(catalogue):
    """An excluded month was listed among the years (``{"name": "2024/01", …}``) where the
    dataset facets list it under its year when that year is refined, and nowhere otherwise."""
    client, _ = catalogue
    years = _get(client, "/facets", facet="modified", exclude="modified:2023/11").json()["facets"][0]["facets"]
    assert [(e["value"], e["state"]) for e in years] == [("2022", "displayed"), ("2024", "displayed")]
    year = _get(client, "/facets", facet="modified", refine="modified:2024",
                exclude="modified:2024/01").json()["facets"][0]["facets"]
    assert [(e["value"], e["state"]) for e in year] == [("2024", "refined")]
    assert year[0]["facets"] == [{"name": "05", "value": "2024/05", "count": 1, "state": "displayed"},
                                 {"name": "01", "value": "2024/01", "state": "excluded"}]
    assert _entries(client, "modified", exclude="modified:2022") == [("2023", 1), ("2024", 2), ("2022", None)]


def test_export_formats_of_a_renamed_dataset_name_its_id(catalogue):
    """A dataset asked by a former id listed its export formats at that former id, where its
    facets, attachments and own links name the id it has now."""
    client, _ = catalogue
    links = _get(client, "/datasets/arbres/exports").json()["links"]
    assert len(links) > 3
    assert all(link["href"].startswith("http://testserver/api/explore/v2.1/catalog/datasets/arbres-remarquables/exports")
               for link in links), links
