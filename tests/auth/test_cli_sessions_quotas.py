"""``portail user reset-token|logout-everywhere``, ``portail quota``, ``portail audit``: the CLI twins
of the management API routes, on the same service functions."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from portail.auth import services, sessions
from portail.auth.cli import app
from portail.auth.ratelimit import list_quotas
from tests.conftest import make_instance


def test_reset_token_logout_everywhere_quota_and_audit(tmp_path):
    home = tmp_path / "home"
    instance = make_instance(home)
    with instance.session() as s:
        alice = services.create_user(s, "alice", password="Correct-horse-42")
        services.create_group(s, "agents")
        opened = sessions.open_session(s, alice)
    runner = CliRunner()
    env = {"PORTAIL_HOME": str(home), "COLUMNS": "200"}

    def run(*args, code=0):
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, result.output
        return result

    token = run("user", "reset-token", "alice").stdout.strip()
    with instance.session() as s:
        services.reset_password(s, token, "Brand-new-pass-7")  # the printed token works
        assert sessions.find_session(s, opened.token) is None  # and a new password ends the sessions
        opened = sessions.open_session(s, services.get_user(s, "alice"))
    assert "1 session(s) closed" in run("user", "logout-everywhere", "alice").stdout
    with instance.session() as s:
        assert sessions.find_session(s, opened.token) is None
    run("quota", "set", "group", "agents", "500")
    run("quota", "set", "user", "alice", "20")
    run("quota", "set", "user", "alice", "none")
    assert "Unknown group" in run("quota", "set", "group", "nobody", "5", code=1).stderr
    assert "quota" in run("quota", "set", "user", "alice", "many", code=1).stderr
    with instance.session() as s:
        assert [(q.principal_kind, q.principal_name, q.calls) for q in list_quotas(s)] == [("group", "agents", 500)]
    assert "group:agents: 500" in run("quota", "list").stdout
    listed = json.loads(run("audit", "--action", "quota.", "--json").stdout)
    assert listed["total_count"] == 3 and listed["results"][0]["detail"] == {"calls": None}
    assert json.loads(run("audit", "--since", "2999-01-01", "--json").stdout)["total_count"] == 0
    assert "not a date" in run("audit", "--since", "soon", code=1).stderr
    instance.store.close()


def test_a_reset_link_names_the_port_the_server_uses(tmp_path):
    """Without PORTAIL_BASE_URL the public URL is where ``portail serve`` answers: a reset link
    printed with PORTAIL_PORT=8612 must not send the user to port 8000."""
    home = tmp_path / "home"
    instance = make_instance(home)
    with instance.session() as s:
        services.create_user(s, "alice", password="Correct-horse-42")
    said = CliRunner().invoke(app, ["user", "reset-token", "alice"],
                              env={"PORTAIL_HOME": str(home), "PORTAIL_PORT": "8612", "COLUMNS": "200",
                                   "PORTAIL_BASE_URL": None})  # unset (an in-process `serve` sets it)
    assert said.exit_code == 0, said.output
    assert "http://127.0.0.1:8612/reset-password?token=" in said.stderr, said.output
