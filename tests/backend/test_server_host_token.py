"""Token file handling and the Host header allowlist of the server."""

from __future__ import annotations

import multiprocessing
import os
import stat
import threading
import time
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


def _start_on(path: str, barrier, tokens) -> None:
    barrier.wait()
    tokens.put(load_or_create_token(Path(path)))


@pytest.mark.parametrize("start", ["empty", "missing"])
def test_servers_starting_together_on_an_empty_or_missing_file_agree(tmp_path: Path, start):
    """Real processes (fork), released together, as servers started by several plug-ins."""
    context = multiprocessing.get_context("fork")
    for trial in range(5):
        path = tmp_path / f"token-{trial}"
        if start == "empty":
            path.write_text("")
        barrier, tokens = context.Barrier(6), context.Queue()
        workers = [
            context.Process(target=_start_on, args=(str(path), barrier, tokens)) for _ in range(6)
        ]
        for worker in workers:
            worker.start()
        found = {tokens.get(timeout=30) for _ in workers}
        for worker in workers:
            worker.join(30)
        assert found == {path.read_text().strip()}, (trial, found)


def test_a_symlinked_token_file_is_refused_and_its_target_left_alone(tmp_path: Path):
    target = tmp_path / "elsewhere"
    target.write_text("x" * 40 + "\n")
    target.chmod(0o644)
    link = tmp_path / "token"
    link.symlink_to(target)
    with pytest.raises(TokenError, match="symbolic link") as refused:
        load_or_create_token(link)
    assert str(link) in str(refused.value)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644 and target.read_text() == "x" * 40 + "\n"
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "missing")
    with pytest.raises(TokenError, match="symbolic link"):
        load_or_create_token(dangling)
    assert not (tmp_path / "missing").exists()


def test_a_fifo_or_folder_is_refused_at_once_naming_the_path(tmp_path: Path):
    fifo = tmp_path / "token"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(TokenError, match="not a regular file.*FIFO") as refused:
        load_or_create_token(fifo)
    assert time.monotonic() - started < 2 and str(fifo) in str(refused.value)
    with pytest.raises(TokenError, match=str(tmp_path)):
        load_or_create_token(tmp_path)


def test_a_token_file_that_is_not_utf8_names_the_path(tmp_path: Path):
    path = tmp_path / "token"
    path.write_bytes(b"\xff\xfe" + b"\x80" * 30)
    with pytest.raises(TokenError, match="not UTF-8") as refused:
        load_or_create_token(path)
    assert str(path) in str(refused.value)


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
        ("localhost.:8421", "localhost"),
        ("evil.com@localhost", None),
        ("evil.com@localhost:8421", None),
        ("localhost/x", None),
        ("localhost#x", None),
        ("localhost?x", None),
        ("local host", None),
        ("localhost:99999", None),
        ("localhost:", None),
        ("[::1]x", None),
        ("[not-ip]", None),
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
