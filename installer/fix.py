"""``torchup fix``: the plan of fixes for the findings, and the safe ones carried out.

Safe means: no root needed, and nothing touched but the target interpreter's own environment or
what the user named: ensurepip, upgrading pip inside a venv, a venv beside an externally managed
interpreter, a pip configuration for a mirror given with --mirror. Package-manager commands are
printed, and run only with --apply --system by root.

Each step is one small class with what the plan shows (``finding``, ``label``, ``kind``,
``description``, ``argv``) and, where --apply may carry it out, ``carry_out``.
"""

import configparser
import enum
import os
from pathlib import Path
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple, Union
from urllib.parse import urlsplit

from . import runner
from .detect import Facts
from .errors import TorchupError
from .findings import Finding, SafeFix
from .pipconf import with_setting
from .redact import redact
from .status import Status


class Kind(str, enum.Enum):
    SAFE = "safe"  # --apply carries it out
    SYSTEM = "system"  # printed; --apply --system runs it as root
    MANUAL = "manual"  # by hand


HOW = {Kind.SAFE: "safe: --apply does this", Kind.SYSTEM: "system: printed only; --apply --system runs it as root", Kind.MANUAL: "by hand"}


# The plan shows a step by the finding it answers.
FINDING_LABEL = property(lambda step: step.finding)


class Command(NamedTuple):
    """A command run for a finding: a safe one, or a package manager's."""

    finding: str
    kind: Kind
    description: str
    argv: Tuple[str, ...]

    label = FINDING_LABEL

    def carry_out(self, context) -> "Change":
        completed = runner.run(self.argv, timeout=context.timeouts.installer, env=context.host.env)
        return Change(self, " ".join(self.argv), completed.ok, "" if completed.ok else completed.describe_failure())


class CreateVenv(NamedTuple):
    """A venv beside an externally managed interpreter, once: one already there is left as it is."""

    finding: str
    python: str
    directory: str

    kind = Kind.SAFE
    description = "create ./.venv beside this externally managed Python"

    label = FINDING_LABEL

    @property
    def argv(self) -> Tuple[str, ...]:
        return (self.python, "-m", "venv", self.directory)

    def carry_out(self, context) -> "Change":
        if Path(self.directory, "pyvenv.cfg").exists():
            return Change(self, f"{self.directory} is already a venv", True, UNCHANGED)
        return Command(self.finding, self.kind, self.description, self.argv).carry_out(context)._replace(step=self)


class WriteMirror(NamedTuple):
    """``index-url`` for the mirror the user named with --mirror, in one pip configuration file: no finding asked for it."""

    url: str
    path: Path

    finding = None
    label = "--mirror"
    kind = Kind.SAFE
    argv = ()  # nothing to run

    @property
    def description(self) -> str:
        return f"set index-url = {redact(self.url)} in {self.path}"

    def carry_out(self, context) -> "Change":
        return _write_mirror(self)


class ByHand(NamedTuple):
    finding: str
    description: str

    kind = Kind.MANUAL
    argv = ()  # nothing to run

    label = FINDING_LABEL


Step = Union[Command, CreateVenv, WriteMirror, ByHand]
UNCHANGED = "unchanged"


class Change(NamedTuple):
    step: Step
    description: str
    ok: bool
    detail: str = ""

    def as_data(self) -> dict:
        return {"finding": self.step.finding, "description": self.description, "ok": self.ok, "detail": self.detail}


def step_data(step: Step) -> dict:
    return {"finding": step.finding, "kind": step.kind.value, "description": step.description, "argv": list(step.argv)}


def _ensurepip(finding: Finding, python: str) -> Step:
    return Command(finding.id, Kind.SAFE, "install pip with ensurepip", (python, "-m", "ensurepip", "--upgrade", "--default-pip"))


def _upgrade_pip(finding: Finding, python: str) -> Step:
    return Command(
        finding.id,
        Kind.SAFE,
        "upgrade pip inside the venv (offline, from the pip ensurepip carries)",
        (python, "-m", "ensurepip", "--upgrade", "--default-pip"),
    )


def _venv(finding: Finding, python: str) -> Step:
    return CreateVenv(finding.id, python, str(Path(".venv").absolute()))


# Every safe fix a finding may name, and the step that carries it out.
SAFE_STEPS: Dict[SafeFix, Callable[[Finding, str], Step]] = {SafeFix.ENSUREPIP: _ensurepip, SafeFix.UPGRADE_PIP: _upgrade_pip, SafeFix.VENV: _venv}


def check_mirror(url: Optional[str]) -> Optional[str]:
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise TorchupError(f"--mirror {redact(url)}: not an http(s) URL", hint="e.g. --mirror https://mirror.example/simple")
    return url


def mirror_config_path(facts: Facts, env: Mapping[str, str]) -> Path:
    """Where a mirror setting goes: the venv's own pip.conf, else the user's."""
    interpreter = facts.interpreter
    if interpreter and interpreter.in_venv:
        return Path(interpreter.prefix) / ("pip.ini" if os.name == "nt" else "pip.conf")
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "pip" / "pip.conf"


def plan(facts: Facts, findings: List[Finding], mirror: Optional[str], env: Mapping[str, str]) -> List[Step]:
    python = (facts.interpreter and facts.interpreter.executable) or facts.python
    steps: List[Step] = []
    for finding in findings:
        if finding.action:
            steps.append(SAFE_STEPS[finding.action](finding, python))
        steps.extend(Command(finding.id, Kind.SYSTEM, "sudo " + " ".join(command), command) for command in finding.system)
        if not finding.action and not finding.system:
            steps.extend(ByHand(finding.id, step) for step in finding.fix)
    if mirror:
        steps.append(WriteMirror(mirror, mirror_config_path(facts, env)))
    return steps


def _write_mirror(step: WriteMirror) -> Change:
    path, mirror = step.path, step.url
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    config = configparser.RawConfigParser()
    try:
        config.read_string(text, source=str(path))
    except configparser.Error as error:
        return Change(step, f"left {path} as it was: it does not parse ({str(error).splitlines()[0]})", False, "fix the file, then run again")
    if config.has_option("global", "index-url") and config.get("global", "index-url") == mirror:
        return Change(step, f"{path} already sets index-url = {redact(mirror)}", True, UNCHANGED)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A new file, or one that will hold a credential, is the user's alone.
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    if "@" in mirror.split("://", 1)[-1].split("/", 1)[0]:
        mode &= 0o700
    temporary = path.with_name(f".{path.name}.torchup-{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(with_setting(text, "global", "index-url", mirror))
    os.chmod(temporary, mode)
    os.replace(temporary, path)
    return Change(step, f"set index-url = {redact(mirror)} in {path}", True)


def apply(context, steps: List[Step], system: bool) -> List[Change]:
    """Carry out the safe steps (and the system ones, with ``system``, as root); what was done."""
    return [step.carry_out(context) for step in steps if step.kind is Kind.SAFE or (step.kind is Kind.SYSTEM and system)]


def blocking(findings: List[Finding]) -> bool:
    return any(finding.severity is Status.FAIL for finding in findings)


def render_text(python: str, findings: List[Finding], steps: List[Step], changes: Optional[List[Change]], after: Optional[List[Finding]]) -> str:
    from .findings import render_lines

    out = [f"Findings for {python}"] + render_lines(findings)
    if steps:
        out += ["", "Plan"]
        out.extend(f"  {number}. [{step.label}] {step.description}  ({HOW[step.kind]})" for number, step in enumerate(steps, 1))
    if changes is not None:
        out += ["", "Changes made"]
        for change in changes:
            mark = (Status.OK if change.ok else Status.FAIL).mark
            out.append(f"  {mark} [{change.step.label}] {change.description}" + (f" ({change.detail})" if change.detail else ""))
        if all(change.detail == UNCHANGED for change in changes):
            out.append("  nothing to change: every safe fix is already in place")
    if after is not None:
        out += ["", "Still to do"] + render_lines(after) if after else ["", "No findings left"]
    return "\n".join(out) + "\n"
