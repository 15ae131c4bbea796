"""HTTP client for the backend API (docs/design.md, /v1) on urllib, and the job loop ``run_job``."""

import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from .errors import BackendError, BackendUnavailable, Cancelled, JobFailed, RepaintFillError

ProgressCallback = Callable[[int, int, Optional[float]], None]
Decoded = Tuple[int, int, int, bytes]  # width, height, channels, interleaved 8-bit pixels
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
AREA_TOO_LARGE = ("body_too_large", "too_many_pixels", "over_memory_budget", "http_413")


def is_local_url(url: str) -> bool:
    """True when the URL points at this machine (loopback)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    return host in LOCAL_HOSTS or host.startswith("127.")


def _multipart(fields: Mapping[str, str], files: Mapping[str, bytes]) -> Tuple[bytes, str]:
    """Encode a multipart/form-data body; returns (body, content type)."""
    boundary = "repaint-fill-" + os.urandom(12).hex()
    parts: List[bytes] = []
    for name, value in fields.items():
        parts.append(
            '--{}\r\nContent-Disposition: form-data; name="{}"\r\n\r\n'.format(
                boundary, name
            ).encode("utf-8")
            + value.encode("utf-8")
            + b"\r\n"
        )
    for name, content in files.items():
        head = (
            '--{}\r\nContent-Disposition: form-data; name="{}"; filename="{}.png"\r\n'
            "Content-Type: image/png\r\n\r\n".format(boundary, name, name)
        )
        parts.append(head.encode("utf-8") + content + b"\r\n")
    parts.append("--{}--\r\n".format(boundary).encode("utf-8"))
    return b"".join(parts), "multipart/form-data; boundary=" + boundary


def _error_from_response(status: int, body: bytes) -> BackendError:
    """Map an HTTP error response (JSON error shape or not) to a BackendError."""
    code, message = "http_{}".format(status), ""
    try:
        error = json.loads(body.decode("utf-8"))["error"]
        code, message = str(error.get("code") or code), str(error.get("message") or "")
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        message = body[:200].decode("utf-8", "replace").strip()
    if status == 401:
        message = _token_refused(message or code)
    elif status == 403 and code == "host_not_allowed":
        message = (
            "The backend refused the host name this plug-in uses to reach it ({}). Start the "
            "server with --allow-host and that name, or use an address it answers to.".format(
                message or code
            )
        )
    elif status == 413:
        message = "The request is too large for the backend: {}{}".format(
            _sentence(message or "it is over the server's limits"),
            " Select a smaller area." if code in AREA_TOO_LARGE else "",
        )
    elif not message:
        message = "The backend answered HTTP {}.".format(status)
    else:
        message = "The backend reported an error: {}".format(message)
    return BackendError(code, message, status)


def _token_refused(reason: str) -> str:
    return (
        "The backend refused the access token ({}). Make sure the plug-in reads the token "
        "file the server wrote (setting or REPAINT_FILL_TOKEN_FILE).".format(reason)
    )


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _is_cut_off(exc: BaseException) -> bool:
    """True for a connection the server broke off (reset, closed), not one it never accepted."""
    reason = getattr(exc, "reason", exc)
    return isinstance(
        reason, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)
    )


class BackendClient:
    """One backend at ``url``; every call has a timeout and maps failures to typed errors."""

    def __init__(self, url: str, token: Optional[str] = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        # Loopback traffic must not go through an HTTP proxy from the environment.
        handlers = [urllib.request.ProxyHandler({})] if is_local_url(url) else []
        self._opener = urllib.request.build_opener(*handlers)

    def _request(
        self,
        method: str,
        path: str,
        body: Optional[bytes] = None,
        content_type: Optional[str] = None,
        auth: bool = True,
    ) -> Tuple[bytes, Mapping[str, str]]:
        request = urllib.request.Request(self.url + path, data=body, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        if auth and self.token:
            request.add_header("Authorization", "Bearer " + self.token)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return response.read(), response.headers
        except urllib.error.HTTPError as exc:
            raise _error_from_response(exc.code, exc.read()) from exc
        except (socket.timeout, TimeoutError) as exc:
            raise BackendUnavailable(
                "The RePaint Fill backend at {} did not answer within {:g} s. It may be busy or "
                "stuck: check its console or restart it.".format(self.url, self.timeout)
            ) from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            if body and _is_cut_off(exc):
                raise self._upload_cut_off(len(body)) from exc
            reason = getattr(exc, "reason", exc)
            raise BackendUnavailable(
                "Cannot reach the RePaint Fill backend at {} ({}). Start it with "
                "`repaint-fill serve`, or check the backend URL in the RePaint Fill "
                "settings.".format(self.url, reason)
            ) from exc

    def _upload_cut_off(self, size: int) -> RepaintFillError:
        """Why the server broke off an upload: it refused the token, or the body is too large.

        A server that answers before it has read the whole upload and closes makes the kernel
        reset the connection while http.client is still sending, so the status never arrives.
        A small request tells the two cases apart.
        """
        try:
            self._request("GET", "/v1/models")
        except BackendError as refused:
            return refused  # the token (or the host name): the server's own message
        except BackendUnavailable as gone:
            return gone
        return BackendError(
            "too_large",
            "The backend closed the connection while receiving the {:.1f} MB upload: it is "
            "probably too large for the server (its --max-body-mb limit). Select a smaller "
            "area.".format(size / 2**20),
            413,
        )

    def _json(self, method: str, path: str, auth: bool = True, **kwargs: Any) -> Any:
        body, _headers = self._request(method, path, auth=auth, **kwargs)
        try:
            return json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise BackendError(
                "bad_response",
                "The server at {} is not a RePaint Fill backend (answer to {} is not JSON). "
                "Check the backend URL.".format(self.url, path),
            ) from exc

    def health(self) -> Dict[str, Any]:
        """GET /v1/health (no token needed)."""
        return self._json("GET", "/v1/health", auth=False)

    def models(self) -> Any:
        """GET /v1/models."""
        return self._json("GET", "/v1/models")

    def submit(self, image_png: bytes, mask_png: bytes, params: Mapping[str, Any]) -> str:
        """POST /v1/jobs; returns the job id."""
        body, content_type = _multipart(
            {"params": json.dumps(dict(params))}, {"image": image_png, "mask": mask_png}
        )
        answer = self._json("POST", "/v1/jobs", body=body, content_type=content_type)
        if not isinstance(answer, dict) or "id" not in answer:
            raise BackendError("bad_response", "The backend did not return a job id.")
        return str(answer["id"])

    def status(self, job_id: str) -> Dict[str, Any]:
        """GET /v1/jobs/{id}: state, progress, step, total, eta."""
        return self._json("GET", "/v1/jobs/" + urllib.parse.quote(job_id))

    def result(self, job_id: str, index: int = 0) -> Tuple[bytes, Optional[int]]:
        """GET /v1/jobs/{id}/result?index=i; returns (PNG bytes, seed from X-Seed)."""
        path = "/v1/jobs/{}/result?index={}".format(urllib.parse.quote(job_id), index)
        body, headers = self._request("GET", path)
        return body, _int_or_none(headers.get("X-Seed"))

    def result_pixels(
        self, job_id: str, index: int, decode: Callable[[bytes], Decoded]
    ) -> Tuple[Decoded, Optional[int]]:
        """The result uncompressed (``?format=rgba``): ((width, height, 4, RGBA), seed).

        For a backend on this machine, where moving 4 bytes a pixel costs less than decoding a
        PNG. A backend that answers a PNG anyway (an older one) is decoded with ``decode``.
        """
        path = "/v1/jobs/{}/result?index={}&format=rgba".format(urllib.parse.quote(job_id), index)
        body, headers = self._request("GET", path)
        seed = _int_or_none(headers.get("X-Seed"))
        width, height = _int_or_none(headers.get("X-Width")), _int_or_none(headers.get("X-Height"))
        if width is None or height is None:
            return decode(body), seed
        if len(body) != width * height * 4:
            raise BackendError("bad_result", "The backend's uncompressed result is truncated.")
        return (width, height, 4, body), seed

    def preview(self, job_id: str) -> bytes:
        """GET /v1/jobs/{id}/preview: the PNG of the latest estimate (raises 404 before one)."""
        return self._request("GET", "/v1/jobs/{}/preview".format(urllib.parse.quote(job_id)))[0]

    def options(self) -> Dict[str, Any]:
        """GET /v1/options: presets, limits, detail choices and models of this backend."""
        return self._json("GET", "/v1/options")

    def cancel(self, job_id: str) -> None:
        """DELETE /v1/jobs/{id}."""
        self._request("DELETE", "/v1/jobs/" + urllib.parse.quote(job_id))


def _int_or_none(text: Optional[str]) -> Optional[int]:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _job_error_message(status: Mapping[str, Any]) -> str:
    error = status.get("error")
    if isinstance(error, dict):
        error = error.get("message") or error.get("code")
    return str(error or status.get("message") or "no reason given")


def _cancel_quietly(client: BackendClient, job_id: str) -> Optional[str]:
    """Ask the backend to cancel; returns why that failed (the user already chose to stop)."""
    try:
        client.cancel(job_id)
    except RepaintFillError as exc:
        return str(exc)
    return None


def _pass_preview(
    client: BackendClient,
    job_id: str,
    status: Mapping[str, Any],
    seen: int,
    on_preview: Callable[[bytes], None],
) -> int:
    """Fetch the job's preview if the status names a newer one; returns the newest seen."""
    number = int(status.get("preview") or 0)
    if number <= seen:
        return seen
    try:
        on_preview(client.preview(job_id))
    except BackendError as exc:
        if exc.status != 404:  # 404: the job ended between the status and this request
            raise
    return number


def run_job(
    client: BackendClient,
    image_png: bytes,
    mask_png: bytes,
    params: Mapping[str, Any],
    on_progress: Optional[ProgressCallback] = None,
    should_cancel: Optional[Callable[[], bool]] = None,
    poll_interval: float = 0.5,
    on_preview: Optional[Callable[[bytes], None]] = None,
    fetch: Optional[Callable[[str, int], Tuple[Any, Optional[int]]]] = None,
) -> List[Tuple[Any, Optional[int]]]:
    """Submit a job, poll it with progress, honour cancellation; returns [(png, seed)] each.

    With ``on_preview``, each newer preview of the running job (status ``preview``) is fetched
    and passed on as PNG bytes. ``fetch(job_id, index)`` gets one result (default: its PNG).
    """
    job_id = client.submit(image_png, mask_png, params)
    previews_seen = 0
    while True:
        if should_cancel is not None and should_cancel():
            problem = _cancel_quietly(client, job_id)
            raise Cancelled(
                "RePaint Fill was cancelled."
                + (" (The backend job could not be stopped: {})".format(problem) if problem else "")
            )
        status = client.status(job_id)
        state = status.get("state")
        if on_progress is not None and status.get("total"):
            eta = status.get("eta")
            on_progress(
                int(status.get("step") or 0),
                int(status["total"]),
                float(eta) if eta is not None else None,
            )
        if on_preview is not None and state == "running":
            previews_seen = _pass_preview(client, job_id, status, previews_seen, on_preview)
        if state == "done":
            count = int(status.get("variations") or params.get("variations") or 1)
            fetch = fetch or client.result
            return [fetch(job_id, index) for index in range(count)]
        if state == "failed":
            raise JobFailed(
                "The backend could not fill the selection: {}".format(_job_error_message(status))
            )
        if state == "cancelled":
            raise Cancelled("The fill was cancelled on the backend.")
        time.sleep(poll_interval)
