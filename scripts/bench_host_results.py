"""Host side of a 2000x2000 result: PNG bytes -> a new layer, in each host's own way.

Prints a table: the core's standard-library decoder (the old path), Krita's path (QImage decode,
the core's layer values, krita_io.insert_layers inside real Krita via kritarunner), GIMP's path
(GIMP's own PNG loader, layer values, a new GIMP layer, inside real GIMP in the test chroot).
The result is photo-like and encoded as the server encodes results
(tests/helpers_backend.result_like_png).
Parts whose host is missing here are skipped with a note.
Run: .venv/bin/python scripts/bench_host_results.py [--no-gimp]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugin" / "core"), str(ROOT / "installer"), str(ROOT / "tests")]
from helpers_backend import result_like_png  # noqa: E402
from repaint_fill_core.fill import JobUpload, result_layer  # noqa: E402
from repaint_fill_core.geometry import CanvasRect  # noqa: E402
from repaint_fill_core.png import decode_png  # noqa: E402


def stdlib_seconds(png: bytes, size: int) -> float:
    upload = JobUpload(CanvasRect(0, 0, size, size), b"", b"", bytes([255]) * size * size, {})
    started = time.perf_counter()
    result_layer(upload, png, 1, decode_png)
    return time.perf_counter() - started


def krita_seconds(png_path: Path, size: int, repeats: int) -> list[tuple[float, float]] | str:
    if shutil.which("kritarunner") is None:
        return "skipped: kritarunner not installed (apt-get install krita)"
    from plugin_layout import assemble_krita_plugin

    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        assemble_krita_plugin(home / "pykrita")
        (home / "run").mkdir(mode=0o700)
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": "offscreen",
            "HOME": str(home),
            "XDG_RUNTIME_DIR": str(home / "run"),
            "PYTHONPATH": f"{home / 'pykrita'}:{ROOT / 'scripts' / 'host_bench'}",
            "REPAINT_FILL_BENCH_PNG": str(png_path),
            "REPAINT_FILL_BENCH_SIZE": str(size),
            "REPAINT_FILL_BENCH_REPEATS": str(repeats),
        }
        command = ["kritarunner", "-s", "krita_result_to_layer", "-f", "main"]
        run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    lines = [line.split()[1:] for line in run.stdout.splitlines() if line.startswith("KRITA-")]
    if not lines:
        return "failed: " + (run.stdout + run.stderr)[-500:]
    return [(float(decode), float(total)) for decode, total in lines]


def gimp_seconds(size: int) -> dict | str:
    from helpers_gimp import chroot_root, remove_work, run_gimp_cases

    root = chroot_root()
    if root is None or os.geteuid() != 0:
        return "skipped: needs root and the GIMP chroot (tests/hosts/gimp_chroot.sh build)"
    png, rgba = result_like_png(size)
    cases = [{"name": "decoder", "kind": "decoder"}]
    files = {"token": b"unused", "result.png": png, "result.rgba": rgba}
    run = run_gimp_cases(root, cases, files, "http://127.0.0.1:9", timeout=300)
    try:
        return run.results.get("decoder", {}).get("seconds") or f"failed: {run.crashes}"
    finally:
        remove_work(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-gimp", action="store_true")
    args = parser.parse_args()
    png, _rgba = result_like_png(args.size)
    print(f"| {args.size}x{args.size} result -> layer (host side) | seconds |")
    print("|---|---|")
    stdlib = stdlib_seconds(png, args.size)
    print(f"| stdlib PNG decoder + layer values (the old path) | {stdlib:.2f} |")
    with tempfile.NamedTemporaryFile(suffix=".png") as handle:
        handle.write(png)
        handle.flush()
        krita = krita_seconds(Path(handle.name), args.size, args.repeats)
    if isinstance(krita, str):
        print(f"| Krita | {krita} |")
    else:
        decode, total = min(krita, key=lambda pair: pair[1])
        print(f"| Krita: QImage decode | {decode:.3f} |")
        print(
            f"| Krita: decode + layer values + insert_layers (best of {len(krita)}) | {total:.3f} |"
        )
    gimp = "skipped (--no-gimp)" if args.no_gimp else gimp_seconds(args.size)
    if isinstance(gimp, str):
        print(f"| GIMP | {gimp} |")
    else:
        print(f"| GIMP: decode by GIMP's PNG loader | {gimp['gimp']:.3f} |")
        print(f"| GIMP: decode + layer values + new layer | {gimp['result_to_layer']:.3f} |")
        label = "GIMP: uncompressed result (loopback) -> layer values + new layer"
        print(f"| {label} | {gimp['raw_to_layer']:.3f} |")
        print(f"| GIMP: stdlib decode inside GIMP's Python | {gimp['stdlib']:.2f} |")


if __name__ == "__main__":
    main()
