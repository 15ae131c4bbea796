"""Token file handling and the Host header allowlist of the server."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from repaint_fill_backend.server.security import (
    TokenError,
    allowed_host_names,
    host_name,
    is_loopback,
    load_or_create_token,
    token_matches,
)


def test_token_is_created_private_and_reused(tmp_path: Path):
    path = tmp_path / "config" / "repaint-fill" / "token"
    token = load_or_create_token(path)
    assert len(token) >= 32 and path.read_text().strip() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token(path) == token
    assert load_or_create_token(tmp_path / "other") != token  # random, not derived


def test_loosened_token_file_is_made_private_again(tmp_path: Path):
    path = tmp_path / "token"
    token = load_or_create_token(path)
    path.chmod(0o644)
    assert load_or_create_token(path) == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_weak_token_is_refused_and_empty_file_is_replaced(tmp_path: Path):
    path = tmp_path / "token"
    path.write_text("short\n")
    with pytest.raises(TokenError, match="shorter"):
        load_or_create_token(path)
    path.write_text("")
    assert len(load_or_create_token(path)) >= 32


def test_concurrent_first_starts_agree_on_one_token(tmp_path: Path):
    path = tmp_path / "token"
    tokens: list[str] = []
    threads = [
        threading.Thread(target=lambda: tokens.append(load_or_create_token(path))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(tokens)) == 1 and path.read_text().strip() == tokens[0]
    assert not [name for name in os.listdir(tmp_path) if name != "token"]  # no temp files left


def test_token_comparison():
    assert token_matches("Bearer secret-token-123", "secret-token-123")
    assert token_matches("bearer secret-token-123", "secret-token-123")
    assert not token_matches("Bearer secret-token-12", "secret-token-123")
    assert not token_matches("Basic secret-token-123", "secret-token-123")
    assert not token_matches("", "secret-token-123")
    assert not token_matches(None, "secret-token-123")


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:8421", "localhost"),
        ("[::1]:8421", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("Studio.LAN:80", "studio.lan"),
        ("[::1", None),
        ("", None),
    ],
)
def test_host_name(header: str, name: str | None):
    assert host_name(header) == name


def test_loopback_and_allowed_names():
    assert all(is_loopback(n) for n in ("localhost", "127.0.0.1", "127.9.8.7", "::1"))
    assert not any(is_loopback(n) for n in ("localhost.evil.example", "10.0.0.1", "0.0.0.0"))
    assert allowed_host_names("127.0.0.1", []) == frozenset()
    assert allowed_host_names("0.0.0.0", ["Studio.lan "]) == {"studio.lan"}
    assert allowed_host_names("192.168.1.5", []) == {"192.168.1.5"}
