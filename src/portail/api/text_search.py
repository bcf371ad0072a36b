"""Plain full-text matching over a dataset's text fields (v1 ``q``): the very matching of ODSQL's
``search(*, …)`` (``odsql.functions.search_match``: words compared without case or accents, the
last word a prefix, earlier ones fuzzy; v1's documentation sets no stricter rule, unlike a bare
string of v2.1, whose words are whole), so a version's full-text index answers it too. A
``"quoted phrase"`` also needs its words whole and in a row in one value of one field (a scan,
on top of the index lookup): ``odsql.functions.phrase_match``, which ODSQL's ``phrase()`` is too,
so a phrase means the same when ``q`` holds other syntax (``api.v1_query``). At most
``MAX_SEARCH_WORDS`` words, as ODSQL's full text: each is a scan of every text field. Words are
bound as literals, never pasted into SQL. Stars as every full-text form reads them
(``odsql.functions.star_terms``: ``film*`` a prefix, ``\\*`` a star itself); a star before a
word's end was refused, naming ``q``, when ``q`` was read (``api.v1_query.v1_where``, which
reads every ``q`` first). The records' ``q`` and the catalogue's
(``api.catalog_search.FullText``) read it."""

from __future__ import annotations

import re

from sqlglot import exp

from portail import odsql
from portail.api.errors import ApiError
from portail.odsql.functions import MAX_SEARCH_WORDS, phrase_match, search_match, text_targets
from portail.schema import Field
from portail.store.fulltext import split as fold_words

_TERM = re.compile(r'"([^"]*)"|(\S+)')  # "" is an empty phrase, not a word of two quotes


def text_condition(fields: list[Field], q: str | None) -> list[exp.Expression]:
    terms = _TERM.findall((q or "").replace("\x00", " "))
    if not terms:  # every records call asks: the text fields' columns cost more than a small count
        return []
    words_checked(q)
    targets = text_targets(fields)
    conditions = []
    loose = []
    for quoted, word in terms:
        if quoted.strip():
            conditions.append(phrase_match(targets, quoted, fields))
        elif word:
            loose.append(word)
    if loose:
        conditions.insert(0, search_match(targets, " ".join(loose), "search"))
    return [c for c in conditions if c != exp.true()]


def words_checked(q: str | None, clause: str = "where") -> None:
    """A 400 naming ``clause`` past ``MAX_SEARCH_WORDS`` words: each word, a phrase's too, is a
    scan of every text field. v1 names its ``q`` (``api.params.on_refusal``)."""
    words = len(fold_words(q or ""))
    if words > MAX_SEARCH_WORDS:
        error = odsql.ODSQLError(f"A full-text search takes at most {MAX_SEARCH_WORDS} words ({words} given).", clause)
        raise ApiError(400, "ODSQLError", error.message)
