"""The ``torchup`` command line: parse options, call into installer and diagnostics, render."""

import json
import math
import os
import sys
import traceback
from typing import Optional

import click

from . import __version__
from .errors import TorchupError
from .host import Host
from .redact import RedactingStream
from .runner import DEFAULT_TIMEOUT
from .target import DEFAULT_HELP as DEFAULT_TARGET_HELP

INTERNAL_ERROR_EXIT = 3
USAGE_EXIT = 2
# No version, driver, architecture or spec is this long: a longer value is a mistake (or an attack), said so at once.
MAX_VALUE = 100


def _from_environment(ctx: click.Context, message: str) -> str:
    """An error about a value that came from a TORCHUP_* variable names the variable, not the flag."""
    from click.core import ParameterSource

    for param in ctx.command.params:
        if param.envvar and ctx.get_parameter_source(param.name) is ParameterSource.ENVIRONMENT:
            for flag in param.opts:
                if message.startswith(flag + " "):  # torchup's own: "--variant cu999: …"
                    return f"{param.envvar}=" + message[len(flag) + 1 :]
                if f"'{flag}'" in message:  # click's: "Invalid value for '--timeout': …"
                    return message.replace(f"'{flag}'", param.envvar, 1)
    return message


def _fail(message: str, hint: Optional[str], code: int) -> None:
    click.echo(f"torchup: error: {message}", err=True)
    if hint:
        click.echo(f"  hint: {hint}", err=True)
    sys.exit(code)


class TorchupCommand(click.Command):
    """Turns torchup's own errors into one actionable line (naming a TORCHUP_* variable where the value came from one)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except TorchupError as error:
            if ctx.find_root().params.get("verbose"):
                traceback.print_exc()
            _fail(_from_environment(ctx, error.message), error.hint, error.exit_code)
        except click.BadParameter as error:
            error.ctx = error.ctx or ctx
            raise


class TorchupGroup(click.Group):
    """Anything that is not torchup's own error is a bug: exit code 3, with the traceback under --verbose."""

    command_class = TorchupCommand

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as error:
            click.echo(f"torchup: internal error: {type(error).__name__}: {error}", err=True)
            if ctx.obj and ctx.obj.get("verbose"):
                traceback.print_exc()
            else:
                click.echo("  run again with --verbose for the traceback", err=True)
            ctx.exit(INTERNAL_ERROR_EXIT)


class Seconds(click.ParamType):
    """A finite, positive number of seconds (nan and inf would wait forever, or never)."""

    name = "seconds"

    def convert(self, value, param, ctx):
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or not 0.1 <= seconds <= 86400:
            self.fail(f"{value!r}: give a number of seconds from 0.1 to 86400", param, ctx)
        return seconds


@click.group(cls=TorchupGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="torchup")
@click.option("-v", "--verbose", is_flag=True, help="Show where each fact came from, and tracebacks.")
@click.option(
    "--timeout",
    type=Seconds(),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    envvar="TORCHUP_TIMEOUT",
    help="Seconds any one external command, index request or target start-up may take.",
)
@click.pass_context
def cli(ctx, verbose, timeout):
    """Take this machine to a working PyTorch, and prove it works."""
    ctx.obj = {"verbose": verbose, "timeout": timeout}


python_option = click.option("--python", "python", metavar="PATH", help=DEFAULT_TARGET_HELP)


def _writable(ctx, param, value):
    """A file to write (--junit, --html): said before any work if its directory does not exist, or a
    link or a directory is in its place."""
    from .files import UnsafeOutput, refuse_link

    if value and not os.path.isdir(os.path.dirname(os.path.abspath(value)) or "."):
        raise click.BadParameter(f"{value}: its directory does not exist", param_hint=param.opts[0])
    try:
        refuse_link(value) if value else None
    except UnsafeOutput as error:
        raise click.BadParameter(error.message.split(": ", 1)[1], param_hint=param.opts[0]) from None
    return value


@cli.command()
@python_option
@click.option("--json", "as_json", is_flag=True, help="Print the facts as JSON (with a schema version), nothing else.")
@click.pass_obj
def detect(options, python, as_json):
    """Report the OS, the target Python, pip, TLS and GPUs."""
    from .detect import detect as run_detect
    from .detect import report
    from .findings import find, render_lines

    facts = run_detect(python, Host(timeout=options["timeout"]))
    findings = find(facts)
    if as_json:
        click.echo(json.dumps(dict(facts.as_data(), findings=[f._asdict() for f in findings]), indent=2))
        return
    trail = []
    if options["verbose"]:
        for vendor in (facts.accelerators.nvidia, facts.accelerators.amd):
            trail.extend(vendor.trail if vendor else [])
    click.echo(report.render_text(report.sections(facts), trail), nl=False)
    click.echo("\nFindings")
    click.echo("\n".join(render_lines(findings)))


def _split_packages(ctx, param, value):
    names = tuple(part.strip() for part in (value or "").split(",") if part.strip())
    unknown = [name for name in names if name not in ("torchvision", "torchaudio")]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)}: only torchvision and torchaudio are planned alongside torch")
    return names


def stacked(*options):
    """Several click options as one decorator, in the order given."""

    def apply(command):
        for option in reversed(options):
            command = option(command)
        return command

    return apply


# The options that decide a plan, shared by plan, install, bundle and project; each has a TORCHUP_* variable.
plan_options = stacked(
    click.option(
        "--torch",
        "torch_spec",
        metavar="SPEC",
        envvar="TORCHUP_TORCH",
        help="A torch version or range: 2.7, 2.7.1, '>=2.5,<2.8'. Default: the newest that fits.",
    ),
    click.option(
        "--variant", default="auto", show_default=True, envvar="TORCHUP_VARIANT", help="The build: cpu, cu128, rocm6.4, xpu, default (macOS), or auto."
    ),
    click.option(
        "--with",
        "with_packages",
        metavar="NAMES",
        callback=_split_packages,
        envvar="TORCHUP_WITH",
        help="Companions from the same build: torchvision,torchaudio.",
    ),
    click.option("--os", "os_name", type=click.Choice(["linux", "windows", "macos"]), envvar="TORCHUP_OS", help="Plan for this OS instead of this machine's."),
    click.option("--arch", type=click.Choice(["x86_64", "aarch64", "arm64"]), envvar="TORCHUP_ARCH", help="Plan for this architecture."),
    click.option("--python-version", metavar="X.Y", envvar="TORCHUP_PYTHON_VERSION", help="Plan for this Python version instead of the target's."),
    click.option("--nvidia-driver", metavar="VERSION", envvar="TORCHUP_NVIDIA_DRIVER", help="Take this NVIDIA driver version."),
    click.option("--gpu-cc", multiple=True, metavar="X.Y", envvar="TORCHUP_GPU_CC", help="A GPU's compute capability; repeat once per GPU."),
    click.option(
        "--jetson",
        "jetson",
        metavar="L4T",
        envvar="TORCHUP_JETSON",
        help="Plan for a Jetson board with this L4T release (36.4: JetPack 6, 38.2: JetPack 7); with --gpu-cc for its GPU.",
    ),
    click.option("--rocm-arch", multiple=True, metavar="GFX", envvar="TORCHUP_ROCM_ARCH", help="An AMD GPU architecture (gfx942); repeat once per GPU."),
    click.option("--no-gpu", is_flag=True, envvar="TORCHUP_NO_GPU", help="Plan as if there were no GPU."),
    click.option("--offline", is_flag=True, envvar="TORCHUP_OFFLINE", help="Decide from the bundled data; do not read the index."),
    click.option("--index-base", metavar="URL", envvar="TORCHUP_INDEX_BASE", help="A mirror root that replaces https://download.pytorch.org/whl."),
)


def overrides_from(given):
    """The plan options as the planner's Overrides (imported here, not at start-up); a command
    that has only some of them (project init) passes those, the rest keep their defaults."""
    from .compat import load
    from .plan import Overrides
    from .plan.policy import PlanError, known_variants, parse_compute_capability, parse_driver, parse_index_base, parse_l4t, parse_python_version

    options = dict(
        torch_spec=None,
        variant="auto",
        with_packages=(),
        os_name=None,
        arch=None,
        python_version=None,
        nvidia_driver=None,
        gpu_cc=(),
        jetson=None,
        rocm_arch=(),
        no_gpu=False,
        offline=False,
        index_base=None,
    )
    options.update(given)
    flags = {"torch_spec": "--torch", "variant": "--variant", "python_version": "--python-version", "nvidia_driver": "--nvidia-driver", "jetson": "--jetson"}
    for name, flag in flags.items():
        if options[name] and len(options[name]) > MAX_VALUE:
            raise PlanError(f"{flag} {options[name][:20]}…: {len(options[name])} characters, more than any such value has")
    for flag, values in (("--gpu-cc", options["gpu_cc"]), ("--rocm-arch", options["rocm_arch"])):
        if any(len(value) > MAX_VALUE for value in values):
            raise PlanError(f"{flag}: a value of more than {MAX_VALUE} characters")
    torch_spec, variant = options["torch_spec"], options["variant"]
    if torch_spec and "+" in torch_spec:
        # "2.7.1+cu118" names the build too.
        torch_spec, local = torch_spec.split("+", 1)
        variant = local if variant == "auto" else variant
    if variant != "auto" and variant not in known_variants(load()):
        raise PlanError(f"--variant {variant}: not a build torchup knows", hint="known: auto, " + ", ".join(known_variants(load())))
    return Overrides(
        torch=torch_spec,
        variant=variant,
        with_packages=options["with_packages"],
        os=options["os_name"],
        arch=options["arch"],
        python_version=parse_python_version(options["python_version"]) if options["python_version"] else None,
        nvidia_driver=parse_driver(options["nvidia_driver"]) if options["nvidia_driver"] else None,
        gpu_cc=tuple(parse_compute_capability(cc) for cc in options["gpu_cc"]),
        jetson=parse_l4t(options["jetson"]) if options["jetson"] else None,
        rocm_arch=tuple(arch for given in options["rocm_arch"] for arch in given.replace(",", " ").split()),
        no_gpu=options["no_gpu"],
        offline=options["offline"],
        index_base=parse_index_base(options["index_base"]) if options["index_base"] else None,
    )


@cli.command()
@python_option
@plan_options
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (with a schema version), nothing else.")
@click.pass_obj
def plan(options, python, as_json, **plan_choices):
    """Choose the torch build and index for the target, and say why."""
    from .plan import make_plan
    from .plan.report import render_text

    overrides = overrides_from(plan_choices)
    facts = None
    if overrides.needs_detection():
        from .detect import detect as run_detect

        facts = run_detect(python, Host(timeout=options["timeout"]))
    result = make_plan(facts, overrides, timeout=options["timeout"])
    if as_json:
        click.echo(json.dumps(result.as_data(), indent=2))
    else:
        click.echo(render_text(result), nl=False)


@cli.command()
@python_option
@click.option("--venv", metavar="DIR", help="Install into this venv, created when missing (instead of --python).")
@click.option(
    "--installer",
    "installer_choice",
    type=click.Choice(["auto", "uv", "pip"]),
    default="auto",
    show_default=True,
    envvar="TORCHUP_INSTALLER",
    help="uv when present, else pip.",
)
@click.option("--dry-run", is_flag=True, help="Print the exact commands; change nothing.")
@click.option("--find-links", multiple=True, metavar="DIR", help="Also take wheels from this directory (a wheelhouse); repeatable.")
@click.option("--no-index", is_flag=True, help="Use only --find-links: an air-gapped install.")
@click.option("--break-system-packages", is_flag=True, help="Install into an externally managed (PEP 668) Python anyway. A last resort.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before installing.")
@click.option("--no-wait", is_flag=True, help="When another torchup run is installing into the target, stop instead of waiting for it.")
@click.option(
    "--compile-bytecode/--no-compile-bytecode",
    default=None,
    help="Compile every installed file to bytecode (default: only where imports cannot, PYTHONDONTWRITEBYTECODE).",
)
@click.option("--bundle", metavar="DIR", help="Install from a directory made by `torchup bundle` (air-gapped): checked first, then the only source.")
@plan_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (progress goes to stderr).")
@click.pass_obj
def install(
    options,
    python,
    venv,
    installer_choice,
    dry_run,
    find_links,
    no_index,
    break_system_packages,
    yes,
    no_wait,
    compile_bytecode,
    bundle,
    as_json,
    **plan_choices,
):
    """Install numpy, scipy and the planned torch, then verify them."""
    import sys as _sys

    from . import install as installing

    if bundle and (find_links or no_index):
        raise click.BadParameter("a bundle is the only source: give --bundle alone", param_hint="--bundle")
    if bundle and not os.path.isfile(os.path.join(bundle, "bundle.json")):
        raise TorchupError(f"--bundle {bundle}: not a bundle (no bundle.json)", hint="make one on a connected machine: torchup bundle -o DIR")
    if no_index and not find_links:
        raise click.BadParameter("--no-index needs --find-links DIR", param_hint="--no-index")
    for directory in find_links:
        if not os.path.isdir(directory):
            raise click.BadParameter(f"{directory}: not a directory", param_hint="--find-links")
    install_options = installing.Options(
        python,
        venv,
        installer_choice,
        dry_run,
        tuple(os.path.abspath(d) for d in find_links),
        no_index,
        break_system_packages,
        no_wait,
        bundle,
        compile_bytecode,
    )
    overrides = overrides_from(plan_choices)
    say = lambda line: click.echo(line, err=True)  # noqa: E731  progress on stderr keeps --json's stdout clean
    if not (yes or dry_run or as_json) and _sys.stdin.isatty():
        click.confirm("Install PyTorch with numpy and scipy now?", default=True, abort=True, err=True)
    try:
        result = installing.install(install_options, overrides, Host(timeout=options["timeout"]), say)
    except TorchupError as error:
        if as_json:  # a pipeline reading stdout learns of the failure too
            click.echo(json.dumps({"schema": 1, "status": "failed", "error": error.message, "hint": error.hint, "exit_code": error.exit_code}, indent=2))
        raise
    if os.environ.get("GITHUB_STEP_SUMMARY") and result.status != "dry-run":
        from .redact import redact

        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
            handle.write(redact(installing.render_markdown(result)))
    if as_json:
        click.echo(json.dumps(result.as_data(), indent=2))
    else:
        click.echo(installing.render_text(result), nl=False)


@cli.command()
@python_option
@click.argument("names", nargs=-1, metavar="[CHECK|GROUP]...")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (with a schema version), nothing else.")
@click.option("--junit", metavar="FILE", callback=_writable, help="Also write JUnit XML, one testcase per check, for CI systems.")
@click.option("--markdown", is_flag=True, help="Print a paste-ready report for a bug tracker (home paths, user names, GPU UUIDs redacted).")
@click.option("--strict", is_flag=True, help="Warnings fail the run too.")
@click.option("--list-checks", is_flag=True, help="List the checks and their groups, then exit.")
@click.option(
    "--check-timeout",
    type=Seconds(),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="How long one check may take before it is stopped.",
)
@click.option("--extra-checks", type=click.Path(exists=True, dir_okay=False), metavar="FILE", help="A Python file registering site-specific checks.")
@click.option(
    "--expect",
    "expectations",
    multiple=True,
    metavar="KEY=VALUE",
    help="Require of the environment, as a check: variant=cpu, 'torch>=2.7', cuda=13.0, gpus>=8. Repeatable.",
)
@click.pass_obj
def doctor(options, python, names, as_json, junit, markdown, strict, list_checks, check_timeout, extra_checks, expectations):
    """Run real computations in the target and report each check with evidence and a fix."""
    from . import doctor as diagnosing
    from . import target
    from .doctor import expect

    if extra_checks:
        extra_checks = os.path.abspath(extra_checks)
        diagnosing.load_extra_checks(extra_checks)
    if list_checks:
        click.echo(diagnosing.list_checks(), nl=False)
        return
    interpreter = target.checked_interpreter(python, os.environ, options["timeout"])
    from .doctor.report import TextStream

    wanted = expect.parse(list(expectations))
    # The text report streams: each check's lines as it finishes.
    stream = None if (as_json or markdown) else TextStream(interpreter, lambda line: click.echo(line), options["verbose"])
    try:
        outcome = diagnosing.run(interpreter, names, strict, check_timeout, extra_checks, expectations=wanted, on_result=stream.add if stream else None)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="CHECK|GROUP") from None
    diagnosing.write_outputs(
        outcome,
        as_json,
        junit,
        markdown,
        options["verbose"],
        echo=lambda text, end="\n": click.echo(text, nl=end == "\n"),
        echo_err=lambda text: click.echo(text, err=True),
        stream=stream,
    )
    click.get_current_context().exit(outcome["exit_code"])


@cli.command()
@python_option
@click.option("--apply", "apply_fixes", is_flag=True, help="Carry out the safe fixes (no root; only the target, or what you named).")
@click.option("--system", is_flag=True, help="With --apply, as root: also run the package-manager commands.")
@click.option("--mirror", metavar="URL", help="Write a pip configuration that uses this index (an http(s) URL).")
@click.option("--json", "as_json", is_flag=True, help="Print findings, plan and changes as JSON.")
@click.pass_obj
def fix(options, python, apply_fixes, system, mirror, as_json):
    """Diagnose broken pip, TLS and PEP 668 setups, and give (or apply) the exact fix."""
    from . import fix as fixing
    from .detect import detect as run_detect
    from .findings import find

    mirror = fixing.check_mirror(mirror)
    if system and not apply_fixes:
        raise click.BadParameter("--system goes with --apply", param_hint="--system")
    host = Host(timeout=options["timeout"])
    facts = run_detect(python, host)
    findings = find(facts)
    actions = fixing.plan(facts, findings, mirror)
    changes = after = None
    if apply_fixes:
        changes = fixing.apply(actions, mirror, facts, system, host.env)
        after = find(run_detect(python, host))
    remaining = after if after is not None else findings
    if as_json:
        click.echo(
            json.dumps(
                {
                    "schema": 1,
                    "python": facts.python,
                    "findings": [f._asdict() for f in findings],
                    "actions": [a._asdict() for a in actions],
                    "changes": [c._asdict() for c in changes] if changes is not None else None,
                    "remaining": [f._asdict() for f in remaining],
                },
                indent=2,
            )
        )
    else:
        click.echo(fixing.render_text(facts.python, findings, actions, changes, after), nl=False)
    click.get_current_context().exit(1 if fixing.blocking(remaining) else 0)


@cli.command()
@click.option("-o", "--output", required=True, metavar="DIR", help="The bundle's directory (created; files already there and right are kept).")
@click.option("--from-detect", type=click.Path(exists=True, dir_okay=False), metavar="FILE", help="A `torchup detect --json` file captured on the target.")
@python_option
@plan_options
@click.pass_obj
def bundle(options, output, from_detect, python, **plan_choices):
    """Download everything an air-gapped machine needs, resolved for that machine, with a manifest."""
    from pathlib import Path as _Path

    from . import bundle as bundling

    overrides = overrides_from(plan_choices)
    document = None
    if from_detect:
        try:
            document = json.loads(_Path(from_detect).read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise click.BadParameter(f"{from_detect}: not JSON", param_hint="--from-detect") from None
    say = lambda line: click.echo(line, err=True)  # noqa: E731
    made = bundling.make(output, document, python, overrides, Host(timeout=options["timeout"]), say)
    click.echo(
        f"Bundle for {made.target.uv_platform()}, Python {made.target.python}: torch {made.torch} in {made.directory}\n"
        f"  on the target: torchup install --bundle {made.directory}"
    )


@cli.group(cls=TorchupGroup)
def project():
    """torch per platform in a project's pyproject.toml and lock (uv, poetry, pdm): write it, check it."""


def _split_builds(ctx, param, value):
    from .compat import Build

    builds = tuple(part.strip() for part in (value or "").split(",") if part.strip())
    unknown = [build for build in builds if Build.parse(build) is None]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)}: not a build (e.g. cpu, cu130, rocm7.2)")
    return builds


@project.command("init")
@click.argument("path", default=".", type=click.Path(file_okay=False, path_type=str))
@click.option("--tool", type=click.Choice(["uv", "poetry", "pdm"]), required=True, help="The tool that manages the project.")
@click.option("--variant", default="auto", show_default=True, help="The Linux build: auto (what this machine runs), cpu, cu130, …")
@click.option("--extras", metavar="BUILDS", callback=_split_builds, help="uv: one optional group per build instead, e.g. cpu,cu130 (uv sync --extra cu130).")
@click.option("--with", "with_packages", metavar="NAMES", callback=_split_packages, help="Companions from the same build: torchvision,torchaudio.")
@click.option("--torch", "torch_spec", metavar="SPEC", help="A torch release or range (default: the newest that fits).")
@click.option("--index-base", metavar="URL", help="A mirror root that replaces https://download.pytorch.org/whl.")
@click.option("--dry-run", is_flag=True, help="Print the change as a diff; write nothing.")
@click.pass_obj
def project_init(options, path, tool, variant, extras, with_packages, torch_spec, index_base, dry_run):
    """Write torch, its companions and their indexes into PATH/pyproject.toml, as TOOL documents it."""
    from pathlib import Path as _Path

    from . import project as projects
    from .compat import load
    from .detect import detect as run_detect
    from .plan import make_plan

    if extras and tool != "uv":
        raise click.BadParameter("optional groups per build are uv's (conflicts); poetry and pdm get the Linux build", param_hint="--extras")
    projects.read(_Path(path) / "pyproject.toml")  # a missing or broken file stops here, before any detection
    overrides = overrides_from(dict(torch_spec=torch_spec, variant=variant, with_packages=with_packages, index_base=index_base))
    host = Host(timeout=options["timeout"])
    facts = run_detect(None, host)
    if facts.machine.os != "Linux":  # planning Linux from another OS: its CPU build, unless a variant is named
        overrides = overrides._replace(os="linux", arch="x86_64", no_gpu=variant == "auto")
    linux_plan = make_plan(facts, overrides, timeout=host.timeout)
    result = projects.init(_Path(path), tool, linux_plan, extras, (overrides.index_base or load().default_index_base), dry_run)
    for note in result.notes:
        click.echo(f"  ! {note}", err=True)
    if dry_run:
        click.echo(result.diff or f"{result.path}: nothing to change\n", nl=False)
    elif result.changed:
        click.echo(f"{result.path}: torch {linux_plan.decision.release.version} for {tool} written; next: {NEXT_STEP[tool]}")
    else:
        click.echo(f"{result.path}: already configured for torch {linux_plan.decision.release.version}: nothing to change")


@project.command("check")
@click.argument("path", default=".", type=click.Path(file_okay=False, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON (with a schema version), nothing else.")
@click.option("--junit", metavar="FILE", callback=_writable, help="Also write JUnit XML, one testcase per check, for CI systems.")
@click.pass_obj
def project_check(options, path, as_json, junit):
    """Check PATH's pyproject.toml and lock for the ways torch goes wrong there; exit 1 on any finding."""
    from pathlib import Path as _Path

    from .compat import load
    from .detect import detect as run_detect
    from .plan import Overrides, build_inputs
    from .project import check as checking

    project = checking.load(_Path(path))
    inputs = None
    if project.lock:  # whether this machine runs the locked torch: its GPU and driver, detected
        inputs = build_inputs(run_detect(None, Host(timeout=options["timeout"])), Overrides())[0]
    findings = checking.check(project, load(), inputs)
    if junit:
        from .files import write_text

        write_text(junit, checking.render_junit(findings))
    if as_json:
        click.echo(
            json.dumps(
                {
                    "schema": 1,
                    "project": str(project.directory),
                    "lock": str(project.lock) if project.lock else None,
                    "checks": checking.CHECKS,
                    "findings": [f._asdict() for f in findings],
                },
                indent=2,
            )
        )
    else:
        click.echo(checking.render_text(findings, project), nl=False)
    click.get_current_context().exit(1 if findings else 0)


@cli.group(cls=TorchupGroup)
def fleet():
    """Validate many nodes at once on torchrun, and show where they differ."""


def _nproc(ctx, param, value):
    if value == "auto" or (value.isdigit() and 0 < int(value) <= 1024):
        return value
    raise click.BadParameter(f"{value!r}: a number of processes, or auto (one per GPU, else one)")


allow_drift_option = click.option(
    "--allow-drift",
    "allowed_drift",
    multiple=True,
    metavar="KEY",
    help="A fact allowed to differ between nodes (a glob, e.g. 'env.NCCL_SOCKET_IFNAME'); repeatable.",
)


def _report_outputs(judged, as_json, markdown, junit, html):
    from .files import write_text
    from .fleet import report as fleet_report
    from .redact import redact

    for path, render in ((junit, fleet_report.render_junit), (html, fleet_report.render_html)):
        if path:
            write_text(path, redact(render(judged)))
    if as_json:
        click.echo(fleet_report.render_json(judged), nl=False)
    elif markdown:
        click.echo(fleet_report.render_markdown(judged), nl=False)
    else:
        click.echo(fleet_report.render_text(judged), nl=False)


report_formats = stacked(
    click.option("--json", "as_json", is_flag=True, help="Print the fleet report as JSON (with a schema version), nothing else."),
    click.option("--markdown", is_flag=True, help="Print a Markdown summary: the drift table and the nodes that are not healthy."),
    click.option("--junit", metavar="FILE", callback=_writable, help="Also write JUnit XML: one testcase per node and check."),
    click.option("--html", metavar="FILE", callback=_writable, help="Also write one self-contained HTML page: the node × check grid."),
)


@fleet.command("launch")
@python_option
@click.option("--nnodes", type=click.IntRange(1, 100000), required=True, help="How many nodes take part.")
@click.option("--node-rank", type=click.IntRange(0), required=True, help="This node's number, 0 to NNODES-1 (Slurm: $SLURM_NODEID).")
@click.option("--master", required=True, metavar="HOST:PORT", help="Node 0's address and a free port: the rendezvous.")
@click.option("--nproc-per-node", default="auto", show_default=True, callback=_nproc, help="Processes on this node: a number, or auto (one per GPU, else one).")
@click.option("--out", default="torchup-fleet", show_default=True, metavar="DIR", help="Where node-<rank>.json goes (and on node 0 fleet.json and fleet.html).")
@click.option(
    "--timeout", "run_timeout", type=Seconds(), default=600, show_default=True, help="The whole run, joining included; then the report says what was missed."
)
@allow_drift_option
@click.option(
    "--extra-checks", type=click.Path(exists=True, dir_okay=False), metavar="FILE", help="A Python file registering site-specific checks (as for doctor)."
)
@click.argument("names", nargs=-1, metavar="[CHECK|GROUP]...")
@report_formats
@click.pass_obj
def fleet_launch(
    options, python, nnodes, node_rank, master, nproc_per_node, out, run_timeout, allowed_drift, extra_checks, names, as_json, markdown, junit, html
):
    """Run the fleet checks on this node under torchrun; run it on every node."""
    from . import fleet as fleets
    from . import target

    if node_rank >= nnodes:
        raise click.BadParameter(f"{node_rank}: node ranks go from 0 to {nnodes - 1}", param_hint="--node-rank")
    from . import doctor as diagnosing

    where = fleets.parse_master(master)
    limits = fleets.budget(run_timeout)
    out = fleets.prepare_out(out, node_rank)
    if extra_checks:
        extra_checks = os.path.abspath(extra_checks)
        diagnosing.load_extra_checks(extra_checks)
    steps, doctor_checks = fleets.select(names)  # an unknown check is bad input, said before anything starts
    interpreter = target.checked_interpreter(python, os.environ, options["timeout"])
    nproc = fleets.gpu_count() if nproc_per_node == "auto" else int(nproc_per_node)
    judged = fleets.launch(interpreter, nnodes, node_rank, where, nproc, out, limits, steps, doctor_checks, allowed_drift, extra_checks)
    _report_outputs(judged, as_json, markdown, junit, html)
    click.get_current_context().exit(judged["exit_code"])


@fleet.command("report")
@click.argument("paths", nargs=-1, required=True, metavar="DIR|FILE...")
@allow_drift_option
@report_formats
def fleet_report(paths, allowed_drift, as_json, markdown, junit, html):
    """Merge node reports (and `doctor --json` files) into one fleet report."""
    from . import fleet as fleets

    judged = fleets.merge(paths, allowed_drift)
    _report_outputs(judged, as_json, markdown, junit, html)
    click.get_current_context().exit(judged["exit_code"])


NEXT_STEP = {"uv": "uv lock && uv sync", "poetry": "poetry lock && poetry install", "pdm": "pdm lock && pdm install"}


def main():
    # Credentials in URLs never reach the screen, whatever the format: the one output boundary.
    sys.stdout, sys.stderr = RedactingStream(sys.stdout), RedactingStream(sys.stderr)
    try:
        code = cli.main(prog_name="torchup", standalone_mode=False)
    except click.UsageError as error:  # click's own errors, one line and a hint, as torchup's are
        ctx = error.ctx
        message = _from_environment(ctx, error.format_message()) if ctx else error.format_message()
        _fail(message, f"see: {ctx.command_path} --help" if ctx else "see: torchup --help", USAGE_EXIT)
    except click.ClickException as error:
        _fail(error.format_message(), None, USAGE_EXIT)
    except click.Abort:
        _fail("aborted", None, 1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    sys.exit(main())
