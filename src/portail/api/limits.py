"""Refuse request bodies larger than the upload limit *while they arrive*.

Multipart parsing spools an upload to a temporary file before the endpoint runs, so a size
check in the endpoint would come after the disk had filled. This ASGI middleware counts body
bytes as they are received (declared ``Content-Length`` first, then the actual stream) and
answers 413 with an Opendatasoft-style error as soon as the limit is passed.
"""

from __future__ import annotations

import json

from portail.api.serialize import JSON_MEDIA_TYPE

MARGIN = 1 << 20  # multipart headers and boundaries around the file


class BodyLimitMiddleware:
    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit + MARGIN

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._refuse(send)
        seen = 0
        exceeded = False

        async def counted_receive():
            nonlocal seen, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    exceeded = True  # stop reading: the app sees a disconnect and gives up
                    return {"type": "http.disconnect"}
            return message

        refused = False

        async def guarded_send(message):
            nonlocal refused
            if exceeded:  # whatever the app answers to the cut body, the answer is 413
                if not refused:
                    refused = True
                    await self._refuse(send)
                return
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not refused:
            await self._refuse(send)

    async def _refuse(self, send):
        body = json.dumps({"error_code": "PayloadTooLarge",
                           "message": f"The request body is larger than the {self.limit - MARGIN:,} bytes allowed."}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", JSON_MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
