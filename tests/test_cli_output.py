"""What an operator reads from ``portail`` in a script or a pipe: tables are never cut (an id is
copied into the next command), and a home that did not exist is said to be a new instance (a
mistyped or relative PORTAIL_HOME silently served an empty one)."""

from __future__ import annotations

from tests.cli import portail

LONG_ID = "retraites-cnracl-age-moyen-de-liquidation-par-generation"


def test_a_new_home_is_said_and_piped_tables_keep_whole_ids(tmp_path):
    home = tmp_path / "mistyped-home"
    first = portail(home, "dataset", "create", LONG_ID, "--title", "Âge moyen de liquidation des retraités de la "
                    "CNRACL par génération et par sexe")
    assert first.returncode == 0, first.stderr
    assert f"new instance home {home}" in first.stderr
    listed = portail(home, "dataset", "list")
    assert listed.returncode == 0, listed.stderr
    assert "new instance home" not in listed.stderr  # only when it is made
    assert LONG_ID in listed.stdout and "…" not in listed.stdout, listed.stdout
