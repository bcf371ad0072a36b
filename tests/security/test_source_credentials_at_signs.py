"""At signs and cut-short passwords (``userinfo_cut_short``): an ``@`` in the path of a URL
whose host has a port is no password cut short when that host is one no user name is (a dotted
name, an address, localhost, a bracketed IPv6 one); and a password holding an ``@`` before its
``/`` is one still.

The data lake is a real HTTP server (``tests.security.csv_lake``).
"""

from __future__ import annotations

from portail.sources.redaction import MARK, redacted_url, userinfo_cut_short, withheld
from tests.conftest import make_instance, operator_client
from tests.security.csv_lake import lake, received  # noqa: F401 - lake: the fixture

MGMT = "/api/management/v1"
#: The pieces of a password holding an @, a : and a / (``pa55@zz:w0rd/s3cret``).
PIECES = ("pa55", "w0rd", "s3cret")


def test_an_at_sign_in_the_path_after_a_hosts_port_is_kept():
    """``https://cdn.example.org:8080/img/logo@2x.png``: every client fetches that path from
    that host and port. It was refused at load and recorded as ``https://<redacted>@2x.png``
    (its host lost, its reload refused)."""
    for kept in ("https://cdn.example.org:8080/img/logo@2x.csv", "http://[::1]:8080/x@y.csv",
                 "http://localhost:8080/v1/users/me@x.fr/data.csv", "http://10.0.0.5:8080/a@b.csv",
                 "https://lake.example:8443/x.csv#user@lake", "https://lake.example:8443/x.csv?a@b",
                 "https://agent:pa55@lake.example:8443/img/logo@2x.csv"):
        shown = kept if "agent" not in kept else kept.replace("agent:pa55", MARK)
        assert not userinfo_cut_short(kept), kept
        assert redacted_url(kept) == shown and (withheld(shown) == ("agent" in kept)), redacted_url(kept)


def test_an_ordinary_url_with_an_at_sign_after_its_port_loads_and_reloads(tmp_path, lake):
    client = operator_client(make_instance(tmp_path / "home", fetch_allow=["127.0.0.1"]))
    for path in ("/img/logo@2x.csv", "/v1/users/me@x.fr/data.csv"):
        client.delete(f"{MGMT}/datasets/lac")
        received.clear()
        created = client.post(f"{MGMT}/datasets", json={"dataset_id": "lac", "title": "Lac",
                                                         "source_url": lake + path})
        assert created.status_code == 201, created.text
        assert client.get(f"{MGMT}/datasets/lac").json()["source"] == lake + path
        reloaded = client.post(f"{MGMT}/datasets/lac/reload")
        assert reloaded.status_code == 200, reloaded.text
        assert received == [path, path]


def test_a_password_holding_an_at_sign_then_a_slash_is_refused_and_never_shown(tmp_path, lake):
    """``agent:pa55@zz:w0rd/s3cret@host``: the authority read ends at ``zz:w0rd`` (httpx:
    "Invalid port: 'w0rd'"), and the URL was shown as ``<redacted>@zz:w0rd/s3cret@host``."""
    host = lake.removeprefix("http://")
    url = f"http://agent:pa55@zz:w0rd/s3cret@{host}/data.csv"
    assert userinfo_cut_short(url)
    assert redacted_url(url) == f"http://{MARK}@{host}/data.csv"
    client = operator_client(make_instance(tmp_path / "home", fetch_allow=["127.0.0.1"]))
    received.clear()
    created = client.post(f"{MGMT}/datasets", json={"dataset_id": "lac", "title": "Lac", "source_url": url})
    assert created.status_code == 400 and "%2F, %3F and %23" in created.json()["message"], created.text
    assert [piece for piece in PIECES if piece in created.text] == [], created.text
    assert received == []


def test_a_password_cut_short_in_a_scheme_relative_url_within_a_query_value_is_redacted():
    """``?next=//agent:pa55/w0rd@lake.example/x.csv``: ``//agent:pa55@lake…`` was redacted
    there, but with a ``/`` in its password the whole value was shown, and kept."""
    for written, shown in (
            ("https://h.example/login?next=//agent:pa55/w0rd@lake.example/x.csv&lang=fr",
             f"https://h.example/login?next=//{MARK}@lake.example/x.csv&lang=fr"),
            ("https://h.example/login?next=%2F%2Fagent%3Apa55%2Fw0rd%40lake.example%2Fx.csv",
             f"https://h.example/login?next=//{MARK}@lake.example/x.csv")):
        assert redacted_url(written) == shown and redacted_url(shown) == shown, redacted_url(written)
        assert withheld(shown)
    for kept in ("https://h.example/x.csv?next=//lake.example:8080/img/logo@2x.png",
                 "//nas:share/c@d.csv"):  # a text that is no URL (a path) is shown as it is
        assert redacted_url(kept) == kept and not withheld(kept), kept
