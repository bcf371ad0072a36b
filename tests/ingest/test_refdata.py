"""Every tabular or geographic reference file loads through the real loader, with the row count
its SOURCES.md gives and the types a French publisher expects.

The files the reference hub installs (``refdata.SOURCES``: the COG, the populations, the EPCI
members, the contours) are read where the hub's install loaded them, through that same loader:
``hub_template`` is built once per run for the demo's and the hub's tests, and loading its ten
files again here cost a third of this file's time (the commune contours the most)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from portail.catalog import services
from portail.ingest.load import FieldReport, IngestReport
from portail.operations import load_file
from portail.refdata import SOURCES


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


OTHER_FILES = [
    Expected("excel/dgcl_epcicom_2025.xlsx", 34871, {"siren": "text", "insee": "text", "ptot_2025": "int"}, {"insee": "01001"}),
    Expected("excel/insee_fe_dod_struct_pop.xls", 31, {"annee": "int"}),
    Expected("excel/insee_filosofi_2017_disp_iris.xlsx", 12345, {"iris": "text"}),
    Expected("decp/decp_2019_marches-publics-info.json", 4509, {"acheteur": "json", "montant": "double", "id": "text"}),
    Expected("decp/decp_2019_e-marchespublics.json", 470, {"acheteur": "json", "montant": "int"}),
    Expected("geo/arrondissements-version-simplifiee.geojson", 320, {"code": "text", "geo_shape": "geo_shape"}),
    Expected("geo/communes-france-comleg-2017.geojson", 35456, {"insee": "text", "geo_shape": "geo_shape"}, {"insee": "01001"}),
    Expected("geo/communes-france-simplifiee-derivee.geojson", 35357, {"code": "text", "nom": "text"}, {"code": "2A004"}),
    Expected("geo/communes-ile-de-france.geojson", 1276, {"code": "text"}, {"nom": "Paris"}),
    Expected("geo/departements-version-simplifiee.geojson", 96, {"code": "text"}, {"code": "01"}),
    Expected("geo/departements.geojson", 96, {"code": "text", "geo_shape": "geo_shape"}, {"nom": "Corse-du-Sud"}),
    Expected("geo/epci-france-2025-derivee.geojson", 1255, {"siren": "text", "nb_communes_2018": "int"}),
    Expected("geo/regions-version-simplifiee.geojson", 13, {"code": "text"}, {"nom": "Île-de-France"}),
    Expected("geo/regions.geojson", 13, {"code": "text", "geo_shape": "geo_shape"}),
]


def load_expected(instance, refdata, expected: Expected):
    with instance.session() as session:
        services.create_dataset(session, "ref", expected.path)
    result = load_file(instance, "ref", refdata / expected.path, publish=True)
    with instance.session() as session:
        location = services.get_dataset(session, "ref").current.location
    return result, location


def check(instance, refdata, expected: Expected, loaded=None):
    """``loaded``: the (result, location) of a load already made of ``expected`` (else loaded here)."""
    result, location = loaded or load_expected(instance, refdata, expected)
    assert result.report.rows == expected.rows
    types = {f.name: f.type for f in result.report.fields}
    assert {name: types.get(name) for name in expected.types} == expected.types
    for note in expected.notes:
        assert note in result.report.notes
    for name, value in expected.values.items():
        found = instance.store.query(location, f'SELECT count(*) n FROM records WHERE "{name}" = ?', [value])
        assert found.column("n")[0].as_py() > 0, f"{name} = {value!r} not found"
    return result


#: The reference files the hub installs, and the dataset each becomes there.
INSTALLED = {source.path: source.dataset_id for source in SOURCES}


@pytest.fixture(scope="module")
def hub(tmp_path_factory, hub_template):
    """A copy of the installed hub (``hub_template``), only read."""
    from tests.conftest import HUB_SETTINGS, make_instance

    instance = make_instance(hub_template.copy(tmp_path_factory.mktemp("hub") / "home"), **HUB_SETTINGS)
    yield instance
    instance.store.close()


def installed(instance, dataset_id: str):
    """The (result, location) of the hub's load of a reference file, as ``load_expected`` gives
    them: its published version's report, as the loader wrote it."""
    from types import SimpleNamespace

    with instance.session() as session:
        version = services.get_dataset(session, dataset_id).current
        report, location = dict(version.report), version.location
    report.pop("rejected")  # derived from the fields' counts
    report["fields"] = [FieldReport(**f) for f in report["fields"]]
    return SimpleNamespace(report=IngestReport(**report)), location


def check_file(request, refdata, expected: Expected):
    """``check`` on the hub's load of the file where the hub installs it, else on a load of its own."""
    if expected.path in INSTALLED:
        hub = request.getfixturevalue("hub")
        check(hub, refdata, expected, installed(hub, INSTALLED[expected.path]))
    else:
        check(request.getfixturevalue("instance"), refdata, expected)


@pytest.mark.parametrize("expected", CSV_FILES, ids=lambda e: e.path.split("/")[-1])
def test_reference_csv_files(request, refdata, expected):
    check_file(request, refdata, expected)


@pytest.mark.parametrize("expected", OTHER_FILES, ids=lambda e: e.path.split("/")[-1])
def test_reference_spreadsheet_json_and_geo_files(request, refdata, expected):
    check_file(request, refdata, expected)


def test_every_tabular_or_geographic_reference_file_is_covered(refdata):
    listed = {e.path for e in CSV_FILES + OTHER_FILES}
    present = {str(p.relative_to(refdata)) for p in refdata.glob("*/*")
               if p.suffix in (".csv", ".xlsx", ".xls", ".json", ".geojson", ".zip", ".gpkg", ".parquet")}
    assert present == listed


def test_commune_contours_land_where_expected(hub):
    """Geometry survives the load: Paris's contour contains Notre-Dame, Ajaccio's is in Corsica."""
    instance, (_, location) = hub, installed(hub, INSTALLED["geo/communes-france-simplifiee-derivee.geojson"])
    rows = instance.store.query(location, "SELECT code, ST_Contains(geo_shape, ST_Point(2.3499, 48.8530)) AS nd, "
                                          "ST_Y(ST_Centroid(geo_shape)) AS lat FROM records WHERE code IN ('75056', '2A004') "
                                          "ORDER BY code").to_pylist()
    assert rows[0]["code"] == "2A004" and 41.5 < rows[0]["lat"] < 42.5 and not rows[0]["nd"]
    assert rows[1]["code"] == "75056" and rows[1]["nd"]
