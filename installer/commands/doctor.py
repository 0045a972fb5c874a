"""``torchup doctor``: real computations in the target, each check with its evidence and a fix (see ``installer.doctor``)."""

from typing import Callable, List, NamedTuple, Optional, Sequence

from ..errors import TorchupError
from ..outcome import SCHEMA, Outcome


class Options(NamedTuple):
    python: Optional[str] = None
    names: Sequence[str] = ()  # check ids or groups; none: every check that is not opt-in
    strict: bool = False
    extra_checks: Optional[str] = None
    expectations: Sequence = ()  # doctor.expect.Expectation, parsed from --expect
    list_checks: bool = False


class Diagnosed(Outcome):
    def __init__(self, report: dict, stream=None):
        self.report, self.stream = report, stream
        self.exit_code = report["exit_code"]
        self.streamed = stream is not None

    def as_data(self) -> dict:
        return self.report

    def render_text(self, verbose: bool = False) -> str:
        from ..doctor import report

        return self.stream.finish(self.report) if self.stream else report.render_text(self.report, verbose=verbose)

    def render_markdown(self) -> str:
        from ..doctor import report

        return report.render_markdown(self.report)

    def step_summary(self) -> str:
        from ..doctor import report

        return report.render_markdown(self.report, for_bug_tracker=False)

    def render_junit(self) -> str:
        from ..doctor import report

        return report.render_junit(self.report)

    def annotations(self) -> List[str]:
        from ..doctor import report

        return report.github_annotations(self.report)


class CheckList(Outcome):
    def __init__(self, checks):
        self.checks = checks

    def as_data(self) -> dict:
        return {"schema": SCHEMA, "checks": [{"id": c.id, "group": c.group, "title": c.title, "opt_in": c.opt_in} for c in self.checks]}

    def render_text(self, verbose: bool = False) -> str:
        width = max(len(c.id) for c in self.checks)
        return "".join("%-*s  %s%s\n" % (width, c.id, c.title, "  (opt-in)" if c.opt_in else "") for c in self.checks)


def run(context, options: Options, stream=None) -> Outcome:
    """``stream``: a ``doctor.report.TextStream`` that shows each check's lines as it finishes (the text report)."""
    from .. import doctor, kit, target

    if options.extra_checks:
        doctor.load_extra_checks(options.extra_checks)
    if options.list_checks:
        return CheckList(kit.checks().CHECKS)
    try:
        selected = doctor.select(options.names)
    except ValueError as error:
        raise TorchupError(f"CHECK|GROUP: {error}", hint="torchup doctor --list-checks") from None
    checked = target.checked_interpreter(options.python, context.host.env, context.timeouts.command)
    on_result: Optional[Callable[[dict], None]] = None
    if stream is not None:
        stream.begin(checked.python, checked.torch)
        on_result = stream.add
    report = doctor.run(context, checked.python, selected, options.strict, options.extra_checks, options.expectations, on_result)
    return Diagnosed(report, stream)
