"""The catalogue page's search: the catalogue API's full text (:func:`matching`); facets
(theme, keyword, publisher, license, features, modified year) with counts; sort by relevance
(a search's default), title, modified or popularity.

Pure functions over the datasets ``explore_service.visible_datasets`` hands out for the
caller, so the page can never list more than the API would. Popularity: there is no usage
counter yet, so "popular" means the most records (said in the page's sort label).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Any

from portail.api.catalog_search import catalog_where, search_catalog
from portail.api.v1_query import searched_terms
from portail.api.serialize import dataset_json
from portail.store.fulltext import LIGATURES
from portail.web.i18n import STRINGS, page_moment, plural

FACETS = ("theme", "keyword", "publisher", "license", "features", "modified")
SORTS = ("relevance", "-modified", "title", "-popularity")
GEO_TYPES = ("geo_point_2d", "geo_shape")
_SPELLED = str.maketrans(LIGATURES)


def fold(text: str) -> str:
    """Lower case without accents, ligatures spelled out, as the full-text index folds words
    (``store.fulltext.LIGATURES``): the sort order of titles and facet values, ``Énergie``
    beside ``energie``, ``Œuvres`` beside ``oeuvres``."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    return bare.translate(_SPELLED)


def has_geo(dataset: Any) -> bool:
    return any(f.get("type") in GEO_TYPES for f in (dataset.current.fields if dataset.current else []))


def facet_values(dataset: Any, name: str) -> list[str]:
    """The values a dataset has for one catalogue facet."""
    if name == "theme":
        return list(dataset.themes or [])
    if name == "keyword":
        return list(dataset.keywords or [])
    if name == "publisher":
        return [dataset.publisher] if dataset.publisher else []
    if name == "license":
        return [dataset.license] if dataset.license else []
    if name == "features":
        return (["geo"] if has_geo(dataset) else []) + (["records"] if dataset.records_count else [])
    if name == "modified":
        return [str(page_moment(dataset.modified).year)] if dataset.modified else []
    return []


def matching(datasets: list[Any], q: str) -> list[Any]:
    """The datasets the catalogue API finds for ``q`` read as Opendatasoft's portal search box
    sends it (v1's ``q``, ``catalog_search.catalog_where``): words without case or accents, the
    last a prefix, earlier ones fuzzy (a "quoted phrase" its words whole and in a row in one
    field, as a dataset's ``q`` reads it: ``catalog_search.FullText``), over the searched
    metadata and field texts (``catalog_search.SEARCHED``); ``theme:Logement`` and other field
    queries too. The page
    used to match substrings of its own text, and found what the API did not (``état`` in
    ``États-Unis``). A ``q`` the API refuses raises its ``ApiError``."""
    if not q.strip():
        return list(datasets)
    objects = [dataset_json(d) for d in datasets]
    found = search_catalog(objects, where=catalog_where([], q), limit=len(objects),
                           check_paging=lambda limit, offset, **_: limit)
    uids = {o["dataset_uid"] for o in found.results}
    return [d for d in datasets if d.uid in uids]


@dataclass(frozen=True)
class CatalogueResult:
    datasets: list[Any]  # every match, sorted
    facets: dict[str, list[tuple[str, int]]]  # facet → (value, count of the matches that also hold it)


def search(datasets: list[Any], q: str, refine: dict[str, list[str]], sort: str) -> CatalogueResult:
    """Datasets matching ``q`` (:func:`matching`) and every refinement (facet → values, all must
    hold, two values of one facet too, as the API's ``/catalog/facets`` ANDs repeated refines). A
    value's count is what adding it to the refinements finds (counted over the matches, as the API
    counts), so no link promises datasets that clicking it does not give."""
    results = [d for d in matching(datasets, q)
               if all(v in facet_values(d, name) for name, values in refine.items() for v in values)]
    facets = {name: facet_counts(results, name, refine.get(name, [])) for name in FACETS}
    sort = sort if sort in sorts(q) else default_sort(q)
    if sort == "title":
        results.sort(key=lambda d: fold(d.title))
    elif sort == "-popularity":
        results.sort(key=lambda d: d.records_count or 0, reverse=True)
    else:
        results.sort(key=lambda d: d.modified, reverse=True)
    if sort == "relevance":  # stable: the most recent first among the titled, and among the rest
        words = _words(q)
        results.sort(key=lambda d: not titled(d, words))
    return CatalogueResult(results, facets)


def sorts(q: str) -> list[str]:
    """The orders the page offers: relevance only for a search (without one, nothing is more
    relevant than another)."""
    return [s for s in SORTS if s != "relevance" or q.strip()]


def default_sort(q: str) -> str:
    """Relevance for a search (``Communes de France`` before a newer dataset that mentions
    communes in its description), else the most recent first."""
    return "relevance" if q.strip() else "-modified"


def _words(q: str) -> list[str]:
    """The search's own words, folded (``api.v1_query.searched_terms``: not its field queries,
    operators, ``#functions`` nor the term a ``NOT`` excludes, which no title need hold; with
    them, no title qualified and the order fell back to the most recent unsaid)."""
    return [w for term in searched_terms(q) for w in re.findall(r"\w+", fold(term))]


def titled(dataset: Any, words: list[str]) -> bool:
    """Does the title hold every word of the search, each the start of a title word (the search
    reads its last word as a prefix)? The relevance sort puts those first."""
    title = re.findall(r"\w+", fold(dataset.title or ""))
    return bool(words) and all(any(t.startswith(w) for t in title) for w in words)


def facet_counts(results: list[Any], name: str, refined: list[str]) -> list[tuple[str, int]]:
    """One facet's 30 first values with their counts over ``results``; its refined values are
    always listed (with 0 when nothing matches), so that each can still be removed."""
    counts = Counter(v for d in results for v in facet_values(d, name))
    order = sorted(counts.items(), key=lambda kv: kv[0], reverse=True) if name == "modified" else \
        sorted(counts.items(), key=lambda kv: (-kv[1], fold(kv[0])))
    listed = order[:30]
    shown = {value for value, _ in listed}
    return listed + [(v, counts[v]) for v in dict.fromkeys(refined) if v not in shown]


def title_parts(lang: str, q: str, filters: int, page: int, count: int, error: bool) -> list[str]:
    """What the catalogue page's title says before the page's name, for a screen reader's first
    words and a browser tab (RGAA 8.6, a title that tells the page's state, as service-public.fr's
    « Recherche « logement » – page 2 – Catalogue »): an error, the search, how many filters,
    the page past the first, that nothing matches."""
    strings = STRINGS[lang]
    parts = [strings["error"]] if error else []
    parts += [strings["title_search"].format(q=q)] if q.strip() else []
    parts += [plural("title_filters", filters, lang).format(n=filters)] if filters else []
    parts += [strings["title_page"].format(n=page)] if page > 1 else []
    return parts + ([strings["title_none"]] if not count and not error else [])
