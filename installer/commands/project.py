"""``torchup project init`` and ``project check``: torch per platform in a project's pyproject.toml and lock (see ``installer.project``)."""

from pathlib import Path
from typing import NamedTuple, Sequence

from ..errors import TorchupError
from ..outcome import SCHEMA, Outcome

# The tools torchup writes for, and what their user runs next.
NEXT_STEP = {"uv": "uv lock && uv sync", "poetry": "poetry lock && poetry install", "pdm": "pdm lock && pdm install"}
TOOLS = tuple(NEXT_STEP)


class InitOptions(NamedTuple):
    path: str
    tool: str
    overrides: "object"  # plan.Overrides: --variant, --with, --torch, --index-base
    extras: Sequence[str] = ()
    dry_run: bool = False


class Initialized(Outcome):
    def __init__(self, result, plan, tool: str, dry_run: bool):
        self.result, self.plan, self.tool, self.dry_run = result, plan, tool, dry_run

    def as_data(self) -> dict:
        result = self.result
        return {
            "schema": SCHEMA,
            "path": str(result.path),
            "tool": self.tool,
            "torch": self.plan.decision.release.version,
            "changed": result.changed,
            "written": result.changed and not self.dry_run,
            "diff": result.diff,
            "notes": result.notes,
        }

    def render_text(self, verbose: bool = False) -> str:
        result, version = self.result, self.plan.decision.release.version
        notes = "".join(f"  ! {note}\n" for note in result.notes)
        if self.dry_run:
            return notes + (result.diff or f"{result.path}: nothing to change\n")
        if result.changed:
            return notes + f"{result.path}: torch {version} for {self.tool} written; next: {NEXT_STEP[self.tool]}\n"
        return notes + f"{result.path}: already configured for torch {version}: nothing to change\n"


def init(context, options: InitOptions) -> Initialized:
    from .. import project
    from ..compat import load
    from ..detect import detect
    from ..plan import make_plan

    if options.extras and options.tool != "uv":
        raise TorchupError("Invalid value for --extras: optional groups per build are uv's (conflicts); poetry and pdm get the Linux build")
    path = Path(options.path) / "pyproject.toml"
    project.read(path)  # a missing or broken file stops here, before any detection
    if not options.dry_run:
        project.check_writable(path)
    overrides = options.overrides
    facts = detect(None, context.host)
    if facts.machine.os != "Linux":  # planning Linux from another OS: its CPU build, unless a variant is named
        overrides = overrides._replace(os="linux", arch="x86_64", no_gpu=overrides.variant == "auto")
    linux_plan = make_plan(facts, overrides, timeout=context.timeouts.command)
    base = overrides.index_base or load().default_index_base
    result = project.init(Path(options.path), options.tool, linux_plan, tuple(options.extras), base, options.dry_run)
    return Initialized(result, linux_plan, options.tool, options.dry_run)


class CheckOptions(NamedTuple):
    path: str


class Checked(Outcome):
    def __init__(self, project, findings):
        self.project, self.findings = project, findings
        self.exit_code = 1 if findings else 0

    def as_data(self) -> dict:
        from ..project.check import CHECKS

        return {
            "schema": SCHEMA,
            "project": str(self.project.directory),
            "lock": str(self.project.lock) if self.project.lock else None,
            "checks": CHECKS,
            "findings": [f._asdict() for f in self.findings],
        }

    def render_text(self, verbose: bool = False) -> str:
        from ..project.check import render_text

        return render_text(self.findings, self.project)

    def render_junit(self) -> str:
        from ..project.check import render_junit

        return render_junit(self.findings)


def check(context, options: CheckOptions) -> Checked:
    from ..compat import load
    from ..detect import detect
    from ..plan import Overrides, build_inputs
    from ..project import check as checking

    project = checking.load(Path(options.path))
    inputs = None
    if project.lock:  # whether this machine runs the locked torch: its GPU and driver, detected
        inputs = build_inputs(detect(None, context.host), Overrides())[0]
    return Checked(project, checking.check(project, load(), inputs))
