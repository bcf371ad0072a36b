"""What every catalogue export says alike, without RDF: the catalogue's description, the EU
authority tables, licence URIs and each dataset's distributions.

Apart from ``catalog.dcat`` so that ``data.json``, RSS and v1's metadata do not import rdflib
(~0.05 s at each start of the server, which serves the RDF exports only when asked).
"""

from __future__ import annotations

from dataclasses import dataclass

from portail.catalog.models import Dataset
from portail.exports import FORMATS
from portail.schema import fields_from_json

EU_FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"
EU_FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
EU_LANGUAGE = "http://publications.europa.eu/resource/authority/language/"
IANA_MEDIA_TYPES = "https://www.iana.org/assignments/media-types/"

FREQUENCIES = {
    "continuous": "UPDATE_CONT", "daily": "DAILY", "weekly": "WEEKLY", "monthly": "MONTHLY", "quarterly": "QUARTERLY",
    "annual": "ANNUAL", "irregular": "IRREG", "never": "NEVER", "unknown": "UNKNOWN",
}
#: Licence names publishers type, lowercased, to the URI harvesters recognise.
LICENCES = {
    "licence ouverte / etalab 2.0": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
    "licence ouverte": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
    "etalab-2.0": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
    "odbl": "https://opendatacommons.org/licenses/odbl/1-0/",
    "cc-by-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "cc by 4.0": "https://creativecommons.org/licenses/by/4.0/",
    "cc0": "https://creativecommons.org/publicdomain/zero/1.0/",
}
#: Distributions listed for each dataset: export format -> its code in the EU "file-type"
#: authority table (the media type and whether it needs a geo field come from the export format
#: itself). JSON Lines and FlatGeobuf have no code there: harvesters would list them untyped.
FILE_TYPES = {
    "csv": "CSV", "json": "JSON", "geojson": "GEOJSON", "parquet": "PARQUET", "xlsx": "XLSX", "shp": "SHP",
    "kml": "KML", "gpx": "GPX", "jsonld": "JSON_LD", "turtle": "RDF_TURTLE", "rdfxml": "RDF_XML", "n3": "N3",
}


@dataclass(frozen=True)
class CatalogInfo:
    base_url: str
    title: str
    description: str
    publisher: str
    language: str = "fr"


def dataset_iri(base_url: str, uid: str) -> str:
    """A dataset's DCAT URI, from its immutable uid (``dcat.dataset_uri`` as a node)."""
    return f"{base_url}/dcat/dataset/{uid}"


def licence_uri(dataset: Dataset) -> str | None:
    if dataset.license_url:
        return dataset.license_url
    if dataset.license:
        return LICENCES.get(dataset.license.strip().lower())
    return None


@dataclass(frozen=True)
class Download:
    """One distribution of a dataset: an export format, its EU file type and media type, its URL."""

    format: str
    file_type: str
    media_type: str
    url: str


def downloads(base_url: str, dataset: Dataset, formats: list[str] | None = None, use_labels: bool = True) -> list[Download]:
    """The distributions listed for a dataset (``formats``, or all; geo ones only with a geo field;
    none before a first publication); ``use_labels`` (Opendatasoft's ``use_labels_in_exports``)
    makes the download URLs ask for field labels as column names."""
    if dataset.current is None:
        return []
    fields = fields_from_json(dataset.current.fields)
    labels = "?use_labels=true" if use_labels else ""
    return [Download(fmt, FILE_TYPES[fmt], FORMATS[fmt].media_type.split(";")[0],  # the IANA type, no charset
                     f"{base_url}/api/explore/v2.1/catalog/datasets/{dataset.slug}/exports/{fmt}{labels}")
            for fmt in formats or list(FILE_TYPES) if fmt in FILE_TYPES and FORMATS[fmt].fits(fields)]
