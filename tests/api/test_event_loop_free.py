"""The event loop stays free while a heavy answer is written: every route registered through
``api.params.query_route`` (v1's search, geocluster, geopolygon, geopreview, boundingbox,
analyze, the catalogue's…) hands FastAPI a written ``Response``, never a plain body, which
FastAPI would walk with ``jsonable_encoder`` and dump on the loop (a 6 MB geopolygon answer
held ``/api/health`` for 2 s). And the body is byte for byte what FastAPI would have written.

Why structural and not a lag probe: how long the loop stalls depends on the machine and on
what else runs (timings belong to the benchmarks); what the endpoint coroutine returns — the
thing that decides where the writing runs — does not. The endpoints are the real app's, called
with a real request, as Starlette calls them; the data is the communes of Île-de-France (1,276
shapes), so that the long lists ``serialize.json_response`` writes in slices are exercised.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.routing import Match
from starlette.responses import Response

from portail.api import create_app
from portail.api.explore import explore_router
from portail.api.serialize import JSONAnswer, json_response
from portail.api.v1 import v1_router
from tests.conftest import Published, logements_file, published_instance

V1 = "/api/records/1.0/"
#: Heavy and light answers of the routes ``query_route`` registers, plain JSON and JSONP.
CALLS = [
    (V1 + "geocluster/", {"dataset": "communes", "clusterprecision": 9, "clustermode": "polygon",
                          "return_polygons": "true"}),
    (V1 + "geocluster/", {"dataset": "logements", "clusterprecision": 12}),
    (V1 + "geopolygon/", {"dataset": "communes"}),
    (V1 + "geopolygon/", {"dataset": "communes", "clusterprecision": 10, "callback": "draw"}),
    (V1 + "geopreview/", {"dataset": "communes", "rows": 1000}),
    (V1 + "boundingbox/", {"dataset": "communes"}),
    (V1 + "search/", {"dataset": "communes", "rows": 500, "facet": "nom"}),
    (V1 + "search/", {"dataset": "logements", "rows": 200, "format": "geojson"}),
    (V1 + "analyze/", {"dataset": "logements", "x": "annee", "y.n.func": "COUNT"}),
    ("/api/datasets/1.0/search/", {"rows": 10}),
    ("/api/datasets/1.0/communes/", {}),
    ("/api/explore/v2.1/catalog/datasets/communes", {}),
    ("/api/explore/v2.1/catalog/datasets/communes/records", {"limit": 100}),
]


@pytest.fixture(scope="module")
def app(tmp_path_factory, refdata):
    instance = published_instance(
        tmp_path_factory.mktemp("loop") / "home",
        Published("communes", refdata / "geo" / "communes-ile-de-france.geojson", "Communes d'Île-de-France"),
        Published("logements", logements_file(refdata), "Logements sociaux"))
    yield create_app(instance)
    instance.store.close()


#: The routers the app includes for its public portal, by the prefix it mounts them under.
ROUTERS = {"/api/explore/v2.1": explore_router("public"), "": v1_router("public")}


def endpoint_answer(app, path: str, params: dict) -> object:
    """What the route's endpoint coroutine gives FastAPI for ``GET path?params``, called as
    Starlette calls it, on the app's data: the value FastAPI then writes on the event loop if it
    is not a ``Response`` already."""
    prefix = next(p for p in ROUTERS if path.startswith(p))
    scope = {"type": "http", "method": "GET", "path": path[len(prefix):], "root_path": "",
             "query_string": urlencode(params).encode(), "headers": [(b"host", b"testserver")],
             "scheme": "http", "server": ("testserver", 80), "client": ("127.0.0.1", 50000), "app": app}
    for route in ROUTERS[prefix].routes:
        matched, child = route.matches(scope)
        if matched == Match.FULL and isinstance(route, APIRoute):
            scope.update(child, path=path)
            return asyncio.run(route.endpoint(Request(scope)))
    raise AssertionError(f"no route for {path}")


def fastapi_written(body: bytes) -> bytes:
    """The same values as FastAPI's default response class (``JSONAnswer``) writes a plain body."""
    return JSONAnswer(jsonable_encoder(json.loads(body))).body


@pytest.mark.parametrize(("path", "params"), CALLS, ids=lambda v: v if isinstance(v, str) else "")
def test_answers_are_written_in_the_worker_thread_byte_for_byte(app, path, params):
    answer = endpoint_answer(app, path, params)
    assert isinstance(answer, Response), f"{path} hands FastAPI a {type(answer).__name__} to write on the event loop"
    assert answer.status_code == 200
    if "callback" in params:
        head, _, rest = answer.body.partition(b"(")
        assert head == b"/**/" + params["callback"].encode() and rest.endswith(b");")
        assert rest[:-2] == json.dumps(json.loads(rest[:-2])).encode()  # ASCII, Python's default separators
    else:
        assert answer.headers["content-type"] == "application/json; charset=utf-8"
        assert answer.body == fastapi_written(answer.body)


def test_bodies_with_long_lists_are_written_as_one_call_would_write_them():
    """``json_response`` writes long lists in slices (the GIL let go between them): the text is
    the one ``json.dumps`` gives, wherever the long lists are and whatever their length."""
    shape = {"type": "Polygon", "coordinates": [[[2.35, 48.85], [2.36, 48.86], [2.35, 48.85]]]}
    for n in (0, 1, 99, 100, 101, 250, 1001):
        items = [{"geometry": shape, "nom": f"Commune n°{i} — Île", "n": i, "x": i / 7} for i in range(n)]
        bodies = [items, {"nhits": n, "records": items, "parameters": {"q": "é"}},
                  {"results": {"inner": items}, "clusters": items},  # a long list two levels down, and one
                  {1: items, "records": items}, [[items]],  # keys json.dumps converts; a list in a list
                  {"d": date(2024, 2, 29), "v": Decimal("1.50"), "records": items}]  # through jsonable_encoder
        for body in bodies:
            expected = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                                  default=jsonable_encoder)
            assert json_response(body).body == expected.encode()
    # JSON has no NaN: null, as the exports write it (FastAPI's encoder refused it: a 500)
    assert json_response({"records": [{"x": float("nan")}] * 300}).body == \
        json.dumps({"records": [{"x": None}] * 300}, separators=(",", ":")).encode()
