"""Calls whose only conditions are refinements share one plan per shape, run with their own
values (``api.explore_service._refinement_values``): a client walking facet values asks a new
value at every call, and each must still get its own rows and count. Checked against the
records read back in plain Python, on the RNE's departmental councillors."""

from __future__ import annotations

from collections import Counter

import duckdb
import pytest

from portail.api import explore_service as es
from portail.api.errors import ApiError
from tests.conftest import Published, published_instance

SOURCE = ("elus", "rne_elus-conseillers-departementaux-cd.csv")
CSP = "libelle_de_la_categorie_socio_professionnelle"


@pytest.fixture(scope="module")
def elus(tmp_path_factory, refdata):
    instance = published_instance(tmp_path_factory.mktemp("parameterized") / "home",
                                  Published("elus", refdata.joinpath(*SOURCE), annotations={CSP: {"multivalued": [","]}}))
    dataset = es.get_visible_dataset(instance, "public", "elus")
    con = duckdb.connect(dataset.current.location, read_only=True)
    try:
        names = [d[0] for d in con.execute("SELECT * FROM records LIMIT 0").description]
        rows = [dict(zip(names, r)) for r in con.execute("SELECT * FROM records").fetchall()]
    finally:
        con.close()
    yield instance, dataset, rows
    instance.store.close()


def _shapes(location: str) -> list[tuple]:
    """The kept plans of a version that serve a shape of refinements rather than one call."""
    return [key for key in es._PAGES._entries if key[0] == location and key[3].parameterized]


def _calls(elus, cases):
    instance, dataset, rows = elus
    for refine, exclude, keep in cases:
        expected = [r for r in rows if keep(r)]
        page = es.query_records(instance, dataset, refine=refine, exclude=exclude, limit=100)
        count = es.query_records(instance, dataset, refine=refine, exclude=exclude, limit=0).total_count
        assert page.total_count == count == len(expected) > 0, (refine, exclude)
        wanted = Counter((r["nom_de_l_elu"], r["prenom_de_l_elu"]) for r in expected)
        got = Counter((r["nom_de_l_elu"], r["prenom_de_l_elu"]) for r in page.results)
        assert got <= wanted and len(page.results) == min(100, len(expected)), (refine, exclude)


def test_one_plan_per_shape_each_call_its_own_values(elus):
    instance, dataset, rows = elus
    location = dataset.current.location
    assert "code_sexe" not in instance.store.resolved_fields(location)  # two values: no key field
    before = len(_shapes(location))
    born = lambda r, *ymd: r["date_de_naissance"] is not None and (r["date_de_naissance"].year, r["date_de_naissance"].month)[:len(ymd)] == ymd  # noqa: E731
    csps = [c for c, _ in Counter(r[CSP] for r in rows if r[CSP]).most_common(3)]
    _calls(elus, [(["code_sexe:F"], [], lambda r: r["code_sexe"] == "F"),
                  (["code_sexe:M"], [], lambda r: r["code_sexe"] == "M")])
    assert len(_shapes(location)) == before + 2  # both sexes, one plan for the page and one for the count
    _calls(elus, [([f"date_de_naissance:{y}"], [], lambda r, y=y: born(r, y)) for y in (1950, 1962, 1975)] +
                 [(["date_de_naissance:1962/05"], [], lambda r: born(r, 1962, 5))])
    assert len(_shapes(location)) == before + 4  # a year and a month: the same range, other bounds
    _calls(elus, [(["code_sexe:F"], ["date_de_naissance:1962"], lambda r: r["code_sexe"] == "F" and not born(r, 1962)),
                  (["code_sexe:M"], ["date_de_naissance:1975"], lambda r: r["code_sexe"] == "M" and not born(r, 1975))])
    assert len(_shapes(location)) == before + 6
    _calls(elus, [([f"{CSP}:{c}"], [], lambda r, c=c: c in [v.strip() for v in (r[CSP] or "").split(",")]) for c in csps])
    assert len(_shapes(location)) == before + 8


def test_refinements_on_key_fields_keep_their_values(elus):
    """A key field's value is read from the key index when the query is bound (its rows, not a
    scan): such calls are planned with their values, and answer the same."""
    instance, dataset, rows = elus
    location = dataset.current.location
    keyed = sorted(instance.store.resolved_fields(location))
    assert keyed  # the councillors' canton codes at least
    name = keyed[0]
    values = [v for v, _ in Counter(str(r[name]) for r in rows if r[name] is not None).most_common(2)]
    before = len(_shapes(location))
    _calls(elus, [([f"{name}:{v}"], [], lambda r, v=v: str(r[name]) == v) for v in values])
    assert len(_shapes(location)) == before


def test_a_bad_value_is_refused_as_before(elus):
    instance, dataset, _ = elus
    with pytest.raises(ApiError) as refused:
        es.query_records(instance, dataset, refine=["date_de_naissance:1962/13"], limit=0)
    assert refused.value.status == 400 and "Invalid date path" in refused.value.message
