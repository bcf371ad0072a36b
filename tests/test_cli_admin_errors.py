"""The ``portail`` command as a new administrator meets it: a command line that cannot mean
anything is a usage error (exit 2) refused before anything is done, a file is refused in the
same words whatever command reads it, and ``--help`` reads as prose with an example."""

from __future__ import annotations

import json
import socket

from tests.cli import cli, csv_file, dataset_versions  # noqa: F401 - cli: the fixture

USAGE = 2


def _usage_error(result, said: str) -> None:
    assert result.exit_code == USAGE, result.output
    assert said in " ".join(result.output.split()), result.output


def test_read_options_that_cannot_work_are_refused_before_a_version_is_started(cli, tmp_path):
    """A mistyped --format or --encoding was found by the load: each attempt left a failed
    version in the dataset's history, and said so with exit 1 as if the file were at fault."""
    source = csv_file(tmp_path / "one.csv", "code;nom\n01001;Abergement\n")
    cli("dataset", "create", "qa", "--title", "QA", "--from", source)
    _usage_error(cli("dataset", "ingest", "qa", source, "--format", "cvs", ok=False),
                 "Invalid value for '--format': unsupported format 'cvs'; supported: csv,")
    _usage_error(cli("dataset", "ingest", "qa", source, "--encoding", "latin-9x", ok=False),
                 "Invalid value for '--encoding': unknown encoding 'latin-9x'")
    assert [v["status"] for v in dataset_versions(cli, "qa")] == ["ready"]
    _usage_error(cli("dataset", "create", "qb", "--title", "QB", "--from", source, "--format", "nosuch", ok=False),
                 "unsupported format 'nosuch'")
    assert "Unknown dataset: qb" in cli("dataset", "show", "qb", ok=False).output
    assert "version 2 ready" in cli("dataset", "ingest", "qa", source, "--format", "CSV", "--encoding", "UTF-8").output


def test_options_that_contradict_or_say_nothing_are_usage_errors(cli, tmp_path):
    """``pipeline --set F --clear`` saved F and ignored --clear; ``field qa n`` with nothing to
    override recorded an empty override and said "override saved"."""
    cli("dataset", "create", "qa", "--title", "QA", "--from", csv_file(tmp_path / "one.csv", "code;nom\n01001;A\n"))
    steps = csv_file(tmp_path / "p.yaml", "- {processor: rename, field: nom, to: libelle}\n")
    _usage_error(cli("dataset", "pipeline", "qa", "--set", steps, "--clear", ok=False),
                 "Invalid value for '--set' / '--clear': give one, not both")
    assert cli("dataset", "pipeline", "qa").output.strip() == "[]"
    _usage_error(cli("dataset", "field", "qa", "nom", ok=False), "none given: say what to override, or --clear")
    _usage_error(cli("dataset", "field", "qa", "nom", "--clear", "--type", "int", ok=False),
                 "Invalid value for '--clear': it forgets every override of the field")
    assert json.loads(cli("dataset", "show", "qa", "--json").output)["field_overrides"] == {}


def test_a_pipeline_file_is_refused_in_the_words_of_every_other_file(cli, tmp_path):
    """``ingest``, ``attach`` and ``refdata`` say "no such file" and "this is a folder, not a
    file"; ``pipeline --set`` said the system's "No such file or directory", "Is a directory"."""
    cli("dataset", "create", "qa", "--title", "QA", "--from", csv_file(tmp_path / "one.csv", "a;b\n1;2\n"))
    missing = cli("dataset", "pipeline", "qa", "--set", str(tmp_path / "nosuch.yaml"), ok=False)
    assert missing.exit_code == 1 and f"Error: {tmp_path / 'nosuch.yaml'}: no such file" in missing.output
    folder = cli("dataset", "pipeline", "qa", "--set", str(tmp_path), ok=False)
    assert f"Error: {tmp_path}: this is a folder, not a file" in folder.output
    assert "this is a folder, not a file" in cli("dataset", "ingest", "qa", str(tmp_path), ok=False).output


def test_help_lists_each_summary_as_one_paragraph_and_gives_examples(cli):
    """A group's listing kept a docstring's source line breaks: "all or nothing," ended a line
    and "as in the management API" began the next, mid-sentence."""
    listing = cli("dataset", "--help").output
    assert any("version: all or nothing, as in the management API" in line for line in listing.splitlines()), listing
    top = cli("--help").output
    assert any("the explicit step of an upgrade, every server and worker" in line for line in top.splitlines()), top
    for command in ("create", "ingest", "field", "meta", "pipeline"):
        assert f"Example: portail dataset {command} " in cli("dataset", command, "--help").output


def test_serve_where_it_cannot_listen_is_one_line_naming_the_address(cli):
    """A taken port or a host name that resolves to nothing was found by uvicorn after the
    application was built, said between log lines (``[Errno -2] Name or service not known``,
    naming no host), with exit 3."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        refused = cli("serve", "--host", "127.0.0.1", "--port", port, ok=False)
        assert refused.exit_code == 1 and f"Error: cannot listen on 127.0.0.1:{port}: Address already in use" \
            in refused.output and "INFO" not in refused.output
    unknown = cli("serve", "--host", "no-such-host.invalid", "--port", port, ok=False)
    assert unknown.exit_code == 1 and f"Error: cannot listen on no-such-host.invalid:{port}: " in unknown.output
