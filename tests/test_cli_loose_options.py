"""Loose ends of the ``portail`` command's options: what an option cannot do is said (a URL of
another scheme, a read option the file's format ignores, a malformed annotation, an unknown id
to delete), said before anything is done or asked, and the same through the management API; and
what ``serve --host`` can listen on is not refused by a check stricter than the server."""

from __future__ import annotations

import gzip
import socket

import pytest

from tests.cli import cli, csv_file, dataset_versions  # noqa: F401 - cli: the fixture
from tests.conftest import make_instance, operator_client

USAGE = 2


def _one_line(result) -> str:
    return " ".join(result.output.split())


def test_a_url_of_another_scheme_is_said_unfetchable_not_a_missing_file(cli, tmp_path):
    """``ftp://…`` was read as a path: "…/ftp:/example.org/x.csv: no such file"."""
    cli("dataset", "create", "qa", "--title", "QA", "--from", csv_file(tmp_path / "one.csv", "code;nom\n01001;A\n"))
    for command in (("dataset", "ingest", "qa", "ftp://example.org/x.csv"),
                    ("dataset", "create", "qb", "--title", "QB", "--from", "ftp://example.org/x.csv")):
        refused = cli(*command, ok=False)
        assert refused.exit_code == 1
        assert "ftp://example.org/x.csv: only http and https URLs can be fetched" in _one_line(refused)
        assert "no such file" not in refused.output
    assert "Unknown dataset: qb" in cli("dataset", "show", "qb", ok=False).output  # all or nothing
    assert [v["status"] for v in dataset_versions(cli, "qa")] == ["ready"]
    instance = make_instance(tmp_path / "home")  # the management API says it in the same words
    try:
        answer = operator_client(instance).post("/api/management/v1/datasets/qa/data/url",
                                                json={"url": "ftp://example.org/x.csv"})
        assert answer.status_code == 400
        assert answer.json()["message"] == "ftp://example.org/x.csv: only http and https URLs can be fetched"
    finally:
        instance.store.close()


def test_the_formats_said_are_those_a_reader_reads(cli, tmp_path):
    """"zip" was listed as a format, though a zip is only opened by detection for the
    spreadsheet or Shapefile it holds: ``--format zip`` was refused with a list naming zip."""
    from portail.ingest.detect import SUPPORTED
    from portail.ingest.readers import READERS

    assert SUPPORTED == sorted(READERS)
    cli("dataset", "create", "qa", "--title", "QA")
    packed = tmp_path / "data.csv.gz"
    packed.write_bytes(gzip.compress(b"code;nom\n01001;A\n"))
    said = _one_line(cli("dataset", "ingest", "qa", str(packed), ok=False))
    assert f"supported: {', '.join(SUPPORTED)}" in said and "zip" not in said.split("supported:")[1]
    refused = cli("dataset", "ingest", "qa", str(packed), "--format", "zip", ok=False)
    assert refused.exit_code == USAGE and f"supported: {', '.join(SUPPORTED)}" in _one_line(refused)


def test_read_options_the_format_ignores_are_refused(cli, tmp_path, refdata):
    """``--delimiter ''`` was read as none (sniffed), ``--sheet`` on a CSV and ``--delimiter`` on
    a spreadsheet were ignored: the load published what was not asked, without a word."""
    source = csv_file(tmp_path / "one.csv", "code;nom\n01001;A\n")
    cli("dataset", "create", "qa", "--title", "QA", "--from", source)
    for options, said in ((("--delimiter", ""), "the delimiter is empty"), (("--sheet", ""), "the sheet is empty"),
                          (("--format", "csv", "--sheet", "2"), "a sheet applies to xlsx, xls, xlsb, ods files only, "
                                                                  "not to csv"),
                          (("--format", "xlsx", "--delimiter", ";"), "a delimiter applies to csv, tsv files only")):
        refused = cli("dataset", "ingest", "qa", source, *options, ok=False)
        assert refused.exit_code == USAGE and said in _one_line(refused), refused.output
    refused = cli("dataset", "create", "qb", "--title", "QB", "--from", source, "--delimiter", "", ok=False)
    assert refused.exit_code == USAGE
    assert "Unknown dataset: qb" in cli("dataset", "show", "qb", ok=False).output  # refused before it was created
    # The format known once detected: refused by the load, before it starts a version.
    refused = cli("dataset", "ingest", "qa", source, "--sheet", "Feuil1", ok=False)
    assert refused.exit_code == 1 and "one.csv: a sheet applies to xlsx, xls, xlsb, ods files only, not to csv" \
        in _one_line(refused)
    spreadsheet = str(refdata / "excel" / "insee_fe_dod_struct_pop.xls")
    refused = cli("dataset", "ingest", "qa", spreadsheet, "--delimiter", ";", ok=False)
    assert "insee_fe_dod_struct_pop.xls: a delimiter applies to csv, tsv files only, not to xls" in _one_line(refused)
    assert [v["status"] for v in dataset_versions(cli, "qa")] == ["ready"]  # no failed version left behind
    assert "version 2 ready" in cli("dataset", "ingest", "qa", source, "--delimiter", ";").output
    instance = make_instance(tmp_path / "home")  # an upload through the management API: the same rule
    try:
        with open(source, "rb") as handle:
            answer = operator_client(instance).post("/api/management/v1/datasets/qa/data", params={"sheet": "2"},
                                                    files={"file": ("one.csv", handle, "text/csv")})
        assert answer.status_code == 400 and "a sheet applies to" in answer.json()["message"]
    finally:
        instance.store.close()
    assert len(dataset_versions(cli, "qa")) == 2


@pytest.mark.parametrize("annotation, said", [
    ("hierarchical", "Annotation 'hierarchical': hierarchical takes one argument, its path separator"),
    ("multivalued=", "Annotation 'multivalued=': multivalued takes one argument"),
    ("facet=x=y", "Annotation 'facet=x=y': facet takes no argument"),
    ("sortable=yes", "Annotation 'sortable=yes': sortable takes no argument"),
])
def test_malformed_annotations_are_refused_naming_them(cli, tmp_path, annotation, said):
    cli("dataset", "create", "qa", "--title", "QA", "--from", csv_file(tmp_path / "one.csv", "code;nom\n01001;A\n"))
    refused = cli("dataset", "field", "qa", "nom", "--annotate", "facet", "--annotate", annotation, ok=False)
    assert refused.exit_code == 2 and said in _one_line(refused)
    instance = make_instance(tmp_path / "home")  # the management API's override: the same check
    try:
        name, given, argument = annotation.partition("=")
        answer = operator_client(instance).put("/api/management/v1/datasets/qa/fields/nom",
                                               json={"annotations": {name: [argument] if given else []}})
        assert answer.status_code == 400 and said in answer.json()["message"]
        with instance.session() as session:
            from portail.catalog import services

            assert services.get_dataset(session, "qa").field_overrides in (None, {})  # nothing recorded
    finally:
        instance.store.close()
    assert "override saved" in cli("dataset", "field", "qa", "nom", "--annotate", "hierarchical=/").output


def test_deleting_an_unknown_id_says_so_before_asking(cli):
    """``dataset delete nosuch`` and ``user delete nosuch`` asked "Delete …? [y/N]", and only
    after a "y" said the id was unknown."""
    for command, said in ((("dataset", "delete", "nosuch"), "Unknown dataset: nosuch"),
                          (("user", "delete", "nosuch"), "nosuch"), (("group", "delete", "nosuch"), "nosuch")):
        refused = cli(*command, ok=False, input=b"y\n")
        assert refused.exit_code == 1 and said in refused.output and "?" not in refused.output, refused.output
    cli("user", "create", "alice")
    kept = cli("user", "delete", "alice", ok=False, input=b"n\n")
    assert "Delete user alice?" in kept.output
    assert "user alice: deleted" in cli("user", "delete", "alice", input=b"y\n").output


def test_a_pipeline_of_one_step_is_said_in_the_singular(cli, tmp_path):
    cli("dataset", "create", "qa", "--title", "QA", "--from", csv_file(tmp_path / "one.csv", "code;nom\n01001;A\n"))
    steps = csv_file(tmp_path / "p.yaml", "- {processor: rename, field: nom, to: libelle}\n")
    assert "qa: pipeline of 1 step saved;" in cli("dataset", "pipeline", "qa", "--set", str(steps)).output


@pytest.mark.parametrize("command, example", [
    (("user", "create"), "Example: portail user create alice --role publisher"),
    (("apikey", "create"), "Example: KEY=$(portail apikey create alice --scope manage"),
])
def test_account_commands_show_an_example_in_their_help(cli, command, example):
    assert example in _one_line(cli(*command, "--help"))


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 on this machine")
def test_serve_on_every_ipv6_address_is_not_refused_for_an_ipv4_listener():
    """``serve --host ::`` with one worker listens on IPv6 only (asyncio's ``create_server`` sets
    ``IPV6_V6ONLY``), so an IPv4 server on the same port does not stop it; the pre-check bound
    a dual-stack socket and refused a server uvicorn would have started. With several workers
    uvicorn binds one dual-stack socket itself: refused, as it would fail."""
    from portail.cli import _listen_refusal

    with socket.socket(socket.AF_INET) as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert _listen_refusal("::", port, workers=1) is None
        assert _listen_refusal("::", port, workers=2) == f"cannot listen on [::]:{port}: Address already in use"
        assert _listen_refusal("127.0.0.1", port, workers=1) == f"cannot listen on 127.0.0.1:{port}: Address already in use"
