"""The leak matrix: every GET endpoint of the app × every kind of caller × both portals.

The endpoints come from the app's route table: a GET route that ``ROUTES`` does not classify
fails ``test_every_get_route_is_classified``, so a new endpoint cannot ship without saying what
it may reveal. For each caller (see ``conftest``), every probe of every endpoint is requested
(under v2.0's second prefix and at a route's trailing-slash twin, a sample: ``probes_at``) and its body (binary exports decoded:
Parquet, XLSX, Shapefile, FlatGeobuf, KML, GPX, ov2) checked:

- callers for whom the restricted dataset does not exist get exactly the answer a dataset that
  never existed gets (same status, same body), and no canary;
- the record-filtered caller never receives a row outside its filter (row canaries);
- the field-restricted caller never receives the hidden field's name or values, and an error
  about the hidden field reads exactly as one about a field that does not exist;
- expired and revoked keys get 401 everywhere; the private portal answers anonymous callers
  with 401 (APIs) or a redirect to its login page (pages);
- callers allowed everything do receive the canaries from the probes marked as revealing, so
  the probes are proved able to catch a leak.

The public portal's half runs here, the private portal's in ``test_leak_matrix_internal``: two
files, so that ``pytest -n 2 --dist loadfile`` hands them to both workers.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import json
import math
import re
import tempfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from portail.api.catalog_exports import CATALOG_FORMATS
from portail.api.explore_v20 import V20_PREFIXES, explore_router
from portail.exports import FORMATS
from tests.security.conftest import ALLOWED_CP, ATTACHMENT_TITLE, HIDDEN, META, MANAGEMENT_TOKEN, OPEN, SECRET, SECRET_TITLE

TWIN = "zz-jamais-existe"  # a dataset that never existed: restricted ones must be indistinguishable from it
NO_FIELD = "champ_inexistant_zz"  # a field that never existed: hidden fields must be indistinguishable from it
PORTALS = {"public": "", "internal": "/interne"}
GROUP = {"group_by": "code_postal", "select": "code_postal, count(*) as n"}


@dataclass(frozen=True)
class Probe:
    params: dict = field(default_factory=dict)
    fmt: str | None = None  # how to decode the body
    reveals: bool = False  # callers seeing everything must find a canary here
    values: tuple = ()  # substitutions for the path ({format}, {tab}, …)


def _records() -> list[Probe]:
    return [Probe({"limit": 100}), Probe({"where": f'code_postal != "{ALLOWED_CP}"', "limit": 100}),
            Probe({"select": HIDDEN, "limit": 100}), Probe(GROUP), Probe({"refine": "code_postal:75020", "limit": 100}),
            Probe({"include_links": "true", "limit": 100}), Probe({"after": "", "limit": 1000}, reveals=True),
            Probe({"where": f'{HIDDEN} like "RUE"', "limit": 100}), Probe({"order_by": f"{HIDDEN} desc"}),
            Probe({"qv1": f"({HIDDEN}:RUE) OR (code_postal:{ALLOWED_CP})", "limit": 100})]  # v1's q over v2.1


def _join(remote: str, fields: str) -> dict[str, str]:
    """v1 analyze's join of the analysed dataset's postcodes to ``remote``'s (``api.v1_join``)."""
    return {"join.j.remotedataset": remote, "join.j.localkey": "code_postal", "join.j.remotekey": "code_postal",
            "join.j.fields": fields}


def _exports(every_format: bool) -> list[Probe]:
    """Export probes: every writer (``every_format``: v2.1's public route), else CSV and GeoJSON
    (the internal portal's routes and v2.0's, which hand their query to the same
    ``export_answer`` and writers)."""
    names = list(FORMATS) if every_format else ["csv", "geojson"]
    # The secret records hold no date: the calendar's events start at one the select computes.
    given = {"ical": {"select": "*, date'2024-01-01' as jour"}}
    probes = [Probe(given.get(name, {}), fmt=name, reveals=name not in ("gpx", "ov2"), values=(("format", name),))
              for name in names]
    if every_format:  # the waypoint formats write the fields named (a hidden one is unknown)
        probes += [Probe({"name_field": HIDDEN}, fmt="ov2", reveals=True, values=(("format", "ov2"),)),
                   Probe({"description_field_list": f"code_postal,{HIDDEN}", "use_extension": "false"}, fmt="gpx",
                         reveals=True, values=(("format", "gpx"),))]
    return probes + [Probe({"select": HIDDEN}, fmt="csv", values=(("format", "csv"),)),
                     Probe(GROUP, fmt="csv", values=(("format", "csv"),)),
                     Probe({"where": f'code_postal != "{ALLOWED_CP}"'}, fmt="json", reveals=True,
                           values=(("format", "json"),))]


def _records_v20() -> list[Probe]:
    """v2.0's records: v2.1's probes but the cursor (v2.0 has no ``after``: pages of 100 at
    most, the file's first page holds canaries, so the first probe, ``limit=100``, reveals) and
    ``qv1`` naming the hidden field (a word there, which v2.0's links echo back as the caller
    wrote it), and grouping by the hidden field."""
    first, *others = _records()
    assert first.params == {"limit": 100}
    return [Probe(first.params, reveals=True),
            *(p for p in others if "after" not in p.params and "qv1" not in p.params),
            Probe({"group_by": HIDDEN, "select": f"{HIDDEN}, count(*) as n", "limit": 100})]


#: v2.0's aggregates: every group at once (``limit=-1``), so grouping by the hidden text field
#: lists every address the caller may see.
AGGREGATES = [Probe(GROUP), Probe({"select": "count(*) as n", "group_by": HIDDEN}, reveals=True),
              Probe({"select": "count(*) as n", "group_by": "code_postal", "where": f'{HIDDEN} like "RUE"'}),
              Probe({"select": f"max({HIDDEN}) as m", "group_by": "code_postal"})]
#: Explore API v2.0 (``api/explore_v20.py``) under each of its prefixes: v2.1's probes where
#: its parameters are v2.1's, its own where they differ.
V20_ROUTES = {"": "no_data", "/catalog": "no_data", "/catalog/datasets": "catalog", "/catalog/datasets/{dataset_id}": "dataset",
              "/catalog/datasets/{dataset_id}/records": "v20_records",
              "/catalog/datasets/{dataset_id}/records/{record_id}": "record",
              "/catalog/datasets/{dataset_id}/aggregates": "aggregates",
              "/catalog/datasets/{dataset_id}/facets": "facets",
              "/catalog/datasets/{dataset_id}/attachments": "attachments",
              "/catalog/datasets/{dataset_id}/attachments/{attachment_id}": "attachment",
              "/catalog/datasets/{dataset_id}/exports": "dataset",
              "/catalog/datasets/{dataset_id}/exports/{format}": "v20_export",
              "/catalog/aggregates": "catalog_aggregates", "/catalog/facets": "catalog_facets",
              "/catalog/exports": "catalog", "/catalog/exports/{format}": "catalog_export",
              # the 2021 query routes (QGIS): v2.1's flat answers
              "/catalog/query": "catalog", "/catalog/datasets/{dataset_id}/query": "records"}

#: Every GET route, relative to its portal's root (or absolute for instance-wide ones): its probes.
ROUTES: dict[str, str] = {
    "/api/explore/v2.1/catalog/datasets": "catalog",
    "/api/explore/v2.1/catalog/datasets/{dataset_id}": "dataset",
    "/api/explore/v2.1/catalog/datasets/{dataset_id}/records": "records",
    "/api/explore/v2.1/catalog/datasets/{dataset_id}/records/{record_id}": "record",
    "/api/explore/v2.1/catalog/datasets/{dataset_id}/facets": "facets",
    "/api/explore/v2.1/catalog/datasets/{dataset_id}/attachments": "attachments",
    "/api/explore/v2.1/catalog/datasets/{dataset_id}/attachments/{attachment_id}": "attachment",
    "/api/explore/v2.1/catalog/datasets/{dataset_id}/exports": "dataset",
    "/api/explore/v2.1/catalog/datasets/{dataset_id}/exports/{format}": "export",
    "/api/explore/v2.1/catalog/facets": "catalog_facets",
    "/api/explore/v2.1/catalog/exports": "catalog",
    "/api/explore/v2.1/catalog/exports/{format}": "catalog_export",
    "/api/records/1.0/search": "v1_records",
    "/api/records/1.0/download": "v1_download",
    "/api/records/1.0/analyze": "v1_analyze",
    "/api/records/1.0/geocluster": "v1_geocluster",
    "/api/records/1.0/geopreview": "v1_geopreview",
    "/api/records/1.0/boundingbox": "v1_boundingbox",
    "/api/records/1.0/geopolygon": "v1_geopolygon",
    "/api/datasets/1.0/search": "catalog",
    "/api/reuses": "no_data",  # always empty: no reuses are kept
    "/api/datasets/1.0/{dataset_id}": "dataset",
    "/api/datasets/1.0/{dataset_id}/records/{record_id}": "record",
    "/api/datasets/1.0/{dataset_id}/attachments/{attachment_id}": "attachment",  # harvesters' links
    "/": "page",
    "/explore": "page",
    "/explore/dataset/{dataset_id}": "dataset",
    "/explore/dataset/{dataset_id}/{tab}": "tabs",
    "/explore/dataset/{dataset_id}/download": "download_link",  # the v1 download, behind the APIs' gate
    # The API's and the catalogue's roots: links to sub-resources, no dataset data.
    "/api/explore/v2.1": "no_data",
    "/api/explore/v2.1/catalog": "no_data",
    # Instance-wide, no dataset data: documentation and health.
    "/api/explore/v2.1/swagger.json": "no_data",
    "/api/docs": "no_data",
    "/api/health": "no_data",
    **{prefix + path: kind for prefix in ("/api/v2", "/api/explore/v2.0") for path, kind in V20_ROUTES.items()},
}
#: Sign-in pages (built in ``web/auth_routes.py``) and the OAuth2 consent page show no dataset data.
NO_DATA_PATTERN = re.compile(r"/(login|logout|auth|oauth2|oidc|reset-password|password|sessions?|account)(/|$)")
MANAGEMENT = "/api/management/v1"


def get_routes(app) -> list[str]:
    """Every GET path of the app, included routers flattened."""
    from fastapi import routing

    paths = []
    for route, context in routing._iter_routes_with_context(app.routes):
        path = context.path if context is not None else getattr(route, "path", None)
        methods = (context.methods if context is not None else getattr(route, "methods", None)) or set()
        if path is not None and "GET" in methods:
            paths.append(path)
    return sorted(set(paths))


def split(path: str) -> tuple[str | None, str]:
    """(portal id, path relative to it) — the longest matching prefix; None for instance-wide paths."""
    for portal, root in sorted(PORTALS.items(), key=lambda item: -len(item[1])):
        if root and (path == root or path.startswith(root + "/")):
            return portal, path[len(root):] or "/"
    return "public", path


def classify(path: str) -> str | None:
    """The probe kind of a GET path; None: unclassified."""
    if path.startswith(MANAGEMENT):
        return "management"
    if NO_DATA_PATTERN.search(path):
        return "no_data"
    return ROUTES.get(split(path)[1].rstrip("/") or "/")


def test_every_get_route_is_classified(matrix):
    unclassified = [p for p in get_routes(matrix.client.app) if classify(p) is None]
    assert not unclassified, f"classify these GET routes in tests/security/test_leak_matrix.py: {unclassified}"
    relative = {split(p)[1].rstrip("/") or "/" for p in get_routes(matrix.client.app)}
    assert set(ROUTES) <= relative | {"/api/docs"}, "ROUTES names a route the app no longer has"


def probes(kind: str, portal: str) -> list[Probe]:
    return {
        "catalog": [Probe(), Probe({"limit": 100})],
        "catalog_facets": [Probe(), Probe({"facet": "theme"}), Probe({"facet": "dataset_id"}), Probe({"facet": "title"}),
                           Probe({"facet": "publisher", "where": 'title like "confidentiels"'})],
        "dataset": [Probe(), Probe({"include_links": "true"})],
        "records": _records(),
        "v20_records": _records_v20(),
        "aggregates": AGGREGATES,
        "catalog_aggregates": [Probe({"select": "count(*) as n", "group_by": "title"}),
                               Probe({"select": "count(*) as n", "group_by": "dataset_id", "where": 'title like "QZXW"'})],
        "v20_export": _exports(False) + [Probe({}, fmt="xlsx", reveals=True, values=(("format", "xls"),))],
        "record": [Probe(), Probe({"select": HIDDEN})],
        "facets": [Probe({"facet": "code_postal"}), Probe({"facet": HIDDEN}),
                   Probe({"facet": "code_postal", "refine": "code_postal:75020"}),
                   Probe({"facet": "code_postal", "where": f'{HIDDEN} like "RUE"'})],
        "attachments": [Probe()],
        "attachment": [Probe()],
        "export": _exports(portal == "public"),
        "catalog_export": [Probe({}, fmt=name, values=(("format", name),)) for name in CATALOG_FORMATS],
        "v1_records": [Probe({"dataset": SECRET, "rows": 100}, reveals=True),
                       Probe({"dataset": SECRET, "rows": 100, "refine.code_postal": "75020"}),
                       Probe({"dataset": SECRET, "rows": 10, "facet": "code_postal", "q": "RUE"}),
                       Probe({"dataset": SECRET, "rows": 10, "fields": HIDDEN}),
                       Probe({"dataset": SECRET, "rows": 10, "sort": HIDDEN})],
        # the search's filters are probed on v1_records: the same conditions feed both
        "v1_download": [Probe({"dataset": SECRET}, fmt="csv", reveals=True),
                        Probe({"dataset": SECRET, "format": "json", "q": "annee>=2001"}, reveals=True),
                        Probe({"dataset": SECRET, "fields": HIDDEN})],
        "download_link": [Probe({}, fmt="csv", reveals=True), Probe({"format": "json", "q": "annee>=2001"}, reveals=True),
                          Probe({"fields": HIDDEN}),
                          # every export format besides (harvesters link the Shapefile here)
                          Probe({"format": "shp"}, fmt="shp", reveals=True), Probe({"format": "xls"}, fmt="xlsx", reveals=True)],
        # the hidden text field as x puts row text in the points
        "v1_analyze": [Probe({"dataset": SECRET, "x": HIDDEN, "y.n.func": "COUNT"}, reveals=True),
                       Probe({"dataset": SECRET, "x": ["code_postal", HIDDEN], "sort": "n", "y.n.func": "COUNT"},
                             reveals=True),
                       Probe({"dataset": SECRET, "x": "code_postal", "y.n.func": "MAX", "y.n.expr": "nb_logmt_total",
                              "refine.code_postal": "75020", "q": "RUE"}),
                       Probe({"dataset": SECRET, "x": "annee", "y.n.func": "SUM", "y.n.expr": HIDDEN}),
                       # no x: one point over every record the caller may see
                       Probe({"dataset": SECRET, "y.n.func": "MAX", "y.n.expr": HIDDEN, "y.c.func": "COUNT"}),
                       Probe({"dataset": SECRET, "x": f"{HIDDEN}.year", "y.n.func": "COUNT"}),
                       Probe({"dataset": SECRET, "x": "code_postal", "y.q.func": "QUANTILES", "y.q.expr": HIDDEN}),
                       # a sort key naming no x and no serie is left out: the hidden field's too
                       Probe({"dataset": SECRET, "x": "code_postal", "y.n.func": "COUNT", "sort": f"-{HIDDEN},x",
                              "maxpoints": "3"}),
                       # a join writes the remote records' fields in the points: the remote is read as
                       # the caller may read it (the open regions' points joined to the secret rows)
                       Probe({"dataset": SECRET, "y.n.func": "COUNT", **_join(SECRET, HIDDEN)}, reveals=True),
                       Probe({"dataset": OPEN, "y.n.func": "COUNT", **_join(SECRET, "code_postal"),
                              "join.j.localkey": "reg", "join.j.remotekey": "annee"})],
        # a series of the hidden text field puts row text in the clusters (zoomed in: a record each)
        "v1_geocluster": [Probe({"dataset": SECRET, "clusterprecision": 20, "clusterdistance": 1, "y.a.func": "MAX",
                                 "y.a.expr": HIDDEN}, reveals=True),
                          Probe({"dataset": SECRET, "clusterprecision": 12, "refine.code_postal": "75020", "q": "RUE"}),
                          Probe({"dataset": SECRET, "clusterprecision": 14, "y.s.func": "SUM", "y.s.expr": "nb_logmt_total",
                                 "geofilter.bbox": "48.80,2.25,48.91,2.42"})],
        "v1_geopreview": [Probe({"dataset": SECRET, "rows": 1000, "clusterprecision": 12}),
                          Probe({"dataset": SECRET, "rows": 10, "sort": HIDDEN})],
        # counts and coordinates only: a filtered row's place is checked by
        # test_the_map_bounds_and_shapes_hold_only_the_rows_a_caller_sees; here, errors and existence
        "v1_boundingbox": [Probe({"dataset": SECRET}),
                           Probe({"dataset": SECRET, "refine.code_postal": "75020", "q": "RUE"}),
                           Probe({"dataset": SECRET, "q": f"{HIDDEN}:RUE"}),
                           Probe({"dataset": SECRET, "exclude.code_postal": ALLOWED_CP,
                                  "geofilter.bbox": "48.80,2.25,48.91,2.42"})],
        # a series of the hidden text field puts row text beside each place
        "v1_geopolygon": [Probe({"dataset": SECRET, "y.a.func": "MAX", "y.a.expr": HIDDEN}, reveals=True),
                          Probe({"dataset": SECRET, "clusterprecision": 12, "refine.code_postal": "75020", "q": "RUE"}),
                          Probe({"dataset": SECRET, "geo_field": HIDDEN}),
                          Probe({"dataset": SECRET, "geo_field": "geo_shape", "y.s.func": "SUM",
                                 "y.s.expr": "nb_logmt_total", "geofilter.bbox": "48.80,2.25,48.91,2.42"})],
        "page": [Probe(), Probe({"q": "confidentiels"})],
        "tabs": [Probe({}, values=(("tab", tab),)) for tab in ("information", "table", "map", "analyze", "export", "api")],
        "no_data": [Probe()],
        "management": [Probe()],
    }[kind]


def slash_twins(app) -> set[str]:
    """The GET paths ending in ``/`` whose twin without it is served by the very same endpoints
    (``api.params.query_route`` registers both, as real clients send both): the same handler
    reads the same parameters there, only the path its links echo differs. A twin served by
    another endpoint is not in the set, so it is probed in full."""
    from fastapi import routing

    endpoints: dict[str, set] = {}
    for route, context in routing._iter_routes_with_context(app.routes):
        path = context.path if context is not None else getattr(route, "path", None)
        methods = (context.methods if context is not None else getattr(route, "methods", None)) or set()
        if path is not None and "GET" in methods:
            endpoints.setdefault(path, set()).add(getattr(route, "endpoint", None))
    return {path for path, served in endpoints.items()
            if path.endswith("/") and path != "/" and None not in served and endpoints.get(path[:-1]) == served}


def test_the_slash_twins_are_the_same_handlers(matrix):
    """What ``probes_at`` relies on for trailing slashes: most routes have a twin served by the
    same endpoint (and a twin served by another would be probed in full)."""
    twins = slash_twins(matrix.client.app)
    assert len(twins) > 100 and all(path[:-1] in get_routes(matrix.client.app) for path in twins)


def probes_at(path: str, kind: str, portal: str, twin: bool = False) -> list[Probe]:
    """The probes of one route. v2.0's second prefix is the first one's router again (one factory,
    one loop in ``api.app.mount_apis``: only the prefix its links echo differs), probed in full
    there; so is a route's trailing-slash ``twin`` (``slash_twins``: the same endpoint). Here
    each such route gets its first probe, its first naming the hidden field and its first
    revealing one: enough to show the gate and the filters are mounted there (a gate or a
    middleware reading the path would show in the first probe already)."""
    every = probes(kind, portal)
    relative = split(path)[1]
    if not twin and not relative.startswith(V20_PREFIXES[1] + "/"):
        return every
    chosen = [every[0], *[p for p in every if HIDDEN in str(p.params)][:1], *[p for p in every if p.reveals][:1]]
    return [p for i, p in enumerate(chosen) if all(p is not q for q in chosen[:i])]


def test_the_alias_routes_are_the_first_prefixs():
    """What ``probes_at`` relies on: v2.0's two prefixes serve the same routes."""
    first, second = ({route.path for route in explore_router("public", prefix).routes} for prefix in V20_PREFIXES)
    assert first == second and len(first) > 20


# -- reading a body ---------------------------------------------------------------------------
def text_of(content: bytes, fmt: str | None) -> str:
    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(content))
        return f"{table.schema.names} {table.to_pylist()}"
    if fmt == "xlsx":
        from python_calamine import CalamineWorkbook

        book = CalamineWorkbook.from_filelike(io.BytesIO(content))
        return str([book.get_sheet_by_name(name).to_python() for name in book.sheet_names])
    if fmt == "ov2":
        from tests.api.ov2_reader import read_ov2

        return str(read_ov2(content))
    if fmt == "gpx":  # XML: every tag, attribute and text, what GDAL reads and more, 4× faster
        parts = []
        for element in ElementTree.fromstring(content).iter():
            parts += (element.tag, *(f"{k}={v}" for k, v in element.attrib.items()), element.text, element.tail)
        return " ".join(filter(None, parts))
    if fmt in ("shp", "kml", "fgb"):
        import pyogrio

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"export.{'zip' if fmt == 'shp' else fmt}"
            path.write_bytes(content)
            layers = pyogrio.list_layers(path)
            texts = []
            for name in layers[:, 0]:
                meta, table = pyogrio.read_arrow(path, layer=name)
                texts.append(f"{meta['fields'].tolist()} {table.drop_columns([meta['geometry_name'] or 'geometry']).to_pylist() if (meta['geometry_name'] or 'geometry') in table.column_names else table.to_pylist()}")
            return " ".join(texts)
    return content.decode("utf-8", "replace")


def url_for(portal: str, template: str, matrix, probe: Probe, slug: str) -> str:
    values = {"dataset_id": slug, "record_id": matrix.canary_record_id, "attachment_id": matrix.attachment_id,
              "ref": slug, "name": HIDDEN, "format": "csv", "tab": "information", **dict(probe.values)}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "root"), template)


def swap(params: dict, old: str, new: str) -> dict:
    def swapped(value):
        return value.replace(old, new) if isinstance(value, str) else [swapped(v) for v in value] \
            if isinstance(value, list) else value

    return {k: swapped(v) for k, v in params.items()}


# -- the matrix -------------------------------------------------------------------------------
CALLERS = ["anonymous", "nogrant", "arr13", "masque", "publisher", "admin", "valid_key", "expired_key",
           "revoked_key", "narrow_key"]


@pytest.mark.slow
@pytest.mark.parametrize("portal", ["public"])  # "internal": test_leak_matrix_internal
@pytest.mark.parametrize("who", CALLERS)
def test_leak_matrix(matrix, portal, who):
    leak_matrix(matrix, portal, who)


def leak_matrix(matrix, portal: str, who: str) -> None:
    """One cell of the matrix: every probe of every GET route of ``portal`` (and the
    instance-wide ones, on the public portal's turn) requested as ``who``, and checked.

    Requested on one event loop straight into the app (``AppClient``), not through
    ``TestClient``, which outside a ``with`` starts a thread and an event loop for every
    request (a third of a light request's time), nor through httpx's ASGI transport, whose
    request building and failed ``import sniffio`` per request cost as much as a light
    request's answer: the same app and scope (the ``TestClient``'s client address and agent),
    app errors raised as there, the same checks."""
    asyncio.run(_check_cell(matrix, AppClient(matrix.client.app), portal, who))


@dataclass
class Answer:
    """What the checks read of a response, under httpx's names."""

    status_code: int
    headers: dict[str, str]
    content: bytes

    @functools.cached_property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")  # every text answer of the app is UTF-8

    def json(self):
        return json.loads(self.content)


class AppClient:
    """GET requests handed to an ASGI app as httpx's ``ASGITransport`` hands them (its scope,
    ``http://testserver``, the ``TestClient``'s client address and agent, app exceptions raised),
    the body gathered once the app has sent it all; a request whose answer is still running
    hears no disconnect (``api.deps.in_worker`` abandons a call whose client went away)."""

    def __init__(self, app):
        self.app = app

    async def get(self, path: str, params: dict | None = None, headers: dict | None = None,
                  follow_redirects: bool = False) -> Answer:
        assert not follow_redirects and "?" not in path
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "headers": [(b"host", b"testserver"), (b"accept", b"*/*"), (b"user-agent", b"testclient"),
                             *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items())],
                 "scheme": "http", "path": path, "raw_path": quote(path).encode("ascii"),
                 "query_string": urlencode(params or {}, doseq=True).encode("ascii"),
                 "server": ("testserver", 80), "client": ("testclient", 50000), "root_path": ""}
        asked, done = False, asyncio.Event()
        start: dict = {}
        body: list[bytes] = []

        async def receive() -> dict:
            nonlocal asked
            if asked:
                await done.wait()
                return {"type": "http.disconnect"}
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                assert not start
                start.update(message)
            elif message["type"] == "http.response.body":
                assert not done.is_set()
                body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    done.set()

        await self.app(scope, receive, send)
        assert start and done.is_set()
        sent = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start.get("headers", [])}
        return Answer(start["status"], sent, b"".join(body))


@functools.lru_cache(maxsize=len(PORTALS))  # the matrix's one app, both portals
def route_plan(app, portal: str) -> tuple[tuple[str, str, tuple[Probe, ...]], ...]:
    """The routes a cell of ``portal`` requests, each with its kind and probes: read from the
    app's route table once per portal, not once per caller."""
    twins = slash_twins(app)
    plan = []
    for path in get_routes(app):
        kind = classify(path)
        if kind is None:  # test_every_get_route_is_classified names it
            continue
        route_portal, _ = split(path)
        if kind in ("management", "no_data"):
            if portal != "public":
                continue
        elif route_portal != portal:
            continue
        plan.append((path, kind, tuple(probes_at(path, kind, portal, twin=path in twins))))
    return tuple(plan)


async def _check_cell(matrix, client: AppClient, portal: str, who: str) -> None:
    app = matrix.client.app
    assert portal in PORTALS
    caller = matrix.callers[who]
    headers = {"Authorization": f"Apikey {caller.key}"} if caller.key else {}
    checked = revealed = 0
    for path, kind, probes_of_route in route_plan(app, portal):
        for probe in probes_of_route:
            url = url_for(portal, path, matrix, probe, SECRET)
            response = await client.get(url, params=probe.params, headers=headers, follow_redirects=False)
            context = f"{who} GET {url} {probe.params}: {response.status_code} {response.text[:300]}"
            assert response.status_code < 500, context
            checked += 1
            if kind == "management":  # the operator's API: its token, never a reader's key
                assert response.status_code in (401, 403), context
                continue
            if kind == "no_data":
                leaked = [c for c in [SECRET_TITLE, ATTACHMENT_TITLE, *matrix.row_canaries] if c in response.text]
                assert not leaked, context
                continue
            if caller.secret == "refused":
                assert response.status_code == 401, context
                assert response.json()["message"] == "API key is not valid", context
                continue
            if portal == "internal" and caller.key is None:
                if kind != "download_link" and (kind in ("page", "tabs") or path.startswith("/interne/explore")
                                                or path in ("/interne/", "/interne")):
                    assert response.status_code == 303, context
                    assert response.headers["location"].startswith("/interne/login?next=/interne"), context
                else:
                    assert response.status_code == 401, context
                    assert response.json()["error_code"] == "Unauthorized", context
                continue
            if response.status_code == 200 and probe.fmt is not None:
                body = text_of(response.content, probe.fmt)
            else:
                body = response.text
            forbidden = []
            if caller.secret == "unknown":
                forbidden = [SECRET_TITLE, ATTACHMENT_TITLE, HIDDEN, *matrix.row_canaries, *matrix.kept_addresses]
                if "{dataset_id}" in path or kind in ("v1_records", "v1_download", "v1_analyze", "v1_geocluster",
                                                    "v1_geopreview", "v1_boundingbox", "v1_geopolygon"):
                    twin = await client.get(url_for(portal, path, matrix, probe, TWIN), params=swap(probe.params, SECRET, TWIN),
                                      headers=headers, follow_redirects=False)
                    assert response.status_code == twin.status_code, context
                    assert response.text == twin.text.replace(TWIN, SECRET), context
                    continue
            elif caller.secret == "rows":
                forbidden = list(matrix.row_canaries)
            elif caller.secret == "fields":
                forbidden = [*matrix.row_canaries, *matrix.kept_addresses]
                if response.status_code >= 400 and HIDDEN in str(probe.params):
                    twin = await client.get(url, params=swap(probe.params, HIDDEN, NO_FIELD), headers=headers,
                                      follow_redirects=False)
                    assert response.status_code == twin.status_code, context
                    assert response.text == twin.text.replace(NO_FIELD, HIDDEN), context
                    continue
                forbidden.append(HIDDEN)
            leaked = [c for c in forbidden if c in body]
            assert not leaked, f"{context}\nleaked: {leaked[:5]}"
            if caller.secret == "all" and probe.reveals:
                assert response.status_code == 200, context
                assert any(c in body for c in matrix.row_canaries), f"probe cannot see a leak: {context}"
                revealed += 1
    assert checked > 50
    if caller.secret == "all":
        assert revealed >= 3


def test_the_map_counts_and_ids_only_the_rows_a_caller_sees(matrix):
    """v1's clusters and previews carry counts, points and record ids, no text a canary could
    spot: the rows they count and name must be exactly the caller's."""
    for who, expected in (("arr13", matrix.allowed), ("masque", matrix.total), ("admin", matrix.total)):
        headers = {"Authorization": f"Apikey {matrix.callers[who].key}"}
        clusters = matrix.client.get("/api/records/1.0/geocluster/", headers=headers,
                                     params={"dataset": SECRET, "clusterprecision": 11}).json()["clusters"]
        assert sum(c["count"] for c in clusters) == expected, who
        previews = matrix.client.get("/api/records/1.0/geopreview/", headers=headers,
                                     params={"dataset": SECRET, "rows": 10_000}).json()
        ids = {p["recordid"] for p in previews}
        assert len(previews) == len(ids) == expected, who
        assert (matrix.canary_record_id in ids) == (who == "admin"), who  # masque's ids hash fewer fields


def test_the_map_bounds_and_shapes_hold_only_the_rows_a_caller_sees(matrix):
    """v1's bounding box and polygons carry counts and coordinates, no text a canary could spot:
    the places they give must be exactly those of the caller's rows, read from the file."""
    with (matrix.instance.settings.home / "secret.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))

    def place(row: dict) -> tuple[float, float]:
        lat, lon = (float(part) for part in row["geo_point_2d"].split(","))
        return lon, lat

    for who, keep in (("arr13", lambda r: r["code_postal"] == ALLOWED_CP), ("masque", lambda r: True),
                      ("admin", lambda r: True)):
        headers = {"Authorization": f"Apikey {matrix.callers[who].key}"}
        mine = [place(r) for r in rows if keep(r) and r["geo_point_2d"].strip()]
        assert len(mine) == (matrix.allowed if who == "arr13" else matrix.total), who
        bounds = matrix.client.get("/api/records/1.0/boundingbox/", headers=headers, params={"dataset": SECRET}).json()
        assert bounds["count"] == len(mine) and bounds["geometries"] == {"Point": len(mine)}, who
        expected = [min(x for x, _ in mine), min(y for _, y in mine), max(x for x, _ in mine), max(y for _, y in mine)]
        assert all(math.isclose(a, b, abs_tol=1e-9) for a, b in zip(bounds["bbox"], expected, strict=True)), who
        polygons = matrix.client.get("/api/records/1.0/geopolygon/", headers=headers, params={"dataset": SECRET}).json()
        assert sum(c["count"] for c in polygons["clusters"]) == len(mine), who
        assert {tuple(c["cluster"]["coordinates"]) for c in polygons["clusters"]} == set(mine), who

