"""The consoles the ``portail`` commands write to (``cli``, ``auth.cli``): one way to make them."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

#: Wider than any table: a pipe or a file has no width to fit.
UNBOUNDED = 10_000


def stdout_console() -> Console:
    """Standard output: a terminal's width, else (a pipe, a file, a script, cron) no width at
    all, so that a table never cuts an id the operator copies into the next command (at Rich's
    default of 80 columns, ``dataset list`` showed ``retraites-c…``)."""
    return Console() if sys.stdout.isatty() else Console(width=UNBOUNDED)


def stderr_console() -> Console:
    """Standard error, for messages and refusals (one line each, soft-wrapped by the caller)."""
    return Console(stderr=True)


def fail(message: str) -> NoReturn:
    """A refusal: one red line on standard error, and exit 1 (every command says it so)."""
    stderr_console().print(f"[red]Error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)
