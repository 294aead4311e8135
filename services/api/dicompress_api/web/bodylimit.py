"""Request size limit: a body larger than the setting is refused with 413 before any handler
reads it, whether it announces its size (Content-Length) or streams in chunks.

Paths in `exempt` (the streamed upload) pass through untouched: their handlers read the body
as a stream and enforce a cap of their own."""

from __future__ import annotations

from collections.abc import Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dicompress_api.web.problems import problem_response

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class BodyLimit:
    """ASGI middleware: at most `max_bytes` of request body, else a 413 problem."""

    def __init__(self, app: ASGIApp, max_bytes: int, exempt: Collection[str] = ()) -> None:
        self._app = app
        self._max = max_bytes
        self._exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._exempt:
            await self._app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max:
            await self._refuse(scope, receive, send)
            return
        if scope["method"] not in _WITH_BODY:
            await self._app(scope, receive, send)
            return
        # Read the body up front (it is small by definition) and replay it to the app.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away: nobody to answer
            size += len(message.get("body", b""))
            if size > self._max:
                await self._refuse(scope, receive, send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()  # after the body: wait for a disconnect as usual
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self._app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413,
            f"The request body is larger than {self._max} bytes; send a smaller request.",
            kind="too-large",
        )
        await response(scope, receive, send)
