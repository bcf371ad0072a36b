"""A multivalued field over the real elus file (the conformance suite annotates its
socio-professional category multivalued, separator ","), compared with plain Python over the
same file (``tests.conformance.sources``): its distinct values, and ordering comparisons over
its values."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from tests.conformance.api import get

#: The elus field the conformance suite annotates multivalued (separator ",").
CATEGORY = "libelle_de_la_categorie_socio_professionnelle"


def values(text: str | None) -> set[str]:
    """A multivalued text's values: split on the separator, blanks around and empty items dropped."""
    return set(re.split(r"\s*,\s*", text.strip())) - {""} if text else set()


def test_count_distinct_of_a_multivalued_field_counts_its_values(portal, source):
    """``count(distinct f)`` must agree with ``group_by=f`` and f's facet, which count values:
    "Professeur, profession scientifique" holds two categories, not one more distinct text.
    Portail counted the distinct raw texts (39 instead of the 47 categories)."""
    rows = source("elus")
    expected = len(set().union(*(values(r[CATEGORY]) for r in rows)))
    body = get(portal, "elus", select=f"count(distinct {CATEGORY}) as d")
    assert body["results"] == [{"d": expected}]
    groups = get(portal, "elus", select=f"{CATEGORY}, count(*) as n", group_by=CATEGORY, limit=-1)["results"]
    assert len([g for g in groups if g[CATEGORY] is not None]) == expected


def test_count_distinct_of_a_multivalued_field_per_group(portal, source):
    """Per group of another field, and 0 (not null) for a where that keeps no record."""
    per_sex: dict[str, set[str]] = defaultdict(set)
    for r in source("elus"):
        per_sex[r["code_sexe"]] |= values(r[CATEGORY])
    body = get(portal, "elus", select=f"code_sexe, count(distinct {CATEGORY}) as d", group_by="code_sexe")
    assert {g["code_sexe"]: g["d"] for g in body["results"]} == {k: len(v) for k, v in per_sex.items()}
    empty = get(portal, "elus", select=f"count(distinct {CATEGORY}) as d", where="code_sexe = 'X'")
    assert empty["results"] == [{"d": 0}]


@pytest.mark.parametrize("where", ['code_sexe = "F"', f'"Professeur" in {CATEGORY}'])
def test_count_distinct_of_a_multivalued_field_under_a_where(portal, source, where):
    """Under a where (on another field, on the field itself): the values of the records kept."""
    if "code_sexe" in where:
        keep = lambda r: r["code_sexe"] == "F"  # noqa: E731
    else:
        keep = lambda r: "Professeur" in values(r[CATEGORY])  # noqa: E731
    expected = len(set().union(*(values(r[CATEGORY]) for r in source("elus") if keep(r))))
    body = get(portal, "elus", select=f"count(distinct {CATEGORY}) as d", where=where)
    assert body["results"] == [{"d": expected}]


@pytest.mark.parametrize("where, keep", [
    (f"{CATEGORY} > 'T'", lambda vs: any(v > "T" for v in vs)),
    (f"'T' < {CATEGORY}", lambda vs: any(v > "T" for v in vs)),
    (f"{CATEGORY} <= 'Ancien cadre'", lambda vs: any(v <= "Ancien cadre" for v in vs)),
    (f"{CATEGORY} in ['Ancien'..'B']", lambda vs: any("Ancien" <= v <= "B" for v in vs)),
    (f"{CATEGORY} in ]'Agriculteur sur grande exploitation'..'Ancien cadre'[",
     lambda vs: any("Agriculteur sur grande exploitation" < v < "Ancien cadre" for v in vs)),
    (f"not {CATEGORY} >= 'c'", lambda vs: not any(v >= "c" for v in vs)),
    (f"{CATEGORY} in ['p'..'q']", lambda vs: any("p" <= v <= "q" for v in vs)),
    (f"{CATEGORY} in ]'c'..'d'[", lambda vs: any("c" < v < "d" for v in vs)),
])
def test_ordering_a_multivalued_field_matches_by_any_of_its_values(portal, source, where, keep):
    """``<``, ``>``, ``in [a..b]`` over a multivalued field keep a record when one of its values
    passes, as ``=`` and ``in (…)`` already did (a range over Opendatasoft's array of values):
    Portail compared the raw text, so ``> 'T'`` missed every "…, profession scientifique"."""
    expected = sum(1 for r in source("elus") if keep(values(r[CATEGORY])))
    assert get(portal, "elus", where=where, limit=0)["total_count"] == expected
