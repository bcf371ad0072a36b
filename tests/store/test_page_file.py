"""A version's page file (``store.pages``): pages whose rows the index listed are read from it,
and give the same records as pages read from the version's records, whatever the field types;
what it cannot hold the same way is left to the records; without it, pages read the records."""

from __future__ import annotations

import json
import random
import shutil

import pytest
from sqlglot import exp

from portail.api import explore_service as es
from portail.odsql import Query, compile_plan
from portail.schema import fields_from_json
from portail.store import pages
from portail.store.engine import connect
from tests.conftest import Published, published_instance

ELUS = ("elus", "rne_elus-conseillers-departementaux-cd.csv")
CATEGORY = "libelle_de_la_categorie_socio_professionnelle"


def _typed_file(path):
    """Every kind of value a page shows: datetimes with offsets, booleans, integers, decimals,
    JSON objects, lists (a multivalued field), nulls, accents."""
    rng = random.Random(7)
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(3000):
            handle.write(json.dumps({
                "code": f"{i:05d}", "nom": f"Étab {i} {'spécial' if i % 97 == 0 else 'commun'}",
                "ouvert": None if i % 11 == 0 else i % 2 == 0, "effectif": None if i % 13 == 0 else rng.randint(0, 9000),
                "taux": round(rng.uniform(-5, 5), 4), "jour": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
                "horodatage": f"2024-03-{1 + i % 28:02d}T{i % 24:02d}:15:00+01:00",
                "details": {"niveau": i % 4, "tags": ["a", "b"][: i % 3]}, "tags": "rouge,vert" if i % 5 else "bleu",
            }, ensure_ascii=False) + "\n")
    return path


@pytest.fixture(scope="module")
def portal(tmp_path_factory, refdata):
    home = tmp_path_factory.mktemp("pages")
    instance = published_instance(
        home / "home",
        Published("elus", refdata.joinpath(*ELUS), annotations={CATEGORY: {"multivalued": [","]}}),
        Published("logements", refdata / "logement" / "logements-sociaux-finances-a-paris.csv"),
        Published("communes", refdata / "geo" / "communes-ile-de-france.geojson"),
        Published("types", _typed_file(home / "types.jsonl"), annotations={"tags": {"multivalued": [","]}}))
    yield instance
    instance.store.close()


def _queries(instance, slug: str) -> list[dict]:
    """Selective queries on a dataset that its index lists the rows of: a word of some
    record's text, alone or on one field, with offsets, and a subset of the fields."""
    dataset = es.get_visible_dataset(instance, "public", slug)
    fields = fields_from_json(dataset.current.fields)
    sample = es.query_records(instance, dataset, limit=100, offset=37).results
    texts = [f.name for f in fields if f.type == "text"]
    rng = random.Random(slug)
    found = []
    for record in rng.sample(sample, 12):
        name = rng.choice([t for t in texts if isinstance(record.get(t), str) and any(c.isalnum() for c in record[t])])
        word = max("".join(c if c.isalnum() else " " for c in record[name]).split(), key=len)
        found.append({"where": [f'"{word}"'], "limit": 10})
        found.append({"where": [f'search({name}, "{word}")'], "limit": 5, "offset": 1})
    found.append({"where": [found[0]["where"][0]], "select": ", ".join(texts[:2]), "limit": 20})
    count = dataset.current.row_count
    found += [{"limit": 10}, {"limit": 7, "offset": 60}, {"limit": 100, "offset": 64},  # pages without condition
              {"limit": 10, "offset": max(count - 4, 0)}, {"limit": 5, "select": texts[0], "offset": 3}]
    return found


@pytest.mark.parametrize("slug", ["elus", "logements", "communes", "types"])
def test_pages_from_the_page_file_are_the_pages_from_the_records(portal, slug):
    instance = portal
    dataset = es.get_visible_dataset(instance, "public", slug)
    location = dataset.current.location
    path = pages.page_path(location)
    assert pages.PageFile.open(path).every is not None  # it holds every output: pages without select are told at once
    fields = fields_from_json(dataset.current.fields)
    queries = _queries(instance, slug)
    listed = 0
    for q in queries:  # the store reads these pages from the page file
        plan = compile_plan(Query(where=q.get("where"), select=q.get("select")), fields).select.limit(q["limit"])
        rowids = instance.store.prepare(location, plan.offset(q.get("offset", 0))).rowids
        listed += rowids is not None
        if "where" not in q:  # a page without condition: rows offset.. of the table
            start = q.get("offset", 0)
            assert rowids == tuple(range(start, min(start + q["limit"], dataset.current.row_count))), q
    assert listed >= 4, listed  # not all: a common word, or one in a field indexed by value, is no row list
    from_file = [es.query_records(instance, dataset, **q) for q in queries]
    aside = path.with_name("aside")
    path.rename(aside)
    try:
        instance.store.close()  # forgets the open page file: the same plans now read the records
        from_records = [es.query_records(instance, dataset, **q) for q in queries]
    finally:
        aside.rename(path)
    for q, a, b in zip(queries, from_file, from_records):
        assert (a.total_count, a.results) == (b.total_count, b.results), q
    assert sum(len(a.results) for a in from_file) > len(queries)


def test_a_page_file_holds_what_comes_back_the_same_and_reads_across_batches(tmp_path):
    """A value Arrow would hand back otherwise (a HUGEINT as a Decimal, an INTERVAL as a tuple)
    is not in the file, so a page showing it reads the records; the rest come back as the
    engine's own fetch gives them, from any row, first and last of a batch included."""
    con = connect()
    con.execute(f"ATTACH '{tmp_path / 'v.duckdb'}' AS v")
    con.execute("CREATE TABLE v.records AS SELECT i AS n, 'r' || i AS label, i::HUGEINT AS big, "
                "to_days(i::INT) AS span, [i, i + 1] AS pair, {'lon': i / 3, 'lat': -i} AS point, "
                "CASE WHEN i % 7 = 0 THEN NULL ELSE TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i) END AS at "
                "FROM range(70001) t(i)")
    names = ["n", "label", "big", "span", "pair", "point", "at"]
    outputs = [exp.alias_(exp.column(n, table="records", quoted=True), n) for n in names]
    source = exp.table_("records", db="main", catalog="v")
    assert pages.write(con, source, outputs, tmp_path / "v.pages") == 5
    found = pages.PageFile.open(tmp_path / "v.pages")
    assert found.columns_of(outputs) is None  # big and span are not there
    kept = [o for o in outputs if o.alias not in ("big", "span")]
    columns = found.columns_of(kept)
    assert [name for name, _ in columns] == ["n", "label", "pair", "point", "at"]
    rowids = [0, 63, 64, 127, 128, 65535, 65536, 70000, 12345, 7]
    select = ", ".join(f'"{n}"' for n in names if n not in ("big", "span"))
    expected = [dict(zip(["n", "label", "pair", "point", "at"], con.execute(
        f"SELECT {select} FROM v.records WHERE rowid = {r}").fetchone())) for r in rowids]
    assert found.fetch(rowids, columns) == expected
    assert expected[-1]["at"] is None and expected[0]["point"] == {"lon": 0.0, "lat": 0}


def _postal_codes_of(refdata, target):
    """Every tenth line of La Poste's file (one record a line, no quotes) and all of 51300's, its
    header kept: what the page-file switch is about needs no more than ~4,000 of its 39,192 rows."""
    with open(refdata / "referentiels" / "laposte_hexasmal.csv", encoding="utf-8") as handle:
        header, *lines = handle.readlines()
    target.write_text(header + "".join(line for i, line in enumerate(lines)
                                       if i % 10 == 0 or line.split(";")[2] == "51300"), encoding="utf-8")
    return target


def test_a_version_is_dropped_with_its_page_file_and_none_is_written_when_turned_off(tmp_path, refdata):
    source = Published("cp", _postal_codes_of(refdata, tmp_path / "laposte_hexasmal.csv"))
    instance = published_instance(tmp_path / "home", source)
    try:
        location = es.get_visible_dataset(instance, "public", "cp").current.location
        assert pages.page_path(location).is_file()
        instance.store.drop_version(location)
        assert not pages.page_path(location).exists()
    finally:
        instance.store.close()
    instance = published_instance(tmp_path / "off", source, page_files=False)
    try:
        dataset = es.get_visible_dataset(instance, "public", "cp")
        assert not pages.page_path(dataset.current.location).exists()
        page = es.query_records(instance, dataset, where=['code_postal = "51300"'], limit=100)
        assert page.total_count == len(page.results) == 46  # from the records
    finally:
        instance.store.close()


def test_an_old_version_without_page_file_reads_its_records(portal, tmp_path):
    """A version indexed before page files (or whose page file failed): pages of listed rows
    are read from the records, with the same answer."""
    instance = portal
    dataset = es.get_visible_dataset(instance, "public", "elus")
    location = dataset.current.location
    copy = tmp_path / "data" / "v000001.duckdb"
    copy.parent.mkdir()
    shutil.copy(location, copy)
    shutil.copy(location + ".index", str(copy) + ".index")
    from portail.store import DuckDBStore

    store = DuckDBStore(tmp_path / "data")
    try:
        fields = fields_from_json(dataset.current.fields)
        name = es.query_records(instance, dataset, limit=1, offset=5).results[0]["nom_de_l_elu"]
        plan = compile_plan(Query(where=[f'"{name}"']), fields).select.limit(10)
        listed = instance.store.prepare(location, plan)
        prepared = store.prepare(str(copy), plan)
        assert listed.rowids and prepared.rowids is None and '"rowid"' in prepared.sql
        rows = store.rows(str(copy), prepared)
        assert rows == instance.store.rows(location, listed) and name in [r["nom_de_l_elu"] for r in rows]
    finally:
        store.close()


def test_pages_from_the_page_file_keep_row_filters_and_hidden_fields(tmp_path, refdata):
    """A caller whose rows are filtered and a field hidden: the page file hands over the rows the
    filter let through, without the hidden field, exactly as the records would."""
    from portail.auth import services as auth
    from portail.auth.principal import principal_for_user
    from portail.catalog import services

    instance = published_instance(tmp_path / "home", Published("elus", refdata.joinpath(*ELUS),
                                                               metadata={"portals": ["public", "internal"]}))
    everyone = es.query_records(instance, es.get_visible_dataset(instance, "internal", "elus"),
                                where=['code_du_departement = "1"'], limit=100).results
    names = [r["nom_de_l_elu"] for r in everyone[:6]]
    with instance.session() as s:
        dataset = services.get_dataset(s, "elus")
        auth.create_group(s, "ain")
        auth.set_dataset_security(s, dataset, visibility="restricted",
                                  record_filters={"ain": 'code_du_departement = "1"'},
                                  hidden_fields={"ain": ["date_de_naissance"]})
        auth.grant(s, dataset, "group", "ain")
        user = auth.create_user(s, "lectrice-ain", role="viewer")
        auth.add_member(s, auth.get_group(s, "ain"), user)
        principal = principal_for_user(user)
    try:
        seen = es.get_visible_dataset(instance, "internal", "elus", principal)
        location = seen.current.location
        queries = [{"where": [f'"{name}"'], "limit": 10} for name in names] + [{"where": ['"professeur"'], "limit": 20}]
        access = es.dataset_access(instance, "elus", principal)
        listed = [instance.store.prepare(location, es.compile_odsql(access.fields(), access.security, where=q["where"])
                                         .select.limit(q["limit"])) for q in queries]
        assert sum(p.rowids is not None for p in listed) >= 3  # read from the page file, filtered
        assert all("date_de_naissance" not in dict(p.columns) for p in listed)
        from_file = [es.query_records(instance, seen, principal=principal, **q) for q in queries]
        path = pages.page_path(location)
        aside = path.with_name("aside")
        path.rename(aside)
        try:
            instance.store.close()
            from_records = [es.query_records(instance, es.get_visible_dataset(instance, "internal", "elus", principal),
                                             principal=principal, **q) for q in queries]
        finally:
            aside.rename(path)
        for q, a, b in zip(queries, from_file, from_records):
            assert (a.total_count, a.results) == (b.total_count, b.results), q
        shown = [r for page in from_file for r in page.results]
        assert shown and all(r["code_du_departement"] == "1" and "date_de_naissance" not in r for r in shown)
        assert {r["nom_de_l_elu"] for r in shown} >= set(names)
    finally:
        instance.store.close()
