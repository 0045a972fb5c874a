"""``torchup doctor``: select checks, run them in workers of the target interpreter, and write the
report in the forms asked for. The process running this never imports torch: it reads the kit's
list of checks (``torchup.diagnostics.checks``), and the checks themselves run in the target."""

import importlib.util
import os
import time

from ...diagnostics import checks
from ..errors import TorchupError
from ..redact import redact
from . import pool, report


def load_extra_checks(path):
    """Site-specific checks: a Python file registering more with ``@torchup.diagnostics.checks.check``.

    Whatever goes wrong in it (a syntax error, an exception, a sys.exit) is bad input, said in one line.
    """
    spec = importlib.util.spec_from_file_location("torchup_extra_checks", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except BaseException as error:  # SystemExit too: the file must not end the run
        where = f" (line {error.lineno})" if isinstance(error, SyntaxError) else ""
        raise TorchupError(
            f"--extra-checks {path}: {type(error).__name__}{where}: {error}", hint="the file must only define checks with @torchup.diagnostics.checks.check"
        ) from None


def list_checks():
    width = max(len(c.id) for c in checks.CHECKS)
    return "\n".join("%-*s  %s%s" % (width, c.id, c.title, "  (opt-in)" if c.opt_in else "") for c in checks.CHECKS) + "\n"


def run(python, names=(), strict=False, check_timeout=pool.CHECK_TIMEOUT, extra_checks=None, env=None, expectations=(), on_result=None):
    """The report of the checks named (ids or groups; by default all but the opt-in ones), and of
    each expectation (``--expect``), judged from what the install checks found."""
    from . import expect

    selected = [c.id for c in checks.select(list(names))]
    if expectations:  # they are judged from the install group's facts: run it too
        selected = list(dict.fromkeys(["install.import", "install.build"] + selected))
    started = time.monotonic()
    results = pool.run_checks(python, selected, env=env, check_timeout=check_timeout, extra_checks=extra_checks, on_result=on_result)
    judged = expect.results_for(list(expectations), results)
    for result in judged if on_result else ():
        on_result(result)
    results += judged
    return report.build(python, results, time.monotonic() - started, strict=strict)


def write_outputs(outcome, as_json=False, junit=None, markdown=False, verbose=False, echo=print, echo_err=None, stream=None):
    """Print the report in the form asked for (the rest of it, for a text report streamed as the
    checks ran), write the JUnit file, annotate GitHub Actions runs."""
    if junit:
        from ..files import write_text

        write_text(junit, redact(report.render_junit(outcome)))
    if as_json:
        echo(report.render_json(outcome))
    elif markdown:
        echo(report.render_markdown(outcome), end="")
    elif stream is not None:
        stream.finish(outcome)
    else:
        echo(report.render_text(outcome, verbose=verbose), end="")
    if os.environ.get("GITHUB_STEP_SUMMARY"):  # the job's summary page shows the report too
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
            handle.write(redact(report.render_markdown(outcome)) + "\n")
    if os.environ.get("GITHUB_ACTIONS") == "true":
        # Workflow commands are read from stdout; with --json that stays the document alone.
        for line in report.github_annotations(outcome):
            (echo_err or echo)(line) if as_json else echo(line)
