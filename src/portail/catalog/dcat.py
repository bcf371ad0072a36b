"""The catalogue as DCAT-AP (2.1.1), for harvesters such as data.gouv.fr and data.europa.eu.

URIs of datasets are built from their immutable uid (a slug may be renamed, a uid never), so
a harvester keeps recognising a dataset across renames. Frequencies use the EU "frequency"
authority table; licences the best-known URI for each licence name. Pages follow Hydra's
``PartialCollectionView`` so a harvester can walk a large catalogue.

Pure: datasets in, an rdflib ``Graph`` out; HTTP and serialisation belong to the API.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, XSD

from portail.catalog.distributions import (EU_FILE_TYPE, EU_FREQUENCY, EU_LANGUAGE, FREQUENCIES, IANA_MEDIA_TYPES,
                                           CatalogInfo, dataset_iri, downloads, licence_uri)
from portail.catalog.languages import EU_CODES, language_tag
from portail.catalog.models import Dataset

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
ADMS = Namespace("http://www.w3.org/ns/adms#")


def catalog_uri(base_url: str) -> URIRef:
    return URIRef(f"{base_url}/dcat/catalog")


def dataset_uri(base_url: str, uid: str) -> URIRef:
    return URIRef(dataset_iri(base_url, uid))


def publisher_uri(base_url: str, name: str) -> URIRef:
    """A publisher's URI from its name: the same agent node in every dataset and export that names it."""
    return URIRef(f"{base_url}/dcat/publisher/{_slug(name)}")


def stamp(value: datetime | date) -> Literal:
    """A date or an instant as the typed literal both RDF exports write; an instant with its
    offset (the catalogue keeps UTC instants without one, which a harvester reads as local time)."""
    if isinstance(value, datetime):
        return Literal((value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat(), datatype=XSD.dateTime)
    return Literal(value.isoformat(), datatype=XSD.date)


def add_dataset(graph: Graph, info: CatalogInfo, dataset: Dataset, formats: list[str] | None = None,
                use_labels: bool = True) -> URIRef:
    """A dataset and its distributions (``downloads``)."""
    base = info.base_url
    node = dataset_uri(base, dataset.uid)
    graph.add((node, RDF.type, DCAT.Dataset))
    graph.add((node, DCTERMS.identifier, Literal(dataset.uid)))
    graph.add((node, ADMS.identifier, Literal(dataset.slug)))
    lang = language_tag(dataset.language, info.language)
    graph.add((node, DCTERMS.title, Literal(dataset.title, lang=lang)))
    graph.add((node, DCTERMS.description, Literal(dataset.description or dataset.title, lang=lang)))
    graph.add((node, DCAT.landingPage, URIRef(f"{base}/explore/dataset/{dataset.slug}/")))
    graph.add((node, DCTERMS.issued, stamp(dataset.created_at)))
    graph.add((node, DCTERMS.modified, stamp(dataset.modified)))
    for keyword in dataset.keywords or []:
        graph.add((node, DCAT.keyword, Literal(keyword, lang=lang)))
    for theme in dataset.themes or []:
        graph.add((node, DCAT.theme, URIRef(f"{base}/themes/{_slug(theme)}")))
    language = EU_CODES.get(lang)
    if language:
        graph.add((node, DCTERMS.language, URIRef(EU_LANGUAGE + language)))
    if dataset.update_frequency in FREQUENCIES:
        graph.add((node, DCTERMS.accrualPeriodicity, URIRef(EU_FREQUENCY + FREQUENCIES[dataset.update_frequency])))
    if dataset.temporal_start or dataset.temporal_end:
        period = BNode()
        graph.add((node, DCTERMS.temporal, period))
        graph.add((period, RDF.type, DCTERMS.PeriodOfTime))
        if dataset.temporal_start:
            graph.add((period, DCAT.startDate, stamp(dataset.temporal_start)))
        if dataset.temporal_end:
            graph.add((period, DCAT.endDate, stamp(dataset.temporal_end)))
    if dataset.spatial_coverage:
        place = BNode()
        graph.add((node, DCTERMS.spatial, place))
        graph.add((place, RDF.type, DCTERMS.Location))
        graph.add((place, DCTERMS.title, Literal(dataset.spatial_coverage)))
    if dataset.publisher:
        agent = publisher_uri(base, dataset.publisher)
        graph.add((node, DCTERMS.publisher, agent))
        graph.add((agent, RDF.type, FOAF.Agent))
        graph.add((agent, FOAF.name, Literal(dataset.publisher)))
    if dataset.contact_name or dataset.contact_email or dataset.owner:
        contact = BNode()
        graph.add((node, DCAT.contactPoint, contact))
        graph.add((contact, RDF.type, VCARD.Kind))
        graph.add((contact, VCARD.fn, Literal(dataset.contact_name or dataset.owner)))
        if dataset.contact_email:
            graph.add((contact, VCARD.hasEmail, URIRef(f"mailto:{dataset.contact_email}")))
    licence = licence_uri(dataset)
    for item in downloads(base, dataset, formats, use_labels):
        download = URIRef(item.url)
        distribution = URIRef(f"{base}/dcat/dataset/{dataset.uid}/distribution/{item.format}")
        graph.add((node, DCAT.distribution, distribution))
        graph.add((distribution, RDF.type, DCAT.Distribution))
        graph.add((distribution, DCTERMS.title, Literal(f"{dataset.title} ({item.format.upper()})")))
        graph.add((distribution, DCAT.accessURL, download))
        graph.add((distribution, DCAT.downloadURL, download))
        graph.add((distribution, DCTERMS.format, URIRef(EU_FILE_TYPE + item.file_type)))
        graph.add((distribution, DCAT.mediaType, URIRef(IANA_MEDIA_TYPES + item.media_type)))
        graph.add((distribution, DCTERMS.modified, stamp(dataset.data_processed or dataset.modified)))
        if licence:
            graph.add((distribution, DCTERMS.license, URIRef(licence)))
            graph.add((URIRef(licence), RDF.type, DCTERMS.LicenseDocument))
    return node


def _slug(text: str) -> str:
    from portail.schema import normalize_name

    return normalize_name(text).replace("_", "-") or "x"


def catalog_graph(info: CatalogInfo, datasets: list[Dataset], *, page: int = 1, page_size: int = 100,
                  formats: list[str] | None = None, query: str = "", use_labels: bool = True,
                  export_url: str | None = None) -> Graph:
    """The catalogue's page ``page`` of ``datasets``; ``query`` is the request's own query string
    (filters, order) that the paging links carry, so that a next page is of the same selection;
    ``export_url`` the export asked (v2.1's RDF/XML ``dcat`` by default), which they name, so
    that a harvester walking Turtle or JSON-LD pages is handed the next page in the same syntax."""
    graph = Graph()
    for prefix, namespace in (("dcat", DCAT), ("dct", DCTERMS), ("foaf", FOAF), ("vcard", VCARD), ("hydra", HYDRA),
                              ("adms", ADMS)):
        graph.bind(prefix, namespace)
    catalog = catalog_uri(info.base_url)
    graph.add((catalog, RDF.type, DCAT.Catalog))
    graph.add((catalog, DCTERMS.title, Literal(info.title, lang=info.language)))
    graph.add((catalog, DCTERMS.description, Literal(info.description, lang=info.language)))
    graph.add((catalog, FOAF.homepage, URIRef(f"{info.base_url}/")))
    publisher = publisher_uri(info.base_url, info.publisher)
    graph.add((catalog, DCTERMS.publisher, publisher))
    graph.add((publisher, RDF.type, FOAF.Agent))
    graph.add((publisher, FOAF.name, Literal(info.publisher)))
    graph.add((catalog, DCTERMS.language, URIRef(EU_LANGUAGE + EU_CODES.get(info.language, "FRA"))))
    start = (page - 1) * page_size
    for dataset in datasets[start:start + page_size]:
        graph.add((catalog, DCAT.dataset, add_dataset(graph, info, dataset, formats, use_labels)))
    last = max(1, -(-len(datasets) // page_size))
    export_url = export_url or f"{info.base_url}/api/explore/v2.1/catalog/exports/dcat"
    view_base = f"{export_url}?{query + '&' if query else ''}page_size={page_size}&page="
    view = URIRef(view_base + str(page))
    graph.add((view, RDF.type, HYDRA.PartialCollectionView))
    graph.add((view, HYDRA.first, URIRef(view_base + "1")))
    graph.add((view, HYDRA.last, URIRef(view_base + str(last))))
    if page < last:
        graph.add((view, HYDRA.next, URIRef(view_base + str(page + 1))))
    if page > 1:
        graph.add((view, HYDRA.previous, URIRef(view_base + str(page - 1))))
    graph.add((view, HYDRA.totalItems, Literal(len(datasets), datatype=XSD.integer)))
    return graph
