"""The map tab of the demo's communes (a point per commune from the real reference file, built
by the same ``geopoint`` pipeline step as ``portail demo``), server-side: a filter that leaves
no record says so, with a way out, rather than drawing an empty map that read "0 enregistrement
affiché" (the table tab said "Aucun enregistrement à afficher.")."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app
from portail.catalog import services
from portail.operations import load_file
from tests.communes_map import MAP, PIPELINE, first_communes

@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    from tests.conftest import make_instance

    tmp = tmp_path_factory.mktemp("web-map-points")
    first_communes(refdata, tmp / "communes.csv", 400)
    instance = make_instance(tmp / "home")
    with instance.session() as s:
        dataset = services.create_dataset(s, "communes-france", "Communes de France")
        services.set_pipeline(s, dataset, PIPELINE)
        services.set_field_override(s, dataset, "insee_reg", label="Région", annotations={"facet": []})
    load_file(instance, "communes-france", tmp / "communes.csv", publish=True)
    yield TestClient(create_app(instance))
    instance.store.close()


def test_a_filter_with_no_record_says_so_instead_of_an_empty_map(client):
    html = client.get(MAP, params={"refine.insee_reg": "99"}).text
    assert '<p id="no-records">Aucun enregistrement à afficher. <a href="?">Effacer les filtres</a></p>' in html
    assert 'id="map"' not in html and "maplibre-gl.js" not in html and "map.js" not in html  # nothing loaded for nothing
    english = client.get(MAP, params={"refine.insee_reg": "99", "lang": "en"}).text
    assert "No records to show." in english and 'id="map"' not in english


def test_a_filter_with_records_still_draws_the_map(client):
    html = client.get(MAP, params={"refine.insee_reg": "84"}).text
    assert 'id="map"' in html and "/static/map.js" in html and 'id="no-records"' not in html
