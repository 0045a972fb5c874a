"""``torchup doctor``: select checks, run them in workers of the target interpreter, and judge the
expectations. The process running this never imports torch, nor a site's own checks: it reads
the kit's list of checks (``kit.checks()``), asks a worker when ``--extra-checks`` adds some, and
the checks themselves run in the target."""

import time

from .. import kit
from ..errors import TorchupError
from . import pool, report


def select(context, python, names, extra_checks=None, include_opt_in=False):
    """The checks ``names`` select (ids or groups; by default all but the opt-in ones), each a dict
    with id, group, title and opt_in; bad input (an unknown name, an unusable extra-checks file) is a
    TorchupError. A site's checks are loaded only in a worker of the target, within --check-timeout."""
    if extra_checks:
        return pool.select(python, names, context.host.env, extra_checks, context.timeouts.check, include_opt_in)
    try:
        chosen = kit.checks().select(list(names), include_opt_in=include_opt_in)
    except ValueError as error:
        raise TorchupError(f"CHECK|GROUP: {error}", hint="torchup doctor --list-checks") from None
    return [{"id": c.id, "group": c.group, "title": c.title, "opt_in": c.opt_in} for c in chosen]


def run(context, python, selected, strict=False, extra_checks=None, expectations=(), on_result=None):
    """The report of the ``selected`` check ids, run in workers of ``python``, and of each
    expectation (``--expect``), judged from what the install checks found."""
    from . import expect

    if expectations:  # they are judged from the install group's facts: run those checks too
        selected = list(dict.fromkeys([check for expectation in expectations for check in expectation.checks] + list(selected)))
    from ..compat import load

    started = time.monotonic()
    results = pool.run_checks(
        python,
        selected,
        env=context.host.env,
        check_timeout=context.timeouts.check,
        import_timeout=context.timeouts.torch_import,
        extra_checks=extra_checks,
        on_result=on_result,
        knowledge=load().for_checks(),
    )
    judged = expect.results_for(list(expectations), results)
    for result in judged if on_result else ():
        on_result(result)
    results += judged
    return report.build(python, results, time.monotonic() - started, strict=strict)
