"""Shared fixtures: real reference files, real instances on disk, a real PostgreSQL database."""

from __future__ import annotations

import csv
import fcntl
import json
import os
import random
import shutil
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from portail.config import Settings
from portail.operations import Instance, open_instance

ROOT = Path(__file__).resolve().parents[1]
REFDATA = Path(os.environ.get("PORTAIL_REFDATA", ROOT.parent / "shared" / "refdata")).resolve()
PG_ADMIN_URL = os.environ.get("PORTAIL_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pytest_configure(config: pytest.Config) -> None:
    """xdist hands ``--dist loadfile``'s files out by their number of tests unless told not to:
    a long file of one test (the demo's, the COG change) started last and ran alone at the end.
    The order ``pytest_collection_modifyitems`` gives is the one kept."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, files in the order ``testpaths`` names them (pyproject.toml: the longest
    first), then files holding a ``slow`` test (a server, Chromium: the browser files' one or two
    tests each went last by their count, one running alone at the end), then by number of tests
    as xdist orders them; each file's tests together and in their own order. pytest merges
    ``testpaths`` entries that overlap (``tests`` holds them all) into the folder's order."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    paths = [(config.rootpath / p).resolve() for p in config.getini("testpaths")]
    files: dict[Path, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.path, []).append(item)

    def rank(path: Path) -> int:
        return next((i for i, p in enumerate(paths) if path == p or p in path.parents), len(paths))

    def slow(path: Path) -> bool:
        return any(item.get_closest_marker("slow") for item in files[path])

    order = sorted(files, key=lambda path: (rank(path), not slow(path), -len(files[path])))  # stable: folder order next
    items[:] = [item for path in order for item in files[path]]


@pytest.fixture(scope="session")
def refdata() -> Path:
    if not REFDATA.is_dir():
        pytest.skip(f"reference files not found at {REFDATA}")
    return REFDATA


def make_instance(home: Path, **overrides) -> Instance:
    if "database_url" not in overrides:
        _catalogue_from_template(Path(home))
    return open_instance(Settings(home=home, **overrides))


def _catalogue_from_template(home: Path) -> None:
    """A new home's SQLite catalogue as a copy of one migrated once per worker, made private as
    ``open_instance`` makes it: migrating a new catalogue costs ~60 ms (alembic's DDL, 13
    revisions; 6 ms copied), paid by each of the suite's thousands of instances. The migrations
    themselves are tested where they are the subject (tests/catalog/test_upgrade_steps.py…), and
    every command run through the CLI in a new home still migrates its own."""
    target = home / "catalog.sqlite"
    if target.exists():
        return
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_catalogue_template(), target)
    os.chmod(target, 0o600)


_TEMPLATE: list[Path] = []


def _catalogue_template() -> Path:
    """This process's migrated, empty SQLite catalogue (``_catalogue_from_template``)."""
    if not _TEMPLATE:
        import tempfile

        from portail.catalog import open_catalog

        path = Path(tempfile.mkdtemp(prefix="portail-catalogue-")) / "catalog.sqlite"
        factory = open_catalog(f"sqlite:///{path}")
        factory.kw["bind"].dispose()
        _TEMPLATE.append(path)
    return _TEMPLATE[0]


def start_cursor(instance: Instance, slug: str, number: int) -> str:
    """A records cursor at the start of version ``number`` of ``slug``, sealed with that version's
    key as the API seals them (``api.cursors``): how a test asks for a version a walk did not
    begin on (a draft, a withdrawn or a replaced one)."""
    from portail.api.cursors import seal
    from portail.catalog import services

    with instance.session() as s:
        return seal(number, services.get_dataset(s, slug).version(number).cursor_key, -1)


def operator_client(instance: Instance):
    """A test client of ``instance``'s app that, like an operator's script, sends the management
    token (``auth.operator``) on management API calls, and nothing more elsewhere."""
    from fastapi.testclient import TestClient

    from portail.api import create_app
    from portail.auth.operator import management_token

    client = TestClient(create_app(instance))
    bearer = f"Bearer {management_token(instance.settings)}"

    def as_operator(request) -> None:
        if request.url.path.startswith("/api/management/") and "authorization" not in request.headers:
            request.headers["Authorization"] = bearer

    client.event_hooks = {"request": [as_operator], "response": []}
    return client


@dataclass
class Published:
    """A dataset to load and publish in a test instance: its file, its title and metadata, and
    annotations and labels per field (set before the load, as a publisher would)."""

    slug: str
    path: Path
    title: str = ""
    annotations: dict[str, dict] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


def semicolon_rows(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """A header and rows as a ``;``-separated CSV written by the csv module (values holding a
    ``;``, a quote or a line break quoted): for rows generated rather than listed as dicts."""
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def seeded_ranks(n: int, seed: int) -> tuple[random.Random, list[int]]:
    """A seeded random source and ``n`` distinct ranks in its random order: generated rows'
    sort keys (an ordered page then has one answer), the source left for the rest of the rows."""
    pick = random.Random(seed)
    ranks = list(range(n))
    pick.shuffle(ranks)
    return pick, ranks


def semicolon_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    """Rows of texts (every row with the first one's keys) as a ``;``-separated CSV with its header."""
    columns = list(rows[0])
    path.write_text("\n".join([";".join(columns)] + [";".join(r[c] for c in columns) for r in rows]) + "\n",
                    encoding="utf-8")
    return path


def published_instance(home: Path, *datasets: Published, **settings) -> Instance:
    """An instance at ``home`` with each dataset created, loaded through the real loader and
    published: the one way API tests build the data they query."""
    from portail.catalog import services
    from portail.operations import load_file

    instance = make_instance(home, **settings)
    for d in datasets:
        with instance.session() as s:
            dataset = services.create_dataset(s, d.slug, d.title or d.slug, **d.metadata)
            for name, annotations in d.annotations.items():
                services.set_field_override(s, dataset, name, annotations=annotations)
            for name, label in d.labels.items():
                services.set_field_override(s, dataset, name, label=label)
        load_file(instance, d.slug, d.path, publish=True)
    return instance


def current_version(instance: Instance, slug: str) -> tuple[str, list[Any]]:
    """The location and fields of a dataset's published version: what tests that compile ODSQL
    and bind it to the store themselves (``compile_plan``, ``store.prepare``) start from."""
    from portail.catalog import services
    from portail.schema import fields_from_json

    with instance.session() as s:
        version = services.get_dataset(s, slug).current
        return version.location, fields_from_json(version.fields)


@pytest.fixture
def instance(tmp_path: Path) -> Instance:
    inst = make_instance(tmp_path / "home")
    yield inst
    inst.store.close()


def _pg_admin_execute(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(sql)


def _pg_database_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


#: The locales a test database can be created under: the server's default, or ICU's ``en-US``
#: collation, as a production server's ``en_US.UTF-8`` sorts (tests/catalog/test_backend_input_limits.py).
PG_LOCALES = {
    "default": "",
    "icu": "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'",
}


@contextmanager
def fresh_pg_database(locale: str = "default", template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database (its URL), dropped on leaving: empty under ``locale``, or a copy
    of ``template`` (which holds its locale)."""
    name = f"portail_test_{uuid.uuid4().hex[:12]}"
    _pg_admin_execute(f'CREATE DATABASE "{name}" ' + (f'TEMPLATE "{template}"' if template else PG_LOCALES[locale]))
    try:
        yield _pg_database_url(name)
    finally:
        _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_templates() -> Iterator[Any]:
    """This worker's migrated template databases, one per locale, each made on first use by
    ``open_catalog`` on an empty database (every migration, for real) and dropped at the end of
    the session: ``CREATE DATABASE … TEMPLATE`` copies its files, so a test's database starts at
    the head revision without running the migrations again. Nothing stays connected to a
    template (PostgreSQL copies none that has a session open): its engine is disposed at once."""
    from portail.catalog import open_catalog

    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    made: dict[str, str] = {}

    def template(locale: str) -> str:
        if locale not in made:
            name = f"portail_tmpl_{worker}_{locale}_{uuid.uuid4().hex[:8]}"
            _pg_admin_execute(f'CREATE DATABASE "{name}" {PG_LOCALES[locale]}')
            made[locale] = name
            open_catalog(_pg_database_url(name)).kw["bind"].dispose()
        return made[locale]

    yield template
    for name in made.values():
        _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards: for a test of the
    migrations themselves (``open_catalog`` runs them all on it). A test that only needs a
    catalogue takes ``pg_catalog_url``, the same at the head revision, much cheaper."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture
def pg_catalog_url(pg_templates) -> Iterator[str]:
    """A fresh PostgreSQL database for one test, already migrated to the head revision (a copy of
    this worker's template, ``pg_templates``), dropped afterwards: each test still has its own."""
    with fresh_pg_database(template=pg_templates("default")) as url:
        yield url


@pytest.fixture
def pg_catalog_url_icu(pg_templates) -> Iterator[str]:
    """``pg_catalog_url`` under ICU's ``en-US`` collation (``PG_LOCALES``)."""
    with fresh_pg_database(template=pg_templates("icu")) as url:
        yield url



@contextmanager
def fast_passwords() -> Iterator[None]:
    """Argon2 at its cheapest while a module's fixture makes its accounts (the real cost is
    ~0.1 s a hash), the real hasher back afterwards, a failed setup too (a swap undone only on
    success left the next modules of that worker with the cheap one)."""
    from argon2 import PasswordHasher

    from portail.auth import passwords

    original = passwords._HASHER
    passwords._HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    try:
        yield
    finally:
        passwords._HASHER = original
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def catalog(request, tmp_path):
    """A session factory on a freshly migrated catalogue of each kind: SQLite (the embedded
    default) and PostgreSQL (production; a copy of the migrated template, ``pg_catalog_url``)."""
    from portail.catalog import open_catalog

    url = (f"sqlite:///{tmp_path / 'catalog.sqlite'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_catalog_url"))
    factory = open_catalog(url)
    yield factory
    factory.kw["bind"].dispose()


def logements_file(refdata: Path) -> Path:
    """The social housing file most API tests query (Paris, 2001–2023, a few thousand rows)."""
    return refdata / "logement" / "logements-sociaux-finances-a-paris.csv"


def sirene_places(refdata: Path, target: Path) -> Path:
    """Ille-et-Vilaine's establishments (Sirene, geocoded): their SIREN, name and last update (an
    instant without an offset, read in the dataset's zone, Europe/Paris) and their place as one
    ``geo_point_2d`` column (the file has a longitude and a latitude column, which no map reads)."""
    with (refdata / "sirene" / "geo-sirene_35_small.csv").open(encoding="utf-8", newline="") as read, \
            target.open("w", encoding="utf-8", newline="") as write:
        out = csv.writer(write, delimiter=";")
        out.writerow(["siren", "nom", "mise_a_jour", "geo_point_2d"])
        out.writerows([r["SIREN"], r["L1_NORMALISEE"], r["DATEMAJ"], f"{r['latitude']}, {r['longitude']}"]
                      for r in csv.DictReader(read) if r["latitude"])
    return target


@contextmanager
def logements_client(tmp_path_factory, refdata: Path, name: str) -> Iterator[Any]:
    """A TestClient on a home of its own holding only that file, published as ``logements``
    ("Logements"); its store closed on leaving (a module fixture's body)."""
    from fastapi.testclient import TestClient

    from portail.api import create_app

    instance = published_instance(tmp_path_factory.mktemp(name) / "home",
                                  Published("logements", logements_file(refdata), "Logements"))
    try:
        yield TestClient(create_app(instance))
    finally:
        instance.store.close()


@pytest.fixture(scope="session")
def logements_rows(refdata) -> list[dict[str, str]]:
    """The social housing file as the csv module reads it: the truth the API tests compare with."""
    with open(logements_file(refdata), encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


#: A small dataset with every kind of field annotation, for counts checked by hand: ``cat`` is
#: disjunctive, ``path`` hierarchical (row 8 has empty segments), ``tags`` multivalued, ``n``
#: sorted by value (facetsort -num), ``id`` the record key; ``dt`` straddles years in Europe/Paris.
ANNOTATED_CSV = """id;tags;path;cat;d;n;x;dt
1;a;fr/ara/isere;A;2020-01-15;1;1.5;2020-12-31T23:30:00+00:00
2;a,b;fr/ara/rhone;B;2020-02-10;2;2.0;2021-01-01T00:30:00+00:00
3;b,c;fr/idf/paris;A;2021-03-01;3;2.5;2021-06-01T12:00:00+00:00
4;;fr/idf;C;;;;
5;c;fr;B;2019-12-31;5;3.0;2019-12-31T23:59:00+00:00
6;a,c,a;be/wal;A;2020-01-20;1;1.5;2020-01-20T10:00:00+00:00
7;x/y;fr/ara/isere;A/B;2020-05-05;7;;2020-05-05T00:00:00+00:00
8; a , b ;/fr//ara/;A;2020-01-15;8;8.25;2020-01-15T00:00:00+00:00
"""


def annotated(folder: Path, slug: str = "mv") -> Published:
    """The annotated dataset, its file written in ``folder``, to publish with ``published_instance``."""
    path = folder / f"{slug}.csv"
    path.write_text(ANNOTATED_CSV, encoding="utf-8")
    return Published(slug, path, "Annotated", {
        "tags": {"multivalued": [","], "facet": []}, "path": {"hierarchical": ["/"], "facet": []},
        "cat": {"facet": [], "disjunctive": []}, "d": {"facet": []}, "n": {"facet": [], "facetsort": ["-num"]},
        "id": {"id": []}})


@dataclass(frozen=True)
class HubTemplate:
    """A home holding the whole reference-data hub, installed once (``hub_template``): a test
    that needs the hub without checking how it is installed works on a copy of it."""

    home: Path
    #: What the install said, one line per dataset (``refdata.install``).
    lines: tuple[str, ...]

    def copy(self, home: Path) -> Path:
        """The hub copied to ``home`` (not there yet), to open with ``make_instance(home,
        **HUB_SETTINGS)`` or the CLI: the catalogue names version files relative to the
        store's folder, so the copy serves its own files."""
        shutil.copytree(self.home, home)
        return home


def built_once(tmp_path_factory, name: str, build) -> Path:
    """A home that ``build(home)`` makes once per test run, shared by the xdist workers as
    ``hub_template`` is (the first to ask builds it under a lock, the others wait and find it
    done), copied to this worker's own folder: each opens its own copy, as the catalogue names
    version files relative to the store's folder. ``build`` closes what it opened."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # this run's folder, above each worker's own
    folder, done = shared / name, shared / name / "built"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            build(folder / "home")
            done.touch()  # last: a folder without it is a build that died, started again
    return Path(shutil.copytree(folder / "home", tmp_path_factory.mktemp(name) / "home"))


#: The settings the hub is installed with: references are joined, not paged (page files: tests/store).
HUB_SETTINGS = {"page_files": False}


@pytest.fixture(scope="session")
def hub_template(tmp_path_factory, refdata) -> HubTemplate:
    """The reference-data hub installed from the real files once per test run (~30 s of CPU
    each time), shared by the xdist workers: the first to ask installs it in their common
    temporary folder under a lock, the others wait and find it done (its lines are written
    last: a template without them is an install that died, started again)."""
    from portail.refdata import install

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # this run's folder, above each worker's own
    folder, done = shared / "refdata-hub", shared / "refdata-hub" / "lines.json"
    with open(shared / "refdata-hub.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            instance = make_instance(folder / "home", **HUB_SETTINGS)
            try:
                lines = list(install(instance, refdata))
            finally:
                instance.store.close()
                instance.catalog.kw["bind"].dispose()
            done.write_text(json.dumps(lines), encoding="utf-8")
    return HubTemplate(folder / "home", tuple(json.loads(done.read_text(encoding="utf-8"))))
