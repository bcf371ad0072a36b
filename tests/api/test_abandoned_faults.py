"""A call or an export abandoned by its client: only the interrupt's own error goes unread
(``abandon.interrupted``). Any other exception, a bug of the call's own, is raised and logged; it
was answered 499 (or nothing) and never logged, once the client had gone."""

from __future__ import annotations

import asyncio
import time

import duckdb
import pytest

from portail.api.deps import in_worker
from portail.api.streaming import ClosingStreamingResponse
from portail.store import abandon
from tests.api.leaving_client import LeavingClient


def _fails_later() -> None:
    time.sleep(0.7)  # the client has gone meanwhile (listened for from 0.25 s, gone 0.3 s later)
    raise KeyError("a fault of the call's own")


def test_a_fault_of_an_abandoned_call_is_raised_not_answered_as_gone():
    """``in_worker`` answered 499 (unlogged) for any exception once the client was gone: a bug
    in a slow call whose client had given up left no trace."""
    with pytest.raises(KeyError):
        asyncio.run(in_worker(_fails_later, watched=LeavingClient(0.3)))
    assert abandon.interrupted(duckdb.InterruptException("INTERRUPT Error: Interrupted!"))
    assert abandon.interrupted(OSError("INTERRUPT Error: Interrupted!"))
    assert not abandon.interrupted(OSError("No space left on device"))


def test_a_fault_of_an_abandoned_stream_is_raised_not_swallowed():
    """``ClosingStreamingResponse`` swallowed any exception once its client was gone."""

    def content():
        yield b"nom\r\n"
        time.sleep(0.45)  # the client hangs up meanwhile
        raise KeyError("a fault of the export's own")

    async def answer() -> None:
        gone = LeavingClient(0.3)
        await ClosingStreamingResponse(content(), media_type="text/csv")({"type": "http"}, gone.receive, _ignore)

    with pytest.raises(KeyError):
        asyncio.run(answer())


async def _ignore(message: dict) -> None:
    pass
