"""Start-up imports: the API server's app module and ``portail --help`` leave out the libraries
that only some paths need. Every server and CLI process pays what is imported at start (the
suite starts ~100 of them), so each of these is imported where it is used; this fails when one
comes back to a module's top.

Also: the catalogue's head revision read without Alembic (``catalog.db.head_revision``, the
check of every start) is Alembic's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

#: Imported by neither process at start, each with the reason it can wait.
LAZY = {
    "pandas": "pyarrow imports it at the first Python value it converts: jsontext's null is made at first use",
    "alembic": "only to migrate or read a revision; an up-to-date catalogue is checked by plain SQL",
    "mako": "Alembic's templates, same as alembic",
    "rdflib": "the DCAT and Dublin Core exports only (catalog.distributions has what the others share)",
    "html5rdf": "rdflib's, same as rdflib",
    "shapely": "geometry literals and v1's geo routes only",
    "httpx": "fetching a URL (sources.fetching) and single sign-on (auth.oidc) only",
    "authlib": "single sign-on only",
    "joserfc": "single sign-on's ID tokens only",
    "pyproj": "geo files' reading only",
    "pyogrio": "geo files' reading and OGR exports only",
}
#: The server's, besides: the CLI's help prints with rich (and typer's markdown support).
SERVER_ONLY_LAZY = {
    "rich": "the CLI's output; httpx imported it for its own command line",
    "markdown_it": "dataset descriptions, rendered at the first one (api.serialize.markdown)",
}

PROBE = "import json, sys\n{body}\nprint(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"


def _imported(body: str, tmp_path: Path) -> set[str]:
    """The top-level modules a new process has imported after ``body``, in a home of its own
    (none of the caller's PORTAIL_* settings: a start migrates the home's catalogue)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAIL_")} | {"PORTAIL_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-c", PROBE.format(body=body)], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_the_app_module_imports_none_of_the_lazy_libraries(tmp_path):
    imported = _imported("import portail.api.app", tmp_path)
    assert "fastapi" in imported  # the probe did import the app
    eager = {name: why for name, why in {**LAZY, **SERVER_ONLY_LAZY}.items() if name in imported}
    assert not eager, f"imported at the server's start again: {eager}"


def test_cli_help_imports_none_of_the_lazy_libraries(tmp_path):
    body = ("import contextlib, io; sys.argv = ['portail', '--help']; from portail.cli import app\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit): app()")
    imported = _imported(body, tmp_path)
    assert "typer" in imported
    eager = {name: why for name, why in LAZY.items() if name in imported}
    assert not eager, f"imported by `portail --help` again: {eager}"


def test_head_revision_read_without_alembic_is_alembics():
    from alembic.script import ScriptDirectory

    from portail.catalog.db import alembic_config, head_revision

    assert head_revision() == ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_a_server_start_on_an_up_to_date_home_imports_none_of_them(tmp_path):
    """The first start migrates the new home's catalogue (Alembic); the next, every start's,
    finds the head by plain SQL, and building the app (its web pages, sign-in routes) imports
    none of the lazy libraries either."""
    started = "from portail.api.app import create_app; create_app()"
    assert "alembic" in _imported(started, tmp_path)
    imported = _imported(started, tmp_path)
    eager = {name: why for name, why in {**LAZY, **SERVER_ONLY_LAZY}.items() if name in imported}
    assert not eager, f"imported by a server's start again: {eager}"
