"""Safe defaults: a per-user bearer token, a Host header allowlist, no CORS.

The token is made with ``secrets`` on first start, stored readable only by the user, and compared
in constant time. The Host check blocks DNS rebinding: a web page on evil.example that re-points
its name at 127.0.0.1 still sends ``Host: evil.example`` and is refused.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import error_response

log = logging.getLogger("repaint_fill.server")

APP_NAME = "repaint-fill"
MIN_TOKEN_LENGTH = 16
PUBLIC_PATHS = frozenset({"/v1/health"})
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})


class TokenError(Exception):
    """The token file cannot be read or written; the message says what to do."""


def default_token_file() -> Path:
    """<user config folder>/token, the place the plug-ins' config points at by default."""
    config = platformdirs.user_config_dir(APP_NAME, appauthor=False, roaming=True)
    return Path(config) / "token"


def load_or_create_token(path: Path) -> str:
    """The token stored in ``path``; a new random one is written there (mode 0600) if missing."""
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return _write_new_token(path, replace_empty=False)
    except OSError as error:
        raise TokenError(f"cannot read the token file {path}: {error}") from error
    if not existing:
        return _write_new_token(path, replace_empty=True)
    if len(existing) < MIN_TOKEN_LENGTH:
        raise TokenError(
            f"the token in {path} is shorter than {MIN_TOKEN_LENGTH} characters; "
            "delete the file and restart to generate a strong one"
        )
    _restrict_permissions(path)
    return existing


def _write_new_token(path: Path, *, replace_empty: bool) -> str:
    """Publish a new token; a missing file is created atomically (a concurrent start's wins)."""
    token = secrets.token_urlsafe(32)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
        if replace_empty:
            os.replace(temporary, path)
            return token
        try:
            os.link(temporary, path)  # publish only if nobody else did meanwhile
        except FileExistsError:
            return load_or_create_token(path)
        except OSError:  # no hard links on this file system: exclusive create instead
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(token + "\n")
    except OSError as error:
        raise TokenError(f"cannot write the token file {path}: {error}") from error
    finally:
        temporary.unlink(missing_ok=True)
    return token


def _restrict_permissions(path: Path) -> None:
    """Make an existing token file private again if someone loosened it (POSIX only)."""
    if os.name != "posix":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("token file %s was readable by others; setting it to 0600", path)
        path.chmod(0o600)


def token_matches(authorization: str | None, token: str) -> bool:
    """True if an ``Authorization`` header carries exactly ``Bearer <token>`` (constant time)."""
    if not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))


def host_name(host_header: str) -> str | None:
    """The name part of a Host header, lower case, without port or IPv6 brackets."""
    try:
        name = urlsplit(f"//{host_header.strip()}").hostname
    except ValueError:
        return None
    return name or None


def is_loopback(name: str) -> bool:
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def allowed_host_names(bind_host: str, extra: Iterable[str]) -> frozenset[str]:
    """The names besides loopback a Host header may carry: the bound address and --allow-host."""
    names = {name.strip().lower().strip("[]") for name in extra if name.strip()}
    if bind_host not in WILDCARD_BINDS and not is_loopback(bind_host):
        names.add(bind_host.lower().strip("[]"))
    return frozenset(names)


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            return value.decode("latin-1")
    return None


class HostGuard:
    """Refuse requests whose Host header is not loopback or an allowed name (403)."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str]):
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = _header(scope, b"host")
        name = host_name(header) if header else None
        if name is None or not (is_loopback(name) or name in self.allowed):
            shown = header if header is not None else "(none)"
            message = (
                f"Host header {shown!r} is not allowed; this server answers to loopback names "
                "only (start it with --allow-host NAME to allow another name)"
            )
            await error_response(403, "host_not_allowed", message)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class BearerAuth:
    """Every request but the public ones needs ``Authorization: Bearer <token>`` (401).

    Checked before the body is read, so an unauthenticated client cannot make the server parse
    an upload.
    """

    def __init__(self, app: ASGIApp, token: str):
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        if not token_matches(_header(scope, b"authorization"), self.token):
            message = (
                "missing or wrong token: send 'Authorization: Bearer <token>' with the token "
                "from the server's token file"
            )
            response = error_response(
                401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"}
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
