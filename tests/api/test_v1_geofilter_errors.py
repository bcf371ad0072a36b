"""A v1 geofilter the compiler would refuse is refused as the parameter the caller sent, not as
an error of an ODSQL ``where`` clause that no v1 caller wrote: ``geofilter.distance``,
``geofilter.polygon`` or ``geofilter.bbox`` with a latitude past a pole, or a negative radius,
is a 400 ``InvalidRESTParameterError`` naming that parameter, on every records route; so is ``q``'s
``#distance``/``#polygon``. Longitudes are read around the globe and stay valid."""

from __future__ import annotations

import pytest

from tests.conftest import logements_client

ROUTES = ("/api/records/1.0/search/", "/api/records/1.0/download/", "/api/records/1.0/analyze/",
          "/api/records/1.0/geocluster/", "/api/records/1.0/geopreview/", "/api/records/1.0/boundingbox/")
REFUSED = [("geofilter.distance", "95,2.35,1000"), ("geofilter.distance", "48.85,2.35,-5"),
           ("geofilter.distance", "-90.5,2.35"), ("geofilter.polygon", "(48.8,2.3),(95,2.4),(48.9,2.4)"),
           ("geofilter.polygon", "((-91,2.3),(48.9,2.3),(48.9,2.4))"), ("geofilter.bbox", "95,2.2,48.8,2.5"),
           ("geofilter.bbox", "48.8,2.2,-90.01,2.5")]


@pytest.fixture(scope="module")
def client(tmp_path_factory, refdata):
    with logements_client(tmp_path_factory, refdata, "v1geoerrors") as client:
        yield client


def refusal(client, path: str, **params) -> str:
    response = client.get(path, params={"dataset": "logements", "y.n.func": "COUNT", "x": "annee", "clusterprecision": 5,
                                        **params})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error_code"] == "InvalidRESTParameterError", body
    assert "where" not in body["error"]
    return body["error"]


@pytest.mark.parametrize(("name", "value"), REFUSED)
def test_a_geofilter_error_names_its_parameter(client, name, value):
    for path in ROUTES:
        assert refusal(client, path, **{name: value}).startswith(f"Invalid value for {name} API parameter: ")


def test_q_geo_functions_name_q(client):
    for q in ("#distance(95,2.35,1000)", '#polygon(geo_point_2d, "(48.8,2.3),(-95,2.4),(48.9,2.4)")'):
        assert refusal(client, "/api/records/1.0/search/", q=q).startswith("Invalid value for q API parameter")


@pytest.mark.parametrize("params", [{"geofilter.distance": "90,2.35,0"}, {"geofilter.distance": "48.85,362.35,500"},
                                    {"geofilter.polygon": "(-90,2.3),(90,2.3),(48.9,2.4)"},
                                    {"geofilter.bbox": "-90,170,90,190"}, {"q": "annee>=2020 AND annee:\"2021\""}])
def test_edges_stay_valid(client, params):
    response = client.get("/api/records/1.0/search/", params={"dataset": "logements", **params})
    assert response.status_code == 200, response.text
