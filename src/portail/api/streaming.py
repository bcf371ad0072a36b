"""Streamed answers (exports, downloads) that let go of what they hold as soon as they end.

Starlette's ``StreamingResponse`` reads a plain iterator through a worker thread and, when the
client hangs up, stops reading it but never closes it: the generator keeps its engine cursor,
the version file it pins and the batches it formatted until the garbage collector finds it (a
burst of dropped downloads left an idle server 1 GB larger for minutes). This one closes the
iterator once the answer ends, however it ends, so the generator's ``finally`` blocks run then.

A hang-up heard while the thread is inside the engine (an export's ``order_by`` or
``group_by`` over millions of rows computes its whole result before the first batch) interrupts
that query (``store.abandon``): Starlette waits for the thread before it lets go, and the engine
otherwise ran the query to its end for nobody, seconds of both cores.

The answer starts with its first chunk, read before the status is sent: a writer that fails
before handing anything out (the engine's first batch, a Parquet file's first row groups) is
answered with its error status and Opendatasoft's JSON (``api.errors``), not a 200 cut short.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from anyio import to_thread
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from portail.store import abandon


class ClosingStreamingResponse(StreamingResponse):
    def __init__(self, content: Iterator[bytes] | Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(content, *args, **kwargs)
        self._source = content
        #: the engine queries the content runs, interrupted when the client hangs up
        self.watch = abandon.Watch()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Set in this task's context, which the threads reading the content copy (anyio).
        token = abandon.CURRENT.set(self.watch)
        try:
            await super().__call__(scope, receive, send)
        except Exception as error:
            if not (self.watch.abandoned and abandon.interrupted(error)):
                raise
            # the client is gone: the interrupted query's error (whichever reader raised it) goes unread
        finally:
            abandon.CURRENT.reset(token)
            close = getattr(self._source, "close", None)
            if close is not None:
                await to_thread.run_sync(_close_quietly, close)

    async def stream_response(self, send: Send) -> None:
        chunks = aiter(self.body_iterator)
        try:
            first = [await anext(chunks)]
        except StopAsyncIteration:
            first = []
        self.body_iterator = _resumed(first, chunks)
        await super().stream_response(send)

    async def listen_for_disconnect(self, receive: Receive) -> None:
        """Returns when the client hangs up (then the stream is cancelled), after interrupting
        the engine query the content is waiting on; cancelled instead when the answer ends."""
        await super().listen_for_disconnect(receive)
        self.watch.abandon()


async def _resumed(first: list, chunks: AsyncIterator) -> AsyncIterator:
    """``first`` (the chunk already read, if any), then the rest of ``chunks``."""
    for chunk in first:
        yield chunk
    async for chunk in chunks:
        yield chunk


def _close_quietly(close) -> None:
    try:
        close()
    except ValueError:  # still running in another thread: it ends, and is collected, on its own
        pass
