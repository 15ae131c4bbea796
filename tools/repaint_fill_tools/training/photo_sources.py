"""Fetch the licence-clean training and validation photographs listed in photo_manifest.json.

Every image comes from a pinned Debian package (exact version and .deb sha256 in the manifest).
The .deb is fetched from the Debian pool (or with ``apt-get download`` as a fallback), unpacked with
``dpkg-deb -x``, and each listed file is checked against its sha256 before it is written under
``OUT/train/`` or ``OUT/val/``. Some GCompris photos live inside Qt resource bundles (``.rcc``);
those are read with the small reader below (the manifest's ``member`` is the path inside).

Re-running with the outputs present only re-checks their checksums (``OUT/checksums.json``).

    python -m repaint_fill_tools.training.photo_sources --out /work/data/photos
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import struct
import subprocess
import sys
import tempfile
import urllib.request
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

from PIL import Image

MANIFEST = Path(__file__).with_name("photo_manifest.json")
RESERVED_PACKAGES = ("mate-backgrounds", "palapeli-data")
CHECKSUMS = "checksums.json"


def sha256(data: bytes) -> str:
    """Return the hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def load_manifest(path: Path = MANIFEST) -> dict[str, Any]:
    """Read the manifest and refuse reserved packages."""
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    for entry in manifest["images"]:
        if entry["package"] in RESERVED_PACKAGES:
            raise ValueError(f"reserved package in manifest: {entry['package']}")
    return manifest


def _rcc_name(blob: bytes, names: int, offset: int) -> str:
    """Decode one UTF-16BE node name of a Qt resource bundle."""
    (length,) = struct.unpack(">H", blob[names + offset : names + offset + 2])
    start = names + offset + 6
    return blob[start : start + 2 * length].decode("utf-16-be")


def _rcc_data(blob: bytes, data: int, offset: int, flags: int) -> bytes:
    """Return the (decompressed) payload of one file node."""
    (size,) = struct.unpack(">I", blob[data + offset : data + offset + 4])
    payload = blob[data + offset + 4 : data + offset + 4 + size]
    if flags & 4:
        raise ValueError("zstd-compressed rcc entries are not supported")
    return zlib.decompress(payload[4:]) if flags & 1 else payload


def read_rcc(blob: bytes) -> dict[str, bytes]:
    """Read every file of a Qt binary resource bundle (``rcc`` format 1-3) into a dict."""
    if blob[:4] != b"qres":
        raise ValueError("not a Qt resource bundle")
    version, tree, data, names = struct.unpack(">IIII", blob[4:20])
    node_size = 22 if version >= 2 else 14
    files: dict[str, bytes] = {}
    stack: list[tuple[int, str]] = [(0, "")]
    while stack:
        index, prefix = stack.pop()
        node = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", blob[node : node + 6])
        name = _rcc_name(blob, names, name_offset) if index else ""
        path = f"{prefix}/{name}" if index else ""
        if flags & 2:
            count, first = struct.unpack(">II", blob[node + 6 : node + 14])
            stack.extend((child, path) for child in range(first, first + count))
        else:
            (offset,) = struct.unpack(">I", blob[node + 10 : node + 14])
            files[path] = _rcc_data(blob, data, offset, flags)
    return files


def download_deb(package: str, info: dict[str, str], mirror: str, workdir: Path) -> Path:
    """Fetch the pinned .deb (pool URL first, ``apt-get download`` second) and check its sha256."""
    target = workdir / Path(info["filename"]).name
    try:
        with urllib.request.urlopen(mirror + info["filename"], timeout=120) as response:
            target.write_bytes(response.read())
    except OSError as error:
        print(f"pool download failed ({error}); trying apt-get download", file=sys.stderr)
        spec = f"{package}={info['version']}"
        subprocess.run(["apt-get", "download", spec], cwd=workdir, check=True)
        target = next(workdir.glob(f"{package}_*.deb"))
    if sha256(target.read_bytes()) != info["sha256"]:
        raise ValueError(f"sha256 mismatch for {target.name}")
    return target


def extract_deb(deb: Path, dest: Path) -> Path:
    """Unpack a .deb with ``dpkg-deb -x`` into ``dest`` and return it."""
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)
    return dest


def source_bytes(
    root: Path, entry: dict[str, Any], rcc_cache: dict[str, dict[str, bytes]]
) -> bytes:
    """Return the bytes of one manifest image from an unpacked package, verified by sha256."""
    path = root / entry["path"]
    if "member" in entry:
        if entry["path"] not in rcc_cache:
            rcc_cache[entry["path"]] = read_rcc(path.read_bytes())
        data = rcc_cache[entry["path"]][entry["member"]]
    else:
        data = path.read_bytes()
    if sha256(data) != entry["sha256"]:
        raise ValueError(f"sha256 mismatch for {entry['id']} ({entry['path']})")
    return data


def output_name(entry: dict[str, Any]) -> str:
    """Relative output path: JPEGs are kept as they are, everything else becomes RGB PNG."""
    source = entry.get("member", entry["path"]).lower()
    suffix = ".jpg" if source.endswith((".jpg", ".jpeg")) else ".png"
    return f"{entry['split']}/{entry['id']}{suffix}"


def write_image(data: bytes, target: Path) -> bytes:
    """Write ``data`` to ``target`` (JPEG copied byte for byte, others as RGB PNG)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix == ".jpg":
        out = data
    else:
        buffer = io.BytesIO()
        with Image.open(io.BytesIO(data)) as image:
            image.convert("RGB").save(buffer, format="PNG", optimize=False)
        out = buffer.getvalue()
    target.write_bytes(out)
    return out


def verify_existing(out: Path, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the entries whose output is missing or does not match ``checksums.json``."""
    record_path = out / CHECKSUMS
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    missing = []
    for entry in entries:
        name = output_name(entry)
        known = record.get(name, {})
        target = out / name
        fresh = known.get("source_sha256") == entry["sha256"] and target.exists()
        if not fresh or sha256(target.read_bytes()) != known.get("sha256"):
            missing.append(entry)
    return missing


def fetch_package(
    package: str, entries: list[dict[str, Any]], manifest: dict[str, Any], out: Path
) -> dict[str, dict[str, str]]:
    """Download, unpack and convert the images of one package; return their checksum records."""
    info = manifest["packages"][package]
    records: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="photo_sources_") as tmp:
        workdir = Path(tmp)
        deb = download_deb(package, info, manifest["mirror"], workdir)
        root = extract_deb(deb, workdir / "root")
        rcc_cache: dict[str, dict[str, bytes]] = {}
        for entry in entries:
            data = source_bytes(root, entry, rcc_cache)
            name = output_name(entry)
            written = write_image(data, out / name)
            records[name] = {"sha256": sha256(written), "source_sha256": entry["sha256"]}
        copyright_file = root / "usr/share/doc" / package / "copyright"
        if copyright_file.exists():
            (out / "copyright").mkdir(exist_ok=True)
            shutil.copy(copyright_file, out / "copyright" / package)
    return records


def fetch(out: Path, manifest: dict[str, Any]) -> int:
    """Bring ``out`` in line with the manifest; return the number of images (re)written."""
    out.mkdir(parents=True, exist_ok=True)
    missing = verify_existing(out, manifest["images"])
    record_path = out / CHECKSUMS
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    for package in sorted({entry["package"] for entry in missing}):
        todo = [entry for entry in missing if entry["package"] == package]
        print(f"{package} {manifest['packages'][package]['version']}: {len(todo)} images")
        record.update(fetch_package(package, todo, manifest, out))
        record_path.write_text(json.dumps(record, indent=1, sort_keys=True))
    return len(missing)


def summary(manifest: dict[str, Any]) -> str:
    """Counts per split, per split and package, and per licence."""
    images = manifest["images"]
    lines = [f"{split}: {n}" for split, n in sorted(Counter(e["split"] for e in images).items())]
    per_package = Counter((e["split"], e["package"]) for e in images)
    lines += [f"  {split} {pkg}: {n}" for (split, pkg), n in sorted(per_package.items())]
    lines += [
        f"licence {lic}: {n}" for lic, n in Counter(e["licence"] for e in images).most_common()
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--out", type=Path, required=True, help="output directory (outside the repo)"
    )
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    args = parser.parse_args(argv)
    manifest = load_manifest(args.manifest)
    written = fetch(args.out, manifest)
    print(f"{written} images written, {len(manifest['images']) - written} already present")
    print(summary(manifest))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
