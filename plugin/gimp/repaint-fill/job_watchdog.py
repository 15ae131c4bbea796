"""Cancel a backend job when the GIMP plug-in that submitted it dies.

GIMP answers Cancel on a plug-in's progress bar by killing the plug-in process (SIGKILL), so the
plug-in itself never gets to send ``DELETE /v1/jobs/{id}``. A tiny companion process, started in
its own session right after the job is submitted, waits on a pipe from the plug-in: the plug-in
writes ``done`` when it has what it needs; if the pipe closes without it (the plug-in was killed,
or it gave up on the job), the companion cancels the job. Standard library only.

Run as ``python job_watchdog.py``; it reads one JSON line {"url", "token", "job"} on stdin.
"""

import contextlib
import json
import os
import subprocess
import sys
from typing import IO, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
DONE = b"done\n"


class Watchdog:
    """The plug-in's end of the pipe to one companion process."""

    def __init__(self, process: "subprocess.Popen[bytes]") -> None:
        self._process = process

    def release(self, job_finished: bool) -> None:
        """Close the pipe; the companion cancels the job unless ``job_finished``."""
        stdin = self._process.stdin
        if stdin is None or stdin.closed:
            return
        try:
            if job_finished:
                stdin.write(DONE)
            stdin.close()
        except OSError:
            pass  # the companion is gone already: nothing left to tell it


def spawn(url: str, token: Optional[str], job_id: str) -> Optional[Watchdog]:
    """Start the companion for ``job_id``; None when no Python interpreter can be started."""
    if not sys.executable:
        return None
    options = {}  # type: dict
    if sys.platform.startswith("win"):
        options["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    else:
        options["start_new_session"] = True  # survives GIMP killing the plug-in's process group
    try:
        process = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "job_watchdog.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **options,
        )
        assert process.stdin is not None
        # The token goes through the pipe, never the command line (visible to other users).
        process.stdin.write(json.dumps({"url": url, "token": token, "job": job_id}).encode())
        process.stdin.write(b"\n")
        process.stdin.flush()
    except OSError:
        return None
    return Watchdog(process)


def watch(stream: IO[bytes]) -> bool:
    """Companion side: wait for the plug-in; cancel the job unless told ``done``.

    Returns True when it asked the backend to cancel.
    """
    header = json.loads(stream.readline().decode("utf-8"))
    if stream.readline() == DONE:
        return False
    sys.path.insert(0, HERE)
    from repaint_fill_core.client import BackendClient
    from repaint_fill_core.errors import RepaintFillError

    with contextlib.suppress(RepaintFillError):  # finished or gone already: nothing to cancel
        BackendClient(header["url"], header.get("token"), 10.0).cancel(header["job"])
    return True


if __name__ == "__main__":
    watch(sys.stdin.buffer)
