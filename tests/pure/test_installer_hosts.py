"""Installer folder logic: where each platform keeps Krita, GIMP and RePaint Fill files.

Table tests of pure functions (platform + environment in, paths out). Detection (what is
present) runs programs in throwaway folders: tests/backend/test_installer_detection.py.
"""

from pathlib import PurePosixPath, PureWindowsPath

import backend_env
import hosts
import pytest

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
