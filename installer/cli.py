"""The ``torchup`` command line: options declared, the run context made once, one call per command,
the outcome rendered once (``emit``), and one error path (both in ``output``, which ``quick`` shares).

Nothing but click and this module is imported at start-up (after ``entry``, which may start the
target's probe first, and hands the commonest detect and plan command lines to ``quick``): each
command imports what it needs when it runs, so ``--version`` and ``--help`` load no detection or planning.
"""

import os
import sys
from typing import Optional

import click

from . import __version__
from .context import COMMAND_TIMEOUT
from .errors import USAGE_EXIT, TorchupError
from .output import ABORTED_HINT, echo, fail, help_hint, internal_error, redact_from_here, stop
from .project_tools import NAMES as PROJECT_TOOLS

# Stated in every command's --help, as the README states it (target.DEFAULT_HELP, kept here for start-up time).
TARGET_HELP = "The target interpreter or venv (default: the active venv, else ./.venv where it exists, else python3 on PATH)."


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


def _help_hint(ctx: Optional[click.Context]) -> str:
    return help_hint(ctx.command_path) if ctx else help_hint()


def _one_line(message: str) -> str:
    """click spreads some errors over lines ("Missing option '--tool'. Choose from:\n\tuv, …")."""
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def _usage_hint(error: click.UsageError) -> str:
    ctx = error.ctx
    misplaced = isinstance(error, click.NoSuchOption) and error.option_name in ("-v", "--verbose")
    if misplaced and ctx is not None and ctx.parent is not None:
        return f"{error.option_name} goes before the command: torchup {error.option_name} {ctx.command_path.split(' ', 1)[-1]}"
    return _help_hint(ctx)


def _as_json(ctx: click.Context) -> bool:
    return bool(ctx.params.get("as_json"))


def _stop(ctx: click.Context, error: TorchupError) -> None:
    """torchup's own error ends the command (output.stop), naming a TORCHUP_* variable where the value came from one."""
    stop(ctx.command_path, error, _as_json(ctx), _verbose(ctx), _from_environment(ctx, error.message))


def _verbose(ctx: click.Context) -> bool:
    return bool(ctx.find_root().params.get("verbose"))


class TorchupCommand(click.Command):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except TorchupError as error:
            _stop(ctx, error)
        except click.BadParameter as error:
            error.ctx = error.ctx or ctx
            raise


class TorchupGroup(click.Group):
    """Anything that is not torchup's own error is a bug: exit code 3, with the traceback under --verbose."""

    command_class = TorchupCommand

    def format_commands(self, ctx, formatter):
        """Each command's whole first sentence, wrapped, where click would cut it at the terminal's width."""
        commands = [(name, self.get_command(ctx, name)) for name in self.list_commands(ctx)]
        rows = [(name, command.get_short_help_str(limit=1000)) for name, command in commands if command is not None and not command.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except TorchupError as error:  # from the group's own callback: the run context
            _stop(ctx, error)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as error:
            ctx.exit(internal_error(error, _verbose(ctx)))


class Seconds(click.ParamType):
    """A finite, positive number of seconds (nan and inf would wait forever, or never)."""

    name = "seconds"

    def convert(self, value, param, ctx):
        import math

        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or not 0.1 <= seconds <= 86400:
            self.fail(f"{value!r}: give a number of seconds from 0.1 to 86400", param, ctx)
        return seconds


@click.group(cls=TorchupGroup, context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@click.version_option(__version__, prog_name="torchup")
@click.option("-v", "--verbose", is_flag=True, help="Show where each fact came from, and tracebacks.")
@click.option(
    "--timeout",
    type=Seconds(),
    default=COMMAND_TIMEOUT,
    show_default=True,
    envvar="TORCHUP_TIMEOUT",
    help="Seconds any one external command, index request or target start-up may take.",
)
@click.pass_context
def cli(ctx, verbose, timeout):
    """Take this machine to a working PyTorch, and prove it works."""
    if ctx.invoked_subcommand is None:  # bare `torchup`: its help, as --help gives it
        echo(ctx.get_help())
        ctx.exit(0)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary and not os.path.isdir(os.path.dirname(os.path.abspath(summary))):
        raise TorchupError(
            f"GITHUB_STEP_SUMMARY={summary}: its directory does not exist, so no summary could be written",
            hint="create it, or unset GITHUB_STEP_SUMMARY (GitHub Actions sets it to a file of its own)",
        )
    from .context import Run, Timeouts

    ctx.obj = Run(Timeouts(command=timeout), verbose, lambda line: echo(line, err=True))


def emit(outcome, as_json: bool = False, markdown: bool = False, junit: Optional[str] = None, html: Optional[str] = None) -> None:
    """The outcome, rendered once in each form asked for (output.emit); the run ends with its exit code."""
    from .output import emit as rendered

    ctx = click.get_current_context()
    ctx.exit(rendered(outcome, ctx.obj.verbose, as_json, markdown, junit, html))


def stacked(*options):
    """Several click options as one decorator, in the order given."""

    def apply(command):
        for option in reversed(options):
            command = option(command)
        return command

    return apply


python_option = click.option("--python", "python", metavar="PATH", help=TARGET_HELP)
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (with a schema version), nothing else on stdout.")


def _writable(ctx, param, value):
    """A file to write (--junit, --html): said before any work if its directory does not exist, or a
    link or a directory is in its place."""
    if value is None:
        return value
    from .files import UnsafeOutput, refuse_link

    if not os.path.isdir(os.path.dirname(os.path.abspath(value)) or "."):
        raise click.BadParameter(f"{value}: its directory does not exist", param_hint=param.opts[0])
    try:
        refuse_link(value)
    except UnsafeOutput as error:
        raise click.BadParameter(error.message, param_hint=param.opts[0]) from None
    return value


def _split_packages(ctx, param, value):
    names = tuple(part.strip() for part in (value or "").split(",") if part.strip())
    unknown = [name for name in names if name not in ("torchvision", "torchaudio")]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)}: only torchvision and torchaudio are planned alongside torch")
    return names


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
    click.option(
        "--intel-gpu",
        multiple=True,
        metavar="PCI-ID",
        envvar="TORCHUP_INTEL_GPU",
        help="An Intel GPU by its PCI device id (e20b: Arc B580, as `lspci -nn` shows it); repeat once per GPU.",
    ),
    click.option("--no-gpu", is_flag=True, envvar="TORCHUP_NO_GPU", help="Plan as if there were no GPU."),
    click.option("--offline", is_flag=True, envvar="TORCHUP_OFFLINE", help="Decide from the bundled data; do not read the index."),
    click.option("--index-base", metavar="URL", envvar="TORCHUP_INDEX_BASE", help="A mirror root that replaces https://download.pytorch.org/whl."),
)


def overrides_from(given):
    from .plan.options import overrides_from as parse

    return parse(given)


@cli.command()
@python_option
@json_option
@click.pass_obj
def detect(run, python, as_json):
    """Report the OS, the target Python, pip, TLS and GPUs."""
    from .commands import detect

    emit(detect.run(run, detect.Options(python)), as_json)


@cli.command()
@python_option
@plan_options
@click.option(
    "--export",
    "as_exports",
    is_flag=True,
    help="Print the plan as `export` lines for eval, so your own `pip install torch` and `uv pip install torch` get this build.",
)
@json_option
@click.pass_obj
def plan(run, python, as_exports, as_json, **plan_choices):
    """Choose the torch build and index for the target, and say why."""
    from .commands import plan

    emit(plan.run(run, plan.Options(python, overrides_from(plan_choices), as_exports)), as_json)


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
    run, python, venv, installer_choice, dry_run, find_links, no_index, break_system_packages, yes, no_wait, compile_bytecode, bundle, as_json, **plan_choices
):
    """Install numpy, scipy and the planned torch, then verify them."""
    from . import install as installing
    from .commands import install

    target = installing.Options(
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
    options = install.Options(target, overrides_from(plan_choices))
    install.check(target)  # bad input is said before the question
    if not (yes or dry_run or as_json) and sys.stdin.isatty():
        click.confirm("Install PyTorch with numpy and scipy now?", default=True, abort=True, err=True)
    emit(install.run(run, options), as_json)


@cli.command()
@python_option
@click.argument("names", nargs=-1, metavar="[CHECK|GROUP]...")
@json_option
@click.option("--junit", metavar="FILE", callback=_writable, help="Also write JUnit XML, one testcase per check, for CI systems.")
@click.option(
    "--markdown",
    is_flag=True,
    help="Print a paste-ready report for a bug tracker, starting with the machine's facts (home paths, user names, GPU UUIDs, credentials redacted).",
)
@click.option("--strict", is_flag=True, help="Warnings fail the run too.")
@click.option("--list-checks", is_flag=True, help="List the checks and their groups, then exit.")
@click.option("--check-timeout", type=Seconds(), default=60.0, show_default=True, metavar="SECONDS", help="How long one check may take before it is stopped.")
@click.option("--extra-checks", type=click.Path(exists=True, dir_okay=False), metavar="FILE", help="A Python file registering site-specific checks.")
@click.option(
    "--expect",
    "expectations",
    multiple=True,
    metavar="KEY=VALUE",
    help="Require of the environment, as a check: variant=cpu, 'torch>=2.7', cuda=13.0, 'gpus>=8'. Repeatable.",
)
@click.pass_obj
def doctor(run, python, names, as_json, junit, markdown, strict, list_checks, check_timeout, extra_checks, expectations):
    """Run real computations in the target and report each check with evidence and a fix."""
    from .commands import doctor
    from .doctor import expect
    from .doctor.report import TextStream

    wanted = expect.parse(list(expectations))  # a bad one is said before any check runs
    options = doctor.Options(python, names, strict, os.path.abspath(extra_checks) if extra_checks else None, wanted, list_checks, machine=markdown)
    stream = None if (as_json or markdown or list_checks) else TextStream(echo, run.verbose)  # the text report streams
    emit(doctor.run(run.with_timeouts(check=check_timeout), options, stream), as_json, markdown, junit)


@cli.command()
@python_option
@click.option("--apply", "apply_fixes", is_flag=True, help="Carry out the safe fixes (no root; only the target, or what you named).")
@click.option("--system", is_flag=True, help="With --apply, as root: also run the package-manager commands.")
@click.option("--mirror", metavar="URL", help="Write a pip configuration that uses this index (an http(s) URL).")
@click.option("--json", "as_json", is_flag=True, help="Print findings, plan and changes as JSON.")
@click.pass_obj
def fix(run, python, apply_fixes, system, mirror, as_json):
    """Diagnose broken pip, TLS and PEP 668 setups, and give (or apply) the exact fix."""
    from .commands import fix

    emit(fix.run(run, fix.Options(python, apply_fixes, system, mirror)), as_json)


@cli.command()
@click.option("-o", "--output", required=True, metavar="DIR", help="The bundle's directory (created; files already there and right are kept).")
@click.option("--from-detect", type=click.Path(exists=True, dir_okay=False), metavar="FILE", help="A `torchup detect --json` file captured on the target.")
@python_option
@plan_options
@json_option
@click.pass_obj
def bundle(run, output, from_detect, python, as_json, **plan_choices):
    """Download everything an air-gapped machine needs, resolved for that machine, with a manifest."""
    from .commands import bundle

    emit(bundle.run(run, bundle.Options(output, from_detect, python, overrides_from(plan_choices))), as_json)


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
@click.option("--tool", type=click.Choice(PROJECT_TOOLS), required=True, help="The tool that manages the project.")
@click.option("--variant", default="auto", show_default=True, help="The Linux build: auto (what this machine runs), cpu, cu130, …")
@click.option("--extras", metavar="BUILDS", callback=_split_builds, help="uv: one optional group per build instead, e.g. cpu,cu130 (uv sync --extra cu130).")
@click.option("--with", "with_packages", metavar="NAMES", callback=_split_packages, help="Companions from the same build: torchvision,torchaudio.")
@click.option("--torch", "torch_spec", metavar="SPEC", help="A torch release or range (default: the newest that fits).")
@click.option("--index-base", metavar="URL", help="A mirror root that replaces https://download.pytorch.org/whl.")
@click.option("--offline", is_flag=True, help="Decide from the bundled data without reading the index, and write it unconfirmed (an index only CI can reach).")
@click.option("--dry-run", is_flag=True, help="Print the change as a diff; write nothing.")
@json_option
@click.pass_obj
def project_init(run, path, tool, variant, extras, with_packages, torch_spec, index_base, offline, dry_run, as_json):
    """Write torch, its companions and their indexes into PATH/pyproject.toml, as TOOL documents it."""
    from .commands import project

    overrides = overrides_from(dict(torch_spec=torch_spec, variant=variant, with_packages=with_packages, index_base=index_base, offline=offline))
    emit(project.init(run, project.InitOptions(path, tool, overrides, extras or (), dry_run)), as_json)


@project.command("check")
@click.argument("path", default=".", type=click.Path(file_okay=False, path_type=str))
@json_option
@click.option("--junit", metavar="FILE", callback=_writable, help="Also write JUnit XML, one testcase per check, for CI systems.")
@click.pass_obj
def project_check(run, path, as_json, junit):
    """Check PATH's pyproject.toml and lock for the ways torch goes wrong there; exit 1 on any finding."""
    from .commands import project

    emit(project.check(run, project.CheckOptions(path)), as_json, junit=junit)


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
@click.option("--run-timeout", type=Seconds(), default=600, show_default=True, help="The whole run, joining included; then the report says what was missed.")
@allow_drift_option
@click.option(
    "--extra-checks", type=click.Path(exists=True, dir_okay=False), metavar="FILE", help="A Python file registering site-specific checks (as for doctor)."
)
@click.argument("names", nargs=-1, metavar="[CHECK|GROUP]...")
@report_formats
@click.pass_obj
def fleet_launch(run, python, nnodes, node_rank, master, nproc_per_node, out, run_timeout, allowed_drift, extra_checks, names, as_json, markdown, junit, html):
    """Run the fleet checks on this node under torchrun; run it on every node."""
    from .commands import fleet

    extra = os.path.abspath(extra_checks) if extra_checks else None
    options = fleet.LaunchOptions(python, nnodes, node_rank, master, nproc_per_node, out, allowed_drift, extra, names)
    emit(fleet.launch(run.with_timeouts(fleet_run=run_timeout), options), as_json, markdown, junit, html)


@fleet.command("report")
@click.argument("paths", nargs=-1, required=True, metavar="DIR|FILE...")
@allow_drift_option
@report_formats
@click.pass_obj
def fleet_report(run, paths, allowed_drift, as_json, markdown, junit, html):
    """Merge node reports (and `doctor --json` files) into one fleet report."""
    from .commands import fleet

    emit(fleet.report(run, fleet.ReportOptions(list(paths), allowed_drift)), as_json, markdown, junit, html)


def main():
    redact_from_here(sys.argv[1:])
    try:
        code = cli.main(prog_name="torchup", standalone_mode=False)
    except getattr(click.exceptions, "NoArgsIsHelpError", ()) as error:  # `torchup project`: its help, as --help gives it
        echo(error.ctx.get_help())
        code = 0
    except click.UsageError as error:  # click's own errors, one line and a hint, as torchup's are
        ctx = error.ctx
        message = _from_environment(ctx, error.format_message()) if ctx else error.format_message()
        fail(_one_line(message), _usage_hint(error), USAGE_EXIT)
    except click.ClickException as error:
        fail(error.format_message().splitlines()[0], help_hint(), USAGE_EXIT)
    except click.Abort:
        fail("aborted", ABORTED_HINT, 1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    sys.exit(main())
