"""The ``torchup`` command line: parse options, call into installer and diagnostics, render."""

import json
import sys
import traceback

import click

from . import __version__
from .errors import TorchupError
from .host import Host
from .runner import DEFAULT_TIMEOUT

INTERNAL_ERROR_EXIT = 3


class TorchupGroup(click.Group):
    """Turns torchup's own errors into one actionable line, and anything else into exit code 3."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except TorchupError as error:
            click.echo(f"torchup: error: {error.message}", err=True)
            if error.hint:
                click.echo(f"  hint: {error.hint}", err=True)
            if ctx.obj and ctx.obj.get("verbose"):
                traceback.print_exc()
            ctx.exit(error.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as error:  # an internal error: say so, keep the traceback for --verbose
            click.echo(f"torchup: internal error: {type(error).__name__}: {error}", err=True)
            if ctx.obj and ctx.obj.get("verbose"):
                traceback.print_exc()
            else:
                click.echo("  run again with --verbose for the traceback", err=True)
            ctx.exit(INTERNAL_ERROR_EXIT)


@click.group(cls=TorchupGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="torchup")
@click.option("-v", "--verbose", is_flag=True, help="Show where each fact came from, and tracebacks.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    envvar="TORCHUP_TIMEOUT",
    help="Seconds any one external command (nvidia-smi, the probe) may take.",
)
@click.pass_context
def cli(ctx, verbose, timeout):
    """Take this machine to a working PyTorch, and prove it works."""
    ctx.obj = {"verbose": verbose, "timeout": timeout}


python_option = click.option(
    "--python",
    "python",
    metavar="PATH",
    help="The target interpreter or venv (default: the active venv, else python3 on PATH).",
)


@cli.command()
@python_option
@click.option("--json", "as_json", is_flag=True, help="Print the facts as JSON (with a schema version), nothing else.")
@click.pass_obj
def detect(options, python, as_json):
    """Report the OS, the target Python, pip, TLS and GPUs."""
    from .detect import detect as run_detect
    from .detect import report

    facts = run_detect(python, Host(timeout=options["timeout"]))
    if as_json:
        click.echo(json.dumps(facts.as_data(), indent=2))
        return
    trail = []
    if options["verbose"]:
        for vendor in (facts.accelerators.nvidia, facts.accelerators.amd):
            trail.extend(vendor.trail if vendor else [])
    click.echo(report.render_text(report.sections(facts), trail), nl=False)


def main():
    cli(prog_name="torchup")


if __name__ == "__main__":
    sys.exit(main())
