"""``torchup detect``: the facts that decide how to install PyTorch, and the known problems they show."""

from typing import List, NamedTuple, Optional

from ..outcome import Outcome


class Options(NamedTuple):
    python: Optional[str] = None


class Detected(Outcome):
    def __init__(self, facts, findings: List):
        self.facts, self.findings = facts, findings

    def as_data(self) -> dict:
        return dict(self.facts.as_data(), findings=[finding.as_data() for finding in self.findings])

    def render_text(self, verbose: bool = False) -> str:
        from ..detect import report
        from ..findings import render_lines

        trail = []
        if verbose:
            for vendor in (self.facts.accelerators.nvidia, self.facts.accelerators.amd):
                trail.extend(vendor.trail if vendor else [])
            printed = self.facts.target_output
            trail.append(f"the probe ran in {self.facts.python}; " + (f"the target printed: {printed}" if printed else "the target printed nothing else"))
        sections = report.sections(self.facts, self.findings)
        return report.render_text(sections, trail) + "\nFindings\n" + "\n".join(render_lines(self.findings)) + "\n"


def run(context, options: Options) -> Detected:
    from ..detect import detect
    from ..findings import find

    facts = detect(options.python, context.host)
    return Detected(facts, find(facts))
