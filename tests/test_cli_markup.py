"""The commands' tables and lines show the publishers' words as written, never as Rich markup: a
title holding ``[/x]`` ended ``portail dataset list`` with a traceback, ``[bold]`` styled the
rest of the cell and ``[2024]`` vanished."""

from __future__ import annotations

from tests.cli import cli, csv_file  # noqa: F401 - cli: the fixture

TITLE = "Données [2024] [bold]brut[/bold] [/red] fin"


def test_titles_labels_and_sources_are_shown_as_written(cli, tmp_path):  # noqa: F811
    source = csv_file(tmp_path / "notes [v2].csv", "code;note\n01001;[/x] a\n")
    cli("dataset", "create", "notes", "--title", TITLE, "--from", source)
    listed = cli("dataset", "list")
    assert TITLE in listed.output, listed.output
    shown = cli("dataset", "show", "notes").output
    assert TITLE in shown and "notes [v2].csv" in shown, shown


def test_a_groups_description_is_shown_as_written(cli):  # noqa: F811
    cli("group", "create", "agents", "--description", "Agents [DSI] [/i]")
    assert "Agents [DSI] [/i]" in cli("group", "list").output
