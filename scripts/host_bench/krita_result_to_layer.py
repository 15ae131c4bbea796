"""Runs INSIDE Krita (kritarunner): a 2000x2000 result PNG -> a paint layer, the plug-in's way.

Called by scripts/bench_host_results.py with the assembled plug-in on PYTHONPATH and the PNG's
path in $REPAINT_FILL_BENCH_PNG; prints one "KRITA-SECONDS decode total" line per repeat.
"""

import os
import time

from krita import Krita


def main(*_args):
    from repaint_fill import krita_io, qt_images
    from repaint_fill.repaint_fill_core.fill import JobUpload, result_layer
    from repaint_fill.repaint_fill_core.geometry import CanvasRect

    with open(os.environ["REPAINT_FILL_BENCH_PNG"], "rb") as handle:
        png = handle.read()
    width = height = int(os.environ["REPAINT_FILL_BENCH_SIZE"])
    document = Krita.instance().createDocument(width, height, "bench", "RGBA", "U8", "", 72.0)
    upload = JobUpload(CanvasRect(0, 0, width, height), b"", b"", bytes([255]) * width * height, {})
    for _ in range(int(os.environ.get("REPAINT_FILL_BENCH_REPEATS", "3"))):
        started = time.perf_counter()
        decoded = qt_images.decode_png_qimage(png)
        decode_seconds = time.perf_counter() - started
        layer = result_layer(upload, png, 1, lambda _png, decoded=decoded: decoded)
        krita_io.insert_layers(document, None, [layer])
        document.waitForDone()
        total = time.perf_counter() - started
        print(f"KRITA-SECONDS {decode_seconds:.3f} {total:.3f}", flush=True)
    document.close()
