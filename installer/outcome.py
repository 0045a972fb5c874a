"""What a command returns: its result as data, rendered late, in every form asked for.

Each command returns one outcome: ``as_data()`` (the JSON document, with its ``schema``), a text
rendering, an exit code, and where the command has them, Markdown (``--markdown``, a CI step
summary), JUnit XML, an HTML page and GitHub workflow annotations. The command line renders the
outcome once (``output.emit``) and everything it writes passes the redaction there.
"""

from typing import List, Optional

SCHEMA = 1


class Outcome:
    """The protocol every command's result follows; a command overrides what it has."""

    exit_code = 0
    # A text report already shown piece by piece as the command ran (doctor's): ``render_text``
    # then gives what is left of it.
    streamed = False

    def as_data(self) -> dict:
        raise NotImplementedError

    def render_text(self, verbose: bool = False) -> str:
        raise NotImplementedError

    def render_markdown(self) -> Optional[str]:
        return None

    def step_summary(self) -> Optional[str]:
        """Markdown for a CI job's summary page (GITHUB_STEP_SUMMARY), where the command writes one."""
        return None

    def render_junit(self) -> Optional[str]:
        return None

    def render_html(self) -> Optional[str]:
        return None

    def annotations(self) -> List[str]:
        """GitHub workflow commands (``::error title=…::…``) for a run under GitHub Actions."""
        return []


class Failed(Outcome):
    """A command that stopped with one of torchup's own errors, as a document: ``--json`` users
    and a CI summary learn of the failure too."""

    def __init__(self, command: str, message: str, hint: Optional[str], exit_code: int):
        self.command, self.message, self.hint, self.exit_code = command, message, hint, exit_code

    def as_data(self) -> dict:
        return {"schema": SCHEMA, "command": self.command, "status": "failed", "error": self.message, "hint": self.hint, "exit_code": self.exit_code}

    def render_text(self, verbose: bool = False) -> str:
        return f"torchup: error: {self.message}\n" + (f"  hint: {self.hint}\n" if self.hint else "")

    def step_summary(self) -> str:
        hint = f"\n\nhint: {escape_markdown(self.hint)}" if self.hint else ""
        return f"### torchup {self.command}: failed\n\n{escape_markdown(self.message)}{hint}\n\n"

    def annotations(self) -> List[str]:
        return [workflow_command("error", f"torchup {self.command}", self.message)]


def workflow_command(level: str, title: str, message: str) -> str:
    """A GitHub annotation (``::error title=…::…``), escaped as the runner reads it, so that a line
    break or ``%`` in the message (and ``:`` or ``,`` in the title) cannot end it early or start another."""

    def as_data(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    return f"::{level} title={as_data(title).replace(':', '%3A').replace(',', '%2C')}::{as_data(message)}"


def sources_section(lines: List[str]) -> str:
    """Where each fact came from (what -v adds), as detect's report shows it."""
    return "\nSources consulted\n" + "".join(f"  {line}\n" for line in lines)


def escape_markdown(text: str) -> str:
    """Text quoted into Markdown shown as text: no table cells broken, no markup or HTML rendered."""
    for character in "\\`*_{}[]()<>#+!|~":
        text = text.replace(character, "\\" + character)
    return text.replace("\r", " ").replace("\n", "<br>")
