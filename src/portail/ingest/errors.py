"""The one error type ingest raises, so the CLI and the API can name file, line and field."""

from __future__ import annotations


class IngestError(Exception):
    """Bad input. Carries where it was found so the message can point a person at it."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None, field: str | None = None):
        self.message = message
        self.source = source
        self.line = line
        self.field = field
        super().__init__(self.describe())

    def describe(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field:
            where.append(f"field {self.field!r}")
        return f"{': '.join([', '.join(where), self.message]) if where else self.message}"

    def to_dict(self) -> dict:
        return {"message": self.message, "source": self.source, "line": self.line, "field": self.field}
