"""Explore API v2.1 shapes and the management API, over HTTP (FastAPI's test client)."""

from __future__ import annotations

import io
import json

import pytest
from fastapi.testclient import TestClient

from portail.api import create_app

EXPLORE = "/api/explore/v2.1"
MGMT = "/api/management/v1"


@pytest.fixture
def client(request):
    """An operator's client of a fresh empty instance; for a test that also asks for ``logement``,
    the client of the one instance where the logements file was uploaded for this module (those
    tests only read it: no load, delete or grant)."""
    from tests.conftest import operator_client

    if "logement" in request.fixturenames:
        return request.getfixturevalue("uploaded_logements")[0]
    return operator_client(request.getfixturevalue("instance"))


def upload(client, slug, name, content: bytes, publish=True):
    return client.post(f"{MGMT}/datasets/{slug}/data", params={"publish_now": publish},
                       files={"file": (name, io.BytesIO(content), "text/csv")})


@pytest.fixture(scope="module")
def uploaded_logements(tmp_path_factory, refdata):
    """The logements file created and uploaded through the management API once per module."""
    from tests.conftest import make_instance, operator_client

    instance = make_instance(tmp_path_factory.mktemp("api") / "home")
    client = operator_client(instance)
    assert client.post(f"{MGMT}/datasets", json={"dataset_id": "logements", "title": "Logements sociaux",
                                                 "description": "Financés **à Paris**", "themes": ["Logement"],
                                                 "keywords": ["logement"], "license": "ODbL"}).status_code == 201
    content = (refdata / "logement" / "logements-sociaux-finances-a-paris.csv").read_bytes()
    response = upload(client, "logements", "logements.csv", content)
    assert response.status_code == 200, response.text
    yield client, response.json()
    instance.store.close()


@pytest.fixture
def logement(uploaded_logements):
    return uploaded_logements[1]


def test_catalog_and_dataset_shapes(client, logement):
    body = client.get(f"{EXPLORE}/catalog/datasets").json()
    assert body["total_count"] == 1
    dataset = body["results"][0]
    assert dataset["dataset_id"] == "logements" and dataset["dataset_uid"].startswith("da_")
    assert dataset["has_records"] is True and set(dataset["features"]) >= {"geo", "analyze"}
    metas = dataset["metas"]["default"]
    assert metas["title"] == "Logements sociaux" and metas["records_count"] == 4174
    assert metas["description"] == "<p>Financés <strong>à Paris</strong></p>\n"
    assert metas["theme"] == ["Logement"] and metas["license"] == "ODbL"
    fields = {f["name"]: f for f in dataset["fields"]}
    assert fields["code_postal"] == {"name": "code_postal", "label": "code_postal", "type": "text", "annotations": {},
                                     "description": None}
    assert fields["geo_point_2d"]["type"] == "geo_point_2d" and fields["nb_logmt_total"]["type"] == "int"
    assert "explore" not in dataset["metas"]
    # Application metas on request: usage counters, null until usage analytics exist.
    for body in (client.get(f"{EXPLORE}/catalog/datasets", params={"include_app_metas": True}).json()["results"][0],
                 client.get(f"{EXPLORE}/catalog/datasets/logements", params={"include_app_metas": "true"}).json()):
        assert body["metas"]["explore"]["download_count"] is None and "api_call_count" in body["metas"]["explore"]
        assert body["metas"]["default"] == metas
    # With and without trailing slash, by slug.
    assert client.get(f"{EXPLORE}/catalog/datasets/logements/").json() == client.get(f"{EXPLORE}/catalog/datasets/logements").json()


def test_records_page_and_values(client, logement):
    body = client.get(f"{EXPLORE}/catalog/datasets/logements/records",
                      params={"limit": 3, "order_by": "nb_logmt_total desc, id_livraison"}).json()
    assert body["total_count"] == 4174 and len(body["results"]) == 3
    counts = [r["nb_logmt_total"] for r in body["results"]]
    assert counts == sorted(counts, reverse=True)
    record = body["results"][0]
    assert set(record) >= {"id_livraison", "code_postal", "geo_point_2d", "geo_shape"}
    assert set(record["geo_point_2d"]) == {"lon", "lat"} and 2.2 < record["geo_point_2d"]["lon"] < 2.5
    assert record["geo_shape"]["type"] == "Feature" and record["geo_shape"]["geometry"]["type"] == "Point"
    assert record["code_postal"].startswith("750")
    only = client.get(f"{EXPLORE}/catalog/datasets/logements/records/?select=ville,annee&limit=1").json()["results"][0]
    assert only == {"ville": "Paris", "annee": only["annee"]} and isinstance(only["annee"], int)
    assert client.get(f"{EXPLORE}/catalog/datasets/logements/records?limit=0").json() == {"total_count": 4174, "results": []}


@pytest.mark.parametrize("params, message", [
    ({"limit": 1473}, "Invalid value for limit API parameter: 1473 was found but -1 <= limit <= 100 is expected."),
    ({"limit": 100, "offset": 9901}, "Invalid value for sum of offset + limit API parameter: 10001 was found but <= 10000 is expected."),
])
def test_paging_limits_match_opendatasoft(client, logement, params, message):
    response = client.get(f"{EXPLORE}/catalog/datasets/logements/records", params=params)
    assert response.status_code == 400
    assert response.json() == {"error_code": "InvalidRESTParameterError", "message": message}
    assert client.get(f"{EXPLORE}/catalog/datasets/logements/records", params={"limit": 100, "offset": 9900}).status_code == 200


def test_errors_are_opendatasoft_json(client, logement):
    response = client.get(f"{EXPLORE}/catalog/datasets/logements/records", params={"order_by": "nope desc"})
    assert response.status_code == 400
    assert response.json()["error_code"] == "ODSQLError" and "Unknown field: nope" in response.json()["message"]
    missing = client.get(f"{EXPLORE}/catalog/datasets/nothing/records")
    assert missing.status_code == 404 and missing.json() == {"error_code": "NotFound", "message": "Unknown dataset: nothing"}
    assert client.get(f"{EXPLORE}/catalog/datasets", params={"limit": "abc"}).json()["error_code"] == "InvalidRESTParameterError"


def test_unpublished_and_internal_datasets_are_not_on_the_public_api(client):
    client.post(f"{MGMT}/datasets", json={"dataset_id": "draft", "title": "Draft"})
    upload(client, "draft", "d.csv", b"a;b\n1;2\n", publish=False)
    client.post(f"{MGMT}/datasets", json={"dataset_id": "staff", "title": "Staff", "portals": ["internal"]})
    upload(client, "staff", "s.csv", b"a;b\n1;2\n")
    assert client.get(f"{EXPLORE}/catalog/datasets").json()["total_count"] == 0
    assert client.get(f"{EXPLORE}/catalog/datasets/draft").status_code == 404
    assert client.get(f"{EXPLORE}/catalog/datasets/staff/records").status_code == 404
    client.post(f"{MGMT}/datasets/draft/publish")
    assert [d["dataset_id"] for d in client.get(f"{EXPLORE}/catalog/datasets").json()["results"]] == ["draft"]


def test_management_lifecycle(client):
    created = client.post(f"{MGMT}/datasets", json={"dataset_id": "eq", "title": "Équipements", "portals": ["public", "internal"]})
    assert created.status_code == 201 and created.json()["portals"] == ["public", "internal"]
    first = upload(client, "eq", "v1.csv", "code;nom\n01001;Été\n".encode("cp1252")).json()
    assert first["version"] == 1 and first["published"] is True
    assert first["report"]["notes"][0] == "encoding cp1252"
    bad = upload(client, "eq", "v2.csv", b'code;nom\n1;"open\n')
    assert bad.status_code == 400 and bad.json()["error_code"] == "IngestError"
    assert "v2.csv" in bad.json()["message"] and "line 2" in bad.json()["message"]
    upload(client, "eq", "v3.csv", "code;nom\n01001;Été\n75056;Paris\n".encode())
    versions = client.get(f"{MGMT}/datasets/eq/versions").json()
    assert [(v["version"], v["status"]) for v in versions] == [(1, "ready"), (2, "failed"), (3, "ready")]
    assert [v["read_options"] for v in versions] == [{}, {}, {}]  # nothing forced: detected at each reload
    forced = client.post(f"{MGMT}/datasets/eq/data", params={"publish_now": False, "delimiter": ","},
                         files={"file": ("v4.csv", io.BytesIO(b"code,nom\n01001,Ete\n"), "text/csv")})
    assert forced.status_code in (200, 201), forced.text
    assert client.get(f"{MGMT}/datasets/eq/versions").json()[-1]["read_options"] == {"delimiter": ","}
    assert client.get(f"{EXPLORE}/catalog/datasets/eq/records").json()["total_count"] == 2
    assert client.post(f"{MGMT}/datasets/eq/rollback").json()["current_version"] == 1
    assert client.post(f"{MGMT}/datasets/eq/reindex").json() == {"dataset_id": "eq", "version": 1, "indexed": True}
    assert client.post(f"{MGMT}/datasets/eq/reindex", json={"version": 2}).status_code == 404  # the failed one
    assert client.get(f"{EXPLORE}/catalog/datasets/eq/records").json()["results"] == [{"code": "01001", "nom": "Été"}]
    patched = client.patch(f"{MGMT}/datasets/eq", json={"dataset_id": "equipements", "keywords": ["sport"]}).json()
    assert patched["dataset_id"] == "equipements" and patched["keywords"] == ["sport"]
    assert client.get(f"{EXPLORE}/catalog/datasets/equipements").json()["dataset_uid"] == created.json()["dataset_uid"]
    override = client.put(f"{MGMT}/datasets/equipements/fields/code", json={"label": "Code INSEE"})
    assert override.json()["field_overrides"] == {"code": {"label": "Code INSEE"}}
    assert client.put(f"{MGMT}/datasets/equipements/fields/code", json={"type": "number"}).status_code == 400
    attached = client.post(f"{MGMT}/datasets/equipements/attachments",
                           files={"file": ("Notice Équipements.pdf", io.BytesIO(b"%PDF-1.4"), "application/pdf")}).json()
    assert attached["attachments"][0]["id"] == "notice_equipements_pdf"
    assert client.get(f"{EXPLORE}/catalog/datasets/equipements").json()["attachments"] == [
        {"mimetype": "application/pdf", "url": "odsfile://Notice Équipements.pdf",  # the file's name, as on ODS
         "id": "notice_equipements_pdf", "title": "Notice Équipements.pdf"}]
    listed = client.get(f"{EXPLORE}/catalog/datasets/equipements/attachments").json()["attachments"]
    assert listed[0]["metas"] == {"mime-type": "application/pdf", "title": "Notice Équipements.pdf",
                                  "url": "odsfile://Notice Équipements.pdf", "id": "notice_equipements_pdf"}
    downloaded = client.get(listed[0]["href"].replace("http://testserver", ""))
    assert downloaded.content == b"%PDF-1.4" and downloaded.headers["content-type"] == "application/pdf"
    # the type it was uploaded as, never sniffed from its bytes (an HTML file sent as text is not a page)
    assert downloaded.headers["x-content-type-options"] == "nosniff"
    assert client.get(f"{EXPLORE}/catalog/datasets").headers["x-content-type-options"] == "nosniff"
    assert client.get(f"{EXPLORE}/catalog/datasets/equipements/attachments/nope").status_code == 404
    assert client.delete(f"{MGMT}/datasets/equipements").status_code == 204
    assert client.get(f"{MGMT}/datasets/equipements").status_code == 404


def test_management_input_errors(client):
    assert client.post(f"{MGMT}/datasets", json={"dataset_id": "x"}).status_code == 400
    assert client.post(f"{MGMT}/datasets", json={"dataset_id": "Bad Id", "title": "X"}).json()["error_code"] == "CatalogError"
    client.post(f"{MGMT}/datasets", json={"dataset_id": "x", "title": "X"})
    assert client.post(f"{MGMT}/datasets", json={"dataset_id": "x", "title": "X"}).status_code == 409
    assert client.post(f"{MGMT}/datasets/x/publish").status_code == 409
    # found by a management sweep: each was a 500 or was accepted
    assert client.patch(f"{MGMT}/datasets/x", json={"title": None}).status_code == 400
    assert client.post(f"{MGMT}/datasets/x/publish", json={"versoin": 1}).status_code == 400
    for name in ("..", "."):
        sent = upload(client, "x", name, b"a;b\n1;2\n")
        assert sent.status_code == 200, sent.text
    attached = client.post(f"{MGMT}/datasets/x/attachments", files={"file": ("..", io.BytesIO(b"note"), "text/plain")})
    assert attached.status_code == 201 and attached.json()["attachments"][0]["id"] == "upload"
    uploads = client.app.state.instance.settings.uploads_dir
    assert not any(uploads.iterdir())  # each upload's folder goes with it
    bad_step = client.put(f"{MGMT}/datasets/x/pipeline", json=[{"processor": "rename", "field": "nope", "to": "b2"}])
    assert bad_step.status_code == 400 and "pipeline step 1" in bad_step.json()["message"]


def test_management_token(tmp_path):
    from tests.conftest import make_instance

    client = TestClient(create_app(make_instance(tmp_path / "h", management_token="s3cret")))
    assert client.get(f"{MGMT}/datasets").status_code == 401
    assert client.get(f"{MGMT}/datasets", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_without_a_configured_token_one_is_generated_for_the_operator(tmp_path):
    """Without a configured token, a request from this machine was the operator: a proxy on it
    that adds no forwarding header (nginx's bare proxy_pass) made every visitor one. The token
    is now always required; the home holds a generated one, for its owner's eyes only."""
    from tests.conftest import make_instance

    instance = make_instance(tmp_path / "h")
    client = TestClient(create_app(instance))
    for headers in ({}, {"Host": "127.0.0.1:8000"}, {"Authorization": "Bearer "}, {"Authorization": "Bearer guess"}):
        refused = client.get(f"{MGMT}/datasets", headers=headers)
        assert refused.status_code == 401 and refused.json()["error_code"] == "Unauthorized", headers
    token_file = tmp_path / "h" / "management-token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    token = token_file.read_text().strip()
    assert len(token) >= 40
    assert client.get(f"{MGMT}/datasets", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # Every worker of the instance reads the same token; a configured one is used instead.
    again = TestClient(create_app(make_instance(tmp_path / "h")))
    assert again.get(f"{MGMT}/users", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    configured = TestClient(create_app(make_instance(tmp_path / "h", management_token="chosen")))
    assert configured.get(f"{MGMT}/users", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert configured.get(f"{MGMT}/users", headers={"Authorization": "Bearer chosen"}).status_code == 200


def test_openapi_documents_every_route(client):
    spec = client.get(f"{EXPLORE}/swagger.json").json()
    paths = set(spec["paths"])
    assert {"/api/explore/v2.1/catalog/datasets", "/api/explore/v2.1/catalog/datasets/{dataset_id}/records",
            "/api/management/v1/datasets/{ref}/publish"} <= paths
    assert client.get("/api/docs").status_code == 200
    cors = client.get(f"{EXPLORE}/catalog/datasets", headers={"Origin": "https://example.org"})
    assert cors.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("params, message", [
    ({"limit": "abc"}, "Invalid value for limit API parameter: 'abc' was found but an integer is expected."),
    ({"offset": "1.5"}, "Invalid value for offset API parameter: '1.5' was found but an integer is expected."),
    ({"include_links": "maybe"}, "Invalid value for include_links API parameter: 'maybe' was found but true or false "
                                 "is expected."),
])
def test_malformed_parameters_are_named_in_opendatasoft_errors(client, logement, params, message):
    response = client.get(f"{EXPLORE}/catalog/datasets/logements/records", params=params)
    assert (response.status_code, response.json()) == (400, {"error_code": "InvalidRESTParameterError", "message": message})
    export = client.get(f"{EXPLORE}/catalog/datasets/logements/exports/csv", params={"delimiter": ":"})
    assert export.status_code == 400 and "delimiter" in export.json()["message"] and "'|'" in export.json()["message"]


def test_parameters_read_as_clients_send_them(client, logement):
    """Booleans in any of their spellings, repeated filters ANDed, a repeated single value: the last."""
    url = f"{EXPLORE}/catalog/datasets/logements/records/"
    for spelling in ("true", "TRUE", "1", "yes", "on"):
        assert "_links" in client.get(url, params={"include_links": spelling, "limit": 1}).json()
    assert "_links" not in client.get(url, params={"include_links": "Off", "limit": 1}).json()
    both = client.get(url, params=[("refine", "ville:Paris"), ("where", "annee >= 2010"), ("where", "annee <= 2012"),
                                   ("limit", 0)]).json()["total_count"]
    alone = client.get(url, params={"where": "ville = 'Paris' and annee >= 2010 and annee <= 2012", "limit": 0})
    assert both == alone.json()["total_count"] > 0
    assert len(client.get(url, params=[("limit", 7), ("limit", 2)]).json()["results"]) == 2
    assert client.get(url, params={"limit": 1, "unknown": "x"}).status_code == 200


def test_openapi_describes_the_parameters_the_routes_read(client):
    spec = client.get(f"{EXPLORE}/swagger.json").json()
    records = {p["name"]: p for p in spec["paths"]["/api/explore/v2.1/catalog/datasets/{dataset_id}/records"]["get"]["parameters"]}
    assert records["dataset_id"]["in"] == "path" and records["dataset_id"]["required"] is True
    assert records["limit"]["schema"] == {"type": "integer"}  # 10, or every group: said in its description
    assert "every group" in records["limit"]["description"]
    assert records["where"]["schema"]["type"] == "array" and records["where"]["explode"] is True
    assert records["include_links"]["schema"] == {"type": "boolean", "default": False}
    assert "cursor" in records["after"]["description"]
    export = {p["name"]: p for p in spec["paths"]["/api/explore/v2.1/catalog/datasets/{dataset_id}/exports/{format}"]
              ["get"]["parameters"]}
    assert export["format"]["in"] == "path" and export["parquet_compression"]["schema"]["enum"] == ["snappy", "zstd"]


def test_an_upload_error_names_the_file_sent(client):
    client.post(f"{MGMT}/datasets", json={"dataset_id": "u", "title": "U"})
    response = upload(client, "u", "unclosed.csv", b'a;b\n1;"2\n')
    assert response.status_code == 400
    assert response.json()["message"].startswith("unclosed.csv, line 2")  # not the upload's temporary name


def test_upload_size_limit(tmp_path):
    from tests.conftest import make_instance, operator_client

    client = operator_client(make_instance(tmp_path / "h", max_upload_bytes=1000))
    client.post(f"{MGMT}/datasets", json={"dataset_id": "big", "title": "Big"})
    response = upload(client, "big", "big.csv", b"a;b\n" + b"1;2\n" * 1000)
    assert response.status_code == 413 and response.json()["error_code"] == "PayloadTooLarge"
    # Far over the limit: refused while the body arrives (declared length, then a chunked stream).
    huge = upload(client, "big", "huge.csv", b"a;b\n" + b"1;2\n" * 600_000)
    assert huge.status_code == 413 and "bytes allowed" in huge.json()["message"]

    def chunks():  # a well-formed multipart upload, sent without a declared length
        yield b'--zz\r\nContent-Disposition: form-data; name="file"; filename="s.csv"\r\nContent-Type: text/csv\r\n\r\n'
        for _ in range(700):
            yield b"1;2\n" * 1024
        yield b"\r\n--zz--\r\n"

    streamed = client.post(f"{MGMT}/datasets/big/data", content=chunks(),
                           headers={"content-type": "multipart/form-data; boundary=zz"})
    assert streamed.status_code == 413
    assert not list((tmp_path / "h" / "uploads").iterdir())  # nothing left behind


def test_create_from_url(refdata, tmp_path):
    """A real download over loopback HTTP (allowed: ``fetch_allow``), streamed to the uploads
    folder and loaded."""
    import functools
    import http.server
    import threading

    from tests.conftest import make_instance, operator_client

    client = operator_client(make_instance(tmp_path / "home", fetch_allow=["127.0.0.1"]))

    served = tmp_path / "served"
    served.mkdir()
    (served / "rne_elus-senateurs-sen.csv").symlink_to(refdata / "elus" / "rne_elus-senateurs-sen.csv")
    (served / "empty.json").write_text("42")  # a JSON file holding no records: refused
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/rne_elus-senateurs-sen.csv"
        created = client.post(f"{MGMT}/datasets", json={"dataset_id": "sen", "title": "Sénateurs", "source_url": url})
        assert created.status_code == 201, created.text
        assert created.json()["versions"][0]["records_count"] == 348 and created.json()["source"] == url
        missing = client.post(f"{MGMT}/datasets/sen/data/url", json={"url": url + ".nope"})
        assert missing.status_code == 400 and "HTTP 404" in missing.json()["message"]
        # A creation whose file cannot be fetched, or not loaded, leaves no dataset behind.
        for source in (url + ".nope", f"http://127.0.0.1:{server.server_port}/empty.json"):
            failed = client.post(f"{MGMT}/datasets", json={"dataset_id": "dep", "title": "D", "source_url": source})
            assert failed.status_code == 400, failed.text
            assert client.get(f"{MGMT}/datasets/dep").status_code == 404
        assert not list((tmp_path / "home" / "uploads").iterdir())
    finally:
        server.shutdown()


def test_cursor_walks_past_the_window_on_one_version(client, tmp_path):
    """Beyond Opendatasoft: a cursor walks every record, in pages of up to 10,000, and keeps
    reading the version it started on even when a new one is published mid-walk."""
    client.post(f"{MGMT}/datasets", json={"dataset_id": "big", "title": "Big"})
    upload(client, "big", "v1.csv", ("n;v\n" + "".join(f"{i};A\n" for i in range(25_000))).encode())
    url = f"{EXPLORE}/catalog/datasets/big/records"
    assert client.get(url, params={"offset": 10_000, "limit": 100}).status_code == 400  # the ODS window still holds
    seen, cursor, pages = [], "", 0
    while cursor is not None:
        body = client.get(url, params={"after": cursor, "limit": 10_000, "select": "n,v"}).json()
        seen += body["results"]
        pages += 1
        nxt = [link["href"] for link in body["_links"] if link["rel"] == "next"]
        cursor = nxt[0].split("after=")[1].split("&")[0] if nxt else None
        if pages == 1:  # publish a different version mid-walk
            upload(client, "big", "v2.csv", b"n;v\n1;B\n")
    assert pages == 3 and len(seen) == 25_000
    assert sorted(r["n"] for r in seen) == list(range(25_000)) and {r["v"] for r in seen} == {"A"}
    assert client.get(url).json()["total_count"] == 1  # meanwhile, the new version is served
    assert client.get(url, params={"after": "garbage!"}).status_code == 400
    assert client.get(url, params={"after": "", "order_by": "n"}).status_code == 400
    links = client.get(url, params={"include_links": True, "limit": 1}).json()["_links"]
    assert [link["rel"] for link in links] == ["self", "first", "last"]  # one record: no next


def test_a_cursor_tells_nothing_of_the_rows_it_skips(client):
    """A cursor carried the last row's position in the file in clear (base64 JSON): a caller whose
    rights filter rows read from the gaps how many hidden rows lie between theirs (found by a
    leak hunt). It is now sealed with the version's key: opaque, and refused when altered."""
    import base64
    import struct

    client.post(f"{MGMT}/datasets", json={"dataset_id": "gaps", "title": "Gaps"})
    upload(client, "gaps", "v1.csv", ("n;v\n" + "".join(f"{i};{'shown' if i % 5 == 0 else 'hidden'}\n"
                                                          for i in range(40))).encode())
    url = f"{EXPLORE}/catalog/datasets/gaps/records"
    cursors, cursor = [], ""
    while cursor is not None:
        body = client.get(url, params={"after": cursor, "limit": 1, "where": 'v = "shown"'}).json()
        nxt = [link["href"] for link in body["_links"] if link["rel"] == "next"]
        cursor = nxt[0].split("after=")[1].split("&")[0] if nxt else None
        cursors += [cursor] if cursor else []
    assert len(cursors) == 8  # after each of the 8 shown rows; the page after the last is empty
    for sealed in cursors:
        version, _, rest = sealed.partition(".")
        assert version == "1" and len(rest) == 22  # one AES block, whatever the position
        raw = base64.urlsafe_b64decode(rest + "==")
        # no position in clear, as text or as the 8 bytes the seal packs it in
        assert not any(f"{5 * k}]".encode() in raw or struct.pack(">q", 5 * k) in raw for k in range(8)), raw
    # resuming from each cursor gives the next shown row, so the walk is whole
    resumed = [client.get(url, params={"after": c, "limit": 1, "where": 'v = "shown"', "select": "n"}).json()
               for c in cursors]
    assert [r["results"][0]["n"] for r in resumed[:-1]] == [5 * k for k in range(1, 8)] and not resumed[-1]["results"]
    altered = cursors[0][:-2] + ("A" if cursors[0][-2] != "A" else "B") + cursors[0][-1]
    plain = base64.urlsafe_b64encode(json.dumps([1, 10]).encode()).decode().rstrip("=")  # the former clear form
    for bad in (altered, plain, "1.", "x." + cursors[0].partition(".")[2], "1" + "0" * 12 + "." + cursors[0][2:]):
        refused = client.get(url, params={"after": bad})
        assert refused.status_code == 400 and refused.json()["error_code"] == "InvalidRESTParameterError", bad


def test_a_cursor_reads_only_versions_the_portal_served(client):
    """A cursor names its version: one made for a draft never published, or a version withdrawn
    by a rollback, reads nothing. A walk begun on a version replaced since goes on."""
    from tests.conftest import start_cursor

    def cursor(version: int) -> str:
        return start_cursor(client.app.state.instance, "walk", version)

    url = f"{EXPLORE}/catalog/datasets/walk/records"
    client.post(f"{MGMT}/datasets", json={"dataset_id": "walk", "title": "Walk"})
    upload(client, "walk", "v1.csv", b"n;v\n1;one\n")
    upload(client, "walk", "v2.csv", b"n;v\n1;one\n2;DRAFT\n", publish=False)  # loaded, not published
    assert client.get(url, params={"after": cursor(2)}).status_code == 410
    assert client.get(url, params={"after": cursor(1)}).json()["total_count"] == 1
    assert client.post(f"{MGMT}/datasets/walk/publish", json={"version": 2}).status_code == 200
    assert client.get(url, params={"after": cursor(2)}).json()["total_count"] == 2
    assert client.get(url, params={"after": cursor(1)}).json()["total_count"] == 1  # replaced: a walk on it goes on
    assert client.post(f"{MGMT}/datasets/walk/rollback", json={"version": 1}).status_code == 200
    withdrawn = client.get(url, params={"after": cursor(2)})
    assert withdrawn.status_code == 410 and "DRAFT" not in withdrawn.text
    upload(client, "walk", "v3.csv", b"n;v\n3;three\n")  # published over: the withdrawn version stays so
    assert client.get(url, params={"after": cursor(2)}).status_code == 410
    assert client.get(url, params={"after": cursor(1)}).json()["total_count"] == 1
    # A version replaced long ago is closed too: replacing it took its data off the portal.
    from datetime import timedelta

    from portail.catalog import services
    from portail.catalog.models import CURSOR_GRACE

    instance = client.app.state.instance
    with instance.session() as s:
        for v in services.get_dataset(s, "walk").versions:
            if v.published_at is not None:
                v.published_at = v.published_at - CURSOR_GRACE - timedelta(minutes=1)
    assert client.get(url, params={"after": cursor(1)}).status_code == 410
    assert client.get(url, params={"after": cursor(3)}).json()["total_count"] == 1  # the current one, always


def test_offset_links_stop_at_the_window(client):
    """A client following ``next`` never gets a request the server refuses: the page that would
    cross offset + limit = 10,000 is shortened, and there is no ``next`` at the window."""
    client.post(f"{MGMT}/datasets", json={"dataset_id": "deep", "title": "Deep"})
    upload(client, "deep", "deep.csv", ("n\n" + "".join(f"{i}\n" for i in range(10_050))).encode())
    url = f"{EXPLORE}/catalog/datasets/deep/records"

    def links(**params):
        body = client.get(url, params={"include_links": True, "select": "n", **params}).json()
        return {link["rel"]: link["href"] for link in body["_links"]}

    assert "next" not in links(offset=9900, limit=100)
    assert "next" not in links(offset=9990, limit=10)
    near = links(offset=9850, limit=100)
    assert "offset=9950" in near["next"] and "limit=50" in near["next"]
    odd = links(offset=0, limit=30)
    assert "offset=30" in odd["next"] and "offset=9990" in odd["last"] and "limit=10" in odd["last"]
    for href in [*near.values(), *odd.values()]:
        assert client.get(href).status_code == 200, href
    after = client.get(near["next"]).json()
    assert len(after["results"]) == 50 and "next" not in {link["rel"] for link in after["_links"]}


def test_every_dataset_link_leads_somewhere(client, logement):
    """The dataset's _links, and the roots they lead to (v2.0's link lists, still read by clients)."""
    body = client.get(f"{EXPLORE}/catalog/datasets/logements", params={"include_links": True}).json()
    rels = {link["rel"]: link["href"] for link in body["_links"]}
    assert {"self", "records", "exports", "attachments", "catalog"} <= set(rels)
    for href in rels.values():
        assert client.get(href).status_code == 200, href
    for root in (f"{EXPLORE}/", EXPLORE, f"{EXPLORE}/catalog/", f"{EXPLORE}/catalog",
                 f"{EXPLORE}/catalog/?select=dataset_id%2C+records_count"):
        links = client.get(root).json()["links"]
        assert links[0]["rel"] == "self"
        for link in links:
            assert client.get(link["href"]).status_code == 200, link


def test_openapi_document_resolves_and_says_what_routes_answer(client):
    import json
    import re

    spec = client.get(f"{EXPLORE}/swagger.json").json()
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(spec)))
    assert refs and refs <= set(spec["components"]["schemas"])  # no dangling $ref (HTTPValidationError was)
    operations = [op for item in spec["paths"].values() for op in item.values()]
    assert not [op["operationId"] for op in operations if "422" in op["responses"]]  # routes answer 400
    assert "400" in spec["paths"][f"{MGMT}/groups"]["post"]["responses"]
    assert spec["components"]["securitySchemes"]["apikey"] == {
        "type": "apiKey", "in": "query", "name": "apikey", "description": "An API key as a query parameter."}
    assert {} in spec["security"]
    ids = {path: item["get"]["operationId"] for path, item in spec["paths"].items() if "get" in item}
    assert ids[f"{EXPLORE}/catalog/datasets"] == "getDatasets"
    assert ids[f"{EXPLORE}/catalog/datasets/{{dataset_id}}/records"] == "getRecords"
    assert ids[f"{EXPLORE}/catalog/datasets/{{dataset_id}}/facets"] == "getRecordsFacets"
    assert ids[f"{EXPLORE}/catalog/datasets/{{dataset_id}}/exports/{{format}}"] == "exportRecords"
    assert len(operations) == len({op["operationId"] for op in operations})
    records = spec["paths"][f"{EXPLORE}/catalog/datasets/{{dataset_id}}/records"]["get"]["responses"]
    assert {"403", "410"} <= set(records)
    assert {"400", "404"} <= set(spec["paths"]["/api/datasets/1.0/{dataset_id}/"]["get"]["responses"])
    assert {"visibility", "data_visible", "alternative_exports"} <= set(spec["components"]["schemas"]["Dataset"]["properties"])
    # with select, a dataset's answer holds the items selected only ({"0": 0} for select=0)
    dataset = spec["paths"][f"{EXPLORE}/catalog/datasets/{{dataset_id}}"]["get"]["responses"]["200"]
    answer = spec["components"]["schemas"][dataset["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert {"$ref": "#/components/schemas/Dataset"} in answer["anyOf"] and {"type", "description"} >= \
        set(next(a for a in answer["anyOf"] if "$ref" not in a))
    # the dataset page's download link answers any export's file (xls: the XLSX file)
    page = spec["paths"]["/explore/dataset/{dataset_id}/download/"]["get"]["responses"]["200"]["content"]
    assert {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/zip"} <= set(page)


def test_json_fields_are_json_blob_for_clients(client):
    client.post(f"{MGMT}/datasets", json={"dataset_id": "docs", "title": "Docs"})
    assert client.put(f"{MGMT}/datasets/docs/fields/doc", json={"type": "json"}).status_code == 200
    upload(client, "docs", "docs.csv", b'id;doc\n1;"{""a"": [1, 2]}"\n')
    fields = {f["name"]: f["type"] for f in client.get(f"{EXPLORE}/catalog/datasets/docs").json()["fields"]}
    assert fields == {"id": "int", "doc": "json_blob"}
    assert client.get(f"{EXPLORE}/catalog/datasets/docs/records").json()["results"] == [{"id": 1, "doc": {"a": [1, 2]}}]
    # a JSON value is no facet value: refining or excluding by one is a 400 (it was a 500, and a cut export)
    for path in ("/records", "/facets?facet=id", "/exports/json"):
        for name in ("refine", "exclude"):
            response = client.get(f"{EXPLORE}/catalog/datasets/docs{path}", params={name: "doc:x"})
            assert response.status_code == 400, (path, name, response.text)
            assert response.json()["message"] == "Field doc of type json cannot be refined."


def test_head_is_answered_wherever_get_is(client, logement):
    for path in ("/catalog/datasets", "/catalog/datasets/logements", "/catalog/datasets/logements/records?limit=1"):
        get, head = client.get(EXPLORE + path), client.head(EXPLORE + path)
        assert head.status_code == 200 and head.content == b"", path
        assert head.headers["content-type"] == get.headers["content-type"]
        assert head.headers["content-length"] == get.headers["content-length"]
    assert client.head(f"{EXPLORE}/catalog/datasets/nope").status_code == 404
    refused = client.delete(f"{EXPLORE}/catalog/datasets")
    assert refused.status_code == 405 and "GET" in refused.headers["allow"]
    preflight = client.options(f"{EXPLORE}/catalog/datasets", headers={
        "Origin": "https://example.org", "Access-Control-Request-Method": "HEAD"})
    assert preflight.status_code == 200


def test_cross_origin_clients_read_quota_headers_and_every_metadata_key(client, logement):
    response = client.get(f"{EXPLORE}/catalog/datasets/logements", headers={"Origin": "https://example.org"})
    exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after",
            "ods-explore-api-deprecation"} <= exposed
    metas = response.json()["metas"]["default"]
    for key in ("geographic_reference_auto", "geographic_area_mode", "oauth_scope", "parent_domain", "shared_catalog",
                "source_dataset", "source_domain", "source_domain_address", "source_domain_title"):
        assert key in metas and metas[key] is None, key


def test_records_carry_their_links(client, logement):
    url = f"{EXPLORE}/catalog/datasets/logements/records"
    records = client.get(url, params={"include_links": True, "limit": 2, "select": "code_postal"}).json()["results"]
    for record in records:
        links = {link["rel"]: link["href"] for link in record["_links"]}
        assert links["self"].endswith(f"/records/{record['_id']}") and links["dataset"].endswith("/logements")
        assert client.get(links["self"]).json()["code_postal"] == record["code_postal"]
        assert client.get(links["dataset"]).status_code == 200
    assert "_links" not in client.get(url, params={"limit": 1}).json()["results"][0]
