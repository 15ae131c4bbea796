"""Plug-in configuration: <config folder>/plugin.json (written by the installer) + environment.

Precedence: defaults < plugin.json < environment (REPAINT_FILL_URL, REPAINT_FILL_TOKEN_FILE,
REPAINT_FILL_PRESET). The result is one frozen PluginConfig passed explicitly.
"""

import json
import os
import sys
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

from .errors import RepaintFillError

APP_NAME = "repaint-fill"
DEFAULT_URL = "http://127.0.0.1:8421"
PRESETS = ("fast", "balanced", "paper")
DEFAULT_PRESET = "fast"  # the backend's default too
DEFAULT_CONTEXT_MARGIN = 64
DEFAULT_STARTUP_TIMEOUT = 120.0

ENV_URL = "REPAINT_FILL_URL"
ENV_TOKEN_FILE = "REPAINT_FILL_TOKEN_FILE"
ENV_PRESET = "REPAINT_FILL_PRESET"


@dataclass(frozen=True)
class PluginConfig:
    """Where the backend is and how the plug-ins talk to it."""

    backend_url: str = DEFAULT_URL
    token_file: str = ""
    preset: str = DEFAULT_PRESET
    start_command: Optional[Tuple[str, ...]] = None
    context_margin: int = DEFAULT_CONTEXT_MARGIN
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT
    config_file: str = ""


def config_dir(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> str:
    """The per-user config folder, same as platformdirs.user_config_dir(roaming=True)."""
    home = environ.get("HOME") or os.path.expanduser("~")
    if platform.startswith("win"):
        base = environ.get("APPDATA") or os.path.join(home, "AppData", "Roaming")
    elif platform == "darwin":
        base = os.path.join(home, "Library", "Application Support")
    else:
        base = environ.get("XDG_CONFIG_HOME", "").strip() or os.path.join(home, ".config")
    return os.path.join(base, APP_NAME)


def _read_json(path: str) -> Dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            loaded = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise RepaintFillError(
            "Cannot read the RePaint Fill config {}: {}. Fix or delete the file and re-run the "
            "installer.".format(path, exc)
        ) from exc
    if not isinstance(loaded, dict):
        raise RepaintFillError("The RePaint Fill config {} is not a JSON object.".format(path))
    return loaded


def _start_command(value: Any) -> Optional[Tuple[str, ...]]:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(arg, str) for arg in value) or not value:
        raise RepaintFillError("start_command in plugin.json must be a list of strings or null.")
    return tuple(value)


def load_config(
    environ: Mapping[str, str] = os.environ, path: Optional[str] = None
) -> PluginConfig:
    """Read plugin.json (missing file = defaults) and apply the environment overrides."""
    folder = config_dir(environ)
    path = path or os.path.join(folder, "plugin.json")
    stored = _read_json(path)
    try:
        config = PluginConfig(
            backend_url=str(stored.get("backend_url") or DEFAULT_URL),
            token_file=str(stored.get("token_file") or os.path.join(folder, "token")),
            preset=str(stored.get("preset") or DEFAULT_PRESET),
            start_command=_start_command(stored.get("start_command")),
            context_margin=int(stored.get("context_margin", DEFAULT_CONTEXT_MARGIN)),
            startup_timeout=float(stored.get("startup_timeout", DEFAULT_STARTUP_TIMEOUT)),
            config_file=path,
        )
    except (TypeError, ValueError) as exc:
        raise RepaintFillError("Invalid value in {}: {}".format(path, exc)) from exc
    overrides: Dict[str, Any] = {}
    if environ.get(ENV_URL):
        overrides["backend_url"] = environ[ENV_URL]
    if environ.get(ENV_TOKEN_FILE):
        overrides["token_file"] = environ[ENV_TOKEN_FILE]
    if environ.get(ENV_PRESET):
        overrides["preset"] = environ[ENV_PRESET]
    if overrides:
        config = PluginConfig(**{**config.__dict__, **overrides})
    if config.preset not in PRESETS:
        raise RepaintFillError(
            "Unknown preset {!r} (from {}); use one of: {}.".format(
                config.preset, ENV_PRESET if "preset" in overrides else path, ", ".join(PRESETS)
            )
        )
    return config


def read_token(token_file: str) -> Optional[str]:
    """The access token from the token file, or None when the file does not exist (yet)."""
    if not token_file:
        return None
    try:
        with open(token_file, encoding="utf-8") as handle:
            token = handle.read().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RepaintFillError(
            "Cannot read the backend token file {}: {}".format(token_file, exc)
        ) from exc
    return token or None
