"""``torchup plan``: the torch build, exact version and index for the target, and why."""

from typing import NamedTuple, Optional

from ..outcome import Outcome


class Options(NamedTuple):
    python: Optional[str]
    overrides: "object"  # plan.Overrides, parsed from the plan options (plan/options.py)


class Planned(Outcome):
    def __init__(self, plan, facts=None):
        self.plan, self.facts = plan, facts  # facts: None where every input was given

    def as_data(self) -> dict:
        return self.plan.as_data()

    def render_text(self, verbose: bool = False) -> str:
        from ..plan.report import render_text

        text = render_text(self.plan)
        if verbose:
            from ..outcome import sources_section
            from ..plan.report import sources_consulted

            text += sources_section(sources_consulted(self.plan, self.facts))
        return text


def run(context, options: Options) -> Planned:
    from ..plan import make_plan

    facts = None
    if options.overrides.needs_detection():
        from ..detect import detect

        facts = detect(options.python, context.host)
    return Planned(make_plan(facts, options.overrides, timeout=context.timeouts.command), facts)
