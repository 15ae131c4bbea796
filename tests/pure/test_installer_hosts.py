"""Installer folder logic: where each platform keeps Krita, GIMP and RePaint Fill files.

macOS and Windows are table tests of pure functions (platform + environment in, paths out);
detection (what is present) runs against throwaway folders on this Linux machine.
"""

from pathlib import Path, PurePosixPath, PureWindowsPath

import backend_env
import hosts
import pytest
from helpers_installer import make_sandbox

LINUX_ENV = {"HOME": "/home/ann"}
LINUX_XDG = {"HOME": "/home/ann", "XDG_CONFIG_HOME": "/cfg", "XDG_DATA_HOME": "/dat"}
MAC_ENV = {"HOME": "/Users/ann"}
WIN_ENV = {
    "USERPROFILE": r"C:\Users\ann",
    "APPDATA": r"C:\Users\ann\AppData\Roaming",
    "LOCALAPPDATA": r"C:\Users\ann\AppData\Local",
}
WIN_BARE = {"USERPROFILE": r"D:\u\ann"}  # APPDATA/LOCALAPPDATA unset: derived from the profile

MAC_SUPPORT = "/Users/ann/Library/Application Support"

FOLDERS = [
    # platform, env, config folder, data folder, pykrita, kritarc
    (
        "linux",
        LINUX_ENV,
        "/home/ann/.config/repaint-fill",
        "/home/ann/.local/share/repaint-fill",
        "/home/ann/.local/share/krita/pykrita",
        "/home/ann/.config/kritarc",
    ),
    (
        "linux",
        LINUX_XDG,
        "/cfg/repaint-fill",
        "/dat/repaint-fill",
        "/dat/krita/pykrita",
        "/cfg/kritarc",
    ),
    (
        "darwin",
        MAC_ENV,
        f"{MAC_SUPPORT}/repaint-fill",
        f"{MAC_SUPPORT}/repaint-fill",
        f"{MAC_SUPPORT}/Krita/pykrita",
        "/Users/ann/Library/Preferences/kritarc",
    ),
    (
        "darwin",
        {**MAC_ENV, "XDG_CONFIG_HOME": "/ignored"},  # XDG_* mean nothing on macOS
        f"{MAC_SUPPORT}/repaint-fill",
        f"{MAC_SUPPORT}/repaint-fill",
        f"{MAC_SUPPORT}/Krita/pykrita",
        "/Users/ann/Library/Preferences/kritarc",
    ),
    (
        "win32",
        WIN_ENV,
        r"C:\Users\ann\AppData\Roaming\repaint-fill",
        r"C:\Users\ann\AppData\Roaming\repaint-fill",
        r"C:\Users\ann\AppData\Roaming\krita\pykrita",
        r"C:\Users\ann\AppData\Local\kritarc",
    ),
    (
        "win32",
        WIN_BARE,
        r"D:\u\ann\AppData\Roaming\repaint-fill",
        r"D:\u\ann\AppData\Roaming\repaint-fill",
        r"D:\u\ann\AppData\Roaming\krita\pykrita",
        r"D:\u\ann\AppData\Local\kritarc",
    ),
]


def _path(platform: str, text: str):
    return PureWindowsPath(text) if platform == "win32" else PurePosixPath(text)


@pytest.mark.parametrize("platform, env, config, data, pykrita, kritarc", FOLDERS)
def test_folders_per_platform(platform, env, config, data, pykrita, kritarc) -> None:
    assert hosts.config_folder(platform, env) == _path(platform, config)
    assert hosts.data_folder(platform, env) == _path(platform, data)
    native = hosts.krita_native(platform, env)
    assert native.pykrita == _path(platform, pykrita)
    assert native.kritarc == _path(platform, kritarc)


GIMP_BASES = [
    (
        "linux",
        LINUX_ENV,
        [
            ("native", "/home/ann/.config/GIMP"),
            ("flatpak", "/home/ann/.var/app/org.gimp.GIMP/config/GIMP"),
        ],
    ),
    (
        "linux",
        LINUX_XDG,
        [("native", "/cfg/GIMP"), ("flatpak", "/home/ann/.var/app/org.gimp.GIMP/config/GIMP")],
    ),
    ("darwin", MAC_ENV, [("native", f"{MAC_SUPPORT}/GIMP")]),
    ("win32", WIN_ENV, [("native", r"C:\Users\ann\AppData\Roaming\GIMP")]),
]


@pytest.mark.parametrize("platform, env, expected", GIMP_BASES)
def test_gimp_version_folders_per_platform(platform, env, expected) -> None:
    bases = hosts.gimp_bases(platform, env)
    assert bases == [(variant, _path(platform, base)) for variant, base in expected]
    target = hosts.gimp_target("native", bases[0][1], "3.2")
    assert target.plug_ins == bases[0][1] / "3.2" / "plug-ins"


def test_flatpak_folders_only_on_linux() -> None:
    krita = hosts.krita_flatpak("linux", LINUX_XDG)
    assert krita.pykrita == PurePosixPath("/home/ann/.var/app/org.kde.krita/data/krita/pykrita")
    assert krita.kritarc == PurePosixPath("/home/ann/.var/app/org.kde.krita/config/kritarc")
    assert hosts.krita_flatpak("darwin", MAC_ENV) is None
    assert hosts.krita_flatpak("win32", WIN_ENV) is None


def test_backend_program_per_platform() -> None:
    venv = PureWindowsPath(r"C:\d\backend-venv")
    assert backend_env.backend_program(venv, "win32") == venv / "Scripts" / "repaint-fill.exe"
    assert backend_env.venv_python(venv, "win32") == venv / "Scripts" / "python.exe"
    posix = PurePosixPath("/d/backend-venv")
    assert backend_env.backend_program(posix, "darwin") == posix / "bin" / "repaint-fill"
    assert backend_env.venv_python(posix, "linux") == posix / "bin" / "python"


PINNED = "torch==2.13.0"
TORCH = [
    # platform, gpu, spec -> pip args: the lock's version, the machine's build
    ("linux", "nvidia", None, (PINNED, "--extra-index-url", backend_env.CUDA_INDEX)),
    ("win32", "nvidia", None, (PINNED, "--extra-index-url", backend_env.CUDA_INDEX)),
    ("linux", "rocm", None, (PINNED, "--extra-index-url", backend_env.ROCM_INDEX)),
    ("win32", "rocm", None, (PINNED, "--extra-index-url", backend_env.CPU_INDEX)),  # no ROCm wheels
    ("linux", None, None, (PINNED, "--extra-index-url", backend_env.CPU_INDEX)),
    ("win32", None, None, (PINNED, "--extra-index-url", backend_env.CPU_INDEX)),
    ("darwin", None, None, (PINNED,)),
    ("linux", "nvidia", "torch==2.13.0", ("torch==2.13.0",)),
    (
        "linux",
        None,
        "torch==2.5.1 --index-url https://example.org/whl",
        ("torch==2.5.1", "--index-url", "https://example.org/whl"),
    ),
]


@pytest.mark.parametrize("platform, gpu, spec, expected", TORCH)
def test_torch_build_choice(platform, gpu, spec, expected) -> None:
    assert backend_env.choose_torch(platform, gpu, "2.13.0", spec).pip_args == expected


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
