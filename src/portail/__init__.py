"""Portail: an open data portal platform.

Packages, one concern each (see docs/architecture.md): ``ingest`` reads files into Arrow
batches, ``processors`` transforms them, ``store`` keeps immutable dataset versions,
``catalog`` holds metadata and the current-version pointer, ``odsql`` compiles queries,
``api`` and ``web`` serve them, ``cli`` drives everything from a terminal.
"""

__version__ = "0.1.0"
