"""The metadata layer behaves the same on SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import inspect

from portail.catalog import open_catalog, services, transaction
from portail.catalog.db import make_engine
from portail.schema import Field, FieldType


def test_migrations_create_the_schema(catalog):
    tables = set(inspect(catalog.kw["bind"]).get_table_names())
    assert {"dataset", "dataset_version", "attachment", "retired_uid", "alembic_version"} <= tables
    # Running the migrations again is a no-op.
    open_catalog(str(catalog.kw["bind"].url.render_as_string(hide_password=False)))


def test_create_read_update_metadata(catalog):
    with transaction(catalog) as s:
        d = services.create_dataset(s, "communes", "Communes", description="# Titre\n\nTexte **gras**.",
                                    themes=["Territoires"], keywords=["commune", "INSEE"], portals=["public", "internal"],
                                    temporal_start="2021-01-01", update_frequency="annual", owner="Jeanne Martin")
        uid = d.uid
    assert uid.startswith("da_") and len(uid) == 11
    with transaction(catalog) as s:
        d = services.get_dataset(s, "communes")
        assert services.get_dataset(s, uid).slug == "communes"
        assert d.themes == ["Territoires"] and d.keywords == ["commune", "INSEE"]
        assert d.temporal_start == date(2021, 1, 1)
        assert d.portals == ["public", "internal"]
        services.update_metadata(s, d, title="Communes de France", keywords=["commune"])
        services.rename_dataset(s, d, "communes-france")
    with transaction(catalog) as s:
        d = services.get_dataset(s, uid)
        assert (d.slug, d.title, d.keywords) == ("communes-france", "Communes de France", ["commune"])
        assert [x.slug for x in services.list_datasets(s, "internal")] == ["communes-france"]
        assert services.list_datasets(s, "public")[0].uid == uid


@pytest.mark.parametrize("bad, message", [
    ({"portals": ["intranet"]}, "Portals must be"),
    ({"update_frequency": "sometimes"}, "update_frequency"),
    ({"temporal_start": "01/02/2020"}, "date YYYY-MM-DD"),
    ({"colour": "blue"}, "Unknown metadata"),
])
def test_invalid_metadata_is_refused(catalog, bad, message):
    with pytest.raises(services.CatalogError, match=message), transaction(catalog) as s:
        services.create_dataset(s, "x", "X", **bad)


def test_slugs_are_unique_and_uids_never_reused(catalog):
    with transaction(catalog) as s:
        uid = services.create_dataset(s, "a", "A").uid
    with pytest.raises(services.CatalogError, match="already exists"), transaction(catalog) as s:
        services.create_dataset(s, "a", "Again")
    with transaction(catalog) as s:
        services.delete_dataset(s, services.get_dataset(s, "a"))
    with transaction(catalog) as s:
        new = services.create_dataset(s, "a", "A again")
        assert new.uid != uid
        assert s.get(services.RetiredUid, uid).slug == "a"
    with pytest.raises(services.CatalogError, match="Invalid dataset_id"), transaction(catalog) as s:
        services.create_dataset(s, "Bad Slug!", "X")


def test_versions_publish_and_rollback(catalog):
    fields = [Field("code", "Code", FieldType.TEXT)]
    with transaction(catalog) as s:
        d = services.create_dataset(s, "v", "V")
        for n in range(3):
            v = services.start_version(s, d, f"file{n}.csv")
            services.complete_version(s, v, location=f"/x/v{n}", row_count=10 + n, size_bytes=1, fields=fields,
                                      report={"rows": 10 + n})
        assert services.publish(s, d).number == 3 and d.records_count == 12
        assert services.rollback(s, d).number == 2 and d.records_count == 11
        failed = services.start_version(s, d, "bad.csv")
        services.fail_version(s, failed, "bad.csv, line 3: broken")
    with transaction(catalog) as s:
        d = services.get_dataset(s, "v")
        assert d.current_version == 2
        assert [v.status for v in d.versions] == ["ready", "ready", "ready", "failed"]
        assert services.current_fields(d) == fields
        with pytest.raises(services.CatalogError):
            services.publish(s, d, 4)


def test_a_build_left_by_a_dead_process_is_marked_failed(catalog):
    with transaction(catalog) as s:
        d = services.create_dataset(s, "k", "K")
        services.start_version(s, d, "killed.csv")
    with transaction(catalog) as s:
        d = services.get_dataset(s, "k")
        assert services.start_version(s, d, "next.csv").number == 2
        assert d.version(1).status == "failed"


def test_field_overrides_and_attachments(catalog):
    with transaction(catalog) as s:
        d = services.create_dataset(s, "f", "F")
        services.set_field_override(s, d, "code", type="text", label="Code INSEE")
        services.set_field_override(s, d, "code", description="Code officiel géographique", annotations={"facet": []})
        services.add_attachment(s, d, services.AttachmentFile("notice_pdf", "Notice", "application/pdf", "/tmp/n.pdf", 10))
    with transaction(catalog) as s:
        d = services.get_dataset(s, "f")
        assert d.field_overrides == {"code": {"type": "text", "label": "Code INSEE",
                                              "description": "Code officiel géographique", "annotations": {"facet": []}}}
        assert [a.attachment_id for a in d.attachments] == ["notice_pdf"]
        with pytest.raises(services.CatalogError, match="Unknown field type"):
            services.set_field_override(s, d, "code", type="number")
        assert services.remove_attachment(s, d, "notice_pdf") == "/tmp/n.pdf"


def test_sqlite_engine_uses_wal(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


@pytest.mark.postgres
def test_a_whole_instance_runs_on_postgresql(pg_catalog_url, tmp_path, refdata):
    """Load, publish, reload and roll back with the catalogue in PostgreSQL, as in production."""
    from portail.config import Settings
    from portail.operations import load_file, open_instance, rollback

    instance = open_instance(Settings(home=tmp_path / "home", database_url=pg_catalog_url))
    with instance.session() as s:
        services.create_dataset(s, "senateurs", "Sénateurs", portals=["public", "internal"])
    source = refdata / "elus" / "rne_elus-senateurs-sen.csv"
    assert load_file(instance, "senateurs", source, publish=True).report.rows == 348
    assert load_file(instance, "senateurs", source, publish=True).version == 2
    assert rollback(instance, "senateurs").number == 1
    with instance.session() as s:
        dataset = services.get_dataset(s, "senateurs")
        assert (dataset.current_version, dataset.records_count) == (1, 348)
        assert {f.name: f.type for f in services.current_fields(dataset)}["date_de_naissance"] == "date"
    instance.catalog.kw["bind"].dispose()
    instance.store.close()
