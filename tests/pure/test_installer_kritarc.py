"""kritarc edited as text: our one line goes in and comes out, every other byte stays."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kritarc import disable_plugin, enable_plugin

NAME = "repaint_fill"
KRITARC_CASES = {
    "missing or empty": "",
    "keys before the first group, no python group": "ShowRootLayer=false\n[General]\nx=1\n",
    "python group with other plug-ins": (
        "[General]\na=1\n\n[python]\nenable_other=true\n\n[Other]\nk=v\n"
    ),
    "python group last, no final newline": "[General]\na=1\n\n[python]\nenable_other=true",
    "no final newline": "[General]\na=1",
    "windows line endings": "[General]\r\na=1\r\n\r\n[python]\r\nenable_b=true\r\n",
    "trailing blank lines": "[General]\na=1\n\n\n",
    "group header only": "[python]",
    "non-utf8 bytes kept": "[General]\npath=/home/\udce9t\udce9\n",
}


@pytest.mark.parametrize("text", KRITARC_CASES.values(), ids=KRITARC_CASES.keys())
def test_enable_then_disable_restores_every_byte(text: str) -> None:
    enabled, edit = enable_plugin(text, NAME)
    assert edit is not None
    assert "enable_repaint_fill=true" in enabled.splitlines()
    assert enabled.count("enable_repaint_fill") == 1
    assert disable_plugin(enabled, edit) == text


def test_key_lands_in_the_python_group_and_rest_is_untouched() -> None:
    text = KRITARC_CASES["python group with other plug-ins"]
    enabled, _ = enable_plugin(text, NAME)
    assert enabled == (
        "[General]\na=1\n\n[python]\nenable_other=true\nenable_repaint_fill=true\n\n[Other]\nk=v\n"
    )


def test_enabling_twice_changes_nothing() -> None:
    enabled, _ = enable_plugin("[General]\na=1\n", NAME)
    again, edit = enable_plugin(enabled, NAME)
    assert (again, edit) == (enabled, None)


def test_disabled_plugin_is_enabled_and_restored_to_disabled() -> None:
    text = "[python]\nenable_repaint_fill=false\n"
    enabled, edit = enable_plugin(text, NAME)
    assert enabled == "[python]\nenable_repaint_fill=true\n"
    assert disable_plugin(enabled, edit) == text


def test_disable_tolerates_krita_rewriting_the_file() -> None:
    _, edit = enable_plugin("[General]\na=1\n", NAME)
    rewritten = "[General]\na=1\nb=2\n\n[python]\nenable_repaint_fill=true\n"
    assert disable_plugin(rewritten, edit) == "[General]\na=1\nb=2\n"
    assert disable_plugin("[General]\na=1\n", edit) == "[General]\na=1\n"


line = st.one_of(
    st.sampled_from(["[General]", "[python]", "[Other][Sub]", "", "enable_other=true", "# note"]),
    st.from_regex(r"[A-Za-z_]{1,8}=[a-z0-9 ]{0,6}", fullmatch=True),
)


@given(st.lists(line, max_size=12), st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_round_trip_on_generated_kritarc(lines: list, newline: str, final: bool) -> None:
    text = newline.join(lines) + (newline if final and lines else "")
    enabled, edit = enable_plugin(text, NAME)
    if edit is None:
        return
    assert disable_plugin(enabled, edit) == text
