"""The reference-data hub: official French reference files installed as ordinary datasets
(read-only, in every portal), and the derived tables the enrichment processors join with.

Public face: ``install(instance, from_dir=None, only=None)``, ``SOURCES``, ``DERIVED``.
"""

from portail.refdata.install import DERIVED, SOURCES, install

__all__ = ["DERIVED", "SOURCES", "install"]
