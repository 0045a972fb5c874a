"""What a run writes, and how it ends: the outcome rendered once, an error as one line and a hint.

Shared by the command line (``cli``) and the commands started without click (``quick``), so a run
reads the same whichever of them parsed it. Everything goes through ``sys.stdout`` and
``sys.stderr``, which :func:`redact_from_here` puts behind the one redaction boundary.
"""

import os
import sys
from typing import Optional

from .errors import USAGE_EXIT

INTERNAL_ERROR_EXIT = 3
ABORTED_HINT = "run the same command again, with --yes to skip the question"


def redact_from_here(argv) -> None:
    """Credentials never reach the screen, whatever the format: those of the environment and the
    command line are known from here on, and everything written passes the one output boundary."""
    from .redact import RedactingStream, remember_where_secrets_enter

    remember_where_secrets_enter(os.environ, argv)
    sys.stdout, sys.stderr = RedactingStream(sys.stdout), RedactingStream(sys.stderr)


def echo(text: str = "", err: bool = False, nl: bool = True) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n" if nl else text)
    stream.flush()


def fail(message: str, hint: str, code: int) -> None:
    """The one way a run ends in error: one line saying what, one saying how to go on."""
    echo(f"torchup: error: {message}", err=True)
    echo(f"  hint: {hint}", err=True)
    sys.exit(code)


def help_hint(command_path: str = "torchup") -> str:
    """The hint of an error that has no better one: the help of the command it ended."""
    return f"see: {command_path} --help"


def emit(outcome, verbose: bool, as_json: bool = False, markdown: bool = False, junit: Optional[str] = None, html: Optional[str] = None) -> int:
    """The outcome, rendered once in each form asked for and redacted on its way out; the run's exit code."""
    from .redact import redact

    if junit or html:
        from .files import write_text

        for path, text in ((junit, outcome.render_junit()), (html, outcome.render_html())):
            if path:
                write_text(path, redact(text))
    if as_json:
        echo_json(outcome.as_data())
    elif markdown:
        echo(redact(outcome.render_markdown()), nl=False)
    else:
        echo(redact(outcome.render_text(verbose)), nl=False)
    append_summary(outcome.step_summary())
    if os.environ.get("GITHUB_ACTIONS") == "true":
        # Workflow commands are read from stdout; with --json that stays the document alone.
        for line in outcome.annotations():
            echo(redact(line), err=as_json)
    return outcome.exit_code


def stop(command_path: str, error, as_json: bool, verbose: bool, message: Optional[str] = None) -> None:
    """torchup's own error ends the command (``torchup plan``, ``torchup project init``) as one line
    and a hint; a failed run asked for JSON is also a JSON document on stdout, and a CI job's
    summary page says it failed. Bad input (exit 2) is said before any work, so it writes nothing
    else. ``message``: the error's message as the user gave the value (naming a TORCHUP_* variable, say)."""
    if verbose:
        import traceback

        traceback.print_exc()
    if error.exit_code != USAGE_EXIT:
        from .outcome import Failed

        failed = Failed(command_path.split(" ", 1)[-1], error.message, error.hint, error.exit_code)
        if as_json:
            echo_json(failed.as_data())
        append_summary(failed.step_summary())
    fail(message or error.message, error.hint or help_hint(command_path), error.exit_code)


def internal_error(error: Exception, verbose: bool) -> int:
    """Anything that is not torchup's own error is a bug: exit code 3, with the traceback under --verbose."""
    echo(f"torchup: internal error: {type(error).__name__}: {error}", err=True)
    if verbose:
        import traceback

        traceback.print_exc()
    else:
        echo("  hint: run again with --verbose for the traceback, and report it", err=True)
    return INTERNAL_ERROR_EXIT


def echo_json(document: dict) -> None:
    import json

    from .redact import redact

    echo(redact(json.dumps(document, indent=2)))


def append_summary(markdown: Optional[str]) -> None:
    """A CI job's summary page (GITHUB_STEP_SUMMARY, a file GitHub hands each step) gets the Markdown too."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path and markdown:
        from .redact import redact

        with open(path, "a", encoding="utf-8") as handle:
            handle.write(redact(markdown) + "\n")
