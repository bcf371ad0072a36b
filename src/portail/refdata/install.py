"""Install reference datasets from a folder (tests, demo, offline sites) or their official URLs.

Each official file becomes a dataset ``ref-src-…`` loaded by the ordinary loader, with its
source, vintage and licence recorded; derived tables (``ref-communes``: every commune and
municipal arrondissement with its département, région, EPCI and population;
``ref-commune-successeurs``: every former INSEE code mapped to the current commune) are built
from them with SQL and published as datasets too. Reinstalling a new vintage publishes new
versions: datasets enriched from them keep their own published versions until they reload.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp

from portail.catalog import services
from portail.ingest.errors import IngestError
from portail.operations import Instance, fetch, index_version, load_file, published_location, readable_file
from portail.processors import geo_index
from portail.processors.base import Derive
from portail.schema import DUCKDB_TYPES, GEO_TYPES, Field, FieldType
from portail.sources.redaction import redacted_url


@dataclass(frozen=True)
class Source:
    dataset_id: str
    title: str
    path: str  # relative path in a refdata folder
    url: str  # official download (used when no folder is given)
    vintage: str
    licence: str
    layer: str  # communes, epci, departements, regions: what --only selects


#: What ``--only`` selects.
LAYERS = ("communes", "epci", "departements", "regions")


SOURCES = [
    Source("ref-src-cog-communes", "COG 2026 : communes", "referentiels/cog2026_communes.csv",
           "https://www.insee.fr/fr/statistiques/fichier/8740222/v_commune_2026.csv", "2026", "Licence Ouverte 2.0", "communes"),
    Source("ref-src-cog-mouvements", "COG 2026 : mouvements des communes", "referentiels/cog2026_mouvements_communes.csv",
           "https://www.insee.fr/fr/statistiques/fichier/8740222/v_mvt_commune_2026.csv", "2026", "Licence Ouverte 2.0", "communes"),
    Source("ref-src-cog-departements", "COG 2026 : départements", "referentiels/cog2026_departements.csv",
           "https://www.insee.fr/fr/statistiques/fichier/8740222/v_departement_2026.csv", "2026", "Licence Ouverte 2.0",
           "departements"),
    Source("ref-src-cog-regions", "COG 2026 : régions", "referentiels/cog2026_regions.csv",
           "https://www.insee.fr/fr/statistiques/fichier/8740222/v_region_2026.csv", "2026", "Licence Ouverte 2.0", "regions"),
    Source("ref-src-populations", "Populations légales des communes", "referentiels/populations_legales_communes.csv",
           "https://raw.githubusercontent.com/datagouv/decoupage-administratif/master/sources/donnees_communes.csv",
           "2023 (publiées 2026)", "Licence Ouverte 2.0", "communes"),
    Source("ref-src-epci-membres", "EPCI à fiscalité propre : communes membres (DGCL)", "excel/dgcl_epcicom_2025.xlsx",
           "https://www.collectivites-locales.gouv.fr/files/Accueil/DESL/2025/epcicom2025.xlsx", "2025", "Licence Ouverte 2.0",
           "epci"),
    Source("ref-src-communes-contours", "Contours des communes (simplifiés)", "geo/communes-france-simplifiee-derivee.geojson",
           "https://etalab-datasets.geo.data.gouv.fr/contours-administratifs/latest/geojson/communes-100m.geojson",
           "2018 (dérivé)", "Licence Ouverte 2.0", "communes"),
    Source("ref-src-epci-contours", "Contours des EPCI", "geo/epci-france-2025-derivee.geojson",
           "https://etalab-datasets.geo.data.gouv.fr/contours-administratifs/latest/geojson/epci-100m.geojson",
           "2025 (dérivé)", "Licence Ouverte 2.0", "epci"),
    Source("ref-src-departements-contours", "Contours des départements", "geo/departements.geojson",
           "https://etalab-datasets.geo.data.gouv.fr/contours-administratifs/latest/geojson/departements-100m.geojson",
           "2018", "Licence Ouverte 2.0", "departements"),
    Source("ref-src-regions-contours", "Contours des régions", "geo/regions.geojson",
           "https://etalab-datasets.geo.data.gouv.fr/contours-administratifs/latest/geojson/regions-100m.geojson",
           "2018", "Licence Ouverte 2.0", "regions"),
]

COMMUNES_SQL = """
SELECT c.com AS code, c.libelle AS nom, c.typecom AS type,
       coalesce(c.dep, p.dep) AS dep_code, d.libelle AS dep_nom,
       coalesce(c.reg, p.reg) AS reg_code, r.libelle AS reg_nom,
       e.siren AS epci_siren, e.raison_sociale AS epci_nom,
       pop.pmun AS population, g.geo_shape AS geo_shape
FROM cog AS c
LEFT JOIN cog AS p ON c.typecom = 'ARM' AND p.typecom = 'COM' AND p.com = c.comparent
LEFT JOIN departements AS d ON d.dep = coalesce(c.dep, p.dep)
LEFT JOIN regions AS r ON r.reg = coalesce(c.reg, p.reg)
LEFT JOIN epci AS e ON e.insee = coalesce(p.com, c.com)
LEFT JOIN populations AS pop ON pop.com = c.com
LEFT JOIN contours AS g ON g.code = c.com
WHERE c.typecom IN ('COM', 'ARM')
"""

# A former code maps to the commune it became (latest event first), chains followed 6 deep.
SUCCESSORS_SQL = """
WITH current AS (SELECT com FROM cog WHERE typecom IN ('COM', 'ARM')),
step AS (
  SELECT com_av AS old, arg_max(com_ap, date_eff) AS new FROM mouvements
  WHERE typecom_ap = 'COM' AND com_av <> com_ap AND com_av NOT IN (SELECT com FROM current)
  GROUP BY com_av
),
chain AS (
  SELECT s1.old, coalesce(s6.new, s5.new, s4.new, s3.new, s2.new, s1.new) AS new
  FROM step s1 LEFT JOIN step s2 ON s2.old = s1.new LEFT JOIN step s3 ON s3.old = s2.new
  LEFT JOIN step s4 ON s4.old = s3.new LEFT JOIN step s5 ON s5.old = s4.new LEFT JOIN step s6 ON s6.old = s5.new
)
SELECT old AS ancien_code, new AS code FROM chain WHERE new IN (SELECT com FROM current)
"""


# Each EPCI once, with its member count, population and contour.
EPCI_SQL = """
SELECT m.siren AS siren, any_value(m.raison_sociale) AS nom, any_value(m.nature_juridique) AS nature_juridique,
       count(*) AS nb_communes, sum(m.pmun_2025) AS population, any_value(c.geo_shape) AS geo_shape
FROM membres AS m LEFT JOIN contours AS c ON c.siren = m.siren
GROUP BY m.siren
"""


@dataclass(frozen=True)
class Derived:
    dataset_id: str
    title: str
    sql: str
    inputs: dict[str, str]  # table name in the SQL -> source dataset_id
    fields: list[Field]
    layer: str
    #: Files derived from each new version at install (``processors.base.Derive``), so that the
    #: first load needing them does not pay for them.
    derive: tuple[Derive, ...] = ()


def _f(name: str, label: str, kind: FieldType = FieldType.TEXT) -> Field:
    return Field(name, label, kind)


DERIVED = [
    Derived("ref-communes", "Communes et arrondissements municipaux (référentiel)", COMMUNES_SQL,
            {"cog": "ref-src-cog-communes", "departements": "ref-src-cog-departements", "regions": "ref-src-cog-regions",
             "epci": "ref-src-epci-membres", "populations": "ref-src-populations", "contours": "ref-src-communes-contours"},
            [_f("code", "Code INSEE"), _f("nom", "Nom"), _f("type", "Type (COM, ARM)"), _f("dep_code", "Code département"),
             _f("dep_nom", "Département"), _f("reg_code", "Code région"), _f("reg_nom", "Région"),
             _f("epci_siren", "SIREN de l'EPCI"), _f("epci_nom", "EPCI"), _f("population", "Population municipale", FieldType.INT),
             _f("geo_shape", "Contour", FieldType.GEO_SHAPE)], "communes", derive=(geo_index.ensure_index,)),
    Derived("ref-commune-successeurs", "Anciens codes communes et commune actuelle", SUCCESSORS_SQL,
            {"cog": "ref-src-cog-communes", "mouvements": "ref-src-cog-mouvements"},
            [_f("ancien_code", "Ancien code INSEE"), _f("code", "Code INSEE actuel")], "communes"),
    Derived("ref-epci", "EPCI à fiscalité propre (référentiel)", EPCI_SQL,
            {"membres": "ref-src-epci-membres", "contours": "ref-src-epci-contours"},
            [_f("siren", "SIREN de l'EPCI"), _f("nom", "Nom"), _f("nature_juridique", "Nature juridique (CC, CA, CU, METRO, MET69)"),
             _f("nb_communes", "Nombre de communes", FieldType.INT), _f("population", "Population municipale", FieldType.INT),
             _f("geo_shape", "Contour", FieldType.GEO_SHAPE)], "epci"),
]


def _ensure(instance: Instance, dataset_id: str, title: str, extra: dict, installed: bool = False) -> None:
    """The reference dataset, created if need be, with ``extra`` in its metadata; ``installed``:
    its served version is the one the install made or kept (``_installed_rows``)."""
    with instance.session() as session:
        try:
            dataset = services.get_dataset(session, dataset_id)
        except services.NotFound:
            dataset = services.create_dataset(session, dataset_id, title, portals=["public", "internal"],
                                              themes=["Référentiels"], language="fr", update_frequency="annual")
        if installed:
            extra = {**extra, "installed_version": dataset.current_version}
        services.update_metadata(session, dataset, extra_metas={**(dataset.extra_metas or {}), "reference": True, **extra},
                                 license=extra.get("licence"))


def _typed(derived: Derived) -> exp.Select:
    """The derived SQL with each column cast to its declared field's storage type: a ``sum`` of
    integers is a HUGEINT in DuckDB, and a version file must hold what its schema says (the
    compiler and the exports read a field's type from the schema, not from the file)."""
    inner = sqlglot.parse_one(derived.sql, dialect="duckdb").subquery("derived")
    columns = [exp.cast(exp.column(f.name, quoted=True), DUCKDB_TYPES[f.type], dialect="duckdb").as_(f.name, quoted=True)
               if f.type not in GEO_TYPES else exp.column(f.name, quoted=True) for f in derived.fields]
    return exp.select(*columns).from_(inner)


def _build_derived(instance: Instance, derived: Derived) -> int:
    """Publish a new version of a derived table, built with SQL over the published sources."""
    from portail.store.duckdb_store import RECORDS

    with instance.session() as session:
        dataset = services.get_dataset(session, derived.dataset_id)
        uid = dataset.uid
    with instance.store.lock(uid):
        with instance.session() as session:
            number = services.start_version(session, services.get_dataset(session, uid), "refdata install").number
        build = instance.store.begin_version(uid, number)
        try:
            for table, source in derived.inputs.items():
                location = published_location(instance, source).replace("'", "''")
                build.con.execute(f"ATTACH '{location}' AS src_{table} (READ_ONLY)")
                build.con.execute(f'CREATE TEMP VIEW "{table}" AS SELECT * FROM src_{table}.main.{RECORDS}')
            build.create_records(_typed(derived))
            info = build.finish({"fields": [f.to_dict() for f in derived.fields], "report": {"derived_from": derived.inputs}})
        except Exception as error:
            build.abort()
            with instance.session() as session:
                services.fail_version(session, services.get_dataset(session, uid).version(number), str(error)[:500])
            raise IngestError(f"could not build {derived.dataset_id}: {str(error).splitlines()[0][:300]}") from None
        if info.row_count == 0:  # its inputs do not join (a file of another layout): the served table stays
            instance.store.drop_version(info.location)
            with instance.session() as session:
                services.fail_version(session, services.get_dataset(session, uid).version(number), "0 records")
            raise IngestError(f"could not build {derived.dataset_id}: its inputs give 0 records; the version served "
                              "stays")
        # Indexed before it is published, as a reload is: these tables are served on both
        # portals (a commune or a SIRET looked up by code, Sirene searched by name), and were
        # served without indexes, every such call scanning the table.
        report: dict = {"rows": info.row_count, "derived_from": derived.inputs}
        if failure := index_version(instance, info.location, derived.fields):
            report["notes"] = [failure]
        with instance.session() as session:
            dataset = services.get_dataset(session, uid)
            services.complete_version(session, dataset.version(number), location=info.location, row_count=info.row_count,
                                      size_bytes=info.size_bytes, fields=derived.fields, report=report)
            services.publish(session, dataset, number)
    for derive in derived.derive:  # the first load would build it anyway; this spares it the wait
        derive(info.location)
    return info.row_count


def _digest(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def source_url(source: Source, mirror: str | None) -> str:
    """Where a file is downloaded from: the mirror (same layout as a reference folder) or its official URL."""
    return f"{mirror.rstrip('/')}/{source.path}" if mirror else source.url


def _check_folder(folder: Path, sources: list[Source]) -> None:
    """Refuse a reference folder that is not one, or lacks a file to install, before anything is
    loaded: a half-installed vintage would publish new sources beside derived tables built from the old."""
    if not folder.is_dir():
        raise IngestError("not a folder of reference files" if folder.exists() else "no such folder", source=str(folder))
    for source in sources:
        readable_file(folder / source.path)


def install(instance: Instance, from_dir: Path | None = None, only: list[str] | None = None,
            mirror: str | None = None, force: bool = False) -> Iterator[str]:
    """Install (or reinstall) the reference datasets; yields one line per dataset.

    Files are read from ``from_dir`` when given, else downloaded (streamed to disk) from
    ``mirror`` or the ``refdata_mirror`` setting, else from their official URLs. The origin,
    SHA-256 and size of each installed file are recorded with its vintage and licence, once it
    is published. A reinstall keeps the published version of a file whose SHA-256 it already
    holds, and of a derived table whose inputs are the versions it was built from: a yearly
    COG update changes two files of ten, and the 35,000 commune contours need not be read
    again. ``force`` reloads everything (after an upgrade that reads files differently)."""
    layers = set(only or LAYERS)
    unknown = layers - set(LAYERS)
    if unknown:
        raise IngestError(f"unknown reference layer {sorted(unknown)[0]!r}; choose among {', '.join(LAYERS)}")
    if "communes" in layers:  # communes are described with their département, région and EPCI
        layers |= {"departements", "regions", "epci"}
    mirror = mirror or instance.settings.refdata_mirror
    if from_dir:
        _check_folder(Path(from_dir), [s for s in SOURCES if s.layer in layers])
    for source in SOURCES:
        if source.layer not in layers:
            continue
        origin = str(Path(from_dir) / source.path) if from_dir else source_url(source, mirror)
        path = Path(origin) if from_dir else fetch(instance, origin)
        try:
            sha256, size = _digest(path)
            metas = {"source_url": source.url, "vintage": source.vintage, "licence": source.licence,
                     "installed_from": redacted_url(origin), "sha256": sha256, "size_bytes": size}
            kept = None if force else _installed_rows(instance, source.dataset_id, {"sha256": sha256})
            if kept is None:
                # the file's digest is recorded once its version is published: a load that
                # fails leaves the digest of the file still served, and the next run retries
                _ensure(instance, source.dataset_id, source.title,
                        {k: metas[k] for k in ("source_url", "vintage", "licence")})
                rows = load_file(instance, source.dataset_id, path, publish=True, source=origin).report.rows
            _ensure(instance, source.dataset_id, source.title, metas, installed=True)
        finally:
            if not from_dir:
                path.unlink(missing_ok=True)
        state = f"{rows:,} records" if kept is None else f"unchanged, {kept:,} records"
        yield f"{source.dataset_id}: {state} (vintage {source.vintage})"
    for derived in DERIVED:
        if derived.layer in layers:
            inputs = {"built_from": _input_versions(instance, derived)}
            kept = None if force else _installed_rows(instance, derived.dataset_id, inputs)
            if kept is None:
                _ensure(instance, derived.dataset_id, derived.title, {"derived_from": sorted(set(derived.inputs.values()))})
                rows = _build_derived(instance, derived)
                _ensure(instance, derived.dataset_id, derived.title, inputs, installed=True)
            yield f"{derived.dataset_id}: " + (f"{rows:,} records" if kept is None else f"unchanged, {kept:,} records")


def _installed_rows(instance: Instance, dataset_id: str, metas: dict) -> int | None:
    """The rows of a reference dataset's published version when the install published it with
    these metadata (a file's digest, a derived table's input versions), else None: load it. A
    version served since by other means (an ingest, a rollback) is not the file's."""
    with instance.session() as session:
        try:
            dataset = services.get_dataset(session, dataset_id)
        except services.NotFound:
            return None
        recorded = dataset.extra_metas or {}
        if dataset.current is None or recorded.get("installed_version") != dataset.current_version or \
                any(recorded.get(k) != v for k, v in metas.items()):
            return None
        return dataset.current.row_count


def _input_versions(instance: Instance, derived: Derived) -> dict[str, int | None]:
    """The published version number of each input of a derived table."""
    with instance.session() as session:
        return {source: services.get_dataset(session, source).current_version for source in sorted(set(derived.inputs.values()))}
