"""Source URLs whose credentials were hard to tell apart: a password holding an unencoded ``/``,
``?`` or ``#`` (which ends the host early for every client), a URL without a scheme in a query
value (a redirect's ``//user:pass@host``, a proxy's ``user:pass@host``), and a value that is
``***``, the marker rows recorded before ``MARK`` hold.

The data lake is a real HTTP server (``tests.security.csv_lake``).
"""

from __future__ import annotations

from pathlib import Path

from portail.catalog import services
from portail.sources.redaction import LEGACY_MARK, MARK, redacted_url, userinfo_cut_short, withheld
from tests.cli import invoke
from tests.conftest import make_instance, operator_client
from tests.security.csv_lake import lake, received  # noqa: F401 - lake: the fixture

MGMT = "/api/management/v1"
#: The two halves of a password an unencoded / ? or # splits: neither may be shown or kept.
HALVES = ("pa55", "w0rd")


def _halves_in(text: str) -> list[str]:
    return [half for half in HALVES if half in text]


def _halves_on_disk(home: Path) -> list[str]:
    return [f"{path.name}: {half}" for path in home.rglob("*") if path.is_file()
            for half in HALVES if half.encode() in path.read_bytes()]


def _cut_short(lake: str) -> list[str]:
    """The lake's CSV behind a password split by each of / ? #, and by a / after digits (which
    makes ``agent`` a host and 1234 its port)."""
    host = lake.removeprefix("http://")
    return [f"http://agent:pa55{cut}w0rd@{host}/data.csv" for cut in "/?#"] + \
        [f"http://agent:1234/pa55w0rd@{host}/data.csv"]


def test_a_password_cut_short_is_refused_at_load_and_never_shown(tmp_path, lake):
    """httpx read ``agent:pa55`` as a host and a port and refused it, its error and the source
    named in it showing the password; with digits first it connected to ``agent``, the rest of
    the password as the path. Refused before any request now, the URL shown redacted."""
    home = tmp_path / "home"
    client = operator_client(make_instance(home, fetch_allow=["127.0.0.1"]))
    assert client.post(f"{MGMT}/datasets", json={"dataset_id": "lac", "title": "Lac"}).status_code == 201
    received.clear()
    answers = []
    for url in _cut_short(lake):
        assert userinfo_cut_short(url), url
        shown = redacted_url(url)
        assert shown == f"{lake.replace('//', f'//{MARK}@')}/data.csv" and withheld(shown), shown
        loaded = client.post(f"{MGMT}/datasets/lac/data/url", json={"url": url})
        assert loaded.status_code == 400 and loaded.json()["error_code"] == "IngestError", loaded.text
        assert "%2F, %3F and %23" in loaded.json()["message"] and shown in loaded.json()["message"], loaded.text
        created = client.post(f"{MGMT}/datasets", json={"dataset_id": "x", "title": "X", "source_url": url})
        assert created.status_code == 400, created.text
        answers += [loaded, created]
    assert received == []  # nothing sent, to any host
    for answer in [*answers, client.get(f"{MGMT}/datasets/lac"), client.get(f"{MGMT}/datasets/lac/versions")]:
        assert _halves_in(answer.text) == [], answer.text
    assert _halves_on_disk(home) == []


def test_the_command_line_refuses_a_password_cut_short_without_showing_it(tmp_path, lake):
    env = {"PORTAIL_HOME": str(tmp_path / "home"), "COLUMNS": "300", "PORTAIL_FETCH_ALLOW": '["127.0.0.1"]'}
    for url in _cut_short(lake):
        created = invoke(["dataset", "create", "lac", "--title", "Lac", "--from", url], env)
        assert created.exit_code == 1 and "%2F, %3F and %23" in " ".join(created.output.split()), created.output
        assert _halves_in(created.output) == [], created.output
    assert _halves_on_disk(tmp_path / "home") == []


def test_an_at_sign_after_a_port_that_ends_no_password_is_kept():
    """A path segment starting with ``@`` (a team's, a user's) and a query's e-mail address
    after a port are no userinfo cut short."""
    for kept in ("https://lake.example:8080/@team/data.csv", "https://lake.example:8080/x.csv?mail=jean@x.fr",
                 "https://registry.example/@scope/x.csv", "https://lake.example:8080/x.csv"):
        assert not userinfo_cut_short(kept) and redacted_url(kept) == kept and not withheld(kept), kept


def test_a_url_without_scheme_in_a_query_value_is_redacted_when_a_redirect_or_proxy_would_use_it():
    """``?next=//user:pass@host/x`` (scheme-relative: a redirect follows it with the page's
    scheme) and ``?proxy=user:pass@host:3128`` (a proxy setting's form) were shown whole."""
    for written, shown in (
            ("https://h.example/login?next=//agent:pa55w0rd@lake.example/x.csv&lang=fr",
             f"https://h.example/login?next=//{MARK}@lake.example/x.csv&lang=fr"),
            ("https://h.example/get?next=%2F%2Flake.example%2Fx.csv%3Ftoken%3Dpa55w0rd",
             f"https://h.example/get?next=//lake.example/x.csv%3Ftoken%3D{MARK}"),
            ("https://h.example/get?target=agent:pa55w0rd@lake.example/x.csv",
             f"https://h.example/get?target={MARK}@lake.example/x.csv"),
            ("https://h.example/get?proxy=agent%3Apa55w0rd%4010.1.2.3%3A3128&page=2",
             f"https://h.example/get?proxy={MARK}@10.1.2.3:3128&page=2"),
            ("https://h.example/get?via=agent:pa55@w0rd@localhost:3128",
             f"https://h.example/get?via={MARK}@localhost:3128")):
        assert redacted_url(written) == shown and redacted_url(shown) == shown, written
        assert withheld(shown) and not withheld(written), written
        assert _halves_in(shown) == [], shown
    for kept in ("https://h.example/x.csv?time=12:30@x", "https://h.example/x.csv?at=12:30@paris.fr",
                 "https://h.example/x.csv?mail=jean@x.fr", "https://h.example/x.csv?next=/page/2",
                 "https://h.example/x.csv?next=//lake.example/y.csv", "https://h.example/x.csv?ratio=3:2@scale"):
        assert redacted_url(kept) == kept and not withheld(kept), kept


def test_a_value_of_three_stars_is_no_secret_and_reloads(tmp_path, lake):
    """``?q=***`` was read as a secret taken out: the reload of a URL that had none was refused.
    A secret taken out is ``MARK`` now, which no URL holds unencoded."""
    client = operator_client(make_instance(tmp_path / "home", fetch_allow=["127.0.0.1"]))
    starred = f"{lake}/data.csv?q=***&page=***"
    created = client.post(f"{MGMT}/datasets", json={"dataset_id": "lac", "title": "Lac", "source_url": starred})
    assert created.status_code == 201, created.text
    assert client.get(f"{MGMT}/datasets/lac").json()["source"] == starred
    received.clear()
    reloaded = client.post(f"{MGMT}/datasets/lac/reload")
    assert reloaded.status_code == 200, reloaded.text
    assert received == ["/data.csv?q=***&page=***"]
    for literal in ("https://h.example/x.csv#***", "https://h.example/x.csv?***", "https://h.example/***.csv"):
        assert redacted_url(literal) == literal and not withheld(literal), literal


def test_rows_recorded_with_the_former_marker_read_as_before(tmp_path, lake):
    """A version recorded as ``…?token=***`` (or ``https://***@…``) before ``MARK``: shown as it
    was, its reload still refused with the message asking for the full URL."""
    instance = make_instance(tmp_path / "home", fetch_allow=["127.0.0.1"])
    client = operator_client(instance)
    host = lake.removeprefix("http://")
    for former in (f"{lake}/data.csv?token={LEGACY_MARK}&page=2", f"http://{LEGACY_MARK}@{host}/data.csv",
                   f"{lake}/dl/{LEGACY_MARK}/data.csv", f"{lake}/data.csv?api_key={LEGACY_MARK}"):
        client.delete(f"{MGMT}/datasets/lac")
        assert client.post(f"{MGMT}/datasets", json={"dataset_id": "lac", "title": "Lac",
                                                      "source_url": f"{lake}/data.csv"}).status_code == 201
        with instance.session() as session:  # as a catalogue written before holds it
            dataset = services.get_dataset(session, "lac")
            dataset.versions[0].source_name = dataset.source = former
        shown = client.get(f"{MGMT}/datasets/lac").json()
        assert shown["source"] == shown["versions"][0]["source"] == former
        assert redacted_url(former) == former and withheld(former)
        received.clear()
        reloaded = client.post(f"{MGMT}/datasets/lac/reload")
        assert reloaded.status_code == 400, reloaded.text
        assert "whose credentials are not kept" in reloaded.json()["message"], reloaded.text
        assert received == []
