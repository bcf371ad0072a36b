"""Facets and refine/exclude: default (annotated) facets, facet() options (sort, limit,
disjunctive), the states displayed/refined/excluded, hierarchical date facets, and the
records the same refinements select; expected entries computed from the file."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.conformance.api import get

PRESIDENT = "Président du conseil départemental"


def text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def entries(rows, field, *, refined=(), order="-count", limit=100, excluded=()):
    """Facet entries as Portail should list them: non-null values with counts."""
    counts = Counter(text(r[field]) for r in rows if r[field] is not None)
    keys = {"-count": lambda kv: (-kv[1], kv[0]), "count": lambda kv: (kv[1], kv[0]),
            "alphanum": lambda kv: kv[0], "-alphanum": lambda kv: _desc(kv[0]),
            "num": lambda kv: float(kv[0]), "-num": lambda kv: -float(kv[0])}
    listed = sorted(counts.items(), key=keys[order])[:limit]
    out = [{"name": v, "value": v, "count": n, "state": "refined" if v in refined else "displayed"} for v, n in listed]
    return out + [{"name": v, "value": v, "state": "excluded"} for v in excluded if v not in counts]


def _desc(value: str):
    return tuple(-ord(c) for c in value) + (1,)


def elus_where(rows, **equal):
    return [r for r in rows if all(r[k] == v for k, v in equal.items())]


def years(rows, field, refined_path=None):
    """A date facet: years, and under a refined year its months (and days under a refined month)."""
    def level(members, depth, prefix):
        parts = Counter(_part(r[field], depth) for r in members if r[field] is not None)
        out = []
        for part, n in sorted(parts.items()):  # calendar order, ODS's default for dates (facets.annotated_sort)
            value = f"{prefix}/{part}" if prefix else part
            entry = {"name": part, "value": value, "count": n, "state": "displayed"}
            if refined_path and (refined_path == value or refined_path.startswith(value + "/")):
                entry["state"] = "refined"
                if depth < 2:
                    entry["facets"] = level([r for r in members if r[field] is not None and _part(r[field], depth) == part],
                                            depth + 1, value)
            out.append(entry)
        return out
    return level(rows, 0, "")


def _part(d, depth):
    return str(d.year) if depth == 0 else f"{d.month:02d}" if depth == 1 else f"{d.day:02d}"


def in_path(d, path):
    if d is None:
        return False
    parts = [int(p) for p in path.split("/")]
    return [d.year, d.month, d.day][:len(parts)] == parts


CATEGORY = "libelle_de_la_categorie_socio_professionnelle"
NAF = "activiteprincipaleetablissement"


def _below(value, path, separator) -> bool:
    return value is not None and (value == path or value.startswith(path + separator))


def paths(values, separator, refined="", *, limit=100, prefix=""):
    """Hierarchical facet entries of ``values`` under ``prefix``; the refined path unfolds."""
    segments = Counter(v[len(prefix) + len(separator) if prefix else 0:].split(separator)[0]
                       for v in values if v is not None and (not prefix or v.startswith(prefix + separator)))
    out = []
    for part, n in sorted(((p, n) for p, n in segments.items() if p), key=lambda kv: (-kv[1], kv[0]))[:limit]:
        value = f"{prefix}{separator}{part}" if prefix else part
        entry = {"name": part, "value": value, "count": n, "state": "displayed"}
        if refined and _below(refined, value, separator):
            entry["state"] = "refined"
            entry["facets"] = paths(values, separator, refined, limit=limit, prefix=value)
        out.append(entry)
    return out


def _multi(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",")] if value else []


def multi_entries(rows, *, limit=100, refined=()):
    counts = Counter(v for r in rows for v in _multi(r[CATEGORY]))
    listed = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [{"name": v, "value": v, "count": n, "state": "refined" if v in refined else "displayed"} for v, n in listed]


CASES = [
    # (id, dataset, params, expected facets: rows -> list of {"name", "facets"})
    ("default facets are the annotated fields", "elus", {},
     lambda rows: [{"name": "code_sexe", "facets": entries(rows, "code_sexe")},
                   {"name": "date_de_naissance", "facets": years(rows, "date_de_naissance")},
                   {"name": "libelle_de_la_fonction", "facets": entries(rows, "libelle_de_la_fonction")}]),
    ("facet=code_sexe", "elus", {"facet": "code_sexe"}, lambda rows: [{"name": "code_sexe", "facets": entries(rows, "code_sexe")}]),
    ("facet of a field not annotated", "elus", {"facet": "libelle_du_departement"},
     lambda rows: [{"name": "libelle_du_departement", "facets": entries(rows, "libelle_du_departement")}]),
    ("two facets keep their order", "elus", {"facet": ["libelle_de_la_fonction", "code_sexe"]},
     lambda rows: [{"name": "libelle_de_la_fonction", "facets": entries(rows, "libelle_de_la_fonction")},
                   {"name": "code_sexe", "facets": entries(rows, "code_sexe")}]),
    ('facet(name="libelle_du_departement", limit=5)', "elus", {"facet": 'facet(name="libelle_du_departement", limit=5)'},
     lambda rows: [{"name": "libelle_du_departement", "facets": entries(rows, "libelle_du_departement", limit=5)}]),
    ('facet(name="code_sexe", sort="alphanum")', "elus", {"facet": 'facet(name="code_sexe", sort="alphanum")'},
     lambda rows: [{"name": "code_sexe", "facets": entries(rows, "code_sexe", order="alphanum")}]),
    ('facet(name="code_sexe", sort="-alphanum")', "elus", {"facet": 'facet(name="code_sexe", sort="-alphanum")'},
     lambda rows: [{"name": "code_sexe", "facets": entries(rows, "code_sexe", order="-alphanum")}]),
    ('facet(name="libelle_de_la_fonction", sort="count")', "elus", {"facet": 'facet(name="libelle_de_la_fonction", sort="count")'},
     lambda rows: [{"name": "libelle_de_la_fonction", "facets": entries(rows, "libelle_de_la_fonction", order="count")}]),
    ("facet on a where", "elus", {"facet": "code_sexe", "where": "year(date_de_naissance) >= 1990"},
     lambda rows: [{"name": "code_sexe", "facets": entries([r for r in rows if r["date_de_naissance"].year >= 1990], "code_sexe")}]),
    ("refine=code_sexe:F (conjunctive: only F left, refined)", "elus", {"facet": "code_sexe", "refine": "code_sexe:F"},
     lambda rows: [{"name": "code_sexe", "facets": entries(elus_where(rows, code_sexe="F"), "code_sexe", refined={"F"})}]),
    ("refine with a quoted value and a backquoted name", "elus", {"facet": "code_sexe", "refine": '`code_sexe`:"F"'},
     lambda rows: [{"name": "code_sexe", "facets": entries(elus_where(rows, code_sexe="F"), "code_sexe", refined={"F"})}]),
    ("refine on another field narrows the counts", "elus", {"facet": "code_sexe", "refine": "libelle_du_departement:Ain"},
     lambda rows: [{"name": "code_sexe", "facets": entries(elus_where(rows, libelle_du_departement="Ain"), "code_sexe")}]),
    ("disjunctive facet keeps the other values listed", "elus",
     {"facet": "libelle_de_la_fonction", "refine": f"libelle_de_la_fonction:{PRESIDENT}"},
     lambda rows: [{"name": "libelle_de_la_fonction", "facets": entries(rows, "libelle_de_la_fonction", refined={PRESIDENT})}]),
    ("facet(disjunctive=true) under its own refine", "elus",
     {"facet": 'facet(name="code_sexe", disjunctive=true)', "refine": "code_sexe:F"},
     lambda rows: [{"name": "code_sexe", "facets": entries(rows, "code_sexe", refined={"F"})}]),
    ("disjunctive facet still follows other refinements", "elus",
     {"facet": 'facet(name="code_sexe", disjunctive=true)', "refine": ["code_sexe:F", "libelle_du_departement:Ain"]},
     lambda rows: [{"name": "code_sexe", "facets": entries(elus_where(rows, libelle_du_departement="Ain"), "code_sexe", refined={"F"})}]),
    ("exclude=code_sexe:M lists M as excluded, without count", "elus", {"facet": "code_sexe", "exclude": "code_sexe:M"},
     lambda rows: [{"name": "code_sexe", "facets": entries([r for r in rows if r["code_sexe"] != "M"], "code_sexe", excluded=("M",))}]),
    ("exclude on another field", "elus", {"facet": "code_sexe", "exclude": "libelle_du_departement:Ain"},
     lambda rows: [{"name": "code_sexe", "facets": entries([r for r in rows if r["libelle_du_departement"] != "Ain"], "code_sexe")}]),
    ("date facet: years", "elus", {"facet": "date_de_debut_du_mandat"},
     lambda rows: [{"name": "date_de_debut_du_mandat", "facets": years(rows, "date_de_debut_du_mandat")}]),
    ("date facet refined to a year lists its months", "elus", {"facet": "date_de_naissance", "refine": "date_de_naissance:1960"},
     lambda rows: [{"name": "date_de_naissance", "facets": years([r for r in rows if in_path(r["date_de_naissance"], "1960")],
                                                                 "date_de_naissance", "1960")}]),
    ("date facet refined to a month lists its days", "elus", {"facet": "date_de_naissance", "refine": "date_de_naissance:1960/05"},
     lambda rows: [{"name": "date_de_naissance", "facets": years([r for r in rows if in_path(r["date_de_naissance"], "1960/05")],
                                                                 "date_de_naissance", "1960/05")}]),
    ("date facet refined to a day", "elus", {"facet": "date_de_debut_de_la_fonction", "refine": "date_de_debut_de_la_fonction:2021/07/01"},
     lambda rows: [{"name": "date_de_debut_de_la_fonction",
                    "facets": years([r for r in rows if in_path(r["date_de_debut_de_la_fonction"], "2021/07/01")],
                                    "date_de_debut_de_la_fonction", "2021/07/01")}]),
    ('facet(name="annee", sort="num")', "logements", {"facet": 'facet(name="annee", sort="num")'},
     lambda rows: [{"name": "annee", "facets": entries(rows, "annee", order="num")}]),
    ('facet(name="annee", sort="-num", limit=3)', "logements", {"facet": 'facet(name="annee", sort="-num", limit=3)'},
     lambda rows: [{"name": "annee", "facets": entries(rows, "annee", order="-num", limit=3)}]),
    ("refine on an int field", "logements", {"facet": "arrdt", "refine": "annee:2010"},
     lambda rows: [{"name": "arrdt", "facets": entries([r for r in rows if r["annee"] == 2010], "arrdt")}]),
    ("boolean facet", "sirene", {"facet": "etablissementsiege"},
     lambda rows: [{"name": "etablissementsiege", "facets": entries(rows, "etablissementsiege")}]),
    ("refine on a boolean field", "sirene", {"facet": "etablissementsiege", "refine": "etablissementsiege:false"},
     lambda rows: [{"name": "etablissementsiege",
                    "facets": entries([r for r in rows if r["etablissementsiege"] is False], "etablissementsiege", refined={"false"})}]),
    # a multivalued field (annotation multivalued: [","]) counts each of its values
    ("facet on a multivalued field", "elus", {"facet": 'facet(name="libelle_de_la_categorie_socio_professionnelle", limit=10)'},
     lambda rows: [{"name": CATEGORY, "facets": multi_entries(rows, limit=10)}]),
    ("refine a multivalued field on one of its values", "elus",
     {"facet": 'facet(name="libelle_de_la_categorie_socio_professionnelle", limit=10)', "refine": f"{CATEGORY}:Professeur"},
     lambda rows: [{"name": CATEGORY, "facets": multi_entries([r for r in rows if "Professeur" in _multi(r[CATEGORY])], limit=10,
                                                               refined={"Professeur"})}]),
    # hierarchical text facets: a path per value, a refined segment lists the level below it
    ("hierarchical facet (annotation)", "sirene", {"facet": "activiteprincipaleetablissement"},
     lambda rows: [{"name": NAF, "facets": paths([r[NAF] for r in rows], ".")}]),
    ("hierarchical facet refined to a division", "sirene", {"facet": "activiteprincipaleetablissement", "refine": f"{NAF}:47"},
     lambda rows: [{"name": NAF, "facets": paths([r[NAF] for r in rows if _below(r[NAF], "47", ".")], ".", "47")}]),
    ("hierarchical facet refined to a leaf", "sirene", {"facet": "activiteprincipaleetablissement", "refine": f"{NAF}:47.11F"},
     lambda rows: [{"name": NAF, "facets": paths([r[NAF] for r in rows if _below(r[NAF], "47.11F", ".")], ".", "47.11F")}]),
    ("facet(hierarchical=true, separator=...)", "elus",
     {"facet": 'facet(name="libelle_du_canton", hierarchical=true, separator="-", limit=5)', "refine": "libelle_du_canton:Saint-Martin-d'Hères"},
     lambda rows: [{"name": "libelle_du_canton",
                    "facets": paths([r["libelle_du_canton"] for r in rows if _below(r["libelle_du_canton"], "Saint-Martin-d'Hères", "-")], "-",
                                    "Saint-Martin-d'Hères", limit=5)}]),
    ("decp facet with where", "decp", {"facet": "procedure", "where": "montant > 100000"},
     lambda rows: [{"name": "procedure", "facets": entries([r for r in rows if (r["montant"] or 0) > 100000], "procedure")}]),
]


@pytest.mark.parametrize(("slug", "params", "expected"), [pytest.param(*c[1:], id=f"{c[1]}: {c[0]}") for c in CASES])
def test_facets(portal, source, slug, params, expected):
    body = get(portal, slug, "facets", **params)
    assert body["facets"] == expected(source(slug))


RECORDS = [  # refine/exclude on /records: total_count
    ("refine=code_sexe:F", {"refine": "code_sexe:F"}, lambda r: r["code_sexe"] == "F"),
    ("refine=code_sexe:'F' and another refine", {"refine": ["code_sexe:'F'", "libelle_du_departement:Ain"]},
     lambda r: r["code_sexe"] == "F" and r["libelle_du_departement"] == "Ain"),
    ("refine a date path YYYY", {"refine": "date_de_naissance:1960"}, lambda r: in_path(r["date_de_naissance"], "1960")),
    ("refine a date path YYYY/MM", {"refine": "date_de_naissance:1960/05"}, lambda r: in_path(r["date_de_naissance"], "1960/05")),
    ("refine a date path YYYY/MM/DD", {"refine": "date_de_naissance:1955/05/02"}, lambda r: in_path(r["date_de_naissance"], "1955/05/02")),
    ("exclude keeps the nulls", {"exclude": f"libelle_de_la_fonction:{PRESIDENT}"}, lambda r: r["libelle_de_la_fonction"] != PRESIDENT),
    ("exclude two values", {"exclude": ["code_sexe:F", "libelle_du_departement:Ain"]},
     lambda r: r["code_sexe"] != "F" and r["libelle_du_departement"] != "Ain"),
    ("refine and where together", {"refine": "code_sexe:M", "where": "year(date_de_naissance) < 1950"},
     lambda r: r["code_sexe"] == "M" and r["date_de_naissance"].year < 1950),
    ("refine a multivalued field", {"refine": f"{CATEGORY}:Professeur"}, lambda r: "Professeur" in _multi(r[CATEGORY])),
    ("refine a hierarchical canton path", {"refine": 'libelle_du_canton:"Saint-Martin-d\'Hères"'},
     lambda r: r["libelle_du_canton"] == "Saint-Martin-d'Hères"),
    ("exclude from a multivalued field", {"exclude": f"{CATEGORY}:Professeur"}, lambda r: "Professeur" not in _multi(r[CATEGORY])),
    ("refine and exclude together", {"refine": "date_de_naissance:1970", "exclude": "code_sexe:F"},
     lambda r: in_path(r["date_de_naissance"], "1970") and r["code_sexe"] != "F"),
]


@pytest.mark.parametrize(("params", "predicate"), [pytest.param(*c[1:], id=f"elus records: {c[0]}") for c in RECORDS])
def test_refine_records(portal, source, params, predicate):
    body = get(portal, "elus", limit=0, **params)
    assert body["total_count"] == sum(1 for r in source("elus") if predicate(r))
    assert body["results"] == []


@pytest.mark.parametrize("path", ["47", "47.11F", "47.11B"])
def test_refine_hierarchical_records(portal, source, path):
    body = get(portal, "sirene", limit=0, refine=f"{NAF}:{path}")
    assert body["total_count"] == sum(1 for r in source("sirene") if _below(r[NAF], path, ".")) > 0
