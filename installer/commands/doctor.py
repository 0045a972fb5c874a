"""``torchup doctor``: real computations in the target, each check with its evidence and a fix (see ``installer.doctor``)."""

from typing import Callable, List, NamedTuple, Optional, Sequence

from ..outcome import SCHEMA, Outcome


class Options(NamedTuple):
    python: Optional[str] = None
    names: Sequence[str] = ()  # check ids or groups; none: every check that is not opt-in
    strict: bool = False
    extra_checks: Optional[str] = None
    expectations: Sequence = ()  # doctor.expect.Expectation, parsed from --expect
    list_checks: bool = False
    machine: bool = False  # detect the machine too, for the section a bug report (--markdown) starts with


class Diagnosed(Outcome):
    def __init__(self, report: dict, stream=None, machine=None):
        self.report, self.stream, self.machine = report, stream, machine  # machine: detect's Facts, for --markdown
        self.exit_code = report["exit_code"]
        self.streamed = stream is not None

    def as_data(self) -> dict:
        return self.report

    def render_text(self, verbose: bool = False) -> str:
        from ..doctor import report

        return self.stream.finish(self.report) if self.stream else report.render_text(self.report, verbose=verbose)

    def render_markdown(self) -> str:
        from ..doctor import report

        return report.render_markdown(self.report, machine=self.machine)

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
    def __init__(self, checks: List[dict]):
        self.checks = checks

    def as_data(self) -> dict:
        return {"schema": SCHEMA, "checks": self.checks}

    def render_text(self, verbose: bool = False) -> str:
        width = max(len(c["id"]) for c in self.checks)
        return "".join("%-*s  %s%s\n" % (width, c["id"], c["title"], "  (opt-in)" if c["opt_in"] else "") for c in self.checks)


def run(context, options: Options, stream=None) -> Outcome:
    """``stream``: a ``doctor.report.TextStream`` that shows each check's lines as it finishes (the text report)."""
    from .. import doctor, target

    if options.list_checks and not options.extra_checks:  # the kit's own list: no target needed
        return CheckList(doctor.select(context, None, (), include_opt_in=True))
    checked = target.checked_interpreter(options.python, context.host.env, context.timeouts.command)
    if options.list_checks:
        return CheckList(doctor.select(context, checked.python, (), options.extra_checks, include_opt_in=True))
    selected = [check["id"] for check in doctor.select(context, checked.python, options.names, options.extra_checks)]
    on_result: Optional[Callable[[dict], None]] = None
    if stream is not None:
        stream.begin(checked.python, checked.torch)
        on_result = stream.add
    detected = None
    if options.machine:  # detected while the checks run: the same facts `torchup detect` reports
        from ..background import Background
        from ..detect import detect

        detected = Background(detect, checked.python, context.host)
    report = doctor.run(context, checked.python, selected, options.strict, options.extra_checks, options.expectations, on_result)
    return Diagnosed(report, stream, detected.result() if detected else None)
