"""Size limits with clear 413 answers: request body bytes (before reading it) and image pixels.

Refusals that come before the body is read still read it, and throw it away, up to a bound:
Python's http.client (the plug-ins' client) sends the whole body before it reads an answer, and
a server that closes with unread data makes the kernel reset the connection, so the client would
see "connection reset" instead of the 401 or 413.
"""

from __future__ import annotations

import io

import anyio
from PIL import Image, UnidentifiedImageError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..imaging import ImageInputError
from .errors import ApiError, error_response

DRAIN_SECONDS = 30.0  # a refused upload gets this long to arrive before the connection is closed
DRAIN_IDLE_SECONDS = 1.0  # ... and may pause this long (a client waiting for the answer)
DRAIN_FACTOR = 4  # bodies up to this many times the body limit are read before a 413


async def drain_body(receive: Receive, limit: int) -> bool:
    """Read and discard the request body; True if it all arrived, within ``limit`` bytes."""
    received = 0
    with anyio.move_on_after(DRAIN_SECONDS):
        while received <= limit:
            with anyio.move_on_after(DRAIN_IDLE_SECONDS) as idle:
                message = await receive()
            if idle.cancelled_caught or message["type"] != "http.request":
                return False  # the client stopped sending or went away
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                return received <= limit
    return False


async def refuse_after_draining(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    code: str,
    message: str,
    *,
    drain_bytes: int,
    headers: dict[str, str] | None = None,
) -> None:
    """Answer an error once the body is read (bounded); else answer and close the connection."""
    answer_headers = dict(headers or {})
    declared = _content_length(scope)
    body_expected = declared is None or declared > 0
    if body_expected and not (
        (declared is None or declared <= drain_bytes) and await drain_body(receive, drain_bytes)
    ):
        answer_headers["Connection"] = "close"
    await error_response(status, code, message, answer_headers)(scope, receive, send)


class BodyTooLarge(ApiError):
    def __init__(self, max_bytes: int):
        super().__init__(
            413,
            "body_too_large",
            f"the request body is larger than {max_bytes} bytes; send a smaller crop "
            "(or start the server with a larger --max-body-mb)",
        )


class BodySizeLimit:
    """Refuse bodies over ``max_bytes``: by Content-Length up front, else while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await error_response(400, "bad_request", "Content-Length is not a number")(
                scope, receive, send
            )
            return
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send, self.max_bytes * DRAIN_FACTOR)
            return
        await self._run_counting(scope, receive, send)

    async def _run_counting(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send, (DRAIN_FACTOR - 1) * self.max_bytes)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, drain_bytes: int) -> None:
        error = BodyTooLarge(self.max_bytes)
        await refuse_after_draining(
            scope, receive, send, 413, error.code, error.message, drain_bytes=drain_bytes
        )


def _content_length(scope: Scope) -> int | None:
    """The declared body length; None if absent, -1 if malformed."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


def open_upload_png(data: bytes, what: str, max_pixels: int) -> Image.Image:
    """Decode an uploaded PNG; pixel count checked from the header before decoding the data."""
    if not data:
        raise ImageInputError(f"the {what} is empty; send a PNG file")
    try:
        image = Image.open(io.BytesIO(data), formats=["PNG"])
    except Image.DecompressionBombError as error:
        raise _too_many_pixels(what, max_pixels) from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageInputError(f"the {what} is not a PNG image; send an 8-bit PNG") from error
    if image.width * image.height > max_pixels:
        raise _too_many_pixels(what, max_pixels, image.size)
    try:
        image.load()
    except Image.DecompressionBombError as error:
        raise _too_many_pixels(what, max_pixels, image.size) from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageInputError(f"the {what} is a broken PNG ({error}); send a valid PNG") from error
    return image


def _too_many_pixels(what: str, max_pixels: int, size: tuple[int, int] | None = None) -> ApiError:
    shown = f" ({size[0]}x{size[1]})" if size else ""
    return ApiError(
        413,
        "too_many_pixels",
        f"the {what}{shown} has more than {max_pixels} pixels; send a smaller crop",
    )
