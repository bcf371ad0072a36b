"""A call whose client goes away while its query runs stops the engine (``store.abandon``,
``api.deps.in_worker``): a map that panned left a zoom-15 geo_cluster() holding both cores for
seconds after nobody read its answer. The query here runs ~25 s on two cores if not
interrupted (then the test fails on its answer); the client goes away after half a second."""

from __future__ import annotations

import asyncio

import pytest
from sqlglot import exp

from portail.api.deps import CLIENT_GONE, in_worker
from portail.catalog import services
from tests.api.leaving_client import LeavingClient
from tests.conftest import Published, logements_file, published_instance

#: Far more work than the half second the client waits: ~25 s on two cores if not interrupted.
ENDLESS = "SELECT sum(hash(i)) AS s FROM range(3000000000) t(i)"


@pytest.fixture(scope="module")
def served(tmp_path_factory, refdata):
    instance = published_instance(tmp_path_factory.mktemp("abandon") / "home",
                                  Published("logements", logements_file(refdata), "Logements"))
    with instance.session() as s:
        location = services.get_dataset(s, "logements").current.location
    yield instance, location
    instance.store.close()


def test_a_query_whose_client_went_away_is_interrupted(served):
    instance, location = served
    answer = asyncio.run(in_worker(instance.store.run, location, ENDLESS, watched=LeavingClient(after=0.5)))
    assert getattr(answer, "status_code", None) == CLIENT_GONE, answer
    # the store serves the next call as before
    count = instance.store.query(location, exp.select("count(*) AS n").from_("records")).column("n").to_pylist()
    assert count[0] > 4000


def test_a_call_whose_client_stays_is_answered(served):
    instance, location = served
    table = asyncio.run(in_worker(instance.store.run, location, "SELECT count(*) AS n FROM range(30000000) t(i)",
                                  watched=LeavingClient(after=None)))
    assert table.column("n").to_pylist() == [30000000]


class Deaf:
    """A request that cannot listen for its client (Starlette's ``Request(scope)`` without a
    receive channel, as tests and internal calls build one): its call is never abandoned."""

    async def receive(self) -> dict:
        raise RuntimeError("Receive channel has not been made available")


def test_a_request_that_cannot_listen_is_never_taken_for_a_gone_client(served):
    instance, location = served
    # ~1 s of work: past SLOW_CALL, when the call starts listening
    table = asyncio.run(in_worker(instance.store.run, location, "SELECT count(hash(i)) AS n FROM range(120000000) t(i)",
                                  watched=Deaf()))
    assert getattr(table, "column", None) is not None and table.column("n").to_pylist() == [120000000], table
