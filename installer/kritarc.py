"""Enable and disable a Python plug-in in Krita's kritarc, editing the file as text.

kritarc is KConfig, not INI (keys may come before the first group, groups may repeat), so
configparser cannot round-trip it. These functions change one line in the ``[python]`` group and
leave every other byte alone; the edit is described by a ``KritarcEdit`` so it can be undone.
"""

from __future__ import annotations

from typing import NamedTuple

GROUP = "[python]"


class KritarcEdit(NamedTuple):
    """What ``enable_plugin`` changed (stored in the install manifest)."""

    key: str
    replaced_line: str | None  # the key's previous line (e.g. "enable_x=false"), None if absent
    added_group: bool  # we appended the [python] group
    added_separator: bool  # we appended a blank line before that group
    added_final_newline: bool  # the file did not end with a newline and we added one


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _strip_eol(line: str) -> str:
    return line.rstrip("\r\n")


def _is_group(line: str) -> bool:
    return _strip_eol(line).strip().startswith("[")


def _key_of(line: str) -> str | None:
    content = _strip_eol(line).strip()
    if not content or content.startswith(("#", "[")) or "=" not in content:
        return None
    return content.split("=", 1)[0].strip()


def _group_span(lines: list[str]) -> tuple[int, int] | None:
    """Index of the [python] header and the index just past the group's last line."""
    for index, line in enumerate(lines):
        if _strip_eol(line).strip() == GROUP:
            end = index + 1
            while end < len(lines) and not _is_group(lines[end]):
                end += 1
            return index, end
    return None


def _find_key(lines: list[str], span: tuple[int, int], key: str) -> int | None:
    for index in range(span[0] + 1, span[1]):
        if _key_of(lines[index]) == key:
            return index
    return None


def enable_plugin(text: str, name: str) -> tuple[str, KritarcEdit | None]:
    """``text`` with ``enable_<name>=true`` in [python]; the edit, or None if already enabled."""
    key = f"enable_{name}"
    wanted = f"{key}=true"
    newline = _newline(text)
    lines = text.splitlines(keepends=True)
    span = _group_span(lines)
    if span is not None:
        found = _find_key(lines, span, key)
        if found is not None:
            if _strip_eol(lines[found]).strip() == wanted:
                return text, None
            previous = _strip_eol(lines[found])
            lines[found] = wanted + lines[found][len(previous) :]
            return "".join(lines), KritarcEdit(key, previous, False, False, False)
        last = span[1]
        while last - 1 > span[0] and not _strip_eol(lines[last - 1]).strip():
            last -= 1
        added_final_newline = False
        if not lines[last - 1].endswith(("\n", "\r")):
            lines[last - 1] += newline
            added_final_newline = True
        lines.insert(last, wanted + newline)
        return "".join(lines), KritarcEdit(key, None, False, False, added_final_newline)
    added_final_newline = bool(text) and not text.endswith(("\n", "\r"))
    if added_final_newline:
        text += newline
    last_line = text.splitlines()[-1] if text else ""
    added_separator = bool(last_line.strip())
    separator = newline if added_separator else ""
    new_text = f"{text}{separator}{GROUP}{newline}{wanted}{newline}"
    return new_text, KritarcEdit(key, None, True, added_separator, added_final_newline)


def disable_plugin(text: str, edit: KritarcEdit) -> str:
    """Undo ``edit``: restore or remove the key line, and the group/blank line/newline we added.

    Tolerates Krita having rewritten the file since (the key may have moved or gone).
    """
    lines = text.splitlines(keepends=True)
    span = _group_span(lines)
    if span is None:
        return text
    found = _find_key(lines, span, edit.key)
    at_end = False
    if found is not None:
        if edit.replaced_line is not None:
            current = _strip_eol(lines[found])
            lines[found] = edit.replaced_line + lines[found][len(current) :]
            return "".join(lines)
        at_end = found == len(lines) - 1
        del lines[found]
        span = (span[0], span[1] - 1)
    group_empty = all(not _strip_eol(line).strip() for line in lines[span[0] + 1 : span[1]])
    if edit.added_group and group_empty:
        at_end = span[1] == len(lines)
        del lines[span[0] : span[1]]
        if edit.added_separator and span[0] > 0 and not _strip_eol(lines[span[0] - 1]).strip():
            del lines[span[0] - 1]
    result = "".join(lines)
    if edit.added_final_newline and at_end:
        result = _drop_final_newline(result)
    return result


def _drop_final_newline(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text
