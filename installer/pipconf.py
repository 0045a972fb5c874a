"""pip's configuration files edited line by line: one setting changed, every other line (comments
included) as it was. pip.conf is INI, which tomlkit does not edit, and configparser would rewrite
the whole file without its comments."""

import re
from typing import List


def _setting_line(key: str):
    spelled = re.escape(key).replace("\\-", "[-_]")
    return re.compile(rf"^\s*{spelled}\s*[=:]", re.IGNORECASE)


_SECTION_LINE = re.compile(r"^\s*\[(?P<name>[^\]]+)\]")


def with_setting(text: str, section: str, key: str, value: str) -> str:
    """``text`` with ``key = value`` in ``[section]``: the line replaced where it is, else added at the section's end."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    setting = f"{key} = {value}\n"
    matches = _setting_line(key)
    current = None
    for number, line in enumerate(lines):
        header = _SECTION_LINE.match(line)
        if header:
            if current == section:  # the section ended without the key: add it at its end
                lines.insert(_end_of_section(lines, number), setting)
                return "".join(lines)
            current = header.group("name").strip()
        elif current == section and matches.match(line):
            lines[number] = setting
            return "".join(lines)
    if current == section:
        return "".join(lines + [setting])
    return "".join(lines) + ("\n" if lines else "") + f"[{section}]\n" + setting


def value_of(text: str, section: str, key: str):
    """The value of ``key`` in ``[section]``, or None."""
    matches, current = _setting_line(key), None
    for line in text.splitlines():
        header = _SECTION_LINE.match(line)
        if header:
            current = header.group("name").strip()
        elif current == section and matches.match(line):
            return re.split(r"[=:]", line, 1)[1].strip()
    return None


def _end_of_section(lines: List[str], next_header: int) -> int:
    """Where a setting goes at a section's end: before the blank lines and comments that lead into the next one."""
    end = next_header
    while end > 0 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith(("#", ";"))):
        end -= 1
    return end
