"""The ingress's HTTP/1.1 protocol with limits on the request head: size, header count, time (for uvicorn).

uvicorn's httptools protocol buffers a request head for as long and as large as a client sends it (300 MB of
unterminated headers were held in memory; an 8 MB header reached the app), and waits for it forever. This
subclass counts the head's raw bytes and lines *before* the parser sees them, so a refusal costs nothing:

- more than ``max_header_bytes`` of request line + headers, or more than ``max_headers`` header lines:
  ``431`` (a problem document) and the connection is closed;
- a head not complete ``header_timeout_s`` after its first byte (or after the connection opened): ``408``
  and the connection is closed (slowloris).

It relies on uvicorn's ``HttpToolsProtocol`` calling ``data_received`` with raw bytes and
``on_message_complete`` at the end of each request (uvicorn 0.30+); :func:`guarded_protocol` checks those
names exist, so an upgrade that renames them fails at startup, not silently.
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bus.settings import IngressSettings
from producers.ingress.problems import PROBLEM_MEDIA_TYPE, ProblemKind

_HEAD_END = b"\r\n\r\n"
_LINGER_S = 1.0


def _raw_problem(kind: ProblemKind, detail: str) -> bytes:
    """A whole HTTP response carrying a problem document, written straight to the transport."""
    body = json.dumps({"type": kind.type_uri, "title": kind.title, "status": kind.status, "detail": detail})
    head = (
        f"HTTP/1.1 {kind.status} {HTTPStatus(kind.status).phrase}\r\n"
        f"content-type: {PROBLEM_MEDIA_TYPE}\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body.encode()


def guarded_protocol(settings: IngressSettings) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol class with ``settings``' head limits (pass it as ``Config(http=...)``)."""
    for name in ("data_received", "on_message_complete", "connection_made", "connection_lost"):
        if not callable(getattr(HttpToolsProtocol, name, None)):
            raise RuntimeError(f"uvicorn's HttpToolsProtocol has no {name}: the ingress guard needs updating")
    too_large = _raw_problem(
        ProblemKind.HEADERS_TOO_LARGE,
        f"at most {settings.max_header_bytes} bytes of request line and headers, and {settings.max_headers} "
        "header fields",
    )
    too_slow = _raw_problem(
        ProblemKind.REQUEST_TIMEOUT,
        f"the request line and headers must arrive within {settings.header_timeout_s:g} s",
    )

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._guard_timer: asyncio.TimerHandle | None = None
            self._discarding = False
            self._new_head()

        def _new_head(self) -> None:
            self._in_head = True
            self._head_bytes = 0
            self._head_lines = 0
            self._head_tail = b""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._start_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._discarding:
                return
            if self._in_head and not self._count_head(data):
                self._refuse(too_large)
                return
            super().data_received(data)

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._new_head()  # the next bytes on this connection are the next request's head

        def _count_head(self, data: bytes) -> bool:
            """Count the head's part of ``data``; False once a limit is passed."""
            if self._head_bytes == 0 and self._guard_timer is None:
                self._start_timer()
            seen = self._head_tail + data
            end = seen.find(_HEAD_END)
            part = data if end < 0 else data[: max(0, end + len(_HEAD_END) - len(self._head_tail))]
            self._head_bytes += len(part)
            self._head_lines += part.count(b"\n")
            self._head_tail = seen[-(len(_HEAD_END) - 1) :]
            # Lines: the request line, the headers, the empty line that ends the head.
            if self._head_bytes > settings.max_header_bytes or self._head_lines > settings.max_headers + 2:
                return False
            if end >= 0:
                self._in_head = False
                self._stop_timer()
            return True

        def _start_timer(self) -> None:
            self._stop_timer()
            self._guard_timer = self.loop.call_later(settings.header_timeout_s, self._timed_out)

        def _stop_timer(self) -> None:
            if self._guard_timer is not None:
                self._guard_timer.cancel()
                self._guard_timer = None

        def _timed_out(self) -> None:
            self._guard_timer = None
            if self._in_head and not self.transport.is_closing():
                self._refuse(too_slow)

        def _refuse(self, response: bytes) -> None:
            """Answer, end our side, and drop what the client still sends for a moment before closing.

            Closing at once with unread bytes in the socket makes the kernel send a reset, and the client
            would lose the answer (a lingering close, as nginx does).
            """
            self._stop_timer()
            self._in_head = False
            self._discarding = True
            if self.transport.is_closing():
                return
            self.transport.write(response)
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self.loop.call_later(_LINGER_S, self.transport.close)

    return GuardedHttpToolsProtocol
