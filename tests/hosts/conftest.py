"""What the real-host tiers share: their markers, the Krita tools check, the GIMP chroot and one
real backend for the whole session.

Every test_krita*.py here is marked ``krita`` and ``slow`` and skips without Krita and Xvfb;
every test_gimp*.py is marked ``gimp`` and ``slow`` (the ``chroot`` fixture skips without root
or the chroot). ``REPAINT_FILL_REQUIRE_HOSTS=1`` turns those skips into failures
(tests/conftest.py).
"""

import os
from collections.abc import Iterator
from pathlib import Path

import krita_harness
import pytest
from helpers_gimp import chroot_root
from helpers_server import RunningServer, running_server

HERE = Path(__file__).resolve().parent
MISSING_KRITA_TOOLS = krita_harness.missing_tools()
TIER_MARKS = {
    "test_krita": [
        pytest.mark.krita,
        pytest.mark.slow,
        pytest.mark.skipif(
            bool(MISSING_KRITA_TOOLS),
            reason="real-Krita tier needs `apt-get install krita xvfb xauth` (missing: {})".format(
                ", ".join(MISSING_KRITA_TOOLS)
            ),
        ),
    ],
    "test_gimp": [pytest.mark.gimp, pytest.mark.slow],
}


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by these markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.parent != HERE:
            continue
        for prefix, marks in TIER_MARKS.items():
            if item.path.name.startswith(prefix):
                for mark in marks:
                    item.add_marker(mark)


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The real `repaint-fill serve` (shipped or tiny model) on 127.0.0.1, for Krita and GIMP
    alike (the chroot shares the host's network)."""
    with running_server(tmp_path_factory.mktemp("host-backend")) as server:
        yield server


@pytest.fixture(scope="session")
def chroot() -> Path:
    """The GIMP chroot's root folder (tests/hosts/gimp_chroot.sh build); skips without it."""
    if os.geteuid() != 0:
        pytest.skip("real-GIMP tests need root (chroot and mount)")
    root = chroot_root()
    if root is None:
        pytest.skip("GIMP chroot not built: run tests/hosts/gimp_chroot.sh build (as root)")
    return root
