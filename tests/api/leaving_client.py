"""A request's ASGI ``receive`` for the tests of abandoned calls: its (empty) body, then, after a
while, the server's news that the client went away, or nothing more while it stays. One for
every test that watches a call whose client leaves, rather than one per file."""

from __future__ import annotations

import asyncio


class LeavingClient:
    """What a request's ``receive`` gives: its body, then ``after`` seconds later
    ``http.disconnect``; never, with ``after=None`` (a client that stays)."""

    def __init__(self, after: float | None):
        self.after, self.sent = after, False

    async def receive(self) -> dict:
        if not self.sent:
            self.sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        if self.after is None:
            await asyncio.Event().wait()
        await asyncio.sleep(self.after)
        return {"type": "http.disconnect"}
