"""Bad input to the management API is a 4xx in Opendatasoft's error shape, and loses nothing
already published: several ``file`` parts in one upload, a dataset contact that is no email
address, a language that is no ISO 639-1 code. The metadata rules are the catalogue's, so the
command line says the same."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from portail.cli import app
from tests.conftest import Published, operator_client, published_instance

MGMT = "/api/management/v1"
DCAT = "/api/explore/v2.1/catalog/exports/dcat"


@pytest.fixture
def client(tmp_path: Path):
    """An operator's client of an instance serving ``communes`` (version 1, 2 records)."""
    source = tmp_path / "communes.csv"
    source.write_text("code,nom\n01001,Abergement\n01002,Abergement-de-Varey\n", encoding="utf-8")
    instance = published_instance(tmp_path / "home", Published("communes", source, "Communes",
                                                              metadata={"contact_email": "open@example.org",
                                                                        "language": "fr"}))
    yield operator_client(instance)
    instance.store.close()


def _refused(response, status: int = 400) -> str:
    """The message of an Opendatasoft-style refusal, after checking its status and shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"error_code", "message"}, body
    return body["message"]


def _served(client) -> tuple[int, int, int]:
    """What is published: current version, number of versions, records the Explore API serves."""
    dataset = client.get(f"{MGMT}/datasets/communes").json()
    count = client.get("/api/explore/v2.1/catalog/datasets/communes/records", params={"limit": 0}).json()["total_count"]
    return dataset["current_version"], len(dataset["versions"]), count


def _two_files(first: bytes, second: bytes) -> list[tuple[str, tuple[str, io.BytesIO, str]]]:
    return [("file", ("a.csv", io.BytesIO(first), "text/csv")), ("file", ("b.csv", io.BytesIO(second), "text/csv"))]


# -- several `file` parts -----------------------------------------------------------------------
def test_an_upload_with_two_file_parts_is_refused_and_loads_nothing(client):
    before = _served(client)
    uploads = Path(client.app.state.instance.settings.uploads_dir)
    message = _refused(client.post(f"{MGMT}/datasets/communes/data", params={"publish_now": True},
                                   files=_two_files(b"code,nom\n1,A\n", b"code,nom\n2,B\n3,C\n4,D\n")))
    assert "2 parts named `file`" in message
    assert _served(client) == before == (1, 1, 2)
    assert not uploads.exists() or not any(uploads.iterdir())  # nothing saved either
    # one file part is loaded as before
    one = client.post(f"{MGMT}/datasets/communes/data", params={"publish_now": True},
                      files={"file": ("c.csv", io.BytesIO(b"code,nom\n2,B\n3,C\n4,D\n"), "text/csv")})
    assert one.status_code == 200, one.text
    assert _served(client) == (2, 2, 3)


def test_an_attachment_with_two_file_parts_is_refused(client):
    message = _refused(client.post(f"{MGMT}/datasets/communes/attachments",
                                   files=_two_files(b"%PDF-1.4 a", b"%PDF-1.4 b")))
    assert "parts named `file`" in message
    assert client.get(f"{MGMT}/datasets/communes").json()["attachments"] == []


# -- contact_email --------------------------------------------------------------------------------
@pytest.mark.parametrize("email", ["not an address", "open@", "open@example", "a b@example.org", "@example.org"])
def test_a_contact_that_is_no_address_is_refused_and_the_former_kept(client, email):
    message = _refused(client.patch(f"{MGMT}/datasets/communes", json={"contact_email": email}))
    assert "contact_email" in message and repr(email) in message
    assert client.get(f"{MGMT}/datasets/communes").json()["contact_email"] == "open@example.org"
    _refused(client.post(f"{MGMT}/datasets", json={"dataset_id": "other", "title": "Other", "contact_email": email}))
    assert client.get(f"{MGMT}/datasets/other").status_code == 404


@pytest.mark.parametrize("cleared", ["", "  ", None])
def test_an_empty_contact_clears_it(client, cleared):
    answer = client.patch(f"{MGMT}/datasets/communes", json={"contact_email": cleared})
    assert answer.status_code == 200, answer.text
    assert answer.json()["contact_email"] is None


def test_a_contact_address_is_stored_trimmed(client):
    answer = client.patch(f"{MGMT}/datasets/communes", json={"contact_email": " data@ville.example.fr "})
    assert answer.json()["contact_email"] == "data@ville.example.fr"


# -- language -------------------------------------------------------------------------------------
@pytest.mark.parametrize("language", ["français", "french", "fra", "fr-FR", "f", "zz", "12"])
def test_a_language_that_is_no_iso_639_1_code_is_refused(client, language):
    message = _refused(client.patch(f"{MGMT}/datasets/communes", json={"language": language}))
    assert "ISO 639-1" in message and repr(language) in message
    assert client.get(f"{MGMT}/datasets/communes").json()["language"] == "fr"
    assert client.get(DCAT).status_code == 200  # "français" stored broke the DCAT export of the whole catalogue


@pytest.mark.parametrize(("sent", "stored"), [("EN", "en"), (" de ", "de"), ("", None), (None, None)])
def test_a_language_is_stored_lowercase_and_empty_clears_it(client, sent, stored):
    answer = client.patch(f"{MGMT}/datasets/communes", json={"language": sent})
    assert answer.status_code == 200, answer.text
    assert answer.json()["language"] == stored
    assert client.get(DCAT).status_code == 200


# -- the command line: the same rules, said plainly -----------------------------------------------
def test_the_command_line_refuses_the_same_metadata(tmp_path):
    env = {"PORTAIL_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    runner = CliRunner()
    assert runner.invoke(app, ["dataset", "create", "m", "--title", "M"], env=env).exit_code == 0
    email = runner.invoke(app, ["dataset", "meta", "m", "--contact-email", "jeanne.martin"], env=env)
    assert email.exit_code == 1
    assert "contact_email must be an address such as jeanne.martin@example.org, not 'jeanne.martin'" in email.output
    language = runner.invoke(app, ["dataset", "meta", "m", "--language", "français"], env=env)
    assert language.exit_code == 1
    assert "language must be a two-letter ISO 639-1 code such as 'fr' or 'en', not 'français'" in language.output
    assert runner.invoke(app, ["dataset", "meta", "m", "--language", "EN", "--contact-email", "a@b.fr"],
                         env=env).exit_code == 0


def test_a_language_stored_before_the_check_no_longer_breaks_the_catalogue_exports(tmp_path):
    """A ``language`` of "français", stored before languages were checked, made rdflib refuse
    the tag and every request for the catalogue's DCAT export fail: its texts now take the
    portal's language, and the other datasets are still described."""
    from sqlalchemy import update

    from portail.catalog.models import Dataset

    source = tmp_path / "communes.csv"
    source.write_text("code,nom\n01001,Abergement\n", encoding="utf-8")
    instance = published_instance(tmp_path / "home", Published("communes", source, "Communes"),
                                  Published("autre", source, "Autre jeu", metadata={"language": "oc"}))
    with instance.session() as s:
        s.execute(update(Dataset).where(Dataset.slug == "communes").values(language="français"))
    client = operator_client(instance)
    try:
        dcat = client.get(DCAT)
        assert dcat.status_code == 200, dcat.text
        assert '<dct:title xml:lang="fr">Communes</dct:title>' in dcat.text
        assert '<dct:title xml:lang="oc">Autre jeu</dct:title>' in dcat.text
        assert "resource/authority/language/OCI" in dcat.text  # Occitan, one of France's regional languages
        for fmt in ("dublin_core", "data.json"):
            answer = client.get(f"/api/explore/v2.1/catalog/exports/{fmt}")
            assert answer.status_code == 200 and "français" not in answer.text, fmt
    finally:
        instance.store.close()
