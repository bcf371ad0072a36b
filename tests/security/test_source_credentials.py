"""A URL source's credentials (``user:password@``, a token, key or signature in its query) are
sent to the server it names and nowhere else: not recorded as the version's source, not shown
back by the management API, ``dataset show`` or an error message.

A real HTTP server at 127.0.0.1:18721 (allowed by ``fetch_allow``) answers a small CSV and
notes what it was sent, to show the credentials did reach it; 127.0.0.2:18722 is refused
before any connection, so nothing listens there.

Downloads from that server also show that one from an address (no name to look up) is not held
behind name lookups stuck on a resolver that never answers.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from portail.catalog import services
from portail.sources.fetching import allowance, download, resolve
from portail.sources.redaction import NESTING, redacted_text, redacted_url, withheld
from tests.cli import invoke
from tests.conftest import make_instance, operator_client

MGMT = "/api/management/v1"
CSV = b"code;nom\n01;Ain\n02;Aisne\n"
LAKE, REFUSED = "http://127.0.0.1:18721", "http://127.0.0.2:18722"
SECRETS = ("s3cret", "t0ken", "S1GNATURE", "AKIAEXAMPLE", "k3y", "az5ig")
#: A data lake's URL: userinfo, a token, an S3 presigned URL's signature and credential.
PRESIGNED = (f"http://agent:s3cret@127.0.0.1:18721/data.csv?token=t0ken&X-Amz-Signature=S1GNATURE"
             "&X-Amz-Credential=AKIAEXAMPLE%2F20240101&X-Amz-Expires=3600")
PRESIGNED_SHOWN = ("http://<redacted>@127.0.0.1:18721/data.csv?token=<redacted>&X-Amz-Signature=<redacted>"
                   "&X-Amz-Credential=<redacted>&X-Amz-Expires=3600")
#: An API key and an Azure SAS signature, among parameters that stay.
KEYED = f"{LAKE}/data.csv?api_key=k3y&sv=2022-11-02&sig=az5ig&page=2"
KEYED_SHOWN = f"{LAKE}/data.csv?api_key=<redacted>&sv=2022-11-02&sig=<redacted>&page=2"

received: list[str] = []  # what the lake was sent: path and query, Authorization header


class Lake(BaseHTTPRequestHandler):
    """``/data.csv`` (in any folder), ``/get?key=…`` and a file named by a GitHub token answer a
    small CSV, ``/empty.csv`` an empty file; ``/moved`` a 302 to a refused host, with a token."""

    def do_GET(self) -> None:
        received.append(f"{self.path} {self.headers.get('Authorization')}")
        parts = urlsplit(self.path)
        if parts.path == "/moved":
            self.send_response(302)
            self.send_header("Location", f"{REFUSED}/data.csv?token=t0ken&sig=az5ig")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        name = "/" + parts.path.rpartition("/")[2]
        status, body = {"/data.csv": (200, CSV), "/get": (200, CSV), f"/{GITHUB_TOKEN}": (200, CSV),
                        "/empty.csv": (200, b"")}.get(name, (404, b""))
        self.send_response(status)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module", autouse=True)
def lake() -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", 18721), Lake)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield
    server.shutdown()
    server.server_close()


def _secrets_in(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def _secrets_on_disk(home: Path) -> list[str]:
    """The secrets any file of the instance holds: the catalogue (and its journal), the store."""
    return [f"{path.name}: {secret}" for path in home.rglob("*") if path.is_file()
            for secret in SECRETS if secret.encode() in path.read_bytes()]


def test_credentials_reach_the_source_but_are_neither_recorded_nor_shown(tmp_path):
    home = tmp_path / "home"
    instance = make_instance(home, fetch_allow=["127.0.0.1"])
    client = operator_client(instance)
    received.clear()
    created = client.post(f"{MGMT}/datasets", json={"dataset_id": "lac", "title": "Lac", "source_url": PRESIGNED})
    assert created.status_code == 201, created.text
    loaded = client.post(f"{MGMT}/datasets/lac/data/url", json={"url": KEYED, "publish": True})
    assert loaded.status_code == 200, loaded.text
    # sent to the lake whole: the download used them
    assert "token=t0ken" in received[0] and received[0].endswith(" Basic YWdlbnQ6czNjcmV0")  # agent:s3cret
    assert "api_key=k3y" in received[1] and "sig=az5ig" in received[1]

    shown = client.get(f"{MGMT}/datasets/lac").json()
    assert [v["source"] for v in shown["versions"]] == [PRESIGNED_SHOWN, KEYED_SHOWN]
    assert shown["source"] == KEYED_SHOWN
    for answer in (created, loaded, client.get(f"{MGMT}/datasets/lac"), client.get(f"{MGMT}/datasets/lac/versions"),
                   client.get(f"{MGMT}/datasets"), client.get("/api/explore/v2.1/catalog/datasets/lac")):
        assert _secrets_in(answer.text) == [], answer.request.url
    with instance.session() as session:
        dataset = services.get_dataset(session, "lac")
        assert [v.source_name for v in dataset.versions] == [PRESIGNED_SHOWN, KEYED_SHOWN]  # recorded so
    assert _secrets_on_disk(home) == []

    # A reload cannot fetch a URL without its credentials: refused, saying what to do.
    reloaded = client.post(f"{MGMT}/datasets/lac/reload")
    assert reloaded.status_code == 400 and reloaded.json()["error_code"] == "CatalogError", reloaded.text
    assert f"loaded from {KEYED_SHOWN}, whose credentials are not kept" in reloaded.json()["message"]
    assert len(received) == 2  # never sent
    assert [v["version"] for v in client.get(f"{MGMT}/datasets/lac/versions").json()] == [1, 2]


def test_a_source_recorded_whole_before_is_shown_redacted_and_still_reloads(tmp_path):
    """A version recorded with its credentials (before loads stopped keeping them) is shown
    without them; its reload still fetches with them, and records the new version redacted."""
    instance = make_instance(tmp_path / "home", fetch_allow=["127.0.0.1"])
    client = operator_client(instance)
    assert client.post(f"{MGMT}/datasets", json={"dataset_id": "lac", "title": "Lac", "source_url": KEYED}).status_code == 201
    with instance.session() as session:  # as a catalogue written before would hold it
        dataset = services.get_dataset(session, "lac")
        dataset.versions[0].source_name = dataset.source = KEYED
    shown = client.get(f"{MGMT}/datasets/lac")
    assert shown.json()["versions"][0]["source"] == KEYED_SHOWN and _secrets_in(shown.text) == []
    received.clear()
    reloaded = client.post(f"{MGMT}/datasets/lac/reload")
    assert reloaded.status_code == 200, reloaded.text
    assert "api_key=k3y" in received[0]
    assert [v["source"] for v in client.get(f"{MGMT}/datasets/lac/versions").json()] == [KEYED_SHOWN, KEYED_SHOWN]


def test_refusals_and_failures_name_the_url_without_its_credentials(tmp_path):
    client = operator_client(make_instance(tmp_path / "home", fetch_allow=["127.0.0.1"]))
    assert client.post(f"{MGMT}/datasets", json={"dataset_id": "lac", "title": "Lac"}).status_code == 201
    hop = client.post(f"{MGMT}/datasets/lac/data/url",
                      json={"url": f"{LAKE}/moved"})
    assert hop.status_code == 400, hop.text
    assert f"redirected to {REFUSED}/data.csv?token=<redacted>&sig=<redacted>" in hop.json()["message"], hop.text
    missing = client.post(f"{MGMT}/datasets/lac/data/url", json={"url": f"{LAKE}/gone.csv?api_key=k3y"})
    assert missing.status_code == 400 and "HTTP 404" in missing.json()["message"], missing.text
    assert f"{LAKE}/gone.csv?api_key=<redacted>" in missing.json()["message"]
    created = client.post(f"{MGMT}/datasets", json={"dataset_id": "x", "title": "X", "source_url": PRESIGNED.replace(
        "data.csv", "gone.csv")})
    assert created.status_code == 400 and "HTTP 404" in created.json()["message"], created.text
    # A first load that failed after the download: a new creation says how to load into it.
    assert client.post(f"{MGMT}/datasets/lac/data/url", json={"url": f"{LAKE}/empty.csv?token=t0ken"}).status_code == 400
    again = client.post(f"{MGMT}/datasets", json={"dataset_id": "lac", "title": "Lac"})
    assert again.status_code == 409 and "`portail dataset ingest lac URL --publish`" in again.json()["message"], again.text
    for answer in (hop, missing, created, again):
        assert _secrets_in(answer.text) == [], answer.text


def test_the_command_line_loads_with_the_credentials_and_shows_them_redacted(tmp_path):
    env = {"PORTAIL_HOME": str(tmp_path / "home"), "COLUMNS": "300", "PORTAIL_FETCH_ALLOW": '["127.0.0.1"]'}
    received.clear()
    created = invoke(["dataset", "create", "lac", "--title", "Lac", "--from", PRESIGNED, "--publish"], env)
    assert created.exit_code == 0, created.output
    assert "token=t0ken" in received[0]
    show = invoke(["dataset", "show", "lac"], env)
    assert show.exit_code == 0 and "http://<redacted>@127.0.0.1:18721/data.csv" in show.output, show.output
    as_json = invoke(["dataset", "show", "lac", "--json"], env)
    assert PRESIGNED_SHOWN in as_json.output
    reload = invoke(["dataset", "reload", "lac"], env)
    assert reload.exit_code == 1 and "whose credentials are not kept" in " ".join(reload.output.split())
    failed = invoke(["dataset", "ingest", "lac", PRESIGNED.replace("data.csv", "gone.csv")], env)
    assert failed.exit_code == 1 and "HTTP 404" in failed.output
    for result in (created, show, as_json, reload, failed):
        assert _secrets_in(result.output) == [], result.output
    assert _secrets_on_disk(tmp_path / "home") == []


def test_redaction_keeps_everything_but_the_secrets():
    assert redacted_url("https://user:pw@h.example/a.csv") == "https://<redacted>@h.example/a.csv"
    assert redacted_url("https://h.example/a.csv?Token=1&ACCESS_TOKEN=2&client_secret=3&password=4&x-api-key=5"
                        "&Subscription-Key=6&X-Goog-Signature=7&monkey=8&keyword=9&sv=10") == \
        ("https://h.example/a.csv?Token=<redacted>&ACCESS_TOKEN=<redacted>&client_secret=<redacted>"
         "&password=<redacted>&x-api-key=<redacted>&Subscription-Key=<redacted>&X-Goog-Signature=<redacted>"
         "&monkey=8&keyword=9&sv=10")
    assert redacted_url("https://h.example/cb#access_token=1&state=2") == \
        "https://h.example/cb#access_token=<redacted>&state=2"
    assert redacted_url("https://h.example/a.csv?pass=1&jwt=2&passage=3") == \
        "https://h.example/a.csv?pass=<redacted>&jwt=<redacted>&passage=3"
    for kept in ("/data/communes.csv", "communes.csv", "https://h.example/a.csv?q=code%3D01&page=2"):
        assert redacted_url(kept) == kept and not withheld(kept)
    assert redacted_url(redacted_url(PRESIGNED)) == redacted_url(PRESIGNED) == PRESIGNED_SHOWN
    assert withheld(PRESIGNED_SHOWN) and not withheld(PRESIGNED)
    assert redacted_url("http://agent:s3cret@[::1/x?token=t0ken") == "http://<redacted>@[::1/x"  # urlsplit refuses it
    said = redacted_text(f"Redirect location '{PRESIGNED}' refused; see {KEYED}.")
    assert said == f"Redirect location '{PRESIGNED_SHOWN}' refused; see {KEYED_SHOWN}."


def test_an_unfinished_first_load_recorded_whole_is_named_without_its_credentials(tmp_path):
    """A catalogue written before loads stopped keeping credentials holds the URL whole: the
    409 that says how to finish the first load showed it, token and password included."""
    instance = make_instance(tmp_path / "home", fetch_allow=["127.0.0.1"])
    client = operator_client(instance)
    assert client.post(f"{MGMT}/datasets", json={"dataset_id": "lac", "title": "Lac"}).status_code == 201
    whole = "http://agent:s3cret@127.0.0.1:18721/empty.csv?token=t0ken"
    assert client.post(f"{MGMT}/datasets/lac/data/url", json={"url": whole}).status_code == 400  # 0 records
    with instance.session() as session:  # as a catalogue written before holds it
        services.get_dataset(session, "lac").versions[-1].source_name = whole
    again = client.post(f"{MGMT}/datasets", json={"dataset_id": "lac", "title": "Lac"})
    assert again.status_code == 409, again.text
    said = again.json()["message"]
    assert _secrets_in(said) == [], said
    assert "`portail dataset ingest lac URL --publish`" in said, said


@pytest.fixture
def stuck_names(monkeypatch) -> Iterator[None]:
    """``*.stuck.example`` never resolves while the test runs (a resolver that never answers),
    then fails at once so that no lookup thread outlives the test; other names resolve."""
    release = threading.Event()
    real = socket.getaddrinfo

    def lookup(host, port, *args, **kwargs):
        if str(host).endswith(".stuck.example"):
            release.wait(30)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    yield
    release.set()


def test_a_download_from_an_address_is_not_held_behind_stuck_lookups(tmp_path, stuck_names):
    """Lookups stuck on a silent resolver filled ``resolve``'s few threads: a download from an
    allowed address, which has no name to look up, then waited in their queue and failed as
    "resolving 127.0.0.1 took too long" until the resolver gave up on them."""
    for attempt in range(6):  # more than the lookup threads
        with pytest.raises(Exception):
            resolve(f"data{attempt}.stuck.example", 80, 0.05)
    path = download(f"{LAKE}/data.csv", tmp_path, 1 << 20, allowance(["127.0.0.1"]), seconds=2)
    assert path.read_bytes() == CSV


#: Tokens in their issuers' formats (made up): GitHub's, an AWS access key id, a Google API key.
GITHUB_TOKEN = "ghp_" + "Zx8" * 12
AWS_KEY_ID = "AKIA" + "Q7" * 8
GOOGLE_KEY = "AIza" + "Sy9_" * 8 + "abc"


def test_a_key_naming_a_data_file_is_no_secret_and_the_source_reloads(tmp_path):
    """``?key=communes.csv`` names the file to fetch; redacted as an API key, the source could
    not be reloaded. A key that is not a file's name stays a secret."""
    client = operator_client(make_instance(tmp_path / "home", fetch_allow=["127.0.0.1"]))
    named = f"{LAKE}/get?key=exports/communes.csv"
    created = client.post(f"{MGMT}/datasets", json={"dataset_id": "lac", "title": "Lac", "source_url": named})
    assert created.status_code == 201, created.text
    assert client.get(f"{MGMT}/datasets/lac").json()["source"] == named
    received.clear()
    reloaded = client.post(f"{MGMT}/datasets/lac/reload")
    assert reloaded.status_code == 200, reloaded.text
    assert received[0].startswith("/get?key=exports/communes.csv ")
    for secret in (f"?key={GOOGLE_KEY}", "?key=communes", "?key=pass.word", "?KEY=a%2Fb.csv%3Fx"):
        assert redacted_url(f"https://h.example/x{secret}") == f"https://h.example/x?{secret[1:].split('=')[0]}=<redacted>"
    for file in ("?key=communes.csv", "?Key=2024/r%C3%A9gions.geojson", "?key=lot+1.xlsx", "?key=contours.zip"):
        assert redacted_url(f"https://h.example/x{file}") == f"https://h.example/x{file}"


def test_credentials_in_their_issuers_format_are_secrets_in_the_path_and_under_any_name(tmp_path):
    """A token in the path (``/dl/ghp_…/data.csv``) or under a name no rule knows was recorded
    and shown whole. Public ids in a path stay: a data.gouv.fr resource UUID, a commit's SHA."""
    home = tmp_path / "home"
    client = operator_client(make_instance(home, fetch_allow=["127.0.0.1"]))
    tokened = f"{LAKE}/dl/{GITHUB_TOKEN}/data.csv?id={AWS_KEY_ID}&u={GOOGLE_KEY}&page=2"
    created = client.post(f"{MGMT}/datasets", json={"dataset_id": "lac", "title": "Lac", "source_url": tokened})
    assert created.status_code == 201, created.text
    assert f"/dl/{GITHUB_TOKEN}/data.csv?id={AWS_KEY_ID}" in received[-1]  # fetched whole
    shown = client.get(f"{MGMT}/datasets/lac")
    assert shown.json()["source"] == f"{LAKE}/dl/<redacted>/data.csv?id=<redacted>&u=<redacted>&page=2"
    leaked = [token for token in (GITHUB_TOKEN, AWS_KEY_ID, GOOGLE_KEY) if token in shown.text
              or any(token.encode() in path.read_bytes() for path in home.rglob("*") if path.is_file())]
    assert leaked == []
    reloaded = client.post(f"{MGMT}/datasets/lac/reload")
    assert reloaded.status_code == 400 and "whose credentials are not kept" in reloaded.json()["message"], reloaded.text
    for public in ("https://www.data.gouv.fr/fr/datasets/r/6e5d4c3b-2a19-4f08-9e7d-6c5b4a392817",
                   "https://raw.githubusercontent.com/o/r/0123456789abcdef0123456789abcdef01234567/data.csv"):
        assert redacted_url(public) == public and not withheld(public)


def test_a_url_within_a_query_parameter_is_redacted_too():
    """A proxy's or a redirect's ``?url=`` holds a URL with credentials of its own, encoded."""
    inner = "https%3A%2F%2Fagent%3As3cret%40h.example%2Fx.csv%3Ftoken%3Dt0ken%26page%3D2"
    shown = redacted_url(f"https://proxy.example/get?url={inner}&format=csv")
    assert shown == ("https://proxy.example/get?url=https://<redacted>@h.example/x.csv%3Ftoken%3D<redacted>%26page%3D2"
                     "&format=csv")
    assert withheld(shown) and redacted_url(shown) == shown and _secrets_in(shown) == []
    twice = "https://a.example/?next=https%3A%2F%2Fb.example%2F%3Furl%3Dhttps%253A%252F%252Fu%253As3cret%2540c.example"
    assert _secrets_in(redacted_url(twice)) == [] and withheld(redacted_url(twice))
    plain = "https://proxy.example/get?url=https%3A%2F%2Fh.example%2Fx.csv%3Fpage%3D2"
    assert redacted_url(plain) == plain and not withheld(plain)  # as written, when it holds no secret
    said = redacted_text(f"Redirect location 'https://proxy.example/get?url={inner}' refused")
    assert _secrets_in(said) == [], said


def test_a_source_of_urls_nested_without_end_is_loaded_and_shown_withheld(tmp_path):
    """``?u=http://h/`` nested 700 times (9 kB) was redacted one nesting at a time until
    Python's stack ran out: the dataset's creation was a 500. Past ``NESTING`` a URL value is
    withheld whole."""
    client = operator_client(make_instance(tmp_path / "home", fetch_allow=["127.0.0.1"]))
    nested = f"{LAKE}/data.csv" + "?u=http://h.example/" * 700
    created = client.post(f"{MGMT}/datasets", json={"dataset_id": "lac", "title": "Lac", "source_url": nested})
    assert created.status_code == 201, created.text[:300]
    shown = client.get(f"{MGMT}/datasets/lac").json()["source"]
    assert shown.startswith(f"{LAKE}/data.csv?u=http://h.example/") and shown.endswith("<redacted>"), shown
    assert shown.count("h.example") == NESTING and len(shown) < 300, shown  # re-encoded at each nesting
    assert withheld(shown) and redacted_url(shown) == shown and not withheld(nested)


def test_a_token_is_found_among_words_up_to_the_next_ampersand_and_standing_alone():
    """``Bearer ghp_…`` under a name no rule knows, a token after an encoded slash in the path,
    alone as a query (``?ghp_…``) were shown whole; so was the part of a secret after a ``;``
    (``token=ab;cd``: servers split on ``&`` only, the token sent is ``ab;cd``)."""
    for written, shown in ((f"https://h.example/x?h=Bearer%20{GITHUB_TOKEN}&page=2",
                            "https://h.example/x?h=<redacted>&page=2"),
                           (f"https://h.example/a%2F{GITHUB_TOKEN}/x.csv", "https://h.example/<redacted>/x.csv"),
                           (f"https://h.example/x.csv?{AWS_KEY_ID}&page=2", "https://h.example/x.csv?<redacted>&page=2"),
                           ("https://h.example/x?token=t0ken;s3cret&page=2",
                            "https://h.example/x?token=<redacted>&page=2"),
                           ("https://h.example/x?a=1;token=t0ken;s3cret", "https://h.example/x?a=1;token=<redacted>"),
                           ("https://h.example/x#access_token=t0ken;s3cret",
                            "https://h.example/x#access_token=<redacted>")):
        assert redacted_url(written) == shown and redacted_url(shown) == shown, written
        assert withheld(shown) and not withheld(written), written
        assert _secrets_in(shown) == [] and GITHUB_TOKEN not in shown and AWS_KEY_ID not in shown


def test_a_url_with_no_secret_is_kept_byte_for_byte():
    """Rebuilt by ``urlunsplit``, ``HTTPS://h/x?`` was recorded as ``https://h/x``: the URL
    shown and reloaded was not the one given."""
    for kept in ("HTTPS://h.example/x.csv", "https://h.example/x.csv?", "https://h.example/x.csv#",
                 "https://h.example/x.csv?a=1#", "HTTP://H.example:8080/x?a=1&&b=%41"):
        assert redacted_url(kept) == kept and not withheld(kept), kept
    said = f"refused {'x' * 100}https://agent:s3cret@h.example/x.csv"  # a scheme run on from a long word
    assert _secrets_in(redacted_text(said)) == [], redacted_text(said)


def test_a_token_ending_the_path_does_not_name_the_downloaded_file(tmp_path):
    """The download's file was named after the URL's last segment: ``/dl/ghp_…`` made the load's
    report say ``"source": "fetch-…-ghp_…"`` to every manager, in the catalogue and the version."""
    home = tmp_path / "home"
    client = operator_client(make_instance(home, fetch_allow=["127.0.0.1"]))
    created = client.post(f"{MGMT}/datasets", json={"dataset_id": "lac", "title": "Lac",
                                                     "source_url": f"{LAKE}/dl/{GITHUB_TOKEN}"})
    assert created.status_code == 201, created.text
    assert received[-1].startswith(f"/dl/{GITHUB_TOKEN} ")  # fetched whole
    assert created.json()["versions"][0]["report"]["source"].startswith("fetch-")
    for answer in (created, client.get(f"{MGMT}/datasets/lac"), client.get(f"{MGMT}/datasets/lac/versions")):
        assert GITHUB_TOKEN not in answer.text, answer.request.url
    assert [path.name for path in home.rglob("*") if path.is_file() and GITHUB_TOKEN.encode() in path.read_bytes()] == []
