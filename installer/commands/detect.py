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
        from ..detect import report, sources_consulted
        from ..findings import render_lines
        from ..outcome import sources_section

        sections = report.sections(self.facts, self.findings)
        text = report.render_text(sections) + "\nFindings\n" + "\n".join(render_lines(self.findings)) + "\n"
        # Where each fact came from closes the report, as it does plan's and fix's.
        return text + sources_section(sources_consulted(self.facts)) if verbose else text


def run(context, options: Options) -> Detected:
    from ..detect import Detection

    detection = Detection(options.python, context.host)
    # Loaded while the target's probe runs: the findings, and the data they judge by.
    from ..compat import load
    from ..findings import find

    load()
    facts = detection.facts()
    return Detected(facts, find(facts))
