"""Bad input on the ``portail`` command: one line, a non-zero exit, never a traceback, and
nothing already published changes."""

from __future__ import annotations

import json

import pytest

from tests.cli import cli, csv_file, dataset_versions, migrated_home  # noqa: F401 - the fixtures

#: What is checked here is what each refusal says and keeps, each test from a new home (``migrated_home``).
pytestmark = pytest.mark.usefixtures("migrated_home")


def _served(cli, slug: str) -> int:
    return json.loads(cli("dataset", "show", slug, "--json").output)["current_version"]


def test_a_file_that_is_not_sirene_publishes_nothing(cli, tmp_path):
    cli("refdata", "sirene", csv_file(tmp_path / "sir.csv", "siren;nic;denominationUniteLegale\n123456789;00012;ACME\n"))
    refused = cli("refdata", "sirene", csv_file(tmp_path / "ok.csv", "a;b\n1;2\n"), ok=False)
    assert "not a Sirene establishments file" in refused.output and "records" not in refused.output
    assert _served(cli, "ref-src-sirene") == 1 and _served(cli, "ref-sirene") == 1
    assert [v["status"] for v in dataset_versions(cli, "ref-src-sirene")] == ["ready", "failed"]
    assert "no ready" not in cli("dataset", "publish", "ref-src-sirene").output  # the newest ready one: still 1
    assert _served(cli, "ref-src-sirene") == 1


def test_reload_after_a_rollback_reads_the_served_versions_source(cli, tmp_path):
    cli("dataset", "create", "qa", "--title", "QA", "--from", csv_file(tmp_path / "one.csv", "a;b\n1;2\n"))
    cli("dataset", "ingest", "qa", csv_file(tmp_path / "two.csv", "a;b\n1;2\n3;4\n"), "--publish")
    cli("dataset", "rollback", "qa", "--to", "1")
    assert "version 3 published: 1 records" in cli("dataset", "reload", "qa").output
    assert dataset_versions(cli, "qa")[-1]["source"].endswith("one.csv")


def test_an_empty_reload_is_not_published_over_records(cli, tmp_path):
    source = tmp_path / "data.csv"
    cli("dataset", "create", "qa", "--title", "QA", "--from", csv_file(source, "a;b\n1;2\n"))
    source.write_text("a;b\n", encoding="utf-8")
    refused = cli("dataset", "reload", "qa", ok=False)
    assert "version 2 has 0 records: not published over version 1" in refused.output and "--allow-empty" in refused.output
    assert _served(cli, "qa") == 1
    assert "version 3 published: 0 records" in cli("dataset", "reload", "qa", "--allow-empty").output


def test_an_empty_version_is_not_published_or_rolled_back_to_over_records(cli, tmp_path):
    """The newest version may be a load that read nothing (kept, not published): ``publish``
    without a number would have served it, emptying the dataset, as ``rollback --to`` would."""
    cli("dataset", "create", "qa", "--title", "QA", "--from", csv_file(tmp_path / "one.csv", "a;b\n1;2\n"))
    cli("dataset", "ingest", "qa", csv_file(tmp_path / "empty.csv", "a;b\n"))  # version 2: 0 records, not published
    for command in (("publish", "qa"), ("publish", "qa", "--version", "2")):
        refused = cli("dataset", *command, ok=False)
        assert refused.exit_code == 1 and "version 2 of 'qa' has 0 records: not published over version 1, which has 1" \
            in refused.output.lower() and "--allow-empty" in refused.output
        assert _served(cli, "qa") == 1
    assert "version 2 published (0 records)" in cli("dataset", "publish", "qa", "--allow-empty").output
    cli("dataset", "ingest", "qa", csv_file(tmp_path / "two.csv", "a;b\n1;2\n3;4\n"), "--publish")
    assert "has 0 records" in cli("dataset", "rollback", "qa", "--to", "2", ok=False).output
    assert "rolled back to version 1 (1 records)" in cli("dataset", "rollback", "qa", "--to", "1").output
    assert "rolled back to version 2 (0 records)" in cli("dataset", "rollback", "qa", "--to", "2", "--allow-empty").output


def test_files_that_cannot_be_read_are_one_line_errors(cli, tmp_path):
    cli("dataset", "create", "qa", "--title", "QA", "--from", csv_file(tmp_path / "one.csv", "a;b\n1;2\n"))
    folder = tmp_path / "folder"
    folder.mkdir()
    assert "this is a folder, not a file" in cli("dataset", "ingest", "qa", str(folder), ok=False).output
    assert [v["status"] for v in dataset_versions(cli, "qa")] == ["ready"]  # refused before a version is started
    assert "no such file" in cli("dataset", "attach", "qa", str(tmp_path / "nosuch.pdf"), ok=False).output
    assert "not a file" in cli("dataset", "attach", "qa", str(folder), ok=False).output
    assert "no such folder" in cli("refdata", "install", "--from", str(tmp_path / "nonexistent"), ok=False).output
    assert "not a folder" in cli("refdata", "install", "--from", str(tmp_path / "one.csv"), ok=False).output
    assert "cog2026_communes.csv: no such file" in cli("refdata", "install", "--from", str(folder), ok=False).output
    assert "not a file" in cli("refdata", "sirene", str(folder), ok=False).output
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x81steps")
    assert "binary.yaml: not UTF-8 text" in cli("dataset", "pipeline", "qa", "--set", str(binary), ok=False).output
    broken = csv_file(tmp_path / "broken.yaml", "- processor: rename\n  from: a\n  to: x: y\n")
    said = " ".join(cli("dataset", "pipeline", "qa", "--set", broken, ok=False).output.split())
    assert "broken.yaml: line 3, column 8: mapping values are not allowed here" in said and "unicode string" not in said


@pytest.mark.parametrize("variable, value, said", [
    ("PORTAIL_PORT", "abc", "PORTAIL_PORT='abc': Input should be a valid integer"),
    ("PORTAIL_KEEP_VERSIONS", "-3", "PORTAIL_KEEP_VERSIONS='-3': Input should be greater than or equal to 1"),
    ("PORTAIL_DATABASE_URL", "notaurl://x", "PORTAIL_DATABASE_URL: cannot open the catalogue"),
    ("PORTAIL_DATABASE_URL", "postgresql://u:secret@127.0.0.1:1/x", "PORTAIL_DATABASE_URL: cannot open the catalogue"),
    ("PORTAIL_HOME", "/dev/null", "PORTAIL_HOME='/dev/null': not a usable folder"),
])
def test_bad_settings_are_one_line_naming_the_variable(cli, variable, value, said):
    for command in (("dataset", "list"), ("user", "list"), ("quota", "list")):
        refused = cli(*command, ok=False, **{variable: value})
        assert said in refused.output and "secret" not in refused.output
        assert len(refused.output.strip().splitlines()) == 1, refused.output


def test_portail_toml_keys_are_checked_and_named(cli, tmp_path):
    """A key of the instance's portail.toml is meant for Portail: a misspelt one is refused (it
    was silently without effect), and a bad value names the file's key, not a variable."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "portail.toml").write_text("prot = 8080\n", encoding="utf-8")
    refused = " ".join(cli("dataset", "list", ok=False).output.split())
    assert "portail.toml: 'prot' is no setting (did you mean 'port'?)" in refused
    (home / "portail.toml").write_text('port = "abc"\n', encoding="utf-8")
    refused = " ".join(cli("dataset", "list", ok=False).output.split())
    assert "portail.toml: port='abc': Input should be a valid integer" in refused and "PORTAIL_PORT" not in refused
    assert "PORTAIL_PORT='abc'" in cli("dataset", "list", ok=False, PORTAIL_PORT="abc").output  # the environment first
    (home / "portail.toml").write_text("port = 8080\nKEEP_VERSIONS = 3\n", encoding="utf-8")  # keys read without case
    cli("dataset", "list")


def test_out_of_range_numbers_are_refused(cli):
    cli("user", "create", "alice")
    assert "not UTF-8" in cli("user", "create", "bob", "--password-stdin", input=b"\xff\xfe\n", ok=False).output
    assert "at most" in cli("quota", "set", "user", "alice", "99999999999999999999999", ok=False).output
    assert "≥ 0" in cli("quota", "set", "user", "alice", "-5", ok=False).output
    assert "--limit" in cli("audit", "--limit", "99999999999999999999", ok=False).output
    assert "--limit" in cli("audit", "--limit", "-1", ok=False).output
    assert "is not before" in cli("audit", "--since", "2026-02-01", "--until", "2026-01-01", ok=False).output
    assert "--port" in cli("serve", "--port", "99999", ok=False).output
    assert "--workers" in cli("serve", "--workers", "0", ok=False).output


@pytest.mark.parametrize("step, said", [
    ("{processor: rename, field: a}", "step 1 (rename): parameter 'to' is required"),
    ("{processor: rename, field: zz, to: c}", "unknown field 'zz'"),
    ("{processor: set_type, field: a, type: nope}", "unknown type 'nope'"),
    ("{processor: normalize, field: a, case: sideways}", "case must be lower or upper"),
    ("{processor: replace, field: a, find: '(', regex: true}", "invalid regular expression"),
    ("{processor: skip, where: 'a >'}", "step 1 (skip)"),
    ("{processor: reproject, x: a, y: b, from_epsg: 99999}", "unknown EPSG code 99999"),
    ("{processor: reproject, x: a, y: b, from_epsg: abc}", "wrong type or value"),
    ("{processor: admin_divisions, field: a, reference: nosuch}", "unknown reference dataset 'nosuch'"),
    ("{processor: concat, fields: [], output: c}", "parameter 'fields' needs at least one item"),
    ("{processor: transpose, fields: [], key: k, value: v}", "parameter 'fields' needs at least one item"),
])
def test_a_pipeline_is_checked_when_set(cli, tmp_path, step, said):
    cli("dataset", "create", "qa", "--title", "QA", "--from", csv_file(tmp_path / "one.csv", "a;b\n1;2\n"))
    refused = cli("dataset", "pipeline", "qa", "--set", csv_file(tmp_path / "p.yaml", f"- {step}\n"), ok=False)
    assert "p.yaml: " in refused.output and said in refused.output
    assert cli("dataset", "pipeline", "qa").output.strip() == "[]"


def test_record_filters_and_hidden_fields_are_checked_when_set(cli, tmp_path):
    cli("dataset", "create", "qa", "--title", "QA", "--from", csv_file(tmp_path / "one.csv", "a;b\n1;2\n"))
    assert "Record filter 'a >'" in cli("dataset-security", "qa", "--record-filter", "default=a >", ok=False).output
    assert "zz" in cli("dataset-security", "qa", "--record-filter", "default=zz = 1", ok=False).output
    assert "Unknown field 'zz'" in cli("dataset-security", "qa", "--hide-fields", "default=zz", ok=False).output
    shown = cli("dataset-security", "qa", "--record-filter", "default=a = 1", "--hide-fields", "default=b").output
    assert "record filter default: a = 1" in shown and "hidden fields default: b" in shown


def test_serve_with_a_bad_token_file_says_which_in_one_line(cli, tmp_path):
    """``portail serve`` reads (or makes) the management token before it serves: a file that
    holds none, or a folder in its place, is one line naming it, not a traceback."""
    home = tmp_path / "home"
    cli("dataset", "list")  # the home made
    (home / "management-token").write_text("\n")
    empty = cli("serve", ok=False)
    assert "management-token: holds no token" in empty.output and "PORTAIL_MANAGEMENT_TOKEN" in empty.output
    (home / "management-token").unlink()
    (home / "management-token").mkdir()
    folder = cli("serve", ok=False)
    assert "management-token: Is a directory" in folder.output


def test_an_override_of_a_field_the_version_lacks_is_noted_and_can_be_removed(cli, tmp_path):
    cli("dataset", "create", "qa", "--title", "QA", "--from", csv_file(tmp_path / "one.csv", "code;b\n01001;2\n"))
    saved = cli("dataset", "field", "qa", "cdoe", "--type", "text").output
    assert "override saved" in saved and "the served version has no field 'cdoe' (its fields: code, b)" in saved
    assert "no field" not in cli("dataset", "field", "qa", "code", "--label", "Code INSEE").output
    assert "override removed" in cli("dataset", "field", "qa", "cdoe", "--clear").output
    assert list(json.loads(cli("dataset", "show", "qa", "--json").output)["field_overrides"]) == ["code"]
    refused = cli("dataset", "field", "qa", "cdoe", "--clear", ok=False)
    assert refused.exit_code == 1 and "No override is recorded for field 'cdoe' of 'qa'; overrides: code" in refused.output


def test_a_type_no_value_reads_as_is_refused_and_the_served_version_stays(cli, tmp_path):
    """Some values failing a forced type are counted; all of them would publish the column empty."""
    cli("dataset", "create", "qa", "--title", "QA", "--from", csv_file(tmp_path / "one.csv", "caisse;n\nCNAV;1\nMSA;douze\n"))
    cli("dataset", "field", "qa", "n", "--type", "int")
    assert "line 3, field 'n': 1 value could not be read as int and became null (e.g. 'douze')" in \
        " ".join(cli("dataset", "reload", "qa").output.split())  # one of two: loaded
    cli("dataset", "field", "qa", "caisse", "--type", "int")
    refused = cli("dataset", "reload", "qa", ok=False)
    assert refused.exit_code == 1 and "field 'caisse': none of its 2 values reads as int" in refused.output
    assert _served(cli, "qa") == 2


def test_a_pipeline_that_leaves_a_field_without_values_still_loads(cli, tmp_path):
    """Values counted in the file, typed values after the steps: a skip that drops every row
    holding an amount is no type error."""
    cli("dataset", "create", "sk", "--title", "SK", "--from", csv_file(tmp_path / "sk.csv", "kind,amount\nx,12\nx,15\ny,\ny,\n"))
    cli("dataset", "pipeline", "sk", "--set", csv_file(tmp_path / "sk.yaml", "- processor: skip\n  where: kind = 'x'\n"))
    assert "version 2 published: 2 records" in cli("dataset", "reload", "sk").output


def test_a_failed_create_under_a_former_id_gives_it_back_to_the_renamed_dataset(cli, tmp_path):
    """A dataset created under a renamed dataset's former id takes it (and says so); one whose
    first load fails is removed, and the former id reaches the renamed dataset again."""
    cli("dataset", "create", "laposte", "--title", "P", "--from", csv_file(tmp_path / "one.csv", "cp;nom\n01000;Bourg\n"))
    cli("dataset", "meta", "laposte", "--rename", "laposte-cp")
    bad = tmp_path / "bad.csv"
    bad.write_text('a;b\n1;2\n3;"4\n', encoding="utf-8")
    assert "bad.csv, line 3" in cli("dataset", "create", "laposte", "--title", "X", "--from", str(bad), ok=False).output
    assert json.loads(cli("dataset", "show", "laposte", "--json").output)["dataset_id"] == "laposte-cp"
    created = cli("dataset", "create", "laposte", "--title", "X", "--from", csv_file(tmp_path / "two.csv", "a;b\n1;2\n")).output
    assert "note: 'laposte' was a former id of 'laposte-cp'" in created
    assert json.loads(cli("dataset", "show", "laposte", "--json").output)["title"] == "X"
