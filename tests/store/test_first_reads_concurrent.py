"""Many calls at once on many datasets, while versions are let go (``release``) and indexes
written again (``reindex``): each first read of a version's files (its attach, its index file,
its postings and page files) runs outside the store's lock, one at a time per file
(``duckdb_store._KeyLocks``), and a release may come in the middle of one. Every answer must
be the one a fresh instance gives alone, no call may fail, and nothing may be left behind:
no version attached once every one is let go, no per-file lock kept.

Real threads on real files; the work done is counted (first reads, releases, reindexes), never
timed."""

from __future__ import annotations

import random
import shutil
import threading
from collections import Counter
from pathlib import Path

import pytest

from portail.api import explore_service as es
from portail.catalog import services
from portail.operations import reindex
from tests.conftest import Published, make_instance, published_instance

#: Datasets of the reference files, each with a word its full-text search finds.
DATASETS = {
    "deps": (("referentiels", "cog2026_departements.csv"), '"savoie"'),
    "arrs": (("referentiels", "cog2026_arrondissements.csv"), '"bourg"'),
    "regions": (("referentiels", "cog2026_regions.csv"), '"bretagne"'),
    "senateurs": (("elus", "rne_elus-senateurs-sen.csv"), '"professeur"'),
    "cp": (("referentiels", "laposte_hexasmal.csv"), '"vitry"'),
    "logements": (("logement", "logements-sociaux-finances-a-paris.csv"), '"meuniers"'),
}
#: Each dataset's calls: its search (index, postings, page file) and its first page (page file).
QUERIES = [(slug, where) for slug, (_, word) in DATASETS.items() for where in (word, None)]
READERS = 6
CALLS_PER_READER = 100
SEED = 20261207


@pytest.fixture(scope="module")
def published_many(tmp_path_factory, refdata) -> Path:
    home = tmp_path_factory.mktemp("first-reads-concurrent") / "home"
    instance = published_instance(home, *(Published(slug, refdata.joinpath(*parts))
                                          for slug, (parts, _) in DATASETS.items()))
    instance.store.close()
    instance.catalog.kw["bind"].dispose()
    return home


def _answer(instance, slug: str, where: str | None) -> tuple[int, list[dict]]:
    dataset = es.get_visible_dataset(instance, "public", slug)
    page = es.query_records(instance, dataset, where=[where] if where else None, limit=3)
    return page.total_count, page.results


def _expected(home: Path) -> dict[tuple[str, str | None], tuple[int, list[dict]]]:
    """Every query's answer from a fresh instance asked alone, one call at a time."""
    alone = make_instance(home)
    try:
        return {query: _answer(alone, *query) for query in QUERIES}
    finally:
        alone.store.close()
        alone.catalog.kw["bind"].dispose()


def _attached(instance) -> list[str]:
    return sorted(name for (name,) in instance.store.cursor().execute(
        "SELECT database_name FROM duckdb_databases() WHERE database_name LIKE 'v\\_%' ESCAPE '\\'").fetchall())


def test_first_reads_releases_and_reindexes_at_once_answer_as_one_call_alone(published_many, tmp_path):
    home = shutil.copytree(published_many, tmp_path / "home")
    expected = _expected(home)
    assert all(count > 0 for count, _ in expected.values()), expected
    instance = make_instance(home)
    store = instance.store
    with instance.session() as session:
        current = {slug: services.get_dataset(session, slug).current.location for slug in DATASETS}
    wrong: list[tuple[str, object]] = []  # (query, what it answered or raised instead)
    done = Counter()
    readers_left = threading.Event()
    first_reads = Counter()
    original_attach = store._alias

    def counted_alias(location: str) -> str:
        """``_alias``, counting the attaches it makes (the version was let go meanwhile)."""
        before = location in store._attached
        alias = original_attach(location)
        if not before:
            first_reads[location] += 1
        return alias
    store._alias = counted_alias

    def read(seed: int) -> None:
        pick = random.Random(seed)
        for _ in range(CALLS_PER_READER):
            query = pick.choice(QUERIES)
            try:
                got = _answer(instance, *query)
            except Exception as error:  # noqa: BLE001 - every failure is counted, said below
                got = error
            if got != expected[query]:
                wrong.append((query, got))
            done["calls"] += 1

    def let_go() -> None:
        pick = random.Random(SEED)
        while not readers_left.is_set():
            store.release(keep=pick.sample(sorted(current.values()), pick.randrange(len(current))))
            done["releases"] += 1

    def index_again() -> None:
        pick = random.Random(SEED + 1)
        while not readers_left.is_set():
            reindex(instance, pick.choice(sorted(DATASETS)))
            done["reindexes"] += 1

    readers = [threading.Thread(target=read, args=(SEED + 2 + n,), daemon=True) for n in range(READERS)]
    others = [threading.Thread(target=work, daemon=True) for work in (let_go, index_again)]
    try:
        for thread in readers + others:
            thread.start()
        for thread in readers:
            thread.join()
    finally:
        readers_left.set()
        for thread in others:
            thread.join()
    try:
        assert wrong == [], f"{len(wrong)} of {done['calls']} calls answered otherwise: {wrong[:3]}"
        assert done["calls"] == READERS * CALLS_PER_READER
        # The races were run: versions were attached again after being let go, while others read.
        assert done["releases"] > 0 and done["reindexes"] > 0 and sum(first_reads.values()) > len(DATASETS), (
            done, first_reads)
        assert store._first_reads._locks == {}  # each file's lock dropped once nobody waits for it
        store.release(keep=())
        assert _attached(instance) == []  # nothing attached that the store does not remember
        assert {query: _answer(instance, *query) for query in QUERIES} == expected
    finally:
        store.close()
        instance.catalog.kw["bind"].dispose()
