"""The reference-data hub: official French reference files installed as ordinary datasets
(read-only, in every portal), and the derived tables the enrichment processors join with.

Public face: ``install(instance, from_dir=None, only=None)``, ``install_sirene(instance, file_or_url)``,
``SOURCES``, ``DERIVED``.
"""

from portail.refdata.install import DERIVED, SOURCES, install
from portail.refdata.sirene import install_sirene

__all__ = ["DERIVED", "SOURCES", "install", "install_sirene"]
