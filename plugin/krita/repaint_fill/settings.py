"""The user's choices, remembered between Krita runs (Krita's readSetting/writeSetting)."""

from dataclasses import dataclass, fields, replace
from typing import Any, Callable, Mapping, Type

from .repaint_fill_core.config import ENV_PRESET, ENV_URL, PRESETS, PluginConfig
from .repaint_fill_core.fill import FillOptions
from .repaint_fill_core.limits import MAX_VARIATIONS

SETTINGS_GROUP = "RePaintFill"
EXPAND_GROUP = "RePaintExpand"  # the expand dialog's last values (ExpandChoice)


@dataclass(frozen=True)
class FillSettings:
    """What the settings dialog edits. Empty/zero values mean "use the plug-in config"."""

    backend_url: str = ""
    preset: str = ""
    variations: int = 1
    random_seed: bool = True
    seed: int = 0
    context_margin: int = -1  # -1: the installer's default from plugin.json
    feather: int = 0
    steps: int = 0  # 0: the preset's number of steps
    time_budget: int = 0  # seconds; > 0: the backend picks the best schedule that fits
    model: str = ""  # "": the model the backend has loaded
    detail: str = ""  # "": the backend's default (sent only when the backend offers a choice)

    def fill_options(self, config: PluginConfig) -> FillOptions:
        """The options of one fill: these settings on top of the plug-in config."""
        return FillOptions(
            preset=config.preset,
            seed=None if self.random_seed else self.seed,
            variations=max(1, min(MAX_VARIATIONS, self.variations)),
            context_margin=config.context_margin
            if self.context_margin < 0
            else self.context_margin,
            steps=self.steps or None,
            budget=float(self.time_budget) if self.time_budget > 0 else None,
            model=self.model or None,
            detail=self.detail or None,
        )

    def apply_to(self, config: PluginConfig, environ: Mapping[str, str]) -> PluginConfig:
        """The plug-in config with these settings applied; environment overrides still win."""
        changes: dict = {}
        if self.backend_url and not environ.get(ENV_URL):
            changes["backend_url"] = self.backend_url
        if self.preset in PRESETS and not environ.get(ENV_PRESET):
            changes["preset"] = self.preset
        return replace(config, **changes) if changes else config


Reader = Callable[[str, str, str], Any]
Writer = Callable[[str, str, str], Any]


def _convert(kind: type, text: str, default: Any) -> Any:
    try:
        if kind is bool:
            return text.strip().lower() in ("1", "true", "yes")
        return kind(text)
    except (TypeError, ValueError):
        return default


def load_settings(
    read_setting: Reader, kind: Type[Any] = FillSettings, group: str = SETTINGS_GROUP
) -> Any:
    """Read the settings (``read_setting(group, name, default) -> str``, like Krita's).

    ``kind`` is the dataclass stored in ``group`` (FillSettings; also the expand dialog's).
    """
    defaults = kind()
    values = {}
    for item in fields(kind):
        default = getattr(defaults, item.name)
        text = str(read_setting(group, item.name, str(default)))
        values[item.name] = _convert(type(default), text, default)
    return kind(**values)


def save_settings(write_setting: Writer, settings: Any, group: str = SETTINGS_GROUP) -> None:
    """Store the settings (``write_setting(group, name, value)``, like Krita's)."""
    for item in fields(settings):
        write_setting(group, item.name, str(getattr(settings, item.name)))
