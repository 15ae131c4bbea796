"""The protocol stand-in backend, shared by every tier (core, Krita, GIMP, watchdog tests).

``StandInBackend`` is a STAND-IN for the real `repaint-fill serve`: a stdlib HTTP server that
follows the docs/design.md API (health, models, jobs, status, result, cancel, error shape,
token) with a trivial "fill" (flat colour). It exists to test the client's protocol handling
and error mapping (timeouts, refused tokens, failing jobs) that a real model cannot trigger on
demand. The end-to-end tests use the real server (tests/backend/test_core_client_server.py,
tests/hosts/test_krita.py).
"""

import email.parser
import email.policy
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from repaint_fill_core.png import decode_png, encode_png

FILL_COLOUR = (200, 30, 60)


@dataclass
class StandInJob:
    image: bytes
    mask: bytes
    params: dict[str, Any]
    polls: int = 0
    state: str = "queued"


@dataclass
class StandInBehaviour:
    token: str = "test-token"
    steps: int = 3  # status polls until a job is done
    fail_jobs: bool = False
    hang_jobs: bool = False  # never finishes (for cancel tests)
    seen_auth: list[str] = field(default_factory=list)


def _parse_multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    return {
        part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
        for part in message.iter_parts()
    }


def _result_png(job: StandInJob, index: int) -> bytes:
    width, height, channels, pixels = decode_png(job.image)
    _w, _h, _c, mask = decode_png(job.mask)
    rgba = bytearray(width * height * 4)
    for i in range(width * height):
        source = (
            pixels[i * channels : i * channels + 3]
            if channels >= 3
            else bytes([pixels[i * channels]] * 3)
        )
        colour = bytes(FILL_COLOUR) if mask[i] else source
        rgba[i * 4 : i * 4 + 3] = colour
        rgba[i * 4 + 3] = mask[i]
    return encode_png(width, height, 4, bytes(rgba))


class _Handler(BaseHTTPRequestHandler):
    server: "StandInBackend"

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def _send(
        self,
        status: int,
        payload: Any = None,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> None:
        if payload is not None:
            body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if payload is not None else "image/png")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(status, {"error": {"code": code, "message": message}})

    def _authorised(self) -> bool:
        auth = self.headers.get("Authorization", "")
        self.server.behaviour.seen_auth.append(auth)
        if auth != "Bearer " + self.server.behaviour.token:
            self._error(401, "unauthorized", "missing or wrong token")
            return False
        return True

    def _job(self, job_id: str) -> StandInJob | None:
        job = self.server.jobs.get(job_id)
        if job is None:
            self._error(404, "not_found", "no job " + job_id)
        return job

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if url.path == "/v1/health":
            return self._send(200, {"status": "ok"})
        if not self._authorised():
            return None
        if url.path == "/v1/models":
            return self._send(200, {"models": [{"name": "embedded"}]})
        if len(parts) >= 3 and parts[:2] == ["v1", "jobs"]:
            job = self._job(parts[2])
            if job is None:
                return None
            if len(parts) == 4 and parts[3] == "result":
                index = int(parse_qs(url.query).get("index", ["0"])[0])
                seed = int(job.params.get("seed", 0)) + index
                return self._send(200, body=_result_png(job, index), headers={"X-Seed": str(seed)})
            return self._send(200, self._advance(job))
        return self._error(404, "not_found", url.path)

    def _advance(self, job: StandInJob) -> dict[str, Any]:
        behaviour = self.server.behaviour
        if job.state not in ("done", "failed", "cancelled"):
            job.polls += 1
            job.state = "running"
            if job.polls >= behaviour.steps and not behaviour.hang_jobs:
                job.state = "failed" if behaviour.fail_jobs else "done"
        step = min(job.polls, behaviour.steps)
        status = {
            "state": job.state,
            "step": step,
            "total": behaviour.steps,
            "progress": step / behaviour.steps,
            "eta": float(behaviour.steps - step),
        }
        if job.state == "failed":
            status["error"] = {"code": "sampling_failed", "message": "out of memory"}
        return status

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        if not self._authorised():
            return None
        if self.path != "/v1/jobs":
            return self._error(404, "not_found", self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        form = _parse_multipart(self.headers["Content-Type"], body)
        if "image" not in form or "mask" not in form:
            return self._error(422, "invalid_request", "image and mask are required")
        job_id = uuid.uuid4().hex
        self.server.jobs[job_id] = StandInJob(
            form["image"], form["mask"], json.loads(form.get("params") or b"{}")
        )
        return self._send(202, {"id": job_id})

    def do_DELETE(self) -> None:  # noqa: N802 - http.server API
        if not self._authorised():
            return None
        job = self._job(self.path.rstrip("/").split("/")[-1])
        if job is not None:
            job.state = "cancelled"
            self._send(200, {"state": "cancelled"})


class StandInBackend(ThreadingHTTPServer):
    """Serve the stand-in API on 127.0.0.1 (random port) in a daemon thread."""

    daemon_threads = True

    def __init__(self, behaviour: StandInBehaviour | None = None, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.behaviour = behaviour or StandInBehaviour()
        self.jobs: dict[str, StandInJob] = {}
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> "StandInBackend":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
        self.server_close()


def serve_forever_on(port: int, token_file: str, pid_file: str) -> None:
    """Entry point for launcher tests: write the token and pid like a backend would, then serve."""
    import os

    with open(pid_file, "w") as handle:
        handle.write(str(os.getpid()))
    with open(token_file, "w") as handle:
        handle.write("test-token")
    server = StandInBackend(port=port)
    server.serve_forever()
