"""Plain full-text matching over a dataset's text fields (v1 ``q``), until ODSQL's ``search()``
and a full-text index take over: every term must appear in some text field, ignoring case and
accents; ``"quoted phrases"`` stay whole. Terms are bound as literals, never pasted into SQL."""

from __future__ import annotations

import re

from sqlglot import exp

from portail.schema import Field, FieldType

_TERM = re.compile(r'"([^"]+)"|(\S+)')


def terms(q: str) -> list[str]:
    return [(quoted or word).strip() for quoted, word in _TERM.findall(q or "") if (quoted or word).strip()]


def text_condition(fields: list[Field], q: str | None) -> list[exp.Expression]:
    texts = [f for f in fields if f.type == FieldType.TEXT]
    conditions = []
    for term in terms(q or ""):
        # contains() takes the term as a plain string: no LIKE wildcards to escape.
        needle = exp.func("strip_accents", exp.func("lower", exp.Literal.string(term)))
        matches = [exp.func("contains", exp.func("strip_accents", exp.func("lower", exp.column(f.name, quoted=True))),
                            needle.copy()) for f in texts]
        conditions.append(exp.or_(*matches) if matches else exp.false())
    return conditions
