"""``torchup install``: numpy, scipy and the planned torch into a venv or interpreter, then verify.

The steps: detect the target, plan, install (pip or uv, as subprocesses), verify inside the
target. Pins are exact, local tag included. Any failure, an interrupt included, puts the target
back as it was (see ``transaction``), and a venv torchup created for this run is removed.
"""

import os
import shutil
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple

from .. import runner, target
from ..detect import Facts, detect
from ..errors import TargetError, TorchupError
from ..host import Host
from ..plan import Overrides, Plan, make_plan, pip_sources
from ..plan.data import BuildKind
from .backends import Pip, Sources, Uv
from .transaction import Snapshot

SCHEMA_VERSION = 1
STEPS = 4


class InstallError(TorchupError):
    """The install failed; the target was left as it was."""

    exit_code = 1


class Options(NamedTuple):
    python: Optional[str] = None
    venv: Optional[str] = None
    installer: str = "auto"
    dry_run: bool = False
    find_links: Tuple[str, ...] = ()
    no_index: bool = False
    break_system_packages: bool = False


class Target(NamedTuple):
    python: str  # the interpreter to install into (not there yet when the venv is to be created)
    venv: Optional[Path]
    create_from: Optional[str]  # the base interpreter of a venv to create, else None
    existed: bool = False  # the venv's directory was there (empty) before this run


class Command(NamedTuple):
    title: str
    argv: List[str]


class Result(NamedTuple):
    status: str  # "installed", "already-installed" or "dry-run"
    target: Target
    plan: Plan
    installer: str
    commands: List[Command]
    verification: Optional[List[dict]]  # the doctor's results of VERIFY_CHECKS
    seconds: Dict[str, float]  # wall time of each step

    def as_data(self) -> dict:
        return {
            "schema": SCHEMA_VERSION,
            "status": self.status,
            "python": self.target.python,
            "venv": str(self.target.venv) if self.target.venv else None,
            "venv_created": self.target.create_from is not None and self.status == "installed",
            "installer": self.installer,
            "plan": self.plan.as_data(),
            "commands": [{"title": c.title, "argv": c.argv} for c in self.commands],
            "verification": self.verification,
            "seconds": {step: round(value, 3) for step, value in self.seconds.items()},
        }


# --- the target ----------------------------------------------------------------------------


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def resolve_target(options: Options, env: Mapping[str, str]) -> Target:
    """``--venv DIR`` (created when missing), else the interpreter every command defaults to."""
    if options.venv:
        return _venv_target(Path(options.venv).absolute(), options, env)
    python = target.resolve_interpreter(options.python, env)
    home = Path(python).parent.parent
    return Target(python, home if (home / "pyvenv.cfg").is_file() else None, None)


def _venv_target(venv: Path, options: Options, env: Mapping[str, str]) -> Target:
    if venv.exists() and not venv.is_dir():
        raise TargetError(f"--venv {venv}: a file is in the way")
    if venv_python(venv).exists():
        return Target(str(venv_python(venv)), venv, None)
    if venv.exists() and any(venv.iterdir()):
        raise TargetError(f"--venv {venv}: not a virtual environment, and not empty", hint="name a new directory, or an existing venv")
    try:  # asked of the filesystem, not of permission bits: root passes those, a read-only mount does not
        if venv.exists():  # an empty directory (a mount point, say): the venv goes into it, and it stays
            tempfile.TemporaryFile(dir=venv).close()
        else:
            venv.mkdir(parents=True)
            venv.rmdir()
    except OSError as error:
        raise TargetError(f"--venv {venv}: cannot be created ({error.strerror or error})") from None
    base = target.resolve_interpreter(options.python, env) if options.python else sys.executable
    return Target(str(venv_python(venv)), venv, base, venv.exists())


# --- the installer -------------------------------------------------------------------------


def choose_installer(choice: str, facts: Facts, python: str, host: Host):
    """uv when present (PATH, torchup's own environment, the target's), else the target's pip."""
    uv = None
    if choice in ("auto", "uv"):
        found = host.which("uv")
        if found:
            uv = (found,)
        elif find_spec("uv") is not None:
            uv = (sys.executable, "-m", "uv")
        elif facts.interpreter and facts.interpreter.has_uv:
            uv = (python, "-m", "uv")
    if uv:
        return Uv(uv, python)
    if choice == "uv":
        raise TargetError(
            "--installer uv: uv is not on PATH nor installed in torchup's or the target's environment", hint="pip install uv, or use --installer pip"
        )
    return Pip(python)


def user_sources(facts: Facts, installer) -> Tuple[Sources, List[str]]:
    """The target pip's own configuration, as flags for uv (which ignores pip.conf); pip reads it itself."""
    if isinstance(installer, Pip):
        return Sources(), []
    configured = pip_sources(facts)
    notes = [f"uv does not read pip's configuration and torchup does not copy credentials: {url} was left out" for url in configured.left_out]
    return Sources(configured.index_url, configured.extra_index_urls, configured.find_links), notes


def companions_for(plan: Plan) -> List[str]:
    from ..plan.data import load, version_tuple

    release = version_tuple(plan.decision.release.version)[:2]
    return ["numpy<2" if release < load().numpy2_from_torch else "numpy", "scipy"]


def build_commands(plan: Plan, facts: Facts, installer, options: Options) -> Tuple[List[Command], List[str]]:
    notes: List[str] = []
    wheelhouse = tuple(options.find_links)
    if options.no_index:
        torch_sources = user = Sources(no_index=True, find_links=wheelhouse)
    else:
        user, notes = user_sources(facts, installer)
        user = user._replace(find_links=wheelhouse + user.find_links)
        # A build found in the user's own sources, or macOS's PyPI wheel, comes from those sources;
        # otherwise only the planned index serves torch (--index-url, never --extra-index-url).
        if plan.found_in or plan.build.kind is BuildKind.DEFAULT:
            torch_sources = user
        else:
            torch_sources = Sources(index_url=plan.index_url, find_links=wheelhouse)
    breaking = options.break_system_packages
    commands = [
        Command(f"torch {plan.torch}", installer.install_argv(plan.packages, torch_sources, breaking)),
        Command("numpy and scipy", installer.install_argv(companions_for(plan), user, breaking)),
    ]
    return commands, notes


# --- verification --------------------------------------------------------------------------

# The doctor's own checks, in a worker of the target, with the doctor's limits.
VERIFY_CHECKS = ["install.import", "install.build", "install.companions", "install.numpy", "install.scipy", "install.numpy_abi", "tutorial.autograd"]
FAILED = ("fail", "crash", "timeout")


def verify(python: str, env: Mapping[str, str]) -> List[dict]:
    from ..doctor import pool

    return pool.run_checks(python, VERIFY_CHECKS, env=dict(env))


def verified_facts(results: List[dict]) -> dict:
    facts: dict = {}
    for result in results:
        facts.update(result.get("facts") or {})
    return facts


def verification_problems(results: List[dict], plan: Plan) -> List[str]:
    """Where what the target imports differs from the plan, each in words."""
    problems = [f"{r['id']}: {(r['evidence'] or r['status']).splitlines()[0]}" for r in results if r["status"] in FAILED]
    facts = verified_facts(results)
    build = plan.build
    if "torch" in facts:
        if facts["torch"] != plan.torch:
            problems.append(f"torch is {facts['torch']}, the plan is {plan.torch}")
        if build.kind is BuildKind.CUDA and not (facts.get("cuda") or "").startswith(".".join(map(str, build.version))):
            problems.append(f"torch's CUDA runtime is {facts.get('cuda')}, the plan is {build.runtime}")
        if build.kind is BuildKind.ROCM and not facts.get("hip"):
            problems.append("torch is not a ROCm build")
        if build.kind is BuildKind.CPU and (facts.get("cuda") or facts.get("hip")):
            problems.append(f"torch is a GPU build (CUDA {facts.get('cuda')}, HIP {facts.get('hip')}), the plan is the CPU build")
        if build.kind in (BuildKind.CUDA, BuildKind.ROCM) and plan.inputs.gpus and facts.get("cuda_available") is False:
            problems.append("torch.cuda.is_available() is False although a GPU was detected: check `torchup doctor`")
    return problems


# --- the run -------------------------------------------------------------------------------


def install(
    options: Options,
    overrides: Overrides,
    host: Host,
    say: Callable[[str], None],
    installer_output=sys.stderr,
) -> Result:
    seconds: Dict[str, float] = {}
    clock = time.monotonic()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.monotonic()
        seconds[step] = now - clock
        clock = now

    the_target = resolve_target(options, host.env)
    say(f"[1/{STEPS}] detect: {the_target.python}" + (f" (a new venv, from {the_target.create_from})" if the_target.create_from else ""))
    facts = detect(the_target.create_from or the_target.python, host)
    _refuse_externally_managed(facts, the_target, options)
    lap("detect")

    air_gapped = bool(options.no_index or options.find_links)
    local = [("find-links", location) for location in options.find_links]
    plan = make_plan(facts, overrides, timeout=host.timeout, local_sources=local, skip_index=options.no_index)
    say(f"[2/{STEPS}] plan: torch {plan.torch} from {plan.found_in or plan.index_url} ({plan.decision.variant_reason})")
    lap("plan")
    if not overrides.offline and not air_gapped and plan.confirmed == "offline":
        raise InstallError(
            f"nothing was installed: {plan.notes[-1]}",
            hint="check the network and proxy (torchup detect), mirror the index (--index-base URL), or install from a wheelhouse (--find-links DIR --no-index)",
        )

    if the_target.create_from is None:
        before = verify(the_target.python, host.env)
        if not verification_problems(before, plan):
            found = verified_facts(before)
            say(
                f"[3/{STEPS}] install: torch {found['torch']}, numpy {found.get('numpy')} and scipy {found.get('scipy')} are already there and verify: nothing to do"
            )
            lap("verify")
            return Result("already-installed", the_target, plan, "none", [], before, seconds)

    installer = choose_installer(options.installer, facts, the_target.python, host)
    commands, notes = build_commands(plan, facts, installer, options)
    for note in notes:
        say(f"  ! {note}")
    if options.dry_run:
        if the_target.create_from:
            commands.insert(0, Command("a new venv", venv_argv(the_target, installer)))
        for command in commands:
            say(f"  would run: {' '.join(command.argv)}")
        return Result("dry-run", the_target, plan, installer.name, commands, None, seconds)

    created = the_target.create_from is not None
    snapshot = None
    try:
        _create_venv(the_target, installer, host)
        paths = facts.interpreter.paths if facts.interpreter and not created else {}
        directories = [paths.get("purelib"), paths.get("platlib")] + ([paths.get("scripts")] if the_target.venv else [])
        snapshot = Snapshot(directories).take()
        if isinstance(installer, Pip) and not _has_pip(the_target.python, host):
            commands.insert(0, Command("pip (ensurepip)", installer.bootstrap_argv()))
        lap("prepare")
        say(f"[3/{STEPS}] install with {installer.name}")
        for command in commands:
            say(f"  $ {' '.join(command.argv)}")
            completed = runner.run_echoed(command.argv, echo=installer_output, timeout=runner.INSTALLER_TIMEOUT, env=host.env)
            if not completed.ok:
                raise InstallError(
                    f"installing {command.title} failed ({completed.describe_failure()}); the target was left as it was", hint=_hint(completed.stdout)
                )
        lap("install")
        say(f"[4/{STEPS}] verify")
        report = verify(the_target.python, host.env)
        problems = verification_problems(report, plan)
        if problems:
            raise InstallError("the installed packages do not verify, so the target was put back as it was: " + "; ".join(problems))
    except BaseException as error:
        _roll_back(snapshot, the_target, created)
        if isinstance(error, KeyboardInterrupt):
            raise InstallError("interrupted: the target was left as it was", hint="run the same command again to install") from None
        raise
    snapshot.discard()
    lap("verify")
    return Result("installed", the_target, plan, installer.name, commands, report, seconds)


def _refuse_externally_managed(facts: Facts, the_target: Target, options: Options) -> None:
    managed = facts.interpreter.externally_managed.applies if facts.interpreter else False
    if the_target.create_from is None and managed and not options.break_system_packages:
        raise TargetError(
            f"--python {the_target.python} is externally managed (PEP 668): its packages belong to the system's package manager",
            hint="install into a virtual environment instead: torchup install --venv .venv (or, as a last resort, --break-system-packages)",
        )


def venv_argv(the_target: Target, installer) -> List[str]:
    # uv installs into a venv without pip; seeding pip there would only cost time.
    return [the_target.create_from, "-m", "venv"] + (["--without-pip"] if isinstance(installer, Uv) else []) + [str(the_target.venv)]


def _create_venv(the_target: Target, installer, host: Host) -> None:
    if the_target.create_from is None:
        return
    completed = runner.run(venv_argv(the_target, installer), env=host.env, timeout=runner.INSTALLER_TIMEOUT)
    if not completed.ok:
        raise InstallError(f"creating the venv {the_target.venv} failed: {completed.describe_failure()}")


def _has_pip(python: str, host: Host) -> bool:
    return target.isolated(python, ["-c", "import pip"], host.env, host.timeout).ok


def _roll_back(snapshot: Optional[Snapshot], the_target: Target, created: bool) -> None:
    if created:
        # A venv made in a directory that was there, empty, leaves that directory as it was.
        for entry in the_target.venv.iterdir() if the_target.venv.is_dir() else ():
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        if not the_target.existed:
            shutil.rmtree(the_target.venv, ignore_errors=True)
    elif snapshot is not None:
        snapshot.restore()


_KNOWN_FAILURES = (
    ("No matching distribution found", "the index has no such build for this interpreter: check `torchup plan` and --index-base"),
    ("No space left on device", "free disk space, or point TMPDIR at a larger disk"),
    ("ssl module in Python is not available", "this Python lacks TLS: see `torchup detect`"),
    ("CERTIFICATE_VERIFY_FAILED", "TLS verification failed: a proxy or private CA? see `torchup detect`"),
    ("Could not find a version that satisfies", "the index has no such build for this interpreter: check `torchup plan`"),
    ("because there are no versions of", "the index has no such build for this interpreter: check `torchup plan`"),
    ("Failed to fetch", "the index did not answer: check the network, or --index-base"),
    ("Max retries exceeded", "the index did not answer: check the network, or --index-base"),
)


def _hint(output: str) -> Optional[str]:
    return next((hint for needle, hint in _KNOWN_FAILURES if needle in output), None)


def render_text(result: Result) -> str:
    where = str(result.target.venv or result.target.python)
    if result.status == "dry-run":
        return f"Dry run: nothing was changed in {where}.\n"
    report = verified_facts(result.verification or [])
    lines = [
        ("Already installed in" if result.status == "already-installed" else f"Installed with {result.installer} into") + f" {where}:",
        f"  torch {report.get('torch')}, numpy {report.get('numpy')}, scipy {report.get('scipy')}",
    ]
    accelerator = "CUDA " + str(report["cuda"]) if report.get("cuda") else ("ROCm " + str(report["hip"]) if report.get("hip") else "the CPU build")
    available = "available" if report.get("cuda_available") else "not available"
    lines.append(f"  verified: torch imports ({accelerator}; GPU {available}), autograd gives 4.5, torch.from_numpy shares memory, scipy imports")
    lines.append(f"  next: torchup doctor --python {result.target.python}")
    return "\n".join(lines) + "\n"
