"""The catalogue in Dublin Core (DCMI Metadata Terms), as RDF, for ``/catalog/exports/dublin_core``.

RDF, not ``oai_dc`` XML: ``oai_dc`` is one record's container, carried inside OAI-PMH answers
(verbs, resumption tokens) that this export is not; a whole catalogue in one ``oai_dc`` file
would need a wrapper of our own that no OAI harvester reads and no RDF parser either. The same
statements as RDF/XML read with any RDF parser and, flat (one ``rdf:Description`` per
resource), with any XML parser, beside the DCAT exports whose media type they share.

Each statement keeps the range DCMI gives its property: literals for ``title``,
``description``, ``identifier``, the dates and ``subject`` (themes and keywords; DCMI sets it
no range); resources for the publisher (named with ``foaf:name``, as DCMI's own RDF examples
name agents), licence (a licence known only by its name is a labelled ``dcterms:rights``
statement), language, frequency, place, period (DCMI's Period encoding) and formats. The
landing page is ``foaf:page``; the downloads ``dcterms:hasFormat``, the same data in another
format. A dataset's URI, its publisher's and the catalogue's are the DCAT export's
(``catalog.dcat``), so a harvester that reads both merges them into one description.

Pure: datasets in, an rdflib ``Graph`` out.
"""

from __future__ import annotations

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import DCMITYPE, DCTERMS, FOAF, RDF, RDFS

from portail.catalog.dcat import catalog_uri, dataset_uri, publisher_uri, stamp
from portail.catalog.distributions import (EU_FREQUENCY, EU_LANGUAGE, FREQUENCIES, IANA_MEDIA_TYPES, CatalogInfo,
                                           downloads, licence_uri)
from portail.catalog.languages import EU_CODES, language_tag
from portail.catalog.models import Dataset


def _period(dataset: Dataset) -> Literal:
    """The temporal coverage in DCMI's Period encoding (``start=…; end=…; scheme=W3C-DTF;``)."""
    parts = [f"start={dataset.temporal_start.isoformat()}" if dataset.temporal_start else "",
             f"end={dataset.temporal_end.isoformat()}" if dataset.temporal_end else "", "scheme=W3C-DTF"]
    return Literal(" ".join(f"{part};" for part in parts if part), datatype=DCTERMS.Period)


def _agent(graph: Graph, base_url: str, name: str) -> URIRef:
    agent = publisher_uri(base_url, name)
    graph.add((agent, RDF.type, DCTERMS.Agent))
    graph.add((agent, FOAF.name, Literal(name)))
    return agent


def add_dataset(graph: Graph, info: CatalogInfo, dataset: Dataset, formats: list[str] | None = None,
                use_labels: bool = True) -> URIRef:
    """A dataset's Dublin Core description; its downloads as ``distributions.downloads`` lists them."""
    base = info.base_url
    lang = language_tag(dataset.language, info.language)
    node = dataset_uri(base, dataset.uid)
    graph.add((node, DCTERMS.type, DCMITYPE.Dataset))
    graph.add((node, DCTERMS.identifier, Literal(dataset.uid)))
    graph.add((node, DCTERMS.title, Literal(dataset.title, lang=lang)))
    if dataset.description:
        graph.add((node, DCTERMS.description, Literal(dataset.description, lang=lang)))
    for subject in [*(dataset.themes or []), *(dataset.keywords or [])]:
        graph.add((node, DCTERMS.subject, Literal(subject, lang=lang)))
    graph.add((node, DCTERMS.issued, stamp(dataset.created_at)))
    graph.add((node, DCTERMS.modified, stamp(dataset.modified)))
    graph.add((node, FOAF.page, URIRef(f"{base}/explore/dataset/{dataset.slug}/")))
    if lang in EU_CODES:
        graph.add((node, DCTERMS.language, URIRef(EU_LANGUAGE + EU_CODES[lang])))
    if dataset.publisher:
        graph.add((node, DCTERMS.publisher, _agent(graph, base, dataset.publisher)))
    licence = licence_uri(dataset)
    if licence:
        graph.add((node, DCTERMS.license, URIRef(licence)))
        graph.add((URIRef(licence), RDF.type, DCTERMS.LicenseDocument))
        if dataset.license:
            graph.add((URIRef(licence), RDFS.label, Literal(dataset.license)))
    elif dataset.license:  # a name without a known URI: a statement of rights, labelled with it
        rights = BNode()
        graph.add((node, DCTERMS.rights, rights))
        graph.add((rights, RDF.type, DCTERMS.RightsStatement))
        graph.add((rights, RDFS.label, Literal(dataset.license)))
    if dataset.update_frequency in FREQUENCIES:
        graph.add((node, DCTERMS.accrualPeriodicity, URIRef(EU_FREQUENCY + FREQUENCIES[dataset.update_frequency])))
    if dataset.spatial_coverage:
        place = BNode()
        graph.add((node, DCTERMS.spatial, place))
        graph.add((place, RDF.type, DCTERMS.Location))
        graph.add((place, RDFS.label, Literal(dataset.spatial_coverage)))
    if dataset.temporal_start or dataset.temporal_end:
        period = BNode()
        graph.add((node, DCTERMS.temporal, period))
        graph.add((period, RDF.type, DCTERMS.PeriodOfTime))
        graph.add((period, RDF.value, _period(dataset)))
    for item in downloads(base, dataset, formats, use_labels):
        download = URIRef(item.url)
        graph.add((node, DCTERMS.hasFormat, download))
        graph.add((download, DCTERMS.isFormatOf, node))
        graph.add((download, DCTERMS.format, URIRef(IANA_MEDIA_TYPES + item.media_type)))
    return node


def catalog_graph(info: CatalogInfo, datasets: list[Dataset], *, formats: list[str] | None = None,
                  use_labels: bool = True) -> Graph:
    """The catalogue (a DCMI Collection whose parts are ``datasets``) and each dataset's description."""
    graph = Graph()
    for prefix, namespace in (("dcterms", DCTERMS), ("dcmitype", DCMITYPE), ("foaf", FOAF)):
        graph.bind(prefix, namespace)
    catalog = catalog_uri(info.base_url)
    graph.add((catalog, DCTERMS.type, DCMITYPE.Collection))
    graph.add((catalog, DCTERMS.title, Literal(info.title, lang=info.language)))
    graph.add((catalog, DCTERMS.description, Literal(info.description, lang=info.language)))
    graph.add((catalog, FOAF.homepage, URIRef(f"{info.base_url}/")))
    graph.add((catalog, DCTERMS.publisher, _agent(graph, info.base_url, info.publisher)))
    for dataset in datasets:
        graph.add((catalog, DCTERMS.hasPart, add_dataset(graph, info, dataset, formats, use_labels)))
    return graph
