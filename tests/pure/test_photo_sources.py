"""The photo manifest is licence-clean and keeps the validation split independent (no download)."""

from __future__ import annotations

from collections import Counter

import pytest
from repaint_fill_tools.training import photo_sources

ALLOWED_LICENCES = {
    "public-domain",
    "CC0-1.0",
    "CC-BY-2.0",
    "CC-BY-3.0",
    "CC-BY-4.0",
    "CC-BY-SA-3.0",
    "CC-BY-SA-4.0",
    "GPL-2+",
    "GPL-3",
    "GPL-3+",
    "LGPL-3",
}


@pytest.fixture(scope="module")
def manifest() -> dict:
    return photo_sources.load_manifest()


def test_no_reserved_package(manifest: dict) -> None:
    packages = {entry["package"] for entry in manifest["images"]} | set(manifest["packages"])
    assert not packages & {"mate-backgrounds", "palapeli-data"}


def test_every_entry_is_complete_and_allowed(manifest: dict) -> None:
    for entry in manifest["images"]:
        assert entry["licence"] in ALLOWED_LICENCES, entry["id"]
        assert entry["obligations"], entry["id"]
        assert entry["split"] in ("train", "val"), entry["id"]
        assert len(entry["sha256"]) == 64, entry["id"]
        assert entry["width"] > 0 and entry["height"] > 0, entry["id"]
        assert entry["content"], entry["id"]
        assert entry["version"] == manifest["packages"][entry["package"]]["version"]


def test_packages_are_pinned(manifest: dict) -> None:
    for info in manifest["packages"].values():
        assert info["version"] and info["filename"].endswith(".deb")
        assert len(info["sha256"]) == 64


def test_ids_unique(manifest: dict) -> None:
    ids = Counter(entry["id"] for entry in manifest["images"])
    assert not [i for i, n in ids.items() if n > 1]


def test_splits_share_no_package_or_family(manifest: dict) -> None:
    def family(package: str) -> str:
        return package.split("-")[0]

    train = {entry["package"] for entry in manifest["images"] if entry["split"] == "train"}
    val = {entry["package"] for entry in manifest["images"] if entry["split"] == "val"}
    assert not train & val
    assert not {family(p) for p in train} & {family(p) for p in val}


def test_enough_images(manifest: dict) -> None:
    splits = Counter(entry["split"] for entry in manifest["images"])
    assert splits["train"] >= 150
    big_val = [
        e
        for e in manifest["images"]
        if e["split"] == "val" and max(e["width"], e["height"]) >= 1024
    ]
    assert len(big_val) >= 8


def test_sklearn_validation_images_not_used(manifest: dict) -> None:
    names = {entry.get("member", entry["path"]).rsplit("/", 1)[-1] for entry in manifest["images"]}
    assert not names & {"china.jpg", "flower.jpg"}


def test_rcc_reader_round_trip() -> None:
    """A hand-built one-file bundle (format 2, uncompressed) reads back."""
    import struct

    name = "a.txt".encode("utf-16-be")
    names = struct.pack(">HI", 5, 0) + name
    payload = b"hello"
    data = struct.pack(">I", len(payload)) + payload
    root = struct.pack(">IHII", 0, 2, 1, 1) + b"\0" * 8
    leaf = struct.pack(">IHHHI", 0, 0, 0, 0, 0) + b"\0" * 8
    tree = root + leaf
    header_len = 20
    tree_off = header_len
    data_off = tree_off + len(tree)
    names_off = data_off + len(data)
    blob = b"qres" + struct.pack(">IIII", 2, tree_off, data_off, names_off) + tree + data + names
    assert photo_sources.read_rcc(blob) == {"/a.txt": b"hello"}
