"""Publishing, rolling back and pruning decide on the versions as committed, not as read at the
start of their transaction: on several API nodes, a load pruning "older" versions while another
node rolled back to one of them left the dataset served from deleted files (a 500 on every
node; found by a multi-node hunt). Run on PostgreSQL, where transactions really interleave
(SQLite refuses a write after a stale read instead)."""

from __future__ import annotations

import pytest

from portail.catalog import services
from portail.operations import load_file, open_instance
from portail.config import Settings

pytestmark = pytest.mark.postgres


@pytest.fixture
def instance(pg_catalog_url, tmp_path):
    instance = open_instance(Settings(home=tmp_path / "home", database_url=pg_catalog_url))
    with instance.session() as s:
        services.create_dataset(s, "ds", "Ds")
    for i in range(3):
        path = tmp_path / f"v{i}.csv"
        path.write_text("n\n" + "".join(f"{j}\n" for j in range(i + 1)), encoding="utf-8")
        load_file(instance, "ds", path, publish=True)
    yield instance
    instance.store.close()
    instance.catalog.kw["bind"].dispose()


def test_a_prune_spares_the_version_a_rollback_just_made_current(instance):
    pruning = instance.catalog()
    pruning.begin()
    dataset = services.get_dataset(pruning, "ds")  # read: version 3 current, 1 and 2 older
    assert dataset.current_version == 3
    with instance.session() as s:  # meanwhile, another node rolls back to version 1
        services.rollback(s, services.get_dataset(s, "ds"), 1)
    pruned = services.prune_versions(pruning, dataset, keep=1)
    pruning.commit()
    pruning.close()
    with instance.session() as s:
        dataset = services.get_dataset(s, "ds")
        assert dataset.current_version == 1 and dataset.current.status == "ready"
    assert all(not location.endswith("v000001.duckdb") for location in pruned), pruned


def test_a_publish_refuses_a_version_pruned_meanwhile(instance):
    publishing = instance.catalog()
    publishing.begin()
    dataset = services.get_dataset(publishing, "ds")
    assert dataset.version(1).status == "ready"
    with instance.session() as s:  # meanwhile, another node's load prunes version 1
        services.prune_versions(s, services.get_dataset(s, "ds"), keep=1)
    with pytest.raises(services.CatalogError, match="Version 1 of 'ds' is not available"):
        services.publish(publishing, dataset, 1)
    publishing.rollback()
    publishing.close()


def test_two_field_overrides_made_at_once_are_both_kept(instance):
    """Each read the overrides, changed one and wrote them all back: one was lost (a second
    multi-node hunt)."""
    first = instance.catalog()
    first.begin()
    dataset = services.get_dataset(first, "ds")
    with instance.session() as s:  # meanwhile, another node overrides another field
        services.set_field_override(s, services.get_dataset(s, "ds"), "n", label="Nombre")
    services.set_field_override(first, dataset, "m", label="Autre")
    first.commit()
    first.close()
    with instance.session() as s:
        overrides = services.get_dataset(s, "ds").field_overrides
    assert {name: o.get("label") for name, o in overrides.items()} == {"n": "Nombre", "m": "Autre"}


def test_a_dataset_deleted_meanwhile_is_unknown_to_a_rename_or_a_publish(instance):
    renaming, publishing = instance.catalog(), instance.catalog()
    renaming.begin()
    publishing.begin()
    to_rename, to_publish = services.get_dataset(renaming, "ds"), services.get_dataset(publishing, "ds")
    with instance.session() as s:  # meanwhile, another node deletes it
        services.delete_dataset(s, services.get_dataset(s, "ds"))
    for session, change in ((renaming, lambda: services.rename_dataset(renaming, to_rename, "ds2")),
                            (publishing, lambda: services.publish(publishing, to_publish, 1))):
        with pytest.raises(services.NotFound, match="Unknown dataset: ds"):
            change()
        session.rollback()
        session.close()
