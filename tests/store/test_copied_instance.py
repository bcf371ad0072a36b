"""An instance never deletes files outside its own data folder: a catalogue copied from another
instance (a restored backup, a staging clone) names that instance's version files, and pruning
old versions in the copy deleted the original's published file."""

from __future__ import annotations

import shutil

from fastapi.testclient import TestClient

from portail.api import create_app
from portail.catalog import services
from portail.operations import load_file
from tests.conftest import make_instance


def test_a_copied_instance_never_deletes_the_originals_files(tmp_path, refdata):
    source = refdata / "referentiels" / "cog2026_regions.csv"
    original = make_instance(tmp_path / "prod", keep_versions=2)
    with original.session() as s:
        services.create_dataset(s, "regions", "Régions")
    load_file(original, "regions", source, publish=True)
    with original.session() as s:
        first = services.get_dataset(s, "regions").current.location
    original.store.close()

    shutil.copytree(tmp_path / "prod", tmp_path / "staging")
    copy = make_instance(tmp_path / "staging", keep_versions=2)
    for _ in range(3):  # enough new versions to prune the first
        load_file(copy, "regions", source, publish=True)
    with copy.session() as s:
        statuses = {v.number: v.status for v in services.get_dataset(s, "regions").versions}
    assert statuses[1] == "pruned" and statuses[4] == "ready"
    assert first.startswith(str(tmp_path / "prod")) and __import__("pathlib").Path(first).is_file()  # untouched
    client = TestClient(create_app(make_instance(tmp_path / "prod")))
    assert client.get("/api/explore/v2.1/catalog/datasets/regions/records", params={"limit": 0}).json()[
        "total_count"] == 18  # the original still serves its version
    copy.store.close()
