"""Migration 0010: a catalogue of absolute version locations (before 0010) gets them relative to
the store's folder, so that its home can move; a location outside the folder stays absolute and
is still read; one relative to the working folder (a home given as a relative path) is
rewritten too."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sqlalchemy import text

from portail.catalog import services
from portail.operations import Instance, load_file
from tests.catalog.downgrades import downgrade
from tests.conftest import make_instance, operator_client


def _load(instance: Instance, slug: str, folder: Path, rows: int) -> str:
    """A dataset of ``rows`` records, published; returns its version file."""
    source = folder / f"{slug}.csv"
    source.write_text("n;v\n" + "".join(f"{i};{slug}-{i}\n" for i in range(rows)), encoding="utf-8")
    with instance.session() as s:
        services.create_dataset(s, slug, slug)
    load_file(instance, slug, source, publish=True)
    with instance.session() as s:
        return services.get_dataset(s, slug).current.location


def test_old_absolute_locations_become_relative_to_the_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "home"
    instance = make_instance(home)
    inside, outside, legacy = (_load(instance, slug, tmp_path, rows) for slug, rows in
                               (("inside", 2), ("outside", 3), ("legacy", 4)))
    moved = tmp_path / "elsewhere" / Path(outside).name
    moved.parent.mkdir()
    for path in Path(outside).parent.glob(Path(outside).name + "*"):  # the version with its index and page files
        shutil.move(path, moved.parent / path.name)
    cwd_relative = os.path.relpath(legacy, tmp_path)  # as a home given as "home" wrote it
    engine = instance.catalog.kw["bind"]
    with engine.begin() as connection:  # the catalogue as revision 0009 left it
        for slug, location in (("inside", inside), ("outside", str(moved)), ("legacy", cwd_relative)):
            connection.execute(text("UPDATE dataset_version SET location = :location WHERE dataset_id = "
                                    "(SELECT id FROM dataset WHERE slug = :slug)"), {"location": location, "slug": slug})
        downgrade(connection, "0009")
    instance.store.close()
    engine.dispose()

    migrated = make_instance(home)
    with migrated.catalog.kw["bind"].connect() as connection:
        stored = dict(connection.execute(text("SELECT dataset.slug, location FROM dataset_version "
                                              "JOIN dataset ON dataset.id = dataset_version.dataset_id")).all())
    root = home / "data"
    assert stored == {"inside": str(Path(inside).relative_to(root)), "outside": str(moved),
                      "legacy": str(Path(legacy).relative_to(root))}
    with migrated.session() as s:
        assert services.get_dataset(s, "inside").current.location == inside
        assert services.get_dataset(s, "outside").current.location == str(moved)
    client = operator_client(migrated)
    for slug, rows in (("inside", 2), ("outside", 3), ("legacy", 4)):
        body = client.get(f"/api/explore/v2.1/catalog/datasets/{slug}/records", params={"where": f'search(v, "{slug}")'})
        assert body.json()["total_count"] == rows, slug
    migrated.store.close()
    migrated.catalog.kw["bind"].dispose()


def test_old_absolute_attachment_paths_become_relative_to_the_home(tmp_path):
    """Migration 0011: attachments, kept in the home, are named relative to it like versions."""
    from portail.operations import attach

    home = tmp_path / "home"
    instance = make_instance(home)
    _load(instance, "towns", tmp_path, 2)
    notice = tmp_path / "notice.pdf"
    notice.write_bytes(b"%PDF-1.4 notice")
    attach(instance, "towns", notice)
    absolute = str(home / "attachments" / next(p.name for p in (home / "attachments").iterdir()))
    engine = instance.catalog.kw["bind"]
    with engine.begin() as connection:  # the catalogue as revision 0010 left it
        connection.execute(text("UPDATE attachment SET path = :path"), {"path": absolute})
        downgrade(connection, "0010")
    instance.store.close()
    engine.dispose()

    upgraded = make_instance(home)  # upgraded in place, then moved
    with upgraded.catalog.kw["bind"].connect() as connection:
        assert connection.execute(text("SELECT path FROM attachment")).scalar_one() == str(Path(absolute).relative_to(home))
    upgraded.store.close()
    upgraded.catalog.kw["bind"].dispose()
    shutil.move(home, tmp_path / "moved")
    migrated = make_instance(tmp_path / "moved")
    listed = operator_client(migrated).get("/api/explore/v2.1/catalog/datasets/towns/attachments").json()["attachments"]
    assert operator_client(migrated).get(listed[0]["href"].replace("http://testserver", "")).content == b"%PDF-1.4 notice"
    migrated.store.close()
    migrated.catalog.kw["bind"].dispose()
