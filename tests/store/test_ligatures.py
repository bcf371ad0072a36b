"""Ligatures and the sharp s fold to the letters people type (œ → oe, æ → ae, ß → ss) in the
full-text index, in the scans and in the query's words alike: "coeur" finds "Cœur de Causse".
An index file written with the older folding (no ``fulltext_folding`` table) is not read, so
that the version answers as its scans do, until a reindex writes it again."""

from __future__ import annotations

import duckdb
import pytest
from sqlglot import exp

from portail.odsql import Query, compile_plan
from portail.operations import reindex
from portail.store import fulltext
from portail.store.duckdb_store import index_path
from tests.conftest import Published, current_version, published_instance

CSV = """nom;pays;note
Cœur de Causse;Cœur de France;1
L'Œuvre au noir;Cœur de France;2
œuvre collective;Cœur de France;3
Straße des Lilas;Straße;4
ÆSOP et Lætitia;Straße;5
GROßE STRAẞE;Straße;6
Autre chose;Straße;7
Rien ici;Cœur de France;8
"""

#: (condition, the notes of the rows it finds)
CASES = [
    ('"coeur"', {1, 2, 3, 8}),  # the name and the repeating field (indexed by value)
    ('"CŒUR"', {1, 2, 3, 8}),
    ('search(nom, "coeur")', {1}),
    ('suggest(nom, "oeuv")', {2, 3}),
    ('search(nom, "oeuvre collective")', {3}),
    ('nom like "coeur"', {1}),
    ('nom like "oeuvre"', {2, 3}),
    ('"strasse"', {4, 5, 6, 7}),
    ('search(nom, "Straße")', {4, 6}),
    ('search(nom, "grosse strasse")', {6}),
    ('"aesop laetitia"', {5}),
    ('pays like "strasse"', {4, 5, 6, 7}),
]


@pytest.fixture()
def instance(tmp_path):
    path = tmp_path / "lig.csv"
    path.write_text(CSV, encoding="utf-8")
    found = published_instance(tmp_path / "home", Published("lig", path))
    yield found
    found.store.close()


def _version(instance):
    return current_version(instance, "lig")


def _notes(store, location, fields, where: str) -> set[int]:
    plan = compile_plan(Query(select="note", where=[where], limit=100), fields).select
    return {int(n) for n in store.query(location, plan).column("note").to_pylist()}


def _uses_index(store, location, fields) -> bool:
    plan = compile_plan(Query(select="note", where=['"coeur"']), fields).select
    return "regexp_split_to_array" not in store.prepare(location, plan).sql.lower()


@pytest.mark.parametrize(("where", "expected"), CASES)
def test_ligatures_fold_through_the_index_and_the_scan(instance, where, expected):
    location, fields = _version(instance)
    store = instance.store
    assert store.has_index(location) and _uses_index(store, location, fields)
    assert _notes(store, location, fields, where) == expected, where
    index = index_path(location)
    index.rename(index.with_name("aside"))
    store.close()  # a process without the index file: scans
    try:
        assert not store.has_index(location) and not _uses_index(store, location, fields)
        assert _notes(store, location, fields, where) == expected, where
    finally:
        index.with_name("aside").rename(index)
        store.close()


def _old_folding(sql: exp.Expression) -> exp.Expression:
    """How words were folded before ligatures were spelled out."""
    return exp.Anonymous(this="strip_accents", expressions=[exp.Lower(this=sql)])


def test_an_index_of_the_older_folding_is_not_read_until_reindexed(instance, monkeypatch):
    """An index file written before the change (words such as "cœur", no folding table): the
    version answers as its scan does, then from its index once ``reindex`` rewrote it, in the
    same process."""
    location, fields = _version(instance)
    store = instance.store
    with monkeypatch.context() as patched:  # write the index as the older build did
        patched.setattr(fulltext, "folded", _old_folding)
        reindex(instance, "lig")
    con = duckdb.connect(str(index_path(location)))
    try:
        assert con.execute("SELECT count(*) FROM fulltext_terms WHERE term = 'cœur'").fetchone()[0] == 1
        con.execute(f"DROP TABLE {fulltext.FOLDING}")  # an older build wrote none
    finally:
        con.close()
    store.close()
    assert not store.has_index(location) and not _uses_index(store, location, fields)
    for where, expected in CASES:
        assert _notes(store, location, fields, where) == expected, where
    reindex(instance, "lig")  # the file is replaced: the same store reads it at its next call
    assert store.has_index(location) and _uses_index(store, location, fields)
    for where, expected in CASES:
        assert _notes(store, location, fields, where) == expected, where


def test_query_words_fold_as_the_index():
    assert fulltext.split("Cœur ŒUVRE Æther Straße STRAẞE") == ["coeur", "oeuvre", "aether", "strasse", "strasse"]
    folded = fulltext.folded(exp.Literal.string("Cœur ŒUVRE Æther Straße STRAẞE")).sql(dialect="duckdb")
    assert duckdb.sql(f"SELECT {folded}").fetchone()[0] == "coeur oeuvre aether strasse strasse"
