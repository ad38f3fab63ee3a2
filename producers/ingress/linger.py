"""Refusing a request whose client is still sending its body, so that the client reads the refusal.

uvicorn closes a connection as soon as the answer is complete when the request asked for it
(``Connection: close``, or HTTP/1.0). If the client is still sending the body then (every refusal that comes
before the body is read: 401, 415, 413 from the declared length, 429, 503; and a chunked body refused past
the limit), its next bytes reach a closed socket, the kernel answers them with a reset, and a reset can
destroy the answer before the client has read it: the integrator sees "connection reset by peer" instead of
the problem that says what to fix (RFC 9112 §9.6 describes the hazard). So the ingress writes the whole
answer at once but completes it only after reading what is left of the body, within ``LINGER_S`` and one
more body's worth of bytes (``max_body_bytes``), as nginx's lingering close does. A keep-alive connection
needs none of this: uvicorn reads and drops the rest of the body itself and keeps the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

from starlette.types import Message, Receive, Scope

LINGER_S: Final = 2.0
"""The longest a refused request's connection is kept open to read the rest of its body."""


class BodyTracker:
    """``receive``, noting whether the request's body has been read to its end (or the client left)."""

    __slots__ = ("_receive", "done")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.done = False

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.done = True
        return message


def lingers(scope: Scope, body: BodyTracker) -> bool:
    """Whether a refusal of this request should read the rest of its body before completing: the body is
    not all read, and the server closes the connection once the request is answered. Not when the client
    waits for ``100 Continue`` before sending its body: after a final answer it sends none (RFC 9110
    §10.1.1), so waiting would only hold the connection for ``LINGER_S``."""
    if body.done:
        return False
    headers = scope.get("headers", ())
    if any(name == b"expect" and value.lower() == b"100-continue" for name, value in headers):
        return False
    if scope.get("http_version") == "1.0":
        return True
    return any(name == b"connection" and b"close" in value.lower() for name, value in headers)


async def read_rest(body: BodyTracker, limit_bytes: int, timeout_s: float = LINGER_S) -> None:
    """Read and drop the rest of the body: until it ends, the client leaves, ``limit_bytes`` more bytes
    or ``timeout_s`` (then the connection closes with bytes unread, as before)."""
    read = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            while not body.done and read <= limit_bytes:
                message = await body()
                read += len(message.get("body", b""))
