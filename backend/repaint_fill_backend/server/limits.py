"""Size limits with clear 413 answers: request body bytes (before reading it) and image pixels."""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..imaging import ImageInputError
from .errors import ApiError, error_response


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
            await self._refuse(scope, receive, send)
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
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = BodyTooLarge(self.max_bytes)
        response = error_response(413, error.code, error.message, {"Connection": "close"})
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    """The declared body length; None if absent, -1 if malformed."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


def decode_png(data: bytes, what: str, max_pixels: int) -> Image.Image:
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
