"""The catalogue as ``data.json``: Project Open Data metadata schema v1.1 (DCAT-US), which
harvesters such as CKAN's ``ckanext-datajson`` and data.gov read.

The same datasets, URIs and distributions as the DCAT-AP export (``catalog.dcat``): a dataset's
identifier is its immutable DCAT URI, its distributions are ``distributions.downloads``. Federal-only
fields (bureauCode, programCode) have no source here and are left out.

Pure: datasets in, a JSON-ready dict out.
"""

from __future__ import annotations

from typing import Any

from portail.catalog.distributions import CatalogInfo, dataset_iri, downloads, licence_uri
from portail.catalog.languages import language_tag
from portail.catalog.models import Dataset

SCHEMA = "https://project-open-data.cio.gov/v1.1/schema"
#: Update frequencies as the ISO 8601 repeating durations the schema asks for.
PERIODICITY = {"continuous": "R/PT1S", "daily": "R/P1D", "weekly": "R/P1W", "monthly": "R/P1M",
               "quarterly": "R/P3M", "annual": "R/P1Y", "irregular": "irregular"}


def _dataset(info: CatalogInfo, dataset: Dataset, formats: list[str] | None, use_labels: bool,
             restricted: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "@type": "dcat:Dataset",
        "identifier": dataset_iri(info.base_url, dataset.uid),
        "title": dataset.title,
        "description": dataset.description or dataset.title,
        "keyword": list(dataset.keywords or []) or list(dataset.themes or []),
        "modified": dataset.modified.isoformat(),
        "issued": dataset.created_at.isoformat(),
        "publisher": {"@type": "org:Organization", "name": dataset.publisher or info.publisher},
        "accessLevel": "restricted public" if restricted else "public",
        "landingPage": f"{info.base_url}/explore/dataset/{dataset.slug}/",
        "language": [language_tag(dataset.language, info.language)],
    }
    contact = dataset.contact_name or dataset.owner or dataset.publisher or info.publisher
    item["contactPoint"] = {"@type": "vcard:Contact", "fn": contact}
    if dataset.contact_email:
        item["contactPoint"]["hasEmail"] = f"mailto:{dataset.contact_email}"
    if licence := licence_uri(dataset):
        item["license"] = licence
    if dataset.themes:
        item["theme"] = list(dataset.themes)
    if dataset.spatial_coverage:
        item["spatial"] = dataset.spatial_coverage
    if dataset.temporal_start and dataset.temporal_end:
        item["temporal"] = f"{dataset.temporal_start.isoformat()}/{dataset.temporal_end.isoformat()}"
    if dataset.update_frequency in PERIODICITY:
        item["accrualPeriodicity"] = PERIODICITY[dataset.update_frequency]
    item["distribution"] = [{"@type": "dcat:Distribution", "title": f"{dataset.title} ({d.format.upper()})",
                             "downloadURL": d.url, "mediaType": d.media_type, "format": d.file_type}
                            for d in downloads(info.base_url, dataset, formats, use_labels)]
    return item


def catalog_json(info: CatalogInfo, datasets: list[Dataset], *, formats: list[str] | None = None,
                 use_labels: bool = True, restricted: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The whole ``data.json`` document; ``restricted`` holds the uids of datasets not open to
    everyone (``accessLevel``)."""
    return {"@context": f"{SCHEMA}/catalog.jsonld", "@id": f"{info.base_url}/api/explore/v2.1/catalog/exports/data.json",
            "@type": "dcat:Catalog", "conformsTo": SCHEMA, "describedBy": f"{SCHEMA}/catalog.json",
            "dataset": [_dataset(info, d, formats, use_labels, d.uid in restricted) for d in datasets]}
