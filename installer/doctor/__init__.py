"""``torchup doctor``: select checks, run them in workers of the target interpreter, and judge the
expectations. The process running this never imports torch: it reads the kit's list of checks
(``kit.checks()``), and the checks themselves run in the target."""

import importlib.util
import time

from .. import kit
from ..errors import TorchupError
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


def select(names):
    """The ids of the checks named (ids or groups; by default all but the opt-in ones); ValueError for a name that is neither."""
    return [c.id for c in kit.checks().select(list(names))]


def run(context, python, selected, strict=False, extra_checks=None, expectations=(), on_result=None):
    """The report of the ``selected`` checks, run in workers of ``python``, and of each expectation
    (``--expect``), judged from what the install checks found."""
    from . import expect

    if expectations:  # they are judged from the install group's facts: run it too
        selected = list(dict.fromkeys(["install.import", "install.build"] + list(selected)))
    started = time.monotonic()
    results = pool.run_checks(
        python,
        selected,
        env=context.host.env,
        check_timeout=context.timeouts.check,
        import_timeout=context.timeouts.torch_import,
        extra_checks=extra_checks,
        on_result=on_result,
    )
    judged = expect.results_for(list(expectations), results)
    for result in judged if on_result else ():
        on_result(result)
    results += judged
    return report.build(python, results, time.monotonic() - started, strict=strict)
