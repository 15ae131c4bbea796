"""uvicorn's HTTP/1.1 protocol with our answers: JSON for malformed requests, a header timeout.

uvicorn answers a request it cannot parse itself, in plain text, before the app sees it; here
that answer has the API's one JSON error shape. uvicorn also waits forever for a request head
that never completes; here a connection that has not sent its head within the timeout is closed.
"""

from __future__ import annotations

import asyncio
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .settings import HEADER_TIMEOUT_SECONDS


class ApiH11Protocol(H11Protocol):
    """H11Protocol with JSON 400 answers and a time limit for reading request headers."""

    header_timeout: float = HEADER_TIMEOUT_SECONDS
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch_request_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_request_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _watch_request_head(self) -> None:
        """Time the request head while the connection waits for one; stop once it is in."""
        waiting_for_head = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
        if waiting_for_head and self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._head_too_slow)
        elif not waiting_for_head:
            self._stop_header_timer()

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _head_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        body = json.dumps(
            {"error": {"code": "bad_request", "message": f"{msg.rstrip('.')}: not valid HTTP/1.1"}}
        ).encode("utf-8")
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()
