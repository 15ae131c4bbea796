"""installer/package.py: the Krita "Import Python Plugin from File" zip and the GIMP folder zip."""

import configparser
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import plugin_layout
import pytest
from helpers_installer import PACKAGE_PY, REPO
from helpers_paths import path_prelude
from package import project_version

VERSION = project_version()


@pytest.fixture(scope="module")
def zips(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, str(PACKAGE_PY), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,  # builds the backend wheel too
        check=False,
    )
    assert result.returncode == 0, result.stderr
    release = out / f"repaint-fill-{VERSION}.zip"
    krita = out / f"repaint-fill-krita-{VERSION}.zip"
    gimp = out / f"repaint-fill-gimp-{VERSION}.zip"
    assert result.stdout.split() == [str(release), str(krita), str(gimp)]
    return {"release": release, "krita": krita, "gimp": gimp, "out": out}


def _installed_files(folder: Path) -> set:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_krita_zip_matches_what_krita_importer_expects(zips: dict) -> None:
    with zipfile.ZipFile(zips["krita"]) as archive:
        names = archive.namelist()
        desktop = configparser.ConfigParser()
        desktop.read_string(archive.read("repaint_fill.desktop").decode("utf-8"))
    # Krita's importer: every *.desktop names its module (X-KDE-Library) and Name; the module is
    # a folder entry "<module>/" with "<module>/__init__.py" inside it.
    assert [n for n in names if n.endswith(".desktop")] == ["repaint_fill.desktop"]
    module = desktop["Desktop Entry"]["X-KDE-Library"]
    assert module == "repaint_fill" and desktop["Desktop Entry"]["Name"] == "RePaint Fill"
    assert f"{module}/" in names and f"{module}/__init__.py" in names
    assert "repaint_fill/repaint_fill.action" in names
    assert {n.split("/")[0] for n in names} == {"repaint_fill", "repaint_fill.desktop"}


def test_zips_hold_exactly_the_installed_layout(zips: dict, tmp_path: Path) -> None:
    plugin_layout.assemble_krita_plugin(tmp_path / "krita")
    plugin_layout.assemble_gimp_plugin(tmp_path / "gimp")
    for host in ("krita", "gimp"):
        with zipfile.ZipFile(zips[host]) as archive:
            files = {n for n in archive.namelist() if not n.endswith("/")}
        assert files == _installed_files(tmp_path / host)
        assert not any("__pycache__" in n or n.endswith(".pyc") for n in files)
        core = "repaint_fill" if host == "krita" else "repaint-fill"
        assert f"{core}/repaint_fill_core/config.py" in files


def test_gimp_zip_keeps_the_executable_bit(zips: dict) -> None:
    with zipfile.ZipFile(zips["gimp"]) as archive:
        infos = {info.filename: info for info in archive.infolist()}
    assert {name.split("/")[0] for name in infos} == {"repaint-fill"}
    assert "repaint-fill/" in infos
    entry = infos["repaint-fill/repaint-fill.py"]
    assert entry.create_system == 3
    assert (entry.external_attr >> 16) & 0o777 == 0o755
    assert stat.S_ISREG(entry.external_attr >> 16)
    assert (infos["repaint-fill/repaint_fill_core/png.py"].external_attr >> 16) & 0o777 == 0o644


def test_unpacked_gimp_zip_core_is_importable(zips: dict, tmp_path: Path) -> None:
    with zipfile.ZipFile(zips["gimp"]) as archive:
        archive.extractall(tmp_path)
    folder = tmp_path / "repaint-fill"
    probe = "import repaint_fill_core.config as c; print(c.__file__)"
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"{path_prelude(folder)}; {probe}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(folder))


def test_build_is_reproducible(zips: dict, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(PACKAGE_PY), "--out", str(tmp_path)],
        capture_output=True,
        timeout=300,  # builds the backend wheel too
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0
    for host in ("krita", "gimp"):
        again = tmp_path / zips[host].name
        assert again.read_bytes() == zips[host].read_bytes()
