"""Every tabular or geographic reference file loads through the real loader, with the row count
its SOURCES.md gives and the types a French publisher expects."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from portail.catalog import services
from portail.operations import load_file


@dataclass(frozen=True)
class Expected:
    path: str
    rows: int
    types: dict[str, str] = field(default_factory=dict)  # a subset of the schema
    values: dict[str, object] = field(default_factory=dict)  # field -> a value found in the file
    notes: tuple[str, ...] = ()


CSV_FILES = [
    Expected("elus/rne_elus-conseillers-departementaux-cd.csv", 4037,
             {"code_du_departement": "text", "date_de_naissance": "date", "nom_de_l_elu": "text"}),
    Expected("elus/rne_elus-conseillers-regionaux-cr.csv", 1744, {"code_de_la_region": "text", "date_de_debut_du_mandat": "date"}),
    Expected("elus/rne_elus-membres-dune-assemblee-ma.csv", 588, {"libelle_du_departement": "text", "code_sexe": "text"}),
    Expected("elus/rne_elus-senateurs-sen.csv", 348, {"code_du_departement": "text", "date_de_naissance": "date"},
             {"libelle_du_departement": "Ain"}),
    Expected("logement/logements-sociaux-finances-a-paris.csv", 4174,
             {"code_postal": "text", "annee": "int", "coord_x_l93": "double", "geo_shape": "geo_shape",
              "geo_point_2d": "geo_point_2d"}, {"code_postal": "75012"}, ("encoding utf-8-sig", "delimiter ';'")),
    Expected("referentiels/cog2026_arrondissements.csv", 333, {"arr": "text", "dep": "text"}),
    Expected("referentiels/cog2026_communes.csv", 37496, {"com": "text", "reg": "text", "dep": "text", "tncc": "int"},
             {"com": "01001", "dep": "2A"}),
    Expected("referentiels/cog2026_departements.csv", 101, {"dep": "text", "reg": "text"}, {"dep": "2B"}),
    Expected("referentiels/cog2026_mouvements_communes.csv", 13734, {"mod": "int", "date_eff": "date", "com_av": "text"}),
    Expected("referentiels/cog2026_regions.csv", 18, {"reg": "text"}, {"reg": "01"}),
    Expected("referentiels/collectivites_outremer.csv", 94, {"code_commune": "text", "population": "int"}),
    Expected("referentiels/commune_epci_2025.csv", 34871, {"insee": "text", "siren_epci": "text", "pmun_2025": "int"},
             {"insee": "01001"}),
    Expected("referentiels/communes_france_enrichies.csv", 36208,
             {"insee_com": "text", "insee_dep": "text", "code_postal": "text", "lat": "double", "population_2021": "int"},
             {"insee_com": "2A004", "code_postal": "01400", "commune": "Abergement-Clémenciat"}),
    Expected("referentiels/laposte_hexasmal.csv", 39192,
             {"code_commune_insee": "text", "code_postal": "text", "coordonnees_gps": "geo_point_2d"}, {"code_postal": "01400"}),
    Expected("referentiels/populations_legales_communes.csv", 34900, {"codcom": "text", "pmun": "int", "dep": "text"}),
    Expected("retraites/drees_eacr_age_liquidation.csv", 17996, {"generation": "int", "ageliq": "double"},
             {"champ_obs": "Retraités à 67 ans"}, ("encoding cp1252", "delimiter ';'")),
    Expected("sirene/geo-sirene_35_small.csv", 99, {"siren": "text", "nic": "text", "codpos": "text", "depcomen": "text",
                                                    "longitude": "double", "latitude": "double"}),
    Expected("sirene/sirene_v3_etablissements_isere_commerce_alimentaire.csv", 973,
             {"siret": "text", "codepostaletablissement": "text", "codecommuneetablissement": "text",
              "datecreationetablissement": "date", "etablissementsiege": "boolean"}),
]


def load_expected(instance, refdata, expected: Expected):
    with instance.session() as session:
        services.create_dataset(session, "ref", expected.path)
    result = load_file(instance, "ref", refdata / expected.path, publish=True)
    with instance.session() as session:
        location = services.get_dataset(session, "ref").current.location
    return result, location


def check(instance, refdata, expected: Expected):
    result, location = load_expected(instance, refdata, expected)
    assert result.report.rows == expected.rows
    types = {f.name: f.type for f in result.report.fields}
    assert {name: types.get(name) for name in expected.types} == expected.types
    for note in expected.notes:
        assert note in result.report.notes
    for name, value in expected.values.items():
        found = instance.store.query(location, f'SELECT count(*) n FROM records WHERE "{name}" = ?', [value])
        assert found.column("n")[0].as_py() > 0, f"{name} = {value!r} not found"
    return result


@pytest.mark.parametrize("expected", CSV_FILES, ids=lambda e: e.path.split("/")[-1])
def test_reference_csv_files(instance, refdata, expected):
    check(instance, refdata, expected)


def test_every_reference_csv_is_covered(refdata):
    listed = {e.path for e in CSV_FILES}
    present = {str(p.relative_to(refdata)) for p in refdata.glob("*/*.csv")}
    assert present == listed
