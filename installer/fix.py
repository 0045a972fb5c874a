"""``torchup fix``: the plan of fixes for the findings, and the safe ones carried out.

Safe means: no root needed, and nothing touched but the target interpreter's own environment or
what the user named: ensurepip, upgrading pip inside a venv, a venv beside an externally managed
interpreter, a pip configuration for a mirror given with --mirror. Package-manager commands are
printed, and run only with --apply --system by root.
"""

import configparser
import os
from pathlib import Path
from typing import List, NamedTuple, Optional, Tuple
from urllib.parse import urlsplit

from . import runner
from .detect import Facts
from .errors import TorchupError
from .findings import FAIL, Finding
from .pipconf import with_setting
from .redact import redact


class Action(NamedTuple):
    finding: str
    kind: str  # "safe", "system" or "manual"
    description: str
    argv: Tuple[str, ...] = ()


class Change(NamedTuple):
    finding: str
    description: str
    ok: bool
    detail: str = ""


def check_mirror(url: Optional[str]) -> Optional[str]:
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise TorchupError(f"--mirror {redact(url)}: not an http(s) URL", hint="e.g. --mirror https://mirror.example/simple")
    return url


def mirror_config_path(facts: Facts) -> Path:
    """Where a mirror setting goes: the venv's own pip.conf, else the user's."""
    interpreter = facts.interpreter
    if interpreter and interpreter.in_venv:
        return Path(interpreter.prefix) / ("pip.ini" if os.name == "nt" else "pip.conf")
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "pip" / "pip.conf"


def plan(facts: Facts, findings: List[Finding], mirror: Optional[str]) -> List[Action]:
    python = (facts.interpreter and facts.interpreter.executable) or facts.python
    actions = []
    for finding in findings:
        if finding.action == "ensurepip":
            actions.append(Action(finding.id, "safe", "install pip with ensurepip", (python, "-m", "ensurepip", "--upgrade", "--default-pip")))
        elif finding.action == "upgrade-pip":
            actions.append(
                Action(
                    finding.id,
                    "safe",
                    "upgrade pip inside the venv (offline, from the pip ensurepip carries)",
                    (python, "-m", "ensurepip", "--upgrade", "--default-pip"),
                )
            )
        elif finding.action == "venv":
            actions.append(
                Action(finding.id, "safe", "create ./.venv beside this externally managed Python", (python, "-m", "venv", str(Path(".venv").absolute())))
            )
        for command in finding.system:
            actions.append(Action(finding.id, "system", "sudo " + " ".join(command), command))
        if not finding.action and not finding.system:
            actions.extend(Action(finding.id, "manual", step) for step in finding.fix)
    if mirror:
        path = mirror_config_path(facts)
        actions.append(Action("mirror", "safe", f"set index-url = {redact(mirror)} in {path}"))
    return actions


def _write_mirror(path: Path, mirror: str) -> Change:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    config = configparser.RawConfigParser()
    try:
        config.read_string(text, source=str(path))
    except configparser.Error as error:
        return Change("mirror", f"left {path} as it was: it does not parse ({str(error).splitlines()[0]})", False, "fix the file, then run again")
    if config.has_option("global", "index-url") and config.get("global", "index-url") == mirror:
        return Change("mirror", f"{path} already sets index-url = {redact(mirror)}", True, "unchanged")
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
    return Change("mirror", f"set index-url = {redact(mirror)} in {path}", True)


def apply(context, actions: List[Action], mirror: Optional[str], facts: Facts, system: bool) -> List[Change]:
    """Carry out the safe actions (and the system ones, with ``system`` as root); what was done."""
    if system and hasattr(os, "geteuid") and os.geteuid() != 0:
        raise TorchupError("--system runs the package manager, which needs root", hint="run as root, or run the printed commands yourself")
    changes = []
    for action in actions:
        if action.finding == "mirror":
            changes.append(_write_mirror(mirror_config_path(facts), mirror))
            continue
        if action.kind == "safe" or (action.kind == "system" and system):
            if action.argv[-2:-1] == ("venv",) and Path(action.argv[-1], "pyvenv.cfg").exists():
                changes.append(Change(action.finding, f"{action.argv[-1]} is already a venv", True, "unchanged"))
                continue
            completed = runner.run(action.argv, timeout=context.timeouts.installer, env=context.host.env)
            detail = "" if completed.ok else completed.describe_failure()
            changes.append(Change(action.finding, " ".join(action.argv), completed.ok, detail))
    return changes


def blocking(findings: List[Finding]) -> bool:
    return any(finding.severity == FAIL for finding in findings)


def render_text(python: str, findings: List[Finding], actions: List[Action], changes: Optional[List[Change]], after: Optional[List[Finding]]) -> str:
    from .findings import render_lines

    out = [f"Findings for {python}"] + render_lines(findings)
    if actions:
        out += ["", "Plan"]
        for number, action in enumerate(actions, 1):
            how = {"safe": "safe: --apply does this", "system": "system: printed only; --apply --system runs it as root", "manual": "by hand"}[action.kind]
            out.append(f"  {number}. [{action.finding}] {action.description}  ({how})")
    if changes is not None:
        out += ["", "Changes made"]
        made = [change for change in changes if change.detail != "unchanged"]
        for change in changes:
            mark = "✓" if change.ok else "✗"
            out.append(f"  {mark} [{change.finding}] {change.description}" + (f" ({change.detail})" if change.detail else ""))
        if not made:
            out.append("  nothing to change: every safe fix is already in place")
    if after is not None:
        out += ["", "Still to do"] + render_lines(after) if after else ["", "No findings left"]
    return "\n".join(out) + "\n"
