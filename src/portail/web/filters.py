"""The filter state a dataset page keeps in its URL, shared by every tab, as Opendatasoft
writes it: ``q`` (full text), ``refine.<field>=<value>``, ``exclude.<field>=<value>`` (each may
repeat), ``sort`` (``field`` or ``-field``); and, ours, ``fields=<field>`` (may repeat, as the
table's column chooser, a GET form of checkboxes, sends it; ``fields=a,b`` reads the same): the
table's columns, all when none is named.

One state, two spellings: ``page_params`` for links between tabs and ``api_params`` for the
Explore API (``qv1=<q>``, ``refine=<field>:<value>``, ``exclude=…``), so the table, the map,
the charts, the exports and the console all ask the same question. Pure: no HTTP, no SQL; the
values reach the services as API parameters and are checked there like any API call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from portail.api.facets import exact
from portail.odsql.ast import quote_name

Pair = tuple[str, str]
#: The chart's and the map's own settings (``chart.type``, ``map.color``): kept in links with the
#: language, so a search typed or a filter removed on the analyze tab keeps the chart drawn
#: (it went back to a count in columns) and the map its colours.
VIEWS = ("chart.", "map.")
#: The map's view (``map.location=zoom,lat,lon``, map.js): kept in the links to other tabs, so
#: coming back to the map finds it, but dropped by a filter changed (a facet, a search, a filter
#: removed): a reload wrote the view in every link, and the map of the filtered records opened
#: on the old view rather than fitting them.
MAP_VIEW = "map.location"


def searchable(q: str) -> str:
    """The box's text cut to the words full text takes (``odsql.functions.MAX_SEARCH_WORDS``):
    a pasted paragraph searches its first words rather than showing an error page."""
    from portail.odsql.functions import MAX_SEARCH_WORDS
    from portail.store.fulltext import split

    kept: list[str] = []
    words = 0
    for term in q.split():  # no word spans a space: a text's words are its terms' words
        words += len(split(term))
        if words > MAX_SEARCH_WORDS:
            break
        kept.append(term)
    return " ".join(kept)


@dataclass(frozen=True)
class FilterState:
    q: str = ""
    refine: tuple[Pair, ...] = ()
    exclude: tuple[Pair, ...] = ()
    sort: str = ""
    columns: tuple[str, ...] = ()  # the table's chosen columns (``fields=``), in schema order; none: all
    extra: tuple[Pair, ...] = field(default=(), compare=False)  # other page parameters (lang…), kept in links

    @classmethod
    def from_query(cls, items: Iterable[Pair]) -> "FilterState":
        q, sort, refine, exclude, columns, extra = "", "", [], [], [], []
        for key, value in items:
            if key == "q":
                q = value.strip()
            elif key == "sort":
                sort = value.strip()
            elif key.startswith("refine.") and len(key) > 7 and value != "":
                refine.append((key[7:], value))
            elif key.startswith("exclude.") and len(key) > 8 and value != "":
                exclude.append((key[8:], value))
            elif key == "fields":
                columns += [name.strip() for name in value.split(",") if name.strip()]
            elif key == "lang" or key.startswith(VIEWS):
                extra.append((key, value))
        return cls(q, tuple(dict.fromkeys(refine)), tuple(dict.fromkeys(exclude)), sort, tuple(dict.fromkeys(columns)),
                   tuple(extra))

    # -- the two spellings --------------------------------------------------------------------
    def page_params(self, **changes: str | int | None) -> list[Pair]:
        """The state as page URL parameters, with ``changes`` (``page=2``…) appended; ``None`` or
        empty values drop out."""
        pairs = [("q", self.q)] + [(f"refine.{k}", v) for k, v in self.refine] + \
                [(f"exclude.{k}", v) for k, v in self.exclude] + [("sort", self.sort)] + \
                [("fields", name) for name in self.columns] + list(self.extra)
        pairs += [(k, str(v)) for k, v in changes.items() if v not in (None, "")]
        return [(k, v) for k, v in pairs if v != ""]

    def query_string(self, **changes: str | int | None) -> str:
        params = self.page_params(**changes)
        return "?" + urlencode(params) if params else ""

    @property
    def qv1(self) -> str | None:
        """The search box as v1's ``q``, as Opendatasoft's dataset pages send theirs and as the
        catalogue page reads its own (``web.catalogue.matching``): typed words find what they
        begin (the last one) or nearly spell (the others), a ``"quoted phrase"`` its words in a
        row, ``field:value`` and ``AND``/``OR`` as v1 documents them, ``*`` everything
        (``api.v1_query.q_conditions``). It was ``search(*, …)``, which read a phrase as its
        words anywhere and ``bs:RIVP`` as two words."""
        return searchable(self.q) if self.q else None

    @property
    def refine_args(self) -> list[str]:
        """The filters as v2.1's ``refine``, each value matched as the URL's ``refine.<field>``
        holds it, as v1 reads it (``facets.exact``): the table tab and the v1 tabs agree."""
        return [exact(k, v) for k, v in self.refine]

    @property
    def exclude_args(self) -> list[str]:
        return [exact(k, v) for k, v in self.exclude]

    @property
    def order_by(self) -> str | None:
        name = self.sort.lstrip("-")
        return f"`{name}` {'desc' if self.sort.startswith('-') else 'asc'}" if name else None

    def api_params(self) -> list[Pair]:
        """The filters (not the sort) as Explore API parameters."""
        return ([("qv1", self.qv1)] if self.qv1 else []) + [("refine", r) for r in self.refine_args] + \
               [("exclude", e) for e in self.exclude_args]

    @property
    def select(self) -> str | None:
        """The chosen columns as an Explore API ``select`` (exports, console); ``None``: all."""
        return ",".join(quote_name(name) for name in self.columns) or None

    @property
    def active(self) -> bool:
        return bool(self.q or self.refine or self.exclude)

    def sorted_within(self, names: Iterable[str]) -> "FilterState":
        """The state without a sort on a field not in ``names``: a stale or edited link (a field
        renamed, or now hidden from the caller) shows the default order, not an error page."""
        return self if self.sort.lstrip("-") in {"", *names} else replace(self, sort="")

    def shown_within(self, names: Iterable[str]) -> "FilterState":
        """The state with its columns among ``names`` (the table's, in schema order): a name
        unknown, renamed or hidden from the caller is dropped, not an error; none left, or every
        one chosen, is the default (all columns), so the table never has none."""
        names = list(names)
        kept = tuple(name for name in names if name in self.columns)
        return replace(self, columns=() if len(kept) in (0, len(names)) else kept)

    def shows(self, name: str) -> bool:
        """Is the column ``name`` in the table (every one is, unless some are chosen)?"""
        return not self.columns or name in self.columns

    # -- changes, for facet links -------------------------------------------------------------
    def refined(self, name: str, value: str) -> bool:
        return (name, value) in self.refine

    def excluded(self, name: str, value: str) -> bool:
        return (name, value) in self.exclude

    def _refiltered(self, **changes) -> "FilterState":
        """The state with other filters (``changes``), without the map's view (``MAP_VIEW``)."""
        return replace(self, extra=tuple(p for p in self.extra if p[0] != MAP_VIEW), **changes)

    def toggle(self, name: str, value: str, *, exclude: bool = False) -> "FilterState":
        """Refine (or exclude) by a value, or drop that filter when it is already set."""
        pair = (name, value)
        if exclude:
            kept = tuple(p for p in self.exclude if p != pair)
            return self._refiltered(exclude=kept if pair in self.exclude else kept + (pair,),
                                    refine=tuple(p for p in self.refine if p != pair))
        kept = tuple(p for p in self.refine if p != pair)
        return self._refiltered(refine=kept if pair in self.refine else kept + (pair,),
                                exclude=tuple(p for p in self.exclude if p != pair))

    def searching(self, q: str) -> "FilterState":
        """The state searching ``q`` (the search form: ``searching(state.q)``, the words typed a new filter)."""
        return self._refiltered(q=q)

    def sorted_by(self, name: str) -> "FilterState":
        """Sort by a field, ascending first, descending on the second click."""
        return replace(self, sort=f"-{name}" if self.sort == name else name)

    def cleared(self) -> "FilterState":
        return self._refiltered(q="", refine=(), exclude=())
