"""``torchup fleet launch`` and ``fleet report``: validate many nodes on torchrun, and merge their reports (see ``installer.fleet``)."""

from typing import List, NamedTuple, Optional, Sequence

from ..errors import TorchupError
from ..outcome import Outcome


class Judged(Outcome):
    """A fleet report (``fleet.report.judge``), in every form."""

    def __init__(self, judged: dict):
        self.judged = judged
        self.exit_code = judged["exit_code"]

    def as_data(self) -> dict:
        return self.judged

    def render_text(self, verbose: bool = False) -> str:
        from ..fleet import report

        return report.render_text(self.judged, verbose)

    def render_markdown(self) -> str:
        from ..fleet import report

        return report.render_markdown(self.judged)

    def render_junit(self) -> str:
        from ..fleet import report

        return report.render_junit(self.judged)

    def render_html(self) -> str:
        from ..fleet import report

        return report.render_html(self.judged)


class LaunchOptions(NamedTuple):
    python: Optional[str]
    nnodes: int
    node_rank: int
    master: str  # HOST:PORT
    nproc_per_node: str  # a number, or "auto"
    out: str
    allowed_drift: Sequence[str] = ()
    extra_checks: Optional[str] = None
    names: Sequence[str] = ()


def launch(context, options: LaunchOptions) -> Judged:
    from .. import doctor, fleet, target

    if options.node_rank >= options.nnodes:
        raise TorchupError(f"--node-rank {options.node_rank}: node ranks go from 0 to {options.nnodes - 1}")
    where = fleet.parse_master(options.master)
    limits = fleet.budget(context.timeouts.fleet_run)
    out = fleet.prepare_out(options.out, options.node_rank)
    interpreter = target.checked_interpreter(options.python, context.host.env, context.timeouts.command).python

    def choose(names):
        return [check["id"] for check in doctor.select(context, interpreter, names, options.extra_checks)]

    steps, doctor_checks = fleet.select(options.names, choose)  # an unknown check is bad input, said before anything starts
    nproc = fleet.gpu_count(context.host) if options.nproc_per_node == "auto" else int(options.nproc_per_node)
    judged = fleet.launch(
        interpreter, options.nnodes, options.node_rank, where, nproc, out, limits, steps, doctor_checks, options.allowed_drift, options.extra_checks
    )
    return Judged(judged)


class ReportOptions(NamedTuple):
    paths: List[str]
    allowed_drift: Sequence[str] = ()


def report(context, options: ReportOptions) -> Judged:
    from .. import fleet

    return Judged(fleet.merge(options.paths, options.allowed_drift))
