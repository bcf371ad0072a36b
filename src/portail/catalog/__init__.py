"""The catalogue: dataset metadata, schema overrides, versions and the current-version pointer.

Public face: ``open_catalog(url)`` (migrated session factory), ``transaction``, the models,
and the service functions in ``services`` (the only code that changes catalogue state).
"""

from portail.catalog import services
from portail.catalog.db import open_catalog, transaction
from portail.catalog.models import Attachment, Dataset, DatasetVersion
from portail.catalog.services import CatalogError, NotFound

__all__ = ["Attachment", "CatalogError", "Dataset", "DatasetVersion", "NotFound", "open_catalog", "services", "transaction"]
