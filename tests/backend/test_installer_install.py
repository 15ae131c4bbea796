"""install.py end to end in throwaway HOMEs: install, re-install, uninstall, dry run, rollback.

Each test runs the real installer as a subprocess with HOME/XDG_*/PATH/TMPDIR inside tmp_path.
The backend steps use a fake virtual environment (a `python` that only logs its pip arguments
and a `repaint-fill` that fakes a hub download): the real venv is the slow test in
test_installer_backend.py.
"""

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from helpers_installer import (
    Sandbox,
    make_sandbox,
    run_installer,
    snapshot,
)
from lock import read_lock
from repaint_fill_core.config import load_config

BOTH = ("--hosts", "krita,gimp", "--skip-backend")
KRITARC = (
    "ShowRootLayer=false\n[General]\nfoo=bar\n\n[python]\nenable_other=true\n\n"
    "[MainWindow]\nState=AAAA\n"
)
STEPS = ["krita", "kritarc", "gimp", "config", "manifest"]


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    sandbox = make_sandbox(tmp_path)
    sandbox.config.mkdir(parents=True)
    sandbox.kritarc.write_text(KRITARC)
    return sandbox


def _ok(result) -> None:
    assert result.returncode == 0, result.stdout + result.stderr


def test_install_puts_plugins_config_and_manifest_in_place(box: Sandbox) -> None:
    _ok(run_installer(box, *BOTH))
    assert (box.pykrita / "repaint_fill.desktop").is_file()
    assert (box.pykrita / "repaint_fill" / "__init__.py").is_file()
    assert (box.pykrita / "repaint_fill" / "repaint_fill_core" / "config.py").is_file()
    gimp = box.gimp_plug_ins() / "repaint-fill"
    assert (gimp / "repaint_fill_core" / "client.py").is_file()
    assert os.stat(gimp / "repaint-fill.py").st_mode & stat.S_IXUSR
    assert box.kritarc.read_text() == KRITARC.replace(
        "enable_other=true\n", "enable_other=true\nenable_repaint_fill=true\n"
    )
    config = json.loads((box.app_config / "plugin.json").read_text())
    assert config == {
        "backend_url": "http://127.0.0.1:8421",
        "token_file": str(box.app_config / "token"),
        "preset": "fast",
        "start_command": None,
        "context_margin": 64,
        "startup_timeout": 120,
    }
    manifest = json.loads(box.manifest.read_text())
    assert str(box.gimp_plug_ins() / "repaint-fill") in manifest["installed"]
    assert str(box.pykrita / "repaint_fill") in manifest["installed"]
    assert manifest["kritarc"][0]["path"] == str(box.kritarc)
    assert manifest["venv"] is None


def test_host_core_reads_the_written_config(box: Sandbox) -> None:
    token = box.root / "shared-token"
    _ok(
        run_installer(
            box, *BOTH, "--backend-url", "http://10.0.0.5:9000", "--token-file", str(token)
        )
    )
    config = load_config({"HOME": str(box.home), "XDG_CONFIG_HOME": str(box.config)})
    assert config.backend_url == "http://10.0.0.5:9000"
    assert config.token_file == str(token)
    assert (config.preset, config.start_command) == ("fast", None)
    assert config.config_file == str(box.app_config / "plugin.json")


def test_reinstall_is_idempotent(box: Sandbox) -> None:
    _ok(run_installer(box, *BOTH))
    first = snapshot(box.home)
    manifest = box.manifest.read_bytes()
    _ok(run_installer(box, *BOTH))
    assert snapshot(box.home) == first
    assert box.manifest.read_bytes() == manifest
    assert box.kritarc.read_text().count("enable_repaint_fill") == 1


@pytest.mark.parametrize("kritarc", [None, KRITARC, "[python]\r\nenable_repaint_fill=false\r\n"])
def test_uninstall_leaves_nothing_behind(tmp_path: Path, kritarc) -> None:
    box = make_sandbox(tmp_path)
    if kritarc is not None:
        box.config.mkdir(parents=True)
        box.kritarc.write_bytes(kritarc.encode())
    before = snapshot(box.home)
    _ok(run_installer(box, *BOTH))
    _ok(run_installer(box, *BOTH))
    (box.app_config / "token").write_text("secret")  # written by the backend on first start
    (box.pykrita / "repaint_fill" / "__pycache__").mkdir()  # written by Krita's Python
    result = run_installer(box, "--uninstall")
    _ok(result)
    assert snapshot(box.home) == before
    if kritarc is not None:
        assert box.kritarc.read_bytes() == kritarc.encode()


def test_linked_kritarc_is_edited_through_the_link(box: Sandbox) -> None:
    dotfiles = box.home / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "kritarc"
    box.kritarc.rename(real)
    box.kritarc.symlink_to(real)
    _ok(run_installer(box, "--hosts", "krita", "--skip-backend"))
    assert box.kritarc.is_symlink() and "enable_repaint_fill=true" in real.read_text()
    _ok(run_installer(box, "--uninstall"))
    assert box.kritarc.is_symlink() and real.read_text() == KRITARC


def test_uninstall_keeps_what_is_not_ours(box: Sandbox) -> None:
    other = box.pykrita / "other_plugin"
    other.mkdir(parents=True)
    _ok(run_installer(box, *BOTH))
    mine = box.gimp_plug_ins() / "user-plugin"
    mine.mkdir()
    _ok(run_installer(box, "--uninstall"))
    assert other.is_dir() and mine.is_dir()
    assert not (box.pykrita / "repaint_fill").exists()
    assert not (box.gimp_plug_ins() / "repaint-fill").exists()


def test_uninstall_without_manifest_does_nothing(box: Sandbox) -> None:
    before = snapshot(box.home)
    result = run_installer(box, "--uninstall")
    _ok(result)
    assert "Nothing to uninstall" in result.stdout
    assert snapshot(box.home) == before


def test_dry_run_changes_nothing(box: Sandbox) -> None:
    before = snapshot(box.home)
    result = run_installer(box, *BOTH, "--dry-run")
    _ok(result)
    assert "GIMP 3.0 (native)" in result.stdout and "Krita (native)" in result.stdout
    assert snapshot(box.home) == before
    _ok(run_installer(box, *BOTH))
    installed = snapshot(box.home)
    _ok(run_installer(box, "--uninstall", "--dry-run"))
    assert snapshot(box.home) == installed


def test_found_hosts_only_without_hosts_option(box: Sandbox) -> None:
    (box.config / "GIMP" / "3.2").mkdir(parents=True)
    result = run_installer(box, "--skip-backend")
    _ok(result)
    # kritarc exists, so Krita counts as present; GIMP 3.2's folder is found, 3.0 is not made.
    assert (box.pykrita / "repaint_fill").is_dir()
    assert (box.gimp_plug_ins("3.2") / "repaint-fill").is_dir()
    assert not box.gimp_plug_ins("3.0").exists()


@pytest.mark.parametrize("step", STEPS)
def test_failed_step_rolls_back_everything(box: Sandbox, step: str) -> None:
    before = snapshot(box.root)
    result = run_installer(box, *BOTH, extra_env={"REPAINT_FILL_INSTALLER_FAIL_AT": step})
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("install.py: error:")
    assert "injected failure" in error[0] and "undone" in error[0]
    assert snapshot(box.root) == before


def test_failed_reinstall_restores_the_previous_install(box: Sandbox) -> None:
    _ok(run_installer(box, "--hosts", "gimp", "--skip-backend"))
    before = snapshot(box.root)
    result = run_installer(box, *BOTH, extra_env={"REPAINT_FILL_INSTALLER_FAIL_AT": "manifest"})
    assert result.returncode == 1
    assert snapshot(box.root) == before


def test_real_failure_rolls_back_with_a_clear_message(box: Sandbox) -> None:
    box.app_config.parent.mkdir(parents=True, exist_ok=True)
    box.app_config.write_text("not a folder")  # the config step cannot create its folder
    before = snapshot(box.root)
    result = run_installer(box, *BOTH)
    assert result.returncode == 1
    assert "writing the plug-in config failed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(box.root) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_target_rolls_back(box: Sandbox) -> None:
    plug_ins = box.gimp_plug_ins()
    plug_ins.mkdir(parents=True)
    plug_ins.chmod(0o555)
    try:
        before = snapshot(box.root)
        assert run_installer(box, *BOTH).returncode == 1
        assert snapshot(box.root) == before
    finally:
        plug_ins.chmod(0o755)


def test_bad_options_fail_cleanly(box: Sandbox) -> None:
    for args in (
        ("--hosts", "photoshop", "--skip-backend"),
        ("--skip-backend", "--model", "google/ddpm-ema-celebahq-256"),
        ("--skip-backend", "--backend-url", "localhost:8421"),
        ("--purge-models",),
    ):
        result = run_installer(box, *args)
        assert result.returncode == 1, args
        assert result.stderr.startswith("install.py: error:"), result.stderr
    assert not box.app_data.exists()


# --- backend steps with a fake virtual environment ---------------------------------------------

FAKE_PYTHON = """import sys
with open({log!r}, "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
"""
FAKE_BACKEND = """import pathlib, sys
if sys.argv[1:] == ["download", "celeba-256"]:  # as the real one: steps on stderr, exit 4
    print("1. Open https://drive.google.com/... in a web browser", file=sys.stderr)
    sys.exit(4)
if sys.argv[1] == "download":
    folder = pathlib.Path({cache!r}) / ("models--" + sys.argv[2].replace("/", "--"))
    folder = folder / "snapshots" / "abc123"
    folder.mkdir(parents=True, exist_ok=True)
    print("fetching", sys.argv[2], file=sys.stderr)
    print(folder)
"""


def _fake_venv(box: Sandbox) -> tuple[Path, Path]:
    """A venv whose python logs its arguments and whose repaint-fill fakes a hub download."""
    venv = box.app_data / "backend-venv"
    (venv / "bin").mkdir(parents=True)
    log = box.root / "pip.log"
    cache = box.home / ".cache" / "huggingface" / "hub"
    for name, script in (
        ("python", FAKE_PYTHON.format(log=str(log))),
        ("repaint-fill", FAKE_BACKEND.format(cache=str(cache))),
    ):
        (venv / "bin" / name).write_text(f"#!{sys.executable}\n" + script)
        (venv / "bin" / name).chmod(0o755)
    return venv, log


def test_backend_config_model_and_purge(box: Sandbox) -> None:
    venv, log = _fake_venv(box)
    model = "google/ddpm-ema-celebahq-256"
    args = ("--hosts", "krita", "--torch-spec", "torch==2.13.0", "--model", model)
    _ok(run_installer(box, *args, "--backend-url", "http://127.0.0.1:8500"))
    repo = Path(__file__).resolve().parents[2]
    # One pip run: torch and the project together, every package pinned by the lock.
    lock = repo / "requirements" / "lock.txt"
    assert log.read_text().splitlines() == [f"-m pip install torch==2.13.0 {repo} -c {lock}"]
    config = json.loads((box.app_config / "plugin.json").read_text())
    token = str(box.app_config / "token")
    assert config["start_command"] == [
        str(venv / "bin" / "repaint-fill"),
        *("serve", "--port", "8500", "--token-file", token, "--model", model),
    ]
    manifest = json.loads(box.manifest.read_text())
    assert manifest["venv"] == str(venv)
    downloaded = box.home / ".cache/huggingface/hub/models--google--ddpm-ema-celebahq-256"
    assert manifest["models"] == [{"id": model, "path": str(downloaded / "snapshots/abc123")}]
    _ok(run_installer(box, "--uninstall"))
    assert not venv.exists() and downloaded.is_dir()  # models stay without --purge-models
    _fake_venv(box)
    _ok(run_installer(box, *args))
    _ok(run_installer(box, "--uninstall", "--purge-models"))
    assert not downloaded.exists()
    assert list(box.app_data.iterdir()) == []  # the test made this folder: it stays


def test_a_model_fetched_by_hand_is_a_note_not_a_failure(box: Sandbox) -> None:
    _fake_venv(box)
    args = ("--hosts", "gimp", "--torch-spec", "torch==2.13.0", "--model", "celeba-256")
    result = run_installer(box, *args)
    _ok(result)
    assert "drive.google.com" in result.stderr  # the backend's steps reach the user
    assert "celeba-256 needs the manual steps printed above" in result.stdout
    assert json.loads(box.manifest.read_text())["models"] == []


def test_embedded_model_needs_no_download(box: Sandbox) -> None:
    venv, _ = _fake_venv(box)
    result = run_installer(
        box, "--hosts", "gimp", "--torch-spec", "torch==2.13.0", "--model", "embedded"
    )
    _ok(result)
    assert "nothing to download" in result.stdout
    assert json.loads(box.manifest.read_text())["models"] == []
    command = json.loads((box.app_config / "plugin.json").read_text())["start_command"]
    assert command[:2] == [str(venv / "bin" / "repaint-fill"), "serve"] and "--model" not in command


@pytest.mark.parametrize("step", ["backend", "model"])
def test_backend_step_failure_rolls_back(box: Sandbox, step: str) -> None:
    _fake_venv(box)
    before = snapshot(box.home)
    args = ("--hosts", "krita", "--torch-spec", "torch==2.13.0", "--model", "a/b")
    result = run_installer(box, *args, extra_env={"REPAINT_FILL_INSTALLER_FAIL_AT": step})
    assert result.returncode == 1 and "undone" in result.stderr
    after = snapshot(box.home)
    # The fake hub download lands in the hub cache, which manages itself; nothing else changed.
    assert {k: v for k, v in after.items() if not k.startswith(".cache")} == before


# --- uv: a stand-in uv on PATH (the real one runs in the slow tier) ---------------------------

FAKE_UV = """import os, pathlib, sys
with open({log!r}, "a") as log:
    log.write(" ".join(sys.argv[1:]) + " | UV_FIND_LINKS=" + os.environ.get("UV_FIND_LINKS", "")
              + " SSL_CERT_FILE=" + os.environ.get("SSL_CERT_FILE", "") + "\\n")
if sys.argv[1] == "venv":
    python = pathlib.Path(sys.argv[-1]) / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\\n")
    python.chmod(0o755)
"""


def test_uv_on_path_makes_the_venv_and_installs_the_pinned_set(box: Sandbox) -> None:
    log = box.root / "uv.log"
    (box.bin / "uv").write_text(f"#!{sys.executable}\n" + FAKE_UV.format(log=str(log)))
    (box.bin / "uv").chmod(0o755)
    pip_env = {"PIP_FIND_LINKS": "/srv/wheels", "PIP_CERT": "/etc/company-ca.pem"}
    result = run_installer(box, "--hosts", "gimp", extra_env=pip_env)
    _ok(result)
    venv = box.app_data / "backend-venv"
    repo = Path(__file__).resolve().parents[2]
    settings = " | UV_FIND_LINKS=/srv/wheels SSL_CERT_FILE=/etc/company-ca.pem"
    python = read_lock(repo / "requirements" / "lock.txt").python  # the lock's Python
    assert log.read_text().splitlines() == [
        f"venv --seed --clear --python {python} {venv}" + settings,
        f"pip install --python {venv}/bin/python --index-strategy unsafe-best-match "
        f"torch==2.13.0 --extra-index-url https://download.pytorch.org/whl/cpu {repo} "
        f"-c {repo}/requirements/lock.txt" + settings,
    ]
    assert "backend environment made with uv" in result.stdout
    _ok(run_installer(box, "--uninstall"))
    assert not venv.exists()
