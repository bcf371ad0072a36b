"""Demo content: real public French files when ``../shared/refdata`` is there, else a small
generated file, loaded through the same operations as any publisher's data.

Idempotent: a dataset that already has a published version is left alone, so ``make run``
can call it at every start.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from portail.catalog import services
from portail.ingest.errors import IngestError
from portail.operations import Instance, load_file


@dataclass(frozen=True)
class DemoDataset:
    slug: str
    title: str
    path: str  # relative to the refdata folder
    portals: tuple[str, ...] = ("public",)
    themes: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    license: str = "Licence Ouverte / Etalab 2.0"
    publisher: str = ""
    description: str = ""
    frequency: str = "annual"
    extra: dict = field(default_factory=dict)
    pipeline: tuple[dict, ...] = ()  # processors, e.g. enrichment with the reference hub
    #: field name -> label, and the fields annotated as facets (in this order), as a publisher
    #: sets them: the table's facets, the API's default facets and ods-widgets' ``<ods-facets>``
    #: read the annotations (without them the widgets showed no facet), labels head the columns
    labels: dict[str, str] = field(default_factory=dict)
    facets: tuple[str, ...] = ()
    #: field name -> its other annotations, as ``portail dataset field --annotate`` sets them: a
    #: number's ``unit`` (``["€"]``) and ``decimals`` (``["2"]``), which the pages write after
    #: and in its values (``80 000 €``) while the API and exports keep the raw number
    annotations: dict[str, dict[str, list[str]]] = field(default_factory=dict)


DEMO = [
    DemoDataset("communes-france", "Communes de France : population et coordonnées", "referentiels/communes_france_enrichies.csv",
                themes=("Territoires",), keywords=("commune", "population", "INSEE"), publisher="INSEE",
                description="Une ligne par commune : code INSEE, département, région, code postal, "
                            "coordonnées, superficie, population 2015 et 2021.",
                labels={"insee_com": "Code INSEE", "insee_dep": "Département", "insee_reg": "Région",
                        "commune": "Commune", "code_postal": "Code postal", "commune_type": "Type de commune",
                        "superficie_km2": "Superficie", "population_2021": "Population 2021",
                        "population_2015": "Population 2015", "coordonnees": "Coordonnées"},
                facets=("insee_reg", "insee_dep", "commune_type"), annotations={"superficie_km2": {"unit": ["km²"]}},
                # a point per commune, so the demo's map tab has points to cluster (contours come with regions-contours)
                pipeline=({"processor": "geopoint", "lat": "lat", "lon": "lng", "output": "coordonnees"},)),
    DemoDataset("logements-sociaux-finances-a-paris", "Logements sociaux financés à Paris",
                "logement/logements-sociaux-finances-a-paris.csv", themes=("Logement",),
                keywords=("logement social", "Paris"), license="ODbL", publisher="Ville de Paris",
                description="Programmes de logements sociaux financés depuis 2001, par type de financement.",
                labels={"adresse_programme": "Adresse", "annee": "Année de financement", "bs": "Bailleur social",
                        "nb_logmt_total": "Nombre de logements", "mode_real": "Mode de réalisation",
                        "arrdt": "Arrondissement", "nature_programme": "Nature du programme"},
                facets=("annee", "bs", "mode_real", "arrdt", "nature_programme")),
    DemoDataset("age-liquidation-retraite", "Âge moyen de liquidation des droits à retraite",
                "retraites/drees_eacr_age_liquidation.csv", themes=("Retraites",), keywords=("retraite", "CNRACL", "DREES"),
                publisher="DREES", description="Échantillon annuel des cotisants et retraités (EACR) : âge moyen "
                "de départ par caisse, sexe et génération.",
                labels={"caisse": "Caisse", "sexe": "Sexe", "generation": "Génération", "ageliq": "Âge moyen de liquidation"},
                facets=("caisse", "sexe")),
    DemoDataset("senateurs", "Répertoire national des élus : sénateurs", "elus/rne_elus-senateurs-sen.csv",
                themes=("Administration",), keywords=("élus", "RNE"), publisher="Ministère de l'Intérieur", frequency="weekly",
                labels={"libelle_du_departement": "Département", "nom_de_l_elu": "Nom", "prenom_de_l_elu": "Prénom",
                        "code_sexe": "Sexe", "libelle_de_la_categorie_socio_professionnelle": "Catégorie socio-professionnelle",
                        "date_de_debut_du_mandat": "Début du mandat"},
                facets=("libelle_du_departement", "code_sexe", "libelle_de_la_categorie_socio_professionnelle")),
    DemoDataset("conseillers-departementaux", "Répertoire national des élus : conseillers départementaux",
                "elus/rne_elus-conseillers-departementaux-cd.csv", portals=("internal",),
                themes=("Administration",), keywords=("élus", "RNE"), publisher="Ministère de l'Intérieur", frequency="weekly"),
    DemoDataset("regions-contours", "Contours des régions", "geo/regions-version-simplifiee.geojson",
                portals=("public", "internal"), themes=("Territoires",), keywords=("région", "contours"), publisher="IGN"),
    DemoDataset("epci-composition", "Composition communale des EPCI à fiscalité propre", "excel/dgcl_epcicom_2025.xlsx",
                themes=("Territoires",), keywords=("EPCI", "intercommunalité"), publisher="DGCL"),
    DemoDataset("commerces-alimentaires-isere", "Commerces alimentaires de l'Isère (Sirene), enrichis par commune",
                "sirene/sirene_v3_etablissements_isere_commerce_alimentaire.csv", themes=("Économie",),
                keywords=("Sirene", "commerce"), publisher="INSEE",
                labels={"denominationunitelegale": "Dénomination", "enseigne1etablissement": "Enseigne",
                        "datecreationetablissement": "Date de création", "etablissementsiege": "Siège",
                        "trancheeffectifsetablissement": "Tranche d'effectifs", "libellecommuneetablissement": "Commune",
                        "etatadministratifetablissement": "État administratif", "commune_epci_nom": "EPCI"},
                facets=("datecreationetablissement", "commune_epci_nom", "trancheeffectifsetablissement",
                        "etatadministratifetablissement"),
                description="Établissements du commerce alimentaire (NAF 47.11) en Isère, avec la commune, l'EPCI, "
                            "le département et la population ajoutés depuis le référentiel des communes.",
                pipeline=({"processor": "admin_divisions", "field": "codecommuneetablissement", "prefix": "commune"},)),
    DemoDataset("decp-marches-publics", "Données essentielles de la commande publique (extrait)",
                "decp/decp_2019_e-marchespublics.json", themes=("Économie",), keywords=("marchés publics", "DECP"),
                publisher="e-marchespublics.com",
                labels={"nature": "Nature", "objet": "Objet", "procedure": "Procédure", "montant": "Montant",
                        "datenotification": "Date de notification", "dureemois": "Durée"},
                facets=("nature", "procedure", "datenotification"),
                annotations={"montant": {"unit": ["€"]}, "dureemois": {"unit": ["mois"]}}),
]


def _reference_hub(instance: Instance, refdata: Path) -> Iterator[str]:
    from portail.refdata import install

    with instance.session() as session:
        try:
            installed = services.get_dataset(session, "ref-communes").current_version is not None
        except services.NotFound:
            installed = False
    if installed:
        yield "reference datasets: already installed"
        return
    yield from install(instance, refdata)


def generate_sample(path: Path, rows: int = 5000) -> Path:
    """A deterministic stand-in when no reference files are at hand (French CSV quirks included)."""
    rng = random.Random(42)
    communes = [("01001", "L'Abergement-Clémenciat"), ("2A004", "Ajaccio"), ("75056", "Paris"), ("69123", "Lyon"),
                ("13055", "Marseille"), ("33063", "Bordeaux"), ("59350", "Lille"), ("97411", "Saint-Denis")]
    with open(path, "w", encoding="cp1252", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["Code commune", "Commune", "Date d'ouverture", "Montant (€)", "Catégorie"])
        for _ in range(rows):
            code, name = rng.choice(communes)
            writer.writerow([code, name, f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1990, 2025)}",
                             f"{rng.uniform(100, 100000):.2f}".replace(".", ","), rng.choice(["Écoles", "Santé", "Sport"])])
    return path


def load_demo(instance: Instance, refdata: Path) -> Iterator[str]:
    refdata = Path(refdata)
    entries = DEMO if refdata.is_dir() else []
    if entries:
        yield from _reference_hub(instance, refdata)
    if not entries:  # said: a mistyped --refdata silently served made-up data
        yield (f"reference files not found at {refdata.resolve()} (--refdata): loading a generated sample instead")
        sample = generate_sample(instance.settings.home / "demo-equipements.csv")
        entries = [DemoDataset("equipements-demo", "Équipements publics (données générées)", str(sample),
                               themes=("Démo",), description="Jeu de données généré pour la démonstration.",
                               labels={"montant": "Montant"}, annotations={"montant": {"unit": ["€"], "decimals": ["2"]}})]
    for entry in entries:
        path = refdata / entry.path if refdata.is_dir() else Path(entry.path)
        with instance.session() as session:
            try:
                dataset = services.get_dataset(session, entry.slug)
            except services.NotFound:
                dataset = services.create_dataset(
                    session, entry.slug, entry.title, description=entry.description or None, portals=list(entry.portals),
                    themes=list(entry.themes), keywords=list(entry.keywords), license=entry.license,
                    publisher=entry.publisher or None, update_frequency=entry.frequency, language="fr")
                if entry.pipeline:
                    services.set_pipeline(session, dataset, list(entry.pipeline))
                for name in dict.fromkeys([*entry.labels, *entry.facets, *entry.annotations]):
                    annotations = ({"facet": []} if name in entry.facets else {}) | entry.annotations.get(name, {})
                    services.set_field_override(session, dataset, name, label=entry.labels.get(name),
                                                annotations=annotations or None)
            if dataset.current_version is not None:
                yield f"{entry.slug}: already loaded"
                continue
        if not path.exists():
            yield f"{entry.slug}: skipped, {path} not found"
            continue
        try:
            result = load_file(instance, entry.slug, path, publish=True, source=str(path.resolve()))  # reloadable
            yield f"{entry.slug}: {result.report.rows:,} records"
        except IngestError as error:
            yield f"{entry.slug}: not loaded: {error.describe()}"
