"""``torchup install``: numpy, scipy and the planned torch into a venv or interpreter, then verify.

The steps: detect the target, plan, install (pip or uv, as subprocesses), verify inside the
target. Pins are exact, local tag included. Any failure, an interrupt included, puts the target
back as it was (see ``transaction``), and a venv torchup created for this run is removed.
"""

import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple

from .. import runner, target
from ..bundle import read_bundle
from ..compat import BuildKind
from ..detect import Facts, detect
from ..errors import TargetError, TorchupError
from ..host import Host
from ..plan import Overrides, Plan, make_plan, pip_cert, pip_sources
from ..redact import shortened
from .backends import Pip, Sources, Uv
from .transaction import STATE_DIR, Transaction

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
    no_wait: bool = False  # another run holds the target: stop instead of waiting
    bundle: Optional[str] = None  # a directory made by `torchup bundle`: checked, then the only source
    compile_bytecode: Optional[bool] = None  # None: where it pays (see bytecode_pays)


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
    """``--venv DIR``: an existing venv, or one to create (in an empty directory too). Nothing is
    created or removed here: a dry run leaves the filesystem as it found it."""
    try:
        if venv.exists() and not venv.is_dir():
            raise TargetError(f"--venv {venv}: a file is in the way")
        if venv_python(venv).exists():
            return Target(str(venv_python(venv)), venv, None)
        existed = venv.exists()
        if existed and any(entry.name != STATE_DIR for entry in venv.iterdir()):
            raise TargetError(f"--venv {venv}: not a virtual environment, and not empty", hint="name a new directory, or an existing venv")
        # Asked of the filesystem, not of permission bits (root passes those, a read-only mount or
        # /proc does not), in the nearest directory that exists, so nothing is left behind.
        nearest = next(parent for parent in (venv, *venv.parents) if parent.exists())
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".torchup-probe-", dir=nearest))
        except OSError as error:
            raise TargetError(f"--venv {venv}: cannot be created ({error.strerror or error})") from None
    except OSError as error:
        raise TargetError(f"--venv {venv}: cannot be used ({error.strerror or error})") from None
    base = target.resolve_interpreter(options.python, env) if options.python else sys.executable
    return Target(str(venv_python(venv)), venv, base, existed)


# --- the installer -------------------------------------------------------------------------


def bytecode_pays(asked: Optional[bool], env: Mapping[str, str]) -> bool:
    """Whether compiling every installed file to bytecode pays: when asked (--compile-bytecode,
    for a target that will be read-only), or where imports cannot write bytecode themselves
    (PYTHONDONTWRITEBYTECODE), so that every `import torch` would compile thousands of files
    again. Otherwise each module is compiled once, when it is first imported, and most never are."""
    if asked is not None:
        return asked
    return bool(env.get("PYTHONDONTWRITEBYTECODE"))


def choose_installer(choice: str, facts: Facts, python: str, host: Host, compile_bytecode: bool = True):
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
        return Uv(uv, python, compile=compile_bytecode)
    if choice == "uv":
        raise TargetError(
            "--installer uv: uv is not on PATH nor installed in torchup's or the target's environment", hint="pip install uv, or use --installer pip"
        )
    return Pip(python, compile=compile_bytecode)


def user_sources(facts: Facts, installer) -> Tuple[Sources, List[str]]:
    """The target pip's own configuration, as flags for uv (which ignores pip.conf); pip reads it itself."""
    if isinstance(installer, Pip):
        return Sources(), []
    configured = pip_sources(facts)
    notes = [f"uv does not read pip's configuration and torchup does not copy credentials: {url} was left out" for url in configured.left_out]
    return Sources(configured.index_url, configured.extra_index_urls, configured.find_links), notes


def companions_for(plan: Plan) -> List[str]:
    from ..compat import load, version_tuple

    release = version_tuple(plan.decision.release.version)[:2]
    return ["numpy<2" if release < load().numpy2_from_torch else "numpy", "scipy"]


def build_commands(plan: Plan, facts: Facts, installer, options: Options, bundle=None) -> Tuple[List[Command], List[str]]:
    breaking = options.break_system_packages
    if bundle is not None:  # exactly the bundle's files: every package pinned and hash-checked, no other source
        staged = Sources(no_index=True, find_links=(bundle.stage,), hashed_requirements=bundle.requirements)
        return [Command(f"torch {plan.torch} and the rest of the bundle", installer.install_argv([], staged, breaking))], []
    notes: List[str] = []
    wheelhouse = tuple(options.find_links)
    if options.no_index:
        torch_sources = user = Sources(no_index=True, find_links=wheelhouse)
    else:
        user, notes = user_sources(facts, installer)
        user = user._replace(find_links=wheelhouse + user.find_links)
        # A build found in the user's own sources, macOS's PyPI wheel, or NVIDIA's Jetson wheel (by
        # its URL, its dependencies from the user's sources) comes that way; otherwise only the
        # planned index serves torch (--index-url, never --extra-index-url).
        if plan.found_in or plan.build.kind in (BuildKind.DEFAULT, BuildKind.JETSON):
            torch_sources = user
        else:
            torch_sources = Sources(index_url=plan.index_url, find_links=wheelhouse)
    commands = [
        Command(f"torch {plan.torch}", installer.install_argv(plan.packages, torch_sources, breaking)),
        Command("numpy and scipy", installer.install_argv(companions_for(plan), user, breaking)),
    ]
    return commands, notes


# --- verification --------------------------------------------------------------------------

# The doctor's own checks, in a worker of the target, with the doctor's limits.
VERIFY_CHECKS = ["install.import", "install.build", "install.companions", "install.numpy", "install.scipy", "install.numpy_abi", "tutorial.autograd"]
FAILED = ("fail", "crash", "timeout")


def verify(python: str, env: Mapping[str, str], timeouts) -> List[dict]:
    from ..compat import load
    from ..doctor import pool

    return pool.run_checks(
        python, VERIFY_CHECKS, env=dict(env), check_timeout=timeouts.check, import_timeout=timeouts.torch_import, knowledge=load().for_checks()
    )


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
    for pin in plan.packages[1:]:  # the companions asked for with --with
        name, version = pin.split("==")
        if facts.get(name) != version:
            problems.append(f"{name} is {facts.get(name) or 'not installed'}, the plan is {version}")
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
        if build.kind is BuildKind.JETSON and facts.get("cuda_available") is not True:
            problems.append("torch does not see the Jetson board's integrated GPU (torch.cuda.is_available() is False): check `torchup doctor`")
    return problems


# --- the run -------------------------------------------------------------------------------


def install(context, options: Options, overrides: Overrides, installer_output=None) -> Result:
    """The run (see the module docstring), in the run context ``context`` (``installer.context.Run``)."""
    host, say, lap = context.host, context.say, Laps()
    manifest = read_bundle(Path(options.bundle)) if options.bundle else None  # a damaged bundle is said before anything else
    the_target = resolve_target(options, host.env)
    say(f"[1/{STEPS}] detect: {the_target.python}" + (f" (a new venv, from {the_target.create_from})" if the_target.create_from else ""))
    facts = None
    if the_target.venv is None:  # where the lock lives comes from the interpreter's own paths
        facts = detect(the_target.python, host)
        _refuse_externally_managed(facts, the_target, options)
    bundle = None
    try:
        try:
            with _signals_as_errors(), _locked(the_target, facts, options, say) as transaction:
                if transaction is None or transaction.recovered or facts is None:
                    # A killed run was put right (or nothing was detected yet): what is there now counts.
                    # The venv's directory, made for the lock, was there before only if it was before the lock.
                    the_target = resolve_target(options, host.env)._replace(existed=the_target.existed)
                    facts = detect(the_target.create_from or the_target.python, host)
                    _refuse_externally_managed(facts, the_target, options)
                if manifest is not None:
                    bundle = _from_bundle(options.bundle, manifest, facts, say)
                    options, overrides = options._replace(find_links=(bundle.stage,), no_index=True), overrides._replace(**bundle.overrides)
                lap("detect")
                return _run(context, the_target, facts, options, overrides, bundle, lap, installer_output or sys.stderr, transaction)
        except Stopped as stop:
            raise InstallError(f"stopped by {stop.reason}: the target was left as it was", hint="run the same command again to install") from None
    except BaseException:
        if the_target.create_from is not None and not the_target.existed and not options.dry_run:
            shutil.rmtree(the_target.venv, ignore_errors=True)
        raise
    finally:
        if bundle is not None:
            shutil.rmtree(bundle.stage, ignore_errors=True)


class Laps:
    """The wall time of each step, for the result."""

    def __init__(self):
        self.seconds: Dict[str, float] = {}
        self._clock = time.monotonic()

    def __call__(self, step: str) -> None:
        now = time.monotonic()
        self.seconds[step] = now - self._clock
        self._clock = now


@contextmanager
def _locked(the_target: Target, facts: Optional[Facts], options: Options, say: Callable[[str], None]):
    """The target's transaction, locked and with a killed run's journal dealt with, before anything
    looks at what is installed; a dry run changes nothing, so it takes no lock and recovers nothing."""
    state = _state_dir(the_target, facts)
    if options.dry_run:
        if (state / STATE_DIR / "journal.json").exists():
            say(f"  ! a killed torchup run left {state / STATE_DIR / 'journal.json'}: the next install puts the target right first")
        yield None
        return
    with Transaction(state, say, wait=not options.no_wait) as transaction:
        yield transaction


def _run(context, the_target, facts, options, overrides, bundle, lap, installer_output, transaction) -> Result:
    """Plan, then (unless it is all there already) install and verify, inside the locked transaction."""
    host, say = context.host, context.say
    air_gapped = bool(options.no_index or options.find_links)
    local = [("find-links", location) for location in options.find_links]
    plan = make_plan(facts, overrides, timeout=host.timeout, local_sources=local, skip_index=options.no_index)
    origin = f"the bundle {options.bundle}" if bundle else plan.source
    say(f"[2/{STEPS}] plan: torch {plan.torch} from {origin} ({plan.decision.variant_reason})")
    if options.no_index and not bundle:
        say(f"  --no-index: {', '.join(options.find_links)} is the only source; your pip and uv configuration is set aside for this run")
    lap("plan")
    if not overrides.offline and not air_gapped and plan.confirmed == "offline":
        raise InstallError(
            f"nothing was installed: {plan.notes[-1]}",
            hint="check the network and proxy (torchup detect), mirror the index (--index-base URL), or install from a wheelhouse (--find-links DIR --no-index)",
        )

    if the_target.create_from is None:
        before = verify(the_target.python, host.env, context.timeouts)
        if not verification_problems(before, plan):
            found = verified_facts(before)
            say(
                f"[3/{STEPS}] install: torch {found['torch']}, numpy {found.get('numpy')} and scipy {found.get('scipy')} are already there and verify: nothing to do"
            )
            keep_pins(the_target, plan, facts, say)
            lap("verify")
            return Result("already-installed", the_target, plan, "none", [], before, lap.seconds)

    installer = choose_installer(options.installer, facts, the_target.python, host, bytecode_pays(options.compile_bytecode, host.env))
    commands, notes = build_commands(plan, facts, installer, options, bundle)
    env = _installer_env(the_target, facts, host, installer, bool(options.no_index))
    for note in notes:
        say(f"  ! {note}")
    if context.verbose:
        say(f"  installer: {installer_origin(installer)}; its environment, as torchup changes it: {environment_changes(host.env, env)}")
    if the_target.create_from is not None:
        commands.insert(0, Command("a new venv", venv_argv(the_target)))
    elif isinstance(installer, Pip) and not _has_pip(the_target.python, host):
        commands.insert(0, Command("pip (ensurepip)", installer.bootstrap_argv()))
    if options.dry_run:
        for command in commands:
            say(f"  would run: {' '.join(command.argv)}")
        return Result("dry-run", the_target, plan, installer.name, commands, None, lap.seconds)

    transaction.protect(_writable(the_target, facts))
    lap("prepare")
    report = _install(context, the_target, plan, installer, commands, env, lap, installer_output)
    keep_pins(the_target, plan, facts, say)
    lap("verify")
    return Result("installed", the_target, plan, installer.name, commands, report, lap.seconds)


# Kept where the user's pip and uv configuration is set aside (--no-index): where they cache, and nothing of where they look.
_KEPT_WHEN_ISOLATED = ("UV_CACHE_DIR", "PIP_CACHE_DIR", "PIP_NO_CACHE_DIR")


def _installer_env(the_target: Target, facts: Facts, host: Host, installer, only_given_sources: bool = False) -> Dict[str, str]:
    """The installer's environment, sanitized as pipx does: no PYTHONPATH (nothing of the user's
    code in pip's process), PIP_USER=0 (never a --user install). torchup's own installs are not held
    by the pins of an earlier one: pip gets every configured constraint but that file
    (PIP_CONSTRAINT beats the configuration files). uv reads no pip.conf: pip's CA bundle (a
    corporate CA) goes to it as SSL_CERT_FILE; without one, it is told to trust the system's store
    (UV_SYSTEM_CERTS; UV_NATIVE_TLS on older uv), where a corporate CA is installed, as pip does
    through truststore. ``only_given_sources`` (--find-links DIR --no-index): the user's pip and uv
    configuration is set aside for the run (no configuration file, no PIP_* or UV_* source), so the
    wheelhouse is the only source."""
    env = {key: value for key, value in host.env.items() if key not in ("PYTHONPATH", "PYTHONHOME", "__PYVENV_LAUNCHER__")}
    env["PIP_USER"] = "0"
    if only_given_sources:
        env = {key: value for key, value in env.items() if not key.startswith(("PIP_", "UV_")) or key in _KEPT_WHEN_ISOLATED}
        env.update(PIP_CONFIG_FILE=os.devnull, PIP_USER="0", UV_NO_CONFIG="1")
        return env
    configured = facts.pip.config.settings.get("constraint") if facts.pip else None
    if the_target.venv is not None and configured is not None:
        ours = str(the_target.venv / target.PINS_FILE)
        env["PIP_CONSTRAINT"] = " ".join(value for value in configured.value if value != ours)
    if isinstance(installer, Uv):
        cert = pip_cert(facts)
        if cert:
            env["SSL_CERT_FILE"] = cert  # pip's `cert` beats SSL_CERT_FILE for pip: so for uv too
        elif not env.get("SSL_CERT_FILE"):
            env.setdefault("UV_SYSTEM_CERTS", "true")
            env.setdefault("UV_NATIVE_TLS", "true")
    return env


def installer_origin(installer) -> str:
    """Which pip or uv runs, and where it was found (``choose_installer``'s order)."""
    if isinstance(installer, Pip):
        return f"the target's pip ({installer.python} -m pip)"
    where = "on PATH" if len(installer.uv) == 1 else "in torchup's own environment" if installer.uv[0] == sys.executable else "in the target"
    return f"uv {where} ({' '.join(installer.uv)})"


def environment_changes(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    """The variables torchup sets or unsets for the installer, in words."""
    changed = [f"{name}={value}" for name, value in sorted(after.items()) if before.get(name) != value]
    removed = [name for name in sorted(before) if name not in after]
    said = (["sets " + ", ".join(changed)] if changed else []) + (["unsets " + ", ".join(removed)] if removed else [])
    return "; ".join(said) or "none"


def keep_pins(the_target: Target, plan: Plan, facts: Facts, say: Callable[[str], None]) -> None:
    """The exact builds installed, as a constraints file the venv's own pip.conf names: a later
    `pip install somepkg` there cannot swap torch for another build (uv reads no pip.conf)."""
    if the_target.venv is None:
        return
    from ..pipconf import value_of, with_setting

    pins = the_target.venv / target.PINS_FILE
    pinned = "# Written by torchup install: the builds it installed and verified. The venv's pip.conf names this file.\n" + "\n".join(plan.pins) + "\n"
    # Written only when it differs, so that a run with nothing to do changes nothing.
    if not pins.exists() or pins.read_text() != pinned:
        pins.write_text(pinned)
    conf = the_target.venv / ("pip.ini" if os.name == "nt" else "pip.conf")
    text = conf.read_text(encoding="utf-8") if conf.exists() else ""
    # Constraints configured elsewhere (the user's or the machine's pip.conf) keep applying: this
    # file's [install] constraint replaces theirs, so theirs are named in it too.
    configured = facts.pip.config.settings.get("constraint") if facts.pip else None
    others = [value for value in (configured.value if configured else []) if value != str(pins) and not str(configured.source).startswith(str(conf))]
    current = (value_of(text, "install", "constraint") or "").split()
    wanted = list(dict.fromkeys(current + others + [str(pins)]))
    if wanted != current:
        conf.write_text(with_setting(text, "install", "constraint", " ".join(wanted)), encoding="utf-8")
    say(f"  pinned: {', '.join(plan.pins)} in {pins}, which pip in this venv honours")


def _install(context, the_target, plan, installer, commands, env, lap, installer_output) -> List[dict]:
    """The commands, then verification; any failure or signal raises, and the transaction puts the target back."""
    host, say = context.host, context.say
    say(f"[3/{STEPS}] install with {installer.name}")
    for command in commands:
        say(f"  $ {' '.join(command.argv)}")
        completed = runner.run_echoed(
            command.argv,
            echo=installer_output,
            timeout=context.timeouts.installer,
            env=env,
        )
        if not completed.ok:
            cause = _cause(completed)
            raise InstallError(f"installing {command.title} failed: {cause}; the target was left as it was", hint=_hint(completed.stdout, command.title))
    lap("install")
    say(f"[4/{STEPS}] verify")
    report = verify(the_target.python, host.env, context.timeouts)
    problems = verification_problems(report, plan)
    if problems:
        raise InstallError("the installed packages do not verify, so the target was put back as it was: " + "; ".join(problems))
    return report


class Stopped(BaseException):
    """Ctrl-C, SIGTERM (a CI cancel, `timeout`, `docker stop`) or SIGHUP during an install."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@contextmanager
def _signals_as_errors():
    """SIGINT, SIGTERM and SIGHUP end the install through the same path as a failure, so it is rolled back."""

    def stop(number, frame):
        raise Stopped(signal.Signals(number).name)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handled = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {number: signal.signal(number, stop) for number in handled}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _state_dir(the_target: Target, facts: Optional[Facts]) -> Path:
    """Where the lock and the journal live: inside the venv, else beside site-packages."""
    if the_target.venv:
        return the_target.venv
    return Path(facts.interpreter.paths["purelib"]).parent


def _writable(the_target: Target, facts: Facts) -> List[str]:
    """Everything the installer (or venv creation) may write into."""
    if the_target.create_from is not None:  # a new venv: every part of it is new, and goes on failure
        return [str(the_target.venv / name) for name in ("bin", "Scripts", "lib", "lib64", "include", "share", "pyvenv.cfg")]
    paths = facts.interpreter.paths
    found = [paths.get("purelib"), paths.get("platlib")]
    if the_target.venv:  # the scripts and data directories of a system Python are not torchup's to copy
        found += [paths.get("scripts"), str(the_target.venv / "share"), str(the_target.venv / "include")]
    return [path for path in found if path]


def _from_bundle(directory: str, manifest: dict, facts: Facts, say: Callable[[str], None]):
    """A bundle's target checked against this machine, and its listed files staged, each
    hash-checked: they are then the only source."""
    from ..bundle import BundleRefused, misfits, stage
    from ..plan import build_inputs

    problems = misfits(manifest, facts, build_inputs(facts, Overrides())[0])
    if problems:
        raise BundleRefused(
            f"this bundle was made for another machine: {'; '.join(problems)}; nothing was installed",
            hint="make a bundle for this machine: torchup detect --json here, then torchup bundle --from-detect FILE on a connected one",
        )
    staged = stage(Path(directory), manifest)
    say(
        f"  bundle {directory}: {len(manifest['files'])} files, every hash checked, made for {manifest['target']['platform']}, Python {manifest['target']['python']}"
    )
    if staged.unlisted:
        say(f"  ! left out, not in the bundle's manifest: {', '.join(staged.unlisted)}")
    return staged


def _refuse_externally_managed(facts: Facts, the_target: Target, options: Options) -> None:
    managed = facts.interpreter.externally_managed.applies if facts.interpreter else False
    if the_target.create_from is None and managed and not options.break_system_packages:
        raise TargetError(
            f"--python {the_target.python} is externally managed (PEP 668): its packages belong to the system's package manager",
            hint="install into a virtual environment instead: torchup install --venv .venv (or, as a last resort, --break-system-packages)",
        )


def venv_argv(the_target: Target) -> List[str]:
    # With pip, whichever installer fills it: a venv is where its user runs `pip install` next.
    return [the_target.create_from, "-I", "-m", "venv", str(the_target.venv)]


def _has_pip(python: str, host: Host) -> bool:
    return target.isolated(python, ["-c", "import pip"], host.env, host.timeout).ok


# (text in the installer's output, the hint, whether it is about torch's own index)
_KNOWN_FAILURES = (
    ("No matching distribution found", "the index has no such build for this interpreter: check `torchup plan` and --index-base"),
    ("No space left on device", "free disk space, or point TMPDIR at a larger disk"),
    ("ssl module in Python is not available", "this Python lacks TLS: see `torchup detect`"),
    ("CERTIFICATE_VERIFY_FAILED", "TLS verification failed: a proxy or private CA? see `torchup detect`"),
    ("Could not find a version that satisfies", "the index has no such build for this interpreter: check `torchup plan`"),
    ("because there are no versions of", "the index has no such build for this interpreter: check `torchup plan`"),
    ("Failed to fetch", "the index could not be reached: check the network, or --index-base"),
    ("Max retries exceeded", "the index could not be reached: check the network, or --index-base"),
)


_SOURCE_NEEDLES = (
    "No matching distribution found",
    "Could not find a version that satisfies",
    "because there are no versions of",
    "Failed to fetch",
    "Max retries exceeded",
)
# The lines pip and uv state a failure's cause on.
_CAUSE_LINE = re.compile(
    r"^\s*(ERROR:|error:|×|OSError|.*No space left on device|.*BadZipFile|.*is not a valid wheel|.*hash.*(mismatch|do not match))", re.IGNORECASE
)


def _hint(output: str, title: str) -> Optional[str]:
    for needle, hint in _KNOWN_FAILURES:
        if needle in output:
            if needle in _SOURCE_NEEDLES and not title.startswith("torch"):
                # numpy and scipy come from the user's own pip configuration, not torch's index.
                return "numpy and scipy come from your pip configuration (pip.conf, PIP_INDEX_URL): check that its index has them, or add --find-links DIR"
            return hint
    return None


def _cause(completed: runner.Completed) -> str:
    """The installer's own words for why it failed: its error line, not its first line."""
    if completed.failure:
        return completed.failure
    lines = [line.strip() for line in completed.stdout.splitlines() if line.strip()]
    causes = [line for line in lines if _CAUSE_LINE.match(line)]
    said = (causes or lines or [""])[-1]
    return f"exit status {completed.returncode}" + (f": {shortened(said, 300)}" if said else "")


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


def render_markdown(result: Result) -> str:
    """The install for a CI job's summary page (GITHUB_STEP_SUMMARY)."""
    facts = verified_facts(result.verification or [])
    plan = result.plan
    rows = [
        ("status", result.status),
        ("torch", f"`{facts.get('torch') or plan.torch}`"),
        ("build", f"{plan.variant}: {plan.decision.variant_reason}"),
        ("index", f"`{plan.source}`"),
        ("numpy, scipy", f"{facts.get('numpy')}, {facts.get('scipy')}"),
        ("installer", result.installer),
        ("target", f"`{result.target.python}`"),
    ]
    return "### torchup install\n\n| | |\n|---|---|\n" + "".join(f"| {key} | {value} |\n" for key, value in rows) + "\n"
