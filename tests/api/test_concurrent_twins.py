"""Two API nodes (here: threads on one PostgreSQL catalogue) making the same thing at once, as
a multi-node hunt did: one wins, the others get the 409 a later call would, never a 500; and of
two attachments of one name, the winner's file is the one kept (the loser deleted it)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from portail.catalog import services
from portail.config import Settings
from portail.operations import attach, open_instance
from tests.conftest import operator_client

pytestmark = pytest.mark.postgres
MGMT = "/api/management/v1"


@pytest.fixture
def instance(pg_catalog_url, tmp_path):
    instance = open_instance(Settings(home=tmp_path / "home", database_url=pg_catalog_url, ratelimit_anonymous=0))
    with instance.session() as s:
        services.create_dataset(s, "ds", "Ds")
    yield instance
    instance.store.close()
    instance.catalog.kw["bind"].dispose()


def test_twin_attachments_keep_the_winner_s_file(instance, tmp_path):
    for round_ in range(4):
        sources = []
        for i in range(4):
            source = tmp_path / f"r{round_}-{i}" / f"notice{round_}.txt"
            source.parent.mkdir()
            source.write_text(f"copy {i}\n" * (1000 + 100 * i))  # each its own size
            sources.append(source)

        def attach_one(source):
            try:
                return attach(instance, "ds", source)
            except services.CatalogError as refused:
                assert refused.status == 409, refused
                return None

        with ThreadPoolExecutor(4) as pool:
            made = [a for a in pool.map(attach_one, sources) if a]
        assert made == [f"notice{round_}_txt"]
        with instance.session() as s:
            [attachment] = [a for a in services.get_dataset(s, "ds").attachments if a.attachment_id == made[0]]
            kept, size = attachment.path, attachment.size_bytes
        text = open(kept, encoding="utf-8").read()
        assert text in {source.read_text() for source in sources} and len(text.encode()) == size  # the winner's
    assert not list((instance.settings.home / "attachments").glob("*.part"))


def test_twin_creations_are_one_201_and_409s(instance):
    client = operator_client(instance)

    def create(_: int) -> int:
        return client.post(f"{MGMT}/datasets", json={"dataset_id": "twin", "title": "Twin"}).status_code

    for _ in range(3):
        with ThreadPoolExecutor(4) as pool:
            statuses = sorted(pool.map(create, range(4)))
        assert statuses.count(201) == 1 and set(statuses) == {201, 409}, statuses
        assert client.delete(f"{MGMT}/datasets/twin").status_code == 204
