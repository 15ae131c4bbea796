"""Installer host and GPU detection (what is present) against throwaway folders on this Linux
machine: a sandboxed HOME and PATH whose fake programs (nvidia-smi, rocminfo, gimp, krita) the
installer runs. Where each platform keeps its files: tests/pure/test_installer_hosts.py.
"""

from pathlib import Path

import backend_env
import hosts
from helpers_installer import make_sandbox


def test_nvidia_detection_uses_nvidia_smi(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    assert not backend_env.has_nvidia_gpu(box.env())
    box.add_program("nvidia-smi", 'echo "GPU 0: NVIDIA Fake (UUID: GPU-1)"\n')
    assert backend_env.has_nvidia_gpu(box.env())
    assert backend_env.detect_gpu(box.env()) == "nvidia"


def test_rocm_detection_uses_rocminfo(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    assert backend_env.detect_gpu(box.env()) is None
    box.add_program("rocminfo", 'echo "  Name:                    gfx1100"\n')
    assert backend_env.detect_gpu(box.env()) == "rocm"


def test_detects_every_gimp_3_folder_and_ignores_2_10(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    for version in ("2.10", "3.0", "3.2"):
        (box.config / "GIMP" / version).mkdir(parents=True)
    flatpak = box.home / ".var/app/org.gimp.GIMP/config/GIMP/3.0"
    flatpak.mkdir(parents=True)
    found = hosts.detect_gimp("linux", box.env(), forced=False)
    assert [(t.variant, t.version, Path(str(t.plug_ins))) for t in found] == [
        ("native", "3.0", box.gimp_plug_ins("3.0")),
        ("native", "3.2", box.gimp_plug_ins("3.2")),
        ("flatpak", "3.0", flatpak / "plug-ins"),
    ]


def test_gimp_binary_gives_its_version_folder(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    assert hosts.detect_gimp("linux", box.env(), forced=False) == []
    box.add_program("gimp", 'echo "GNU Image Manipulation Program version 3.2.6"\n')
    found = hosts.detect_gimp("linux", box.env(), forced=False)
    assert [Path(str(t.plug_ins)) for t in found] == [box.gimp_plug_ins("3.2")]


def test_gimp_2_binary_is_not_gimp_3(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    box.add_program("gimp", 'echo "GNU Image Manipulation Program version 2.10.34"\n')
    assert hosts.detect_gimp("linux", box.env(), forced=False) == []
    forced = hosts.detect_gimp("linux", box.env(), forced=True)
    assert [Path(str(t.plug_ins)) for t in forced] == [box.gimp_plug_ins("3.0")]


def test_krita_present_by_binary_kritarc_or_flatpak(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path)
    assert hosts.detect_krita("linux", box.env(), forced=False) == []
    assert [t.variant for t in hosts.detect_krita("linux", box.env(), forced=True)] == ["native"]
    box.add_program("krita", "exit 0\n")
    assert [t.variant for t in hosts.detect_krita("linux", box.env(), forced=False)] == ["native"]
    (box.bin / "krita").unlink()
    (box.home / ".var/app/org.kde.krita").mkdir(parents=True)
    assert [t.variant for t in hosts.detect_krita("linux", box.env(), forced=False)] == ["flatpak"]
    box.config.mkdir(parents=True, exist_ok=True)
    box.kritarc.write_text("")
    found = hosts.detect_krita("linux", box.env(), forced=False)
    assert [t.variant for t in found] == ["native", "flatpak"]
