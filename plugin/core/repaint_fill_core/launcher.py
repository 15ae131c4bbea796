"""Find the backend, and start it when it is local, configured to be started, and not running."""

import os
import subprocess
import sys
import time
from typing import Callable, Optional

from .client import BackendClient, is_local_url
from .config import PluginConfig, config_dir, read_token
from .errors import BackendUnavailable, Cancelled

REQUEST_TIMEOUT = 30.0


def _answers(client: BackendClient) -> bool:
    try:
        client.health()
    except BackendUnavailable:
        return False
    return True


def _spawn(command: tuple, log_path: str) -> "subprocess.Popen[bytes]":
    """Start the backend detached from the host (it outlives the fill and the editor's UI)."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    log = open(log_path, "ab")  # noqa: SIM115 - handed over to the child process
    options: dict = {}
    if sys.platform.startswith("win"):
        options["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    else:
        options["start_new_session"] = True
    try:
        return subprocess.Popen(
            list(command), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, **options
        )
    except OSError as exc:
        raise BackendUnavailable(
            "Could not start the RePaint Fill backend ({}: {}). Re-run the installer or fix "
            "start_command in the plug-in config.".format(command[0], exc)
        ) from exc
    finally:
        log.close()


def ensure_backend(
    config: PluginConfig,
    timeout: Optional[float] = None,
    should_cancel: Optional[Callable[[], bool]] = None,
) -> BackendClient:
    """A client for a backend that answers /v1/health; starts the local backend if configured.

    ``timeout`` bounds the wait for a started backend (default: config.startup_timeout).
    """
    client = BackendClient(config.backend_url, read_token(config.token_file), REQUEST_TIMEOUT)
    probe = BackendClient(config.backend_url, None, 5.0)
    if _answers(probe):
        return client
    if not is_local_url(config.backend_url) or not config.start_command:
        where = "" if is_local_url(config.backend_url) else " (a remote backend is not started)"
        raise BackendUnavailable(
            "The RePaint Fill backend at {} is not running{}. Start it with `repaint-fill serve` "
            "or check the backend URL in the settings.".format(config.backend_url, where)
        )
    folder = os.path.dirname(config.config_file) if config.config_file else config_dir()
    log_path = os.path.join(folder, "backend.log")
    process = _spawn(config.start_command, log_path)
    limit = config.startup_timeout if timeout is None else timeout
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if _answers(probe):
            # The server writes the token file on its first start: read it now.
            return BackendClient(config.backend_url, read_token(config.token_file), REQUEST_TIMEOUT)
        code = process.poll()
        if code is not None:
            raise BackendUnavailable(
                "The RePaint Fill backend stopped right after starting (exit code {}). See {} "
                "for the reason.".format(code, log_path)
            )
        if should_cancel is not None and should_cancel():
            raise Cancelled()
        time.sleep(0.25)
    raise BackendUnavailable(
        "The RePaint Fill backend did not become ready within {:g} s. See {} and try again (the "
        "first start can take long while a model loads).".format(limit, log_path)
    )
