"""What the management API removes, the command line removes too: users, groups and a dataset's
attachments (README: the same operations exist both ways); ``dataset show`` lists the
attachments, with the id ``dataset detach`` takes."""

from __future__ import annotations

import click.testing
import typer.main

from portail.auth import services as accounts
from portail.catalog import services
from portail.cli import app
from tests.conftest import make_instance

COMMAND = typer.main.get_command(app)


def test_users_groups_and_attachments_are_removed_from_the_command_line(tmp_path):
    home = tmp_path / "home"
    env = {"PORTAIL_HOME": str(home), "COLUMNS": "200"}

    def run(*args: str, ok: bool = True, input: str | None = None):
        result = click.testing.CliRunner().invoke(COMMAND, list(args), env=env, input=input)
        assert (result.exit_code == 0) is ok, result.output
        return result

    notice = tmp_path / "notice.pdf"
    notice.write_bytes(b"%PDF-1.4 notice")
    run("dataset", "create", "retraites", "--title", "Retraites")
    attachment_id = run("dataset", "attach", "retraites", str(notice)).output.split(" as ")[-1].strip()
    assert attachment_id in run("dataset", "show", "retraites").output
    run("user", "create", "alice")
    run("group", "create", "agents")
    run("user", "delete", "alice", ok=False, input="n\n")  # asked, and refused: kept
    run("user", "delete", "alice", "--yes")
    run("group", "delete", "agents", "--yes")
    run("dataset", "detach", "retraites", attachment_id)
    assert "Unknown" in run("dataset", "detach", "retraites", attachment_id, ok=False).output
    instance = make_instance(home)
    try:
        with instance.session() as s:
            assert [u.login for u in accounts.list_users(s)] == []
            assert accounts.list_groups(s) == []
            assert services.get_dataset(s, "retraites").attachments == []
        assert not [p for p in home.rglob("*") if p.name.endswith("notice.pdf")]  # the file went too
    finally:
        instance.store.close()
