"""``torchup project init`` and ``project check``: torch per platform in a project's pyproject.toml and lock (see ``installer.project``),
for each project tool of ``installer.project_tools``."""

from pathlib import Path
from typing import NamedTuple, Sequence

from ..errors import TorchupError
from ..outcome import SCHEMA, Outcome


class InitOptions(NamedTuple):
    path: str
    tool: str  # one of project_tools.NAMES
    overrides: "object"  # plan.Overrides: --variant, --with, --torch, --index-base, --offline
    extras: Sequence[str] = ()
    dry_run: bool = False


class Initialized(Outcome):
    def __init__(self, result, plan, tool, dry_run: bool):
        self.result, self.plan, self.tool, self.dry_run = result, plan, tool, dry_run

    def as_data(self) -> dict:
        result = self.result
        return {
            "schema": SCHEMA,
            "path": str(result.path),
            "tool": self.tool.name,
            "torch": self.plan.decision.release.version,
            "confirmed": self.plan.confirmed,
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
            return notes + f"{result.path}: torch {version} for {self.tool.name} written; next: {self.tool.next_step}\n"
        return notes + f"{result.path}: already configured for torch {version}: nothing to change\n"


def init(context, options: InitOptions) -> Initialized:
    from .. import project, project_tools
    from ..compat import load
    from ..detect import detect
    from ..plan import make_plan

    tool = project_tools.get(options.tool)
    if options.extras and not tool.writes_extras:
        able = ", ".join(other.name for other in project_tools.every() if other.writes_extras)
        raise TorchupError(
            f"Invalid value for --extras: optional groups per build are written for {able} only (they need its conflicts); {tool.name} gets the Linux build"
        )
    path = Path(options.path) / "pyproject.toml"
    tool.fits(project.read(path).document, path)  # a missing, broken or unfit file stops here, before any detection
    if not options.dry_run:
        project.check_writable(path)
    overrides = options.overrides._replace(pip_installs=False)
    facts = detect(None, context.host)
    if facts.machine.os != "Linux":  # planning Linux from another OS: its CPU build, unless a variant is named
        overrides = overrides._replace(os="linux", arch="x86_64", no_gpu=overrides.variant == "auto")
    linux_plan = make_plan(facts, overrides, timeout=context.timeouts.command)
    data = load()
    base = overrides.index_base or data.default_index_base
    if not overrides.offline:
        _refuse_unconfirmed(linux_plan, facts, path, base, tuple(options.extras))
    result = project.init(Path(options.path), tool, linux_plan, tuple(options.extras), base, data, options.dry_run)
    return Initialized(result, linux_plan, tool, options.dry_run)


def _refuse_unconfirmed(linux_plan, facts, path: Path, base: str, extras: Sequence[str]) -> None:
    """A project file names an index every later lock reads: one this machine could not reach is
    not written unless asked for (--offline), as install would not install from it."""
    from ..plan import configured_sources
    from ..project import CannotWrite

    hint = "check the network and proxy (torchup detect), give a mirror of it (--index-base URL), or write it unconfirmed with --offline"
    if linux_plan.confirmed == "offline":
        raise CannotWrite(f"nothing written to {path}: {linux_plan.notes[-1]}", hint=hint)
    if linux_plan.found_in and extras:
        raise CannotWrite(f"nothing written to {path}: --extras routes each build to {base}, and {linux_plan.notes[-1]}", hint=hint)
    kinds = {location: kind for kind, location in configured_sources(facts)}
    if linux_plan.found_in and kinds.get(linux_plan.found_in) != "index":
        raise CannotWrite(
            f"nothing written to {path}: torch {linux_plan.torch} is only in {linux_plan.found_in}, a find-links location of your pip configuration, which is no index a project can route torch to",
            hint=hint,
        )


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
