"""The consoles the ``portail`` commands write to (``cli``, ``auth.cli``): one way to make them."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

#: Wider than any table: a pipe or a file has no width to fit.
UNBOUNDED = 10_000


def stdout_console() -> Console:
    """Standard output: a terminal's width, else (a pipe, a file, a script, cron) no width at
    all, so that a table never cuts an id the operator copies into the next command (at Rich's
    default of 80 columns, ``dataset list`` showed ``retraites-c…``)."""
    return Console() if sys.stdout.isatty() else Console(width=UNBOUNDED)


def plain(*cells: str) -> list[Text]:
    """A table row's cells as text, never as Rich markup: titles, labels, sources and errors are
    the publishers' and the web's words, and a ``[/x]`` in a title ended ``dataset list`` with a
    traceback (a ``[bold]`` styled the rest, a ``[2024]`` vanished)."""
    return [Text(cell) for cell in cells]


def stderr_console() -> Console:
    """Standard error, for messages and refusals (one line each, soft-wrapped by the caller)."""
    return Console(stderr=True)


def fail(message: str) -> NoReturn:
    """A refusal: one red line on standard error, and exit 1 (every command says it so)."""
    stderr_console().print(f"[red]Error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)
