"""The GitHub Action's logic. ``action.yml``'s first step puts torchup in a venv of its own
(``action_setup.sh``); its second runs this module there, isolated (``python -I -m
torchup.installer.action``), so nothing of the workspace is imported.

Every input, from the ``TORCHUP_ACTION_*`` variables action.yml sets, is checked first, here in
``read_inputs``: a bad one is one line and a hint (exit 2) before any work. Then ``torchup
install`` and ``torchup doctor`` run in this process, as the command line runs them, and the job
log tells it as it happens: progress, the installer's own output (folded into a group), each
report in text, and ``::error``/``::warning`` annotations; the step summary gets their Markdown,
a failed install's too. The outputs go to ``GITHUB_OUTPUT`` once the install has verified. The
exit status is the first failing step's.
"""

import hashlib
import os
import secrets
import shlex
import sys
import tempfile
from typing import Dict, List, Mapping, NamedTuple, Optional, TextIO

import click
from click.core import ParameterSource

from . import __version__, cli, install, target
from .commands import doctor as doctor_command
from .commands import install as install_command
from .context import Run, Timeouts
from .detect.target_facts import parse_interpreter
from .doctor import expect, select
from .doctor.report import TextStream
from .errors import TorchupError
from .files import refuse_link
from .outcome import Failed
from .output import emit
from .plan.options import overrides_from
from .redact import RedactingStream

INPUTS = ("python", "variant", "torch", "with", "checks", "expect", "strict", "install-args")
# torchup install's options that the action itself stands for, with where each is given instead.
NOT_IN_INSTALL_ARGS = {
    "python": "name the interpreter or venv with the action's python input",
    "variant": "give the build with the action's variant input",
    "torch_spec": "give the release with the action's torch input",
    "with_packages": "give the companions with the action's with input",
    "dry_run": "the action installs and verifies; `torchup install --dry-run` is the dry run",
    "as_json": "the action's outputs and step summary carry the result",
}
JUNIT = "torchup-doctor.xml"  # in the workspace, for a test-report action to pick up


class Inputs(NamedTuple):
    install: install_command.Options  # the target, its sources and the plan's overrides
    checks: List[str]  # the doctor's check ids or groups; none: every check that is not opt-in
    expectations: List[expect.Expectation]
    strict: bool
    timeout: float  # TORCHUP_TIMEOUT, read as the command line reads it
    # The python input, when it is externally managed (PEP 668): PyTorch then goes into a venv made from it.
    externally_managed: Optional[str]


def read_inputs(env: Mapping[str, str]) -> Inputs:
    """Every input checked, before any work: a bad one is a TorchupError (exit 2) naming it."""
    given = {name: env.get("TORCHUP_ACTION_" + name.upper().replace("-", "_"), "").strip() for name in INPUTS}
    for name, value in given.items():
        # A value with a line break would reach a log line, an argument or an output as two.
        at = next((index for index, character in enumerate(value) if ord(character) < 32 or ord(character) == 127), None)
        if at is not None:
            what = "a line break" if value[at] in "\r\n" else "a control character"
            last_word = (value[:at].split() or [""])[-1][-40:]
            raise TorchupError(f"the {name} input holds {what} after {last_word!r}", hint="give each input on one line (in YAML, `>-` folds lines into one)")
    try:
        extra = shlex.split(given["install-args"])
    except ValueError as error:
        raise TorchupError(
            f"install-args {given['install-args']}: {str(error).lower()}", hint="quote as a shell does: --index-base 'https://mirror.example/whl'"
        ) from None
    root = _parsed(cli.cli, [], "TORCHUP_TIMEOUT")  # reads TORCHUP_TIMEOUT as the command line does
    alone = _parsed(cli.install, extra, "install-args", root)
    for name, hint in NOT_IN_INSTALL_ARGS.items():
        if _given(alone, name):
            raise TorchupError(f"install-args: {_flag(cli.install, name)} is not for install-args", hint=hint)
    ours = ["--python", given["python"] or "python3", "--variant", given["variant"] or "auto"]
    ours += (["--torch", given["torch"]] if given["torch"] else []) + (["--with", given["with"]] if given["with"] else [])
    options = install_options(_parsed(cli.install, ours + extra, "the python, variant, torch and with inputs", root).params)
    install_command.check(options.target)
    externally_managed = _externally_managed(options.target, env, root.params["timeout"])
    if externally_managed:
        venv = os.path.join(env.get("RUNNER_TEMP") or tempfile.gettempdir(), "torchup", "venv")
        options = options._replace(target=options.target._replace(venv=venv))
    checks = given["checks"].split()
    try:
        select(Run(Timeouts(), False, print), None, checks)  # the kit's own checks: the action takes no site checks
    except TorchupError as error:
        raise TorchupError(f"checks: {error.message.split(': ', 1)[1]}", hint="torchup doctor --list-checks lists them") from None
    strict = {"true": True, "false": False, "": False}.get(given["strict"].lower())
    if strict is None:
        raise TorchupError(f"strict: {given['strict']!r} is neither true nor false", hint="strict: true (warnings fail the job too), or false")
    refuse_link(JUNIT)
    return Inputs(options, checks, expect.parse(given["expect"].split()), strict, root.params["timeout"], externally_managed)


def install_options(params: dict) -> install_command.Options:
    """``torchup install``'s options from its parsed parameters, as the command line makes them."""
    where = install.Options(
        python=params["python"],
        venv=params["venv"],
        installer=params["installer_choice"],
        find_links=tuple(os.path.abspath(directory) for directory in params["find_links"]),
        no_index=params["no_index"],
        break_system_packages=params["break_system_packages"],
        no_wait=params["no_wait"],
        bundle=params["bundle"],
        compile_bytecode=params["compile_bytecode"],
    )
    # The plan options: those plan and install share (plan's own, such as --export, are not install's).
    plan_options = {param.name for param in cli.plan.params} & {param.name for param in cli.install.params} - {"python", "as_json"}
    return install_command.Options(where, overrides_from({name: params[name] for name in plan_options}))


def _parsed(command, argv: List[str], what: str, parent=None):
    """``argv`` parsed as the command line parses it (types, callbacks, TORCHUP_* variables),
    without running anything; click's complaint as a TorchupError naming ``what`` was given."""
    try:
        return command.make_context(command.name, list(argv), parent=parent)
    except click.UsageError as error:
        raise TorchupError(f"{what}: {error.format_message().splitlines()[0]}", hint="see: torchup install --help") from None
    except click.exceptions.Exit:  # --help, which click has printed
        raise TorchupError(f"{what}: --help is not for the action", hint="see: torchup install --help") from None


def _given(ctx, name: str) -> bool:
    return ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE


def _flag(command, name: str) -> str:
    return next(param.opts[0] for param in command.params if param.name == name)


def _externally_managed(options, env: Mapping[str, str], timeout: float) -> Optional[str]:
    """The python input's interpreter where it is externally managed (PEP 668) and install-args
    named no venv of its own nor chose --break-system-packages; else None."""
    if options.venv or options.break_system_packages:
        return None
    python = target.resolve_interpreter(options.python, env)
    interpreter = parse_interpreter(target.probe_interpreter(python, env, timeout).document.get("interpreter"))
    return python if interpreter and interpreter.externally_managed.applies else None


def cache_key(plan) -> str:
    """Stable while what is installed is: torchup's version, the platform and Python, the torch
    build and its source, and every planned package (so the --with set too)."""
    inputs = plan.inputs
    facts = [__version__, inputs.os, inputs.arch, inputs.python, plan.torch, plan.source] + sorted(plan.packages)
    return "torchup-" + hashlib.sha256("\n".join(facts).encode("utf-8")).hexdigest()[:20]


class OutputRefused(TorchupError):
    """An output value that GITHUB_OUTPUT would read as more than one output."""

    exit_code = 1


def write_outputs(path: Optional[str], outputs: Dict[str, str]) -> None:
    """``name=value`` lines, all or none: a value with a line break would set another output
    (later steps often put outputs into `run:` lines), so it is refused."""
    for name, value in outputs.items():
        if "\n" in value or "\r" in value:
            raise OutputRefused(f"the {name} output {value.splitlines()[0]!r}… holds a line break: no output was written")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.writelines(f"{name}={value}\n" for name, value in outputs.items())


class Log:
    """The job log, in the order things happen: progress lines, and the installer's own output
    folded into a group. The runner obeys no workflow command (``::…``) inside that output: it
    runs between ``::stop-commands::`` and its token, so a package's build log cannot set one."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.token: Optional[str] = None  # while the installer's output is being copied
        self.at_line_start = True

    def say(self, line: str) -> None:
        self.unfold()
        self._put(line + "\n")

    def write(self, text: str) -> None:
        """The installer's output, as ``runner.run_echoed`` copies it."""
        if self.token is None:
            self.token = secrets.token_hex(16)
            self._put(f"::group::the installer's output\n::stop-commands::{self.token}\n")
        self._put(text)

    def flush(self) -> None:
        self.stream.flush()

    def unfold(self) -> None:
        if self.token is not None:
            self._put(("" if self.at_line_start else "\n") + f"::{self.token}::\n::endgroup::\n")
            self.token = None

    def _put(self, text: str) -> None:
        if text:
            self.stream.write(text)
            self.stream.flush()
            self.at_line_start = text.endswith("\n")


def main() -> int:
    # Credentials in URLs never reach the log, as for the command line: the one output boundary.
    sys.stdout, sys.stderr = RedactingStream(sys.stdout), RedactingStream(sys.stderr)
    log = Log(sys.stdout)
    context = Run(Timeouts(), False, log.say)
    try:
        inputs = read_inputs(os.environ)
    except TorchupError as error:
        return _emit(context, _failed("action", error))
    context = context.with_timeouts(command=inputs.timeout)
    venv = inputs.install.target.venv if inputs.externally_managed else None
    if venv:
        log.say(f"torchup action: {inputs.externally_managed} is externally managed (PEP 668): PyTorch goes into a venv made from it, {venv} (the venv output)")
    try:
        installed = install_command.Installed(install.install(context, inputs.install.target, inputs.install.overrides, installer_output=log))
    except TorchupError as error:
        log.unfold()  # before the error, which must be read (and its annotation obeyed) outside the fold
        return _emit(context, _failed("install", error))
    finally:
        log.unfold()
    code = _emit(context, installed)
    if code:
        return code
    plan = installed.result.plan
    outputs = {"torch-version": plan.torch, "variant": plan.variant, "index-url": _source(inputs, plan), "cache-key": cache_key(plan)}
    try:
        write_outputs(os.environ.get("GITHUB_OUTPUT"), {**outputs, **({"venv": venv} if venv else {})})
    except OutputRefused as error:
        return _emit(context, _failed("action", error))
    options = doctor_command.Options(installed.result.target.python, inputs.checks, inputs.strict, None, inputs.expectations)
    try:
        diagnosed = doctor_command.run(context, options, TextStream(log.say))
    except TorchupError as error:
        return _emit(context, _failed("doctor", error))
    return _emit(context, diagnosed, junit=JUNIT)


def _source(inputs: Inputs, plan) -> str:
    """Where torch came from: a bundle's directory (its files are staged in a scratch copy), else the plan's source."""
    bundle = inputs.install.target.bundle
    return os.path.abspath(bundle) if bundle else plan.source


def _failed(command: str, error: TorchupError) -> Failed:
    return Failed(command, error.message, error.hint, error.exit_code)


def _emit(context, outcome, junit: Optional[str] = None) -> int:
    """The outcome rendered as the command line renders it (``output.emit``: text, the step summary,
    annotations, JUnit); its exit code."""
    return emit(outcome, context.verbose, junit=junit)


if __name__ == "__main__":
    sys.exit(main())
