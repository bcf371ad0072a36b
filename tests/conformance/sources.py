"""The reference files read independently of Portail (plain ``csv``/``json``, types converted
by hand), so that every conformance case compares the API with a computation that shares no
code with the loaders, the store or the ODSQL compiler.

Each reader returns a list of dicts keyed by the names Portail gives the fields (lower case,
accents and punctuation folded), with Python values: ``None`` for an empty cell, ``int``,
``float``, ``date``, aware ``datetime`` (naive file times are wall-clock time in
Europe/Paris, the dataset timezone Portail loads them with), ``bool``, shapely geometries.
"""

from __future__ import annotations

import csv
import json
from datetime import date, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import shapely.geometry

PARIS = ZoneInfo("Europe/Paris")

#: dataset id → file under refdata, the one source of truth for the suite.
FILES = {
    "communes": "referentiels/communes_france_enrichies.csv",
    "elus": "elus/rne_elus-conseillers-departementaux-cd.csv",
    "decp": "decp/decp_2019_e-marchespublics.json",
    "logements": "logement/logements-sociaux-finances-a-paris.csv",
    "departements": "geo/departements-version-simplifiee.geojson",
    "sirene": "sirene/sirene_v3_etablissements_isere_commerce_alimentaire.csv",
}


def _int(text: str) -> int | None:
    return int(text) if text.strip() else None


def _float(text: str) -> float | None:
    return float(text) if text.strip() else None


def _text(text: str) -> str | None:
    return text if text != "" else None


def _date(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def _datetime(text: str) -> datetime | None:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS) if text else None


def _bool(text: str) -> bool | None:
    return {"true": True, "false": False}.get(text.strip().lower())


def _csv(path: Path, delimiter: str) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def _convert(rows: list[dict[str, str]], names: dict[str, str], types: dict[str, object]) -> list[dict]:
    return [{names.get(k, k): types.get(names.get(k, k), _text)(v) for k, v in row.items()} for row in rows]


@cache
def communes(root: Path) -> list[dict]:
    ints = ("population_2021", "population_2015", "menages_2021", "naissances_2022", "deces_2022",
            "pop_15_64_totale_2021", "pop_15_64_chomage_2021", "pop_15_64_active_2021")
    types = {**dict.fromkeys(ints, _int), **dict.fromkeys(("lat", "lng", "superficie_km2"), _float)}
    return _convert(_csv(root / FILES["communes"], ","), {}, types)


@cache
def elus(root: Path) -> list[dict]:
    names = {
        "Code du département": "code_du_departement", "Libellé du département": "libelle_du_departement",
        "Code du canton": "code_du_canton", "Libellé du canton": "libelle_du_canton",
        "Nom de l'élu": "nom_de_l_elu", "Prénom de l'élu": "prenom_de_l_elu", "Code sexe": "code_sexe",
        "Date de naissance": "date_de_naissance",
        "Code de la catégorie socio-professionnelle": "code_de_la_categorie_socio_professionnelle",
        "Libellé de la catégorie socio-professionnelle": "libelle_de_la_categorie_socio_professionnelle",
        "Date de début du mandat": "date_de_debut_du_mandat", "Libellé de la fonction": "libelle_de_la_fonction",
        "Date de début de la fonction": "date_de_debut_de_la_fonction",
    }
    dates = ("date_de_naissance", "date_de_debut_du_mandat", "date_de_debut_de_la_fonction")
    return _convert(_csv(root / FILES["elus"], ";"), names, dict.fromkeys(dates, _date))


@cache
def decp(root: Path) -> list[dict]:
    with open(root / FILES["decp"], encoding="utf-8") as handle:
        marches = json.load(handle)["marches"]
    out = []
    for m in marches:
        out.append({"id": m.get("id"), "source": m.get("source"), "nature": m.get("nature"), "objet": m.get("objet"),
                    "codecpv": m.get("codeCPV"), "procedure": m.get("procedure"), "dureemois": m.get("dureeMois"),
                    "datenotification": _date(m.get("dateNotification") or ""),
                    "datepublicationdonnees": _date(m.get("datePublicationDonnees") or ""),
                    "montant": m.get("montant"), "formeprix": m.get("formePrix"), "acheteur": m.get("acheteur"),
                    "titulaires": m.get("titulaires"), "type": m.get("_type"), "lieuexecution": m.get("lieuExecution"),
                    "modifications": m.get("modifications")})
    return out


@cache
def logements(root: Path) -> list[dict]:
    ints = ("annee", "nb_logmt_total", "nb_plai", "nb_plus", "nb_pluscd", "nb_pls", "arrdt")
    types = {**dict.fromkeys(ints, _int), **dict.fromkeys(("coord_x_l93", "coord_y_l93"), _float)}
    rows = _convert(_csv(root / FILES["logements"], ";"), {}, types)
    for row in rows:
        lat, lon = (float(x) for x in row["geo_point_2d"].split(","))
        row["geo_point_2d"] = shapely.geometry.Point(lon, lat)
        row["geo_shape"] = shapely.geometry.shape(json.loads(row["geo_shape"]))
    return rows


@cache
def departements(root: Path) -> list[dict]:
    with open(root / FILES["departements"], encoding="utf-8") as handle:
        features = json.load(handle)["features"]
    return [{"code": f["properties"]["code"], "nom": f["properties"]["nom"],
             "geo_shape": shapely.geometry.shape(f["geometry"])} for f in features]


@cache
def sirene(root: Path) -> list[dict]:
    types = {"datecreationetablissement": _date, "datederniertraitementetablissement": _datetime,
             "etablissementsiege": _bool, "anneeeffectifsetablissement": _int, "numerovoieetablissement": _int}
    rows = [{k.lower(): v for k, v in row.items()} for row in _csv(root / FILES["sirene"], ",")]  # camelCase → lower
    return _convert(rows, {}, types)


READERS = {"communes": communes, "elus": elus, "decp": decp, "logements": logements, "departements": departements,
           "sirene": sirene}
