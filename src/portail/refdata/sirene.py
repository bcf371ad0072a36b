"""The Sirene register in the hub: the establishments stock file as ``ref-src-sirene``, and the
narrow table the ``sirene`` processor joins with, ``ref-sirene`` (SIRET, SIREN, name, NAF
activity, address, commune, head office).

The stock file (INSEE's ``StockEtablissement_utf8.zip``, about 40 M rows) goes through the
ordinary loader: the zip is checked and extracted to disk, the CSV is read by the engine's
parallel scanner and typed in the engine, so no part of it is ever held in Python. The narrow
table is then written with SQL over that version. Both Sirene layouts are read: v3 (2019 on,
``codeCommuneEtablissement``…, optionally joined with the legal units' columns such as
``denominationUniteLegale``) and the 2017 layout (``NOMEN_LONG``, ``APET700``, ``L4_NORMALISEE``…);
each output takes the first of its candidate columns that has a value.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlglot import exp

from portail.ingest.archive import safe_extract
from portail.ingest.errors import IngestError
from portail.ingest.types import ReadOptions
from portail.catalog import services
from portail.operations import Instance, fetch, is_url, load_file, publish, readable_file
from portail.schema import Field, FieldType
from portail.sources.redaction import redacted_url

SOURCE_ID = "ref-src-sirene"
DATASET_ID = "ref-sirene"
OFFICIAL_URL = "https://object.files.data.gouv.fr/data-pipeline-production/siren/stock/StockEtablissement_utf8.zip"
LICENCE = "Licence Ouverte 2.0"

#: The engine type of each output (a file without any candidate column gives typed nulls).
TYPES = {"siege": "BOOLEAN", "actif": "BOOLEAN"}

FIELDS = [Field("siret", "SIRET"), Field("siren", "SIREN"), Field("nom", "Nom ou raison sociale"),
          Field("naf", "Activité principale (NAF)"), Field("adresse", "Adresse"), Field("code_postal", "Code postal"),
          Field("commune", "Commune"), Field("code_commune", "Code commune INSEE"),
          Field("siege", "Siège", FieldType.BOOLEAN), Field("actif", "Établissement actif", FieldType.BOOLEAN)]


def _text(name: str) -> exp.Expression:
    return exp.func("nullif", exp.func("trim", exp.cast(exp.column(name, quoted=True), "VARCHAR")), exp.Literal.string(""))


def _joined(*names: str) -> exp.Expression:
    # Anonymous: sqlglot's ConcatWs would turn one null part into a null result.
    return exp.func("nullif", exp.Anonymous(this="concat_ws", expressions=[exp.Literal.string(" "), *[_text(n) for n in names]]),
                    exp.Literal.string(""))


def _digits(name: str, width: int) -> exp.Expression:
    return exp.func("lpad", _text(name), exp.Literal.number(width), exp.Literal.string("0"))


def _truthy(name: str) -> exp.Expression:
    return exp.func("lower", _text(name)).isin(exp.Literal.string("true"), exp.Literal.string("1"), exp.Literal.string("o"))


#: Each output: candidates in order of preference, as (columns that must exist, expression).
CANDIDATES: dict[str, list[tuple[tuple[str, ...], exp.Expression]]] = {
    "siret": [(("siret",), _digits("siret", 14)),
              (("siren", "nic"), exp.func("concat", _digits("siren", 9), _digits("nic", 5)))],
    "siren": [(("siren",), _digits("siren", 9))],
    "nom": [  # the legal name (company, or first name and name of a sole trader), else the shop's
        (("denominationunitelegale",), _text("denominationunitelegale")), (("nomen_long",), _text("nomen_long")),
        (("prenom1unitelegale", "nomunitelegale"), _joined("prenom1unitelegale", "nomunitelegale")),
        (("denominationusuelleetablissement",), _text("denominationusuelleetablissement")),
        (("enseigne1etablissement",), _text("enseigne1etablissement")), (("enseigne",), _text("enseigne"))],
    "naf": [(("activiteprincipaleetablissement",), _text("activiteprincipaleetablissement")), (("apet700",), _text("apet700"))],
    "adresse": [(("numerovoieetablissement", "indicerepetitionetablissement", "typevoieetablissement", "libellevoieetablissement"),
                 _joined("numerovoieetablissement", "indicerepetitionetablissement", "typevoieetablissement",
                         "libellevoieetablissement")),
                (("l4_normalisee",), _text("l4_normalisee"))],
    "code_postal": [(("codepostaletablissement",), _digits("codepostaletablissement", 5)), (("codpos",), _digits("codpos", 5))],
    "commune": [(("libellecommuneetablissement",), _text("libellecommuneetablissement")),
                (("l6_normalisee",), exp.func("regexp_replace", _text("l6_normalisee"), exp.Literal.string("^[0-9]{5} +"),
                                              exp.Literal.string("")))],
    "code_commune": [(("codecommuneetablissement",), _digits("codecommuneetablissement", 5)),
                     (("depet", "comet"), exp.func("concat", _text("depet"), exp.func("lpad", _text("comet"), exp.Literal.number(3),
                                                                                      exp.Literal.string("0"))))],
    "siege": [(("etablissementsiege",), _truthy("etablissementsiege")), (("siege",), _truthy("siege"))],
    "actif": [(("etatadministratifetablissement",), exp.EQ(this=_text("etatadministratifetablissement"),
                                                           expression=exp.Literal.string("A")))],
}


def narrow_query(names: set[str]) -> exp.Select:
    """The ``ref-sirene`` records from a loaded stock file with these columns."""
    if not {"siren"} <= names or not ({"siret"} <= names or {"nic"} <= names):
        raise IngestError("this file is not a Sirene establishments file: it has no siren and siret (or nic) columns")
    projections = []
    for output, candidates in CANDIDATES.items():
        chosen = [e.copy() for needed, e in candidates if set(needed) <= names]
        if not chosen:
            chosen = [exp.true() if output == "actif" else exp.cast(exp.Null(), TYPES.get(output, "VARCHAR"))]
        value = chosen[0] if len(chosen) == 1 else exp.func("coalesce", *chosen)
        projections.append(exp.alias_(value, output, quoted=True))
    return exp.select(*projections).from_(exp.to_table("stock"))


def _checked_query(instance: Instance, number: int, names: set[str]) -> exp.Select:
    """The narrow query of a loaded stock version, checked before that version is published: a
    file that is not a Sirene one fails its version (kept out of ``dataset publish``) and
    leaves the served register as it was."""
    try:
        return narrow_query(names)
    except IngestError as error:
        with instance.session() as session:
            version = services.get_dataset(session, SOURCE_ID).version(number)
            location = version.location
            services.fail_version(session, version, error.describe())
        if location:
            instance.store.drop_version(location)
        raise


@contextmanager
def _unzipped(instance: Instance, path: Path) -> Iterator[Path]:
    """The CSV of a zipped stock file, extracted to disk with the archive checks of every upload."""
    if not zipfile.is_zipfile(path):
        yield path
        return
    settings = instance.settings
    settings.uploads_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.uploads_dir) as folder:
        options = ReadOptions(max_unzipped_bytes=settings.max_unzipped_bytes, max_zip_ratio=settings.max_zip_ratio)
        members = [m for m in safe_extract(path, Path(folder), options) if m.suffix.lower() == ".csv"]
        if len(members) != 1:
            raise IngestError(f"{path.name}: expected one CSV file in the archive, found {len(members)}")
        yield members[0]


def install_sirene(instance: Instance, source: str | Path, vintage: str = "") -> Iterator[str]:
    """Load a Sirene establishments stock file (path or URL, CSV or zipped CSV) into the hub."""
    from portail.refdata.install import Derived, _build_derived, _ensure

    remote = is_url(str(source))  # any scheme://, which fetch refuses unless http(s), as every load does
    path = fetch(instance, str(source)) if remote else readable_file(Path(source))
    _ensure(instance, SOURCE_ID, "Sirene : stock des établissements",
            {"source_url": redacted_url(str(source)) if remote else OFFICIAL_URL, "vintage": vintage, "licence": LICENCE})
    try:
        with _unzipped(instance, path) as csv_path:
            result = load_file(instance, SOURCE_ID, csv_path, source=str(source))
    finally:
        if remote:
            path.unlink(missing_ok=True)
    sql = _checked_query(instance, result.version, {f.name for f in result.report.fields}).sql(dialect="duckdb")
    publish(instance, SOURCE_ID, result.version)
    yield f"{SOURCE_ID}: {result.report.rows:,} records"
    derived = Derived(DATASET_ID, "Établissements Sirene (référentiel)", sql, {"stock": SOURCE_ID}, FIELDS, "sirene")
    _ensure(instance, DATASET_ID, derived.title, {"derived_from": [SOURCE_ID], "licence": LICENCE, "vintage": vintage})
    yield f"{DATASET_ID}: {_build_derived(instance, derived):,} records"

