"""Plug-in config: plugin.json from the installer, overridden by the environment."""

import json
import os
from pathlib import Path

import pytest
from repaint_fill_core.config import (
    DEFAULT_URL,
    PluginConfig,
    config_dir,
    load_config,
    read_token,
)
from repaint_fill_core.errors import RepaintFillError


def _env(tmp_path: Path, **extra: str) -> dict:
    return {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg"), **extra}


def _write_config(tmp_path: Path, content: dict) -> Path:
    folder = tmp_path / "cfg" / "repaint-fill"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plugin.json").write_text(json.dumps(content))
    return folder


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    config = load_config(_env(tmp_path))
    assert config.backend_url == DEFAULT_URL == "http://127.0.0.1:8421"
    assert config.token_file == str(tmp_path / "cfg" / "repaint-fill" / "token")
    assert config.preset == "fast"
    assert config.start_command is None


def test_file_values_are_read(tmp_path: Path) -> None:
    _write_config(
        tmp_path,
        {
            "backend_url": "http://gpu-box:9000",
            "token_file": "/secrets/tok",
            "preset": "fast",
            "start_command": ["/opt/rf/bin/repaint-fill", "serve"],
            "context_margin": 32,
            "startup_timeout": 45,
        },
    )
    config = load_config(_env(tmp_path))
    assert config == PluginConfig(
        backend_url="http://gpu-box:9000",
        token_file="/secrets/tok",
        preset="fast",
        start_command=("/opt/rf/bin/repaint-fill", "serve"),
        context_margin=32,
        startup_timeout=45.0,
        config_file=str(tmp_path / "cfg" / "repaint-fill" / "plugin.json"),
    )


def test_environment_overrides_file(tmp_path: Path) -> None:
    _write_config(tmp_path, {"backend_url": "http://gpu-box:9000", "preset": "fast"})
    env = _env(
        tmp_path,
        REPAINT_FILL_URL="http://127.0.0.1:5555",
        REPAINT_FILL_TOKEN_FILE="/tmp/tok",
        REPAINT_FILL_PRESET="paper",
    )
    config = load_config(env)
    assert (config.backend_url, config.token_file, config.preset) == (
        "http://127.0.0.1:5555",
        "/tmp/tok",
        "paper",
    )


def test_unknown_preset_names_its_source(tmp_path: Path) -> None:
    with pytest.raises(RepaintFillError, match="REPAINT_FILL_PRESET.*fast, balanced, paper"):
        load_config(_env(tmp_path, REPAINT_FILL_PRESET="turbo"))


@pytest.mark.parametrize(
    "content", ["{not json", "[1, 2]", '{"start_command": "serve"}', '{"context_margin": "wide"}']
)
def test_broken_file_is_reported(tmp_path: Path, content: str) -> None:
    folder = _write_config(tmp_path, {})
    (folder / "plugin.json").write_text(content)
    with pytest.raises(RepaintFillError, match="plugin.json"):
        load_config(_env(tmp_path))


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        ("linux", os.path.join("/h", ".config", "repaint-fill")),
        ("darwin", os.path.join("/h", "Library", "Application Support", "repaint-fill")),
        ("win32", os.path.join("C:\\Users\\u\\AppData\\Roaming", "repaint-fill")),
    ],
)
def test_config_dir_per_platform(platform: str, expected: str) -> None:
    env = {"HOME": "/h", "APPDATA": "C:\\Users\\u\\AppData\\Roaming"}
    assert config_dir(env, platform) == expected


def test_config_dir_matches_platformdirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    platformdirs = pytest.importorskip("platformdirs")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    expected = platformdirs.user_config_dir("repaint-fill", appauthor=False, roaming=True)
    assert config_dir(dict(os.environ)) == expected


def test_read_token(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    assert read_token(str(token_file)) is None
    token_file.write_text("s3cret\n")
    assert read_token(str(token_file)) == "s3cret"
