"""The one error ODSQL raises: :class:`ODSQLError`, worded as Opendatasoft words it.

Every failure of parsing or compiling a clause (bad syntax, unknown field, wrong argument,
function not allowed in that clause…) is an ``ODSQLError``, so the API turns it into one
400 response (``error_code: "ODSQLError"``) without knowing anything about the language.
"""

from __future__ import annotations

CLAUSES = ("select", "where", "group_by", "order_by")


class ODSQLError(ValueError):
    """A query Opendatasoft would reject with ``ODSQLError``.

    ``detail`` is what went wrong, ``clause`` the clause holding it, and ``message`` the full
    sentence Opendatasoft returns, e.g. ``ODSQL query is malformed: Unknown field: x
    Clause(s) containing the error(s): where.``
    """

    def __init__(self, detail: str, clause: str) -> None:
        self.detail = detail
        self.clause = clause
        self.message = f"ODSQL query is malformed: {detail} Clause(s) containing the error(s): {clause}."
        super().__init__(self.message)
