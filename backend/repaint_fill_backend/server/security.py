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
import re
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

import platformdirs
from starlette.types import ASGIApp, Receive, Scope, Send

from .limits import refuse_after_draining

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; concurrent first starts are not serialised
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("repaint_fill.server")

APP_NAME = "repaint-fill"
MIN_TOKEN_LENGTH = 16
MAX_TOKEN_FILE_BYTES = 4096
# host[:port] with nothing else: no user info (@), path (/), query (?), fragment (#) or spaces.
_NAME_HOST = re.compile(r"([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)\.?(?::([0-9]{1,5}))?")
_IPV6_HOST = re.compile(r"\[([0-9A-Fa-f:.]+)\](?::([0-9]{1,5}))?")
PUBLIC_PATHS = frozenset({"/v1/health"})
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})


class TokenError(Exception):
    """The token file cannot be read or written; the message says what to do."""


def default_token_file() -> Path:
    """<user config folder>/token, the place the plug-ins' config points at by default."""
    config = platformdirs.user_config_dir(APP_NAME, appauthor=False, roaming=True)
    return Path(config) / "token"


def load_or_create_token(path: Path) -> str:
    """The token stored in ``path``; a new random one is written there (mode 0600) if missing.

    Servers that start together on a missing or empty file agree on one token: the file is
    opened without following symbolic links, locked, and read back before anything is written.
    Symbolic links and anything but a regular file are refused with a message naming the path.
    """
    _refuse_symlink(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise TokenError(f"cannot create the folder of the token file {path}: {error}") from error
    descriptor = _open_token_file(path)
    try:
        _require_regular_file(path, descriptor)
        with _locked(descriptor):
            existing = _read_token(path, descriptor)
            if not existing:
                _write_token(path, descriptor, secrets.token_urlsafe(32))
                existing = _read_token(path, descriptor)  # read back: what the file really holds
        if len(existing) < MIN_TOKEN_LENGTH:
            raise TokenError(
                f"the token in {path} is shorter than {MIN_TOKEN_LENGTH} characters; "
                "delete the file and restart to generate a strong one"
            )
        _restrict_permissions(path, descriptor)
    finally:
        os.close(descriptor)
    return existing


def _refuse_symlink(path: Path) -> None:
    if path.is_symlink():
        raise TokenError(
            f"the token file {path} is a symbolic link; refusing to use it (its target would be "
            "read and made private): give --token-file the real file's path"
        )


def _open_token_file(path: Path) -> int:
    """A descriptor for reading and writing (created 0600 if missing), read-only if it must be."""
    # O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW closes the window
    # between the symlink check and the open.
    flags = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | flags, 0o600)
        except PermissionError:
            return os.open(path, os.O_RDONLY | flags)  # a read-only file with a token is fine
    except OSError as error:
        if path.is_symlink():
            _refuse_symlink(path)
        raise TokenError(f"cannot open the token file {path}: {error.strerror or error}") from error


def _require_regular_file(path: Path, descriptor: int) -> None:
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        raise TokenError(
            f"the token file {path} is not a regular file (it is a "
            f"{_file_kind(mode)}); give --token-file a path to a regular file"
        )


def _file_kind(mode: int) -> str:
    kinds = {stat.S_ISFIFO: "FIFO", stat.S_ISDIR: "folder", stat.S_ISSOCK: "socket"}
    return next((name for test, name in kinds.items() if test(mode)), "device or special file")


class _locked:
    """An exclusive advisory lock on the open token file (POSIX; elsewhere a no-op)."""

    def __init__(self, descriptor: int):
        self.descriptor = descriptor

    def __enter__(self) -> None:
        if fcntl is not None:
            fcntl.flock(self.descriptor, fcntl.LOCK_EX)

    def __exit__(self, *_exc: object) -> None:
        if fcntl is not None:
            fcntl.flock(self.descriptor, fcntl.LOCK_UN)


def _read_token(path: Path, descriptor: int) -> str:
    os.lseek(descriptor, 0, os.SEEK_SET)
    content = b""
    while chunk := os.read(descriptor, 4096):
        content += chunk
        if len(content) > MAX_TOKEN_FILE_BYTES:
            raise TokenError(
                f"the token file {path} is larger than {MAX_TOKEN_FILE_BYTES} bytes; it should "
                "hold one line: delete it and restart to generate a token"
            )
    try:
        return content.decode("utf-8").strip()
    except UnicodeDecodeError as error:
        raise TokenError(
            f"the token file {path} is not UTF-8 text; delete it and restart to generate a token"
        ) from error


def _write_token(path: Path, descriptor: int, token: str) -> None:
    try:
        os.ftruncate(descriptor, 0)
        os.lseek(descriptor, 0, os.SEEK_SET)
        os.write(descriptor, (token + "\n").encode("utf-8"))
        os.fsync(descriptor)
    except OSError as error:
        reason = error.strerror or error
        raise TokenError(f"cannot write the token file {path}: {reason}") from error


def _restrict_permissions(path: Path, descriptor: int) -> None:
    """Make the token file private again if someone loosened it (POSIX only)."""
    if os.name != "posix":
        return
    mode = stat.S_IMODE(os.fstat(descriptor).st_mode)
    if mode & 0o077:
        log.warning("token file %s was readable by others; setting it to 0600", path)
        try:
            os.fchmod(descriptor, 0o600)  # the file we read, not whatever the path names now
        except OSError as error:
            raise TokenError(
                f"the token file {path} is readable by others and cannot be made private "
                f"({error.strerror or error}); run chmod 600 on it"
            ) from error


def token_matches(authorization: str | None, token: str) -> bool:
    """True if an ``Authorization`` header carries exactly ``Bearer <token>`` (constant time)."""
    if not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))


def host_name(host_header: str) -> str | None:
    """The name part of a Host header, lower case, without port or IPv6 brackets.

    None for anything that is not exactly ``name[:port]``, ``IPv4[:port]`` or ``[IPv6][:port]``.
    """
    header = host_header.strip()
    bracketed = _IPV6_HOST.fullmatch(header)
    if bracketed is not None:
        try:
            return str(ipaddress.IPv6Address(bracketed.group(1)))
        except ValueError:
            return None
    plain = _NAME_HOST.fullmatch(header)
    if plain is None or (plain.group(2) is not None and int(plain.group(2)) > 65535):
        return None
    return plain.group(1).lower()


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

    def __init__(
        self, app: ASGIApp, allowed: frozenset[str], bind_host: str = "", drain_bytes: int = 0
    ):
        self.app = app
        self.allowed = allowed
        self.bind_host = bind_host
        self.drain_bytes = drain_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = _header(scope, b"host")
        name = host_name(header) if header else None
        if name is None or not (is_loopback(name) or name in self.allowed):
            await refuse_after_draining(
                scope,
                receive,
                send,
                403,
                "host_not_allowed",
                host_refusal(header, self.bind_host),
                drain_bytes=self.drain_bytes,
            )
            return
        await self.app(scope, receive, send)


def host_refusal(header: str | None, bind_host: str) -> str:
    """Why a Host header was refused and what the server's operator can do about it."""
    shown = header if header is not None else "(none)"
    if bind_host in WILDCARD_BINDS:
        return (
            f"Host header {shown!r} is not allowed; this server listens on "
            f"{bind_host or 'all addresses'} but answers only to loopback names and the names "
            "given with --allow-host: start it with --allow-host NAME (the host name in the "
            "clients' backend URL)"
        )
    return (
        f"Host header {shown!r} is not allowed; this server answers to loopback names "
        "only (start it with --allow-host NAME to allow another name)"
    )


class BearerAuth:
    """Every request but the public ones needs ``Authorization: Bearer <token>`` (401).

    Checked before the body is parsed, so an unauthenticated client cannot make the server decode
    an upload; the body is only read and thrown away (bounded) so the client receives the 401.
    """

    def __init__(self, app: ASGIApp, token: str, drain_bytes: int = 0):
        self.app = app
        self.token = token
        self.drain_bytes = drain_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        if not token_matches(_header(scope, b"authorization"), self.token):
            message = (
                "missing or wrong token: send 'Authorization: Bearer <token>' with the token "
                "from the server's token file"
            )
            await refuse_after_draining(
                scope,
                receive,
                send,
                401,
                "unauthorized",
                message,
                drain_bytes=self.drain_bytes,
                headers={"WWW-Authenticate": "Bearer"},
            )
            return
        await self.app(scope, receive, send)
