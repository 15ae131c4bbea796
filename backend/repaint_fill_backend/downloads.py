"""Fetching a registry checkpoint: progress bar, resume, integrity check, atomic placement.

The file grows in ``<cache>/repaint-fill/downloads/<file>.part``; an interrupted transfer goes on
from where it stopped (an HTTP Range request), within one run (a few retries) and across runs.
A complete file is checked (its size, its sha256 when the registry knows it, and a strict load
into the entry's architecture through our loader) before it is moved into the models folder
under its final name, atomically: the models folder never holds a partial or unchecked file.
Entries without a stable address (Google Drive) get the manual steps instead.
``repaint-fill download NAME`` and ``install.py --model NAME`` (which runs it) both end here.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

import platformdirs

from . import __version__
from .registry import RegistryEntry, manual_steps, models_folder

CHUNK = 1 << 20
TIMEOUT_SECONDS = 60
ATTEMPTS = 5  # one transfer plus resumes after dropped connections
RETRY_DELAY_SECONDS = 2.0
PARTIAL_SUFFIX = ".part"


class DownloadError(Exception):
    """A model could not be fetched or failed its check; the message says what to do."""


class ManualDownloadNeeded(DownloadError):
    """The model has no address a program may fetch; the message holds the manual steps."""


class _Interrupted(Exception):
    """The transfer stopped early; a later attempt resumes it."""


def downloads_folder() -> Path:
    """Where partial downloads wait: <user cache>/repaint-fill/downloads."""
    return Path(platformdirs.user_cache_dir("repaint-fill", appauthor=False)) / "downloads"


def partial_path(entry: RegistryEntry) -> Path:
    assert entry.file_name is not None
    return downloads_folder() / (entry.file_name + PARTIAL_SUFFIX)


def download_checkpoint(
    entry: RegistryEntry,
    *,
    progress: bool = True,
    attempts: int = ATTEMPTS,
    retry_delay: float = RETRY_DELAY_SECONDS,
) -> Path:
    """The entry's checkpoint in the models folder: fetched, checked and moved there if absent.

    A file already in place is checked too (e.g. one the user copied there by hand).
    Raises ManualDownloadNeeded for entries without a stable URL, DownloadError otherwise.
    """
    if entry.kind != "guided" or entry.file_name is None:
        raise DownloadError(f"{entry.name!r} is not a checkpoint file of the registry")
    target = models_folder() / entry.file_name
    if target.is_file():
        verify_checkpoint(target, entry)
        return target
    if not (entry.stable_url and entry.url):
        raise ManualDownloadNeeded(manual_steps(entry))
    partial = partial_path(entry)
    partial.parent.mkdir(parents=True, exist_ok=True)
    _transfer(entry.url, partial, progress, attempts, retry_delay)
    try:
        verify_checkpoint(partial, entry)
    except DownloadError:
        partial.unlink(missing_ok=True)  # a complete but wrong file: resuming cannot fix it
        raise
    return _place(partial, target)


def _transfer(url: str, partial: Path, progress: bool, attempts: int, delay: float) -> None:
    for attempt in range(1, attempts + 1):
        try:
            _fetch_rest(url, partial, progress)
            return
        except _Interrupted as error:
            if attempt == attempts:
                raise DownloadError(
                    f"the download of {url} stopped {attempts} times ({error}); run the same "
                    f"command again to resume from {_size_mb(partial)} MB ({partial})"
                ) from error
            print(f"  download interrupted ({error}); resuming", file=sys.stderr, flush=True)
            time.sleep(delay * attempt)


def _fetch_rest(url: str, partial: Path, progress: bool) -> None:
    """Append the rest of ``url`` to ``partial`` (or start it again if the server cannot resume)."""
    have = partial.stat().st_size if partial.is_file() else 0
    headers = {"User-Agent": f"repaint-fill/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=TIMEOUT_SECONDS
        )
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # our partial file is not a prefix the server knows
            partial.unlink()
            raise _Interrupted("the server cannot resume this file; starting again") from error
        raise DownloadError(f"{url} answered HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise _Interrupted(f"cannot reach {url}: {error}") from error
    with response:
        resumed = have > 0 and response.status == 206 and _range_start(response) == have
        start = have if resumed else 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else None
        with open(partial, "ab" if resumed else "wb") as out:
            _copy(response, out, start, total, progress)
    if total is not None and partial.stat().st_size != total:
        raise _Interrupted(f"got {partial.stat().st_size} of {total} bytes")


def _range_start(response: http.client.HTTPResponse) -> int | None:
    """The first byte of a 206 answer (``Content-Range: bytes START-END/TOTAL``)."""
    value = response.headers.get("Content-Range", "")
    first = value.removeprefix("bytes ").split("-", 1)[0]
    return int(first) if first.isdigit() else None


def _copy(response: BinaryIO, out: BinaryIO, start: int, total: int | None, progress: bool) -> None:
    from tqdm import tqdm

    with tqdm(
        total=total,
        initial=start,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not progress,
        file=sys.stderr,
        desc="  download",
    ) as bar:
        while True:
            try:
                chunk = response.read(CHUNK)
            except (OSError, http.client.HTTPException) as error:
                raise _Interrupted(str(error) or type(error).__name__) from error
            if not chunk:
                return
            out.write(chunk)
            bar.update(len(chunk))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while block := source.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def verify_checkpoint(path: Path, entry: RegistryEntry) -> None:
    """Refuse a file that is not the entry's model: its sha256 if known, then a strict load."""
    import torch

    from .guided_diffusion import load_guided_diffusion
    from .models import ModelError

    if entry.sha256 is not None and file_sha256(path) != entry.sha256:
        raise DownloadError(
            f"{path.name} is corrupt (its sha256 is not the one of {entry.name}); it was deleted, "
            "run the command again"
        )
    try:  # memory-mapped and cast in place: no second copy of the weights
        load_guided_diffusion(path, entry.config, "cpu", torch.float32, name=entry.name)
    except ModelError as error:
        raise DownloadError(
            f"{path.name} is not a working {entry.name} checkpoint ({error}); "
            f"get it again from {entry.url}"
        ) from error


def _place(partial: Path, target: Path) -> Path:
    """Move the checked file to ``target`` atomically (same folder rename as the last step)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = target.with_name(f".{target.name}.incoming-{os.getpid()}")
    try:
        shutil.move(partial, incoming)  # a rename when the cache and models share a disk
        os.replace(incoming, target)
    finally:
        incoming.unlink(missing_ok=True)
    return target


def _size_mb(path: Path) -> int:
    return path.stat().st_size // 1_000_000 if path.is_file() else 0
