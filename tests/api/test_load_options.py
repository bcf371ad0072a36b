"""The management API's loads and their read options: a reload of an upload whose stored
options are now refused, options refused before a version starts, empty ones as none given, and
no server file read through a URL of another scheme."""

from __future__ import annotations

from portail.catalog import services
from tests.conftest import make_instance, operator_client

API = "/api/management/v1"


def test_a_reload_of_an_upload_whose_stored_sheet_is_now_refused_still_works(tmp_path):
    """An upload with ``sheet=2`` on a CSV was read ignoring it, the sheet remembered for its
    reloads: refused now before a version starts, it made every reload of the dataset a 400."""
    instance = make_instance(tmp_path / "home")
    try:
        client = operator_client(instance)
        assert client.post(f"{API}/datasets", json={"dataset_id": "qa", "title": "QA"}).status_code == 201
        loaded = client.post(f"{API}/datasets/qa/data", params={"publish_now": "true"},
                             files={"file": ("one.csv", b"code;nom\n01001;A\n02002;B\n", "text/csv")})
        assert loaded.status_code == 200, loaded.text
        with instance.session() as session:  # as a load made before the refusal recorded it
            dataset = services.get_dataset(session, "qa")
            dataset.current.read_options = dataset.read_options = {"sheet": "2"}
        reloaded = client.post(f"{API}/datasets/qa/reload")
        assert reloaded.status_code == 200, reloaded.text
        note = "read option sheet='2' of the former load dropped: a sheet applies to xlsx, xls, xlsb, ods files only, " \
               "not to csv"  # the publisher learns what is no longer used, and why
        assert note in reloaded.json()["report"]["notes"], reloaded.json()["report"]
        with instance.session() as session:
            dataset = services.get_dataset(session, "qa")
            assert dataset.current_version == 2 and dataset.current.row_count == 2
            assert dataset.current.read_options == {}
            assert note in dataset.current.report["notes"]  # kept in the version's report
        # Given now, the same sheet is refused, as a 400 in Opendatasoft's shape
        refused = client.post(f"{API}/datasets/qa/data", params={"sheet": "2"},
                              files={"file": ("one.csv", b"code;nom\n01001;A\n", "text/csv")})
        assert refused.status_code == 400 and "a sheet applies to" in refused.json()["message"]
        assert refused.json()["error_code"]
    finally:
        instance.store.close()


def test_a_file_url_never_reads_a_server_file(tmp_path):
    """``file://`` is a URL since any scheme:// is one: the management API refuses it, as
    every scheme but http(s), and reads no file of the server."""
    secret = tmp_path / "secret.csv"
    secret.write_text("code;nom\n01001;A\n", encoding="utf-8")
    instance = make_instance(tmp_path / "home")
    try:
        client = operator_client(instance)
        for url in (f"file://{secret}", f"FILE://{secret}", f"file:{secret}"):
            created = client.post(f"{API}/datasets", json={"dataset_id": "qa", "title": "QA", "source_url": url})
            assert created.status_code == 400, created.text
            assert client.get(f"{API}/datasets/qa").status_code == 404
        assert client.post(f"{API}/datasets", json={"dataset_id": "qa", "title": "QA"}).status_code == 201
        for url in (f"file://{secret}", f"file:{secret}", str(secret)):
            answer = client.post(f"{API}/datasets/qa/data/url", json={"url": url})
            assert answer.status_code == 400, answer.text
        with instance.session() as session:
            assert services.get_dataset(session, "qa").versions == []
    finally:
        instance.store.close()


def test_an_invalid_delimiter_is_a_400_before_a_version_starts_in_the_management_api(tmp_path):
    instance = make_instance(tmp_path / "home")
    try:
        client = operator_client(instance)
        client.post(f"{API}/datasets", json={"dataset_id": "qa", "title": "QA"})
        answer = client.post(f"{API}/datasets/qa/data", params={"delimiter": "tab"},
                             files={"file": ("one.csv", b"code\tnom\n01001\tA\n", "text/csv")})
        assert answer.status_code == 400 and "invalid delimiter 'tab'" in answer.json()["message"]
        with instance.session() as session:
            assert services.get_dataset(session, "qa").versions == []  # no failed version left
    finally:
        instance.store.close()


def test_empty_read_options_of_an_upload_are_options_not_given(tmp_path):
    """An HTML form sends its empty fields (``sheet=&delimiter=``): the upload reads the file as
    with none given, where the command line's ``--sheet ''`` is a usage error."""
    instance = make_instance(tmp_path / "home")
    try:
        client = operator_client(instance)
        assert client.post(f"{API}/datasets", json={"dataset_id": "qa", "title": "QA"}).status_code == 201
        loaded = client.post(f"{API}/datasets/qa/data", params={"publish_now": "true", "sheet": "", "delimiter": "",
                                                                "encoding": "", "format": ""},
                             files={"file": ("one.csv", b"code;nom\n01001;A\n02002;B\n", "text/csv")})
        assert loaded.status_code == 200, loaded.text
        with instance.session() as session:
            assert services.get_dataset(session, "qa").current.row_count == 2
    finally:
        instance.store.close()


GEOJSON = (b'{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "01001", '
           b'"nom": "Amb\xc3\xa9rieu"}, "geometry": {"type": "Point", "coordinates": [5.36, 45.96]}}]}')


def test_an_encoding_for_a_format_that_ignores_it_is_a_400_and_a_stored_one_is_dropped_on_reload(tmp_path):
    """GeoJSON is UTF-8 (RFC 7946): its reader never read ``encoding``, and the upload published
    what it read otherwise. Refused now as a delimiter is; one a former upload stored is dropped
    by its reload, which says so."""
    instance = make_instance(tmp_path / "home")
    try:
        client = operator_client(instance)
        client.post(f"{API}/datasets", json={"dataset_id": "qa", "title": "QA"})
        refused = client.post(f"{API}/datasets/qa/data", params={"encoding": "cp1252"},
                              files={"file": ("communes.geojson", GEOJSON, "application/geo+json")})
        assert refused.status_code == 400, refused.text
        assert refused.json()["message"] == ("communes.geojson: an encoding applies to csv, tsv files only, "
                                             "not to geojson") and refused.json()["error_code"] == "IngestError"
        with instance.session() as session:
            assert services.get_dataset(session, "qa").versions == []  # refused before a version started
        loaded = client.post(f"{API}/datasets/qa/data", params={"publish_now": "true"},
                             files={"file": ("communes.geojson", GEOJSON, "application/geo+json")})
        assert loaded.status_code == 200, loaded.text
        with instance.session() as session:  # as an upload made before the refusal recorded it
            dataset = services.get_dataset(session, "qa")
            dataset.current.read_options = dataset.read_options = {"encoding": "cp1252"}
        reloaded = client.post(f"{API}/datasets/qa/reload")
        assert reloaded.status_code == 200, reloaded.text
        assert ("read option encoding='cp1252' of the former load dropped: an encoding applies to csv, tsv files "
                "only, not to geojson") in reloaded.json()["report"]["notes"]
        with instance.session() as session:
            assert services.get_dataset(session, "qa").current.read_options == {}
    finally:
        instance.store.close()
