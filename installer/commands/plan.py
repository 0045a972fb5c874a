"""``torchup plan``: the torch build, exact version and index for the target, and why; with
``--export``, the same plan as variables for the user's own pip and uv."""

from importlib import import_module
from typing import NamedTuple, Optional

from ..outcome import Outcome


class Options(NamedTuple):
    python: Optional[str]
    overrides: "object"  # plan.Overrides, parsed from the plan options (plan/options.py)
    export: bool = False


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


class Exported(Outcome):
    def __init__(self, export):
        self.export = export

    def as_data(self) -> dict:
        return self.export.as_data()

    def render_text(self, verbose: bool = False) -> str:
        return self.export.render()


def run(context, options: Options) -> Outcome:
    from ..compat import load
    from ..plan import make_plan

    facts = None
    if options.overrides.needs_detection():
        from ..detect import Detection

        detection = Detection(options.python, context.host)
        # Loaded while the target's probe runs, the one wait of a plan and a longer one than these:
        # the data the plan judges by, and packaging's version specifiers, which a torch constraint
        # in the target's pip configuration needs once the probe has answered.
        load()
        import_module("packaging.specifiers")
        facts = detection.facts()
    plan = make_plan(facts, options.overrides, timeout=context.timeouts.command)
    if not options.export:
        return Planned(plan, facts)
    from ..files import output_directory, write_text
    from ..plan import export

    settings = facts.pip.config.settings if facts and facts.pip else {}
    configured = {key: (_listed(settings[key].value), settings[key].source or "") for key in ("find-links", "constraint") if key in settings}
    path = export.constraints_file(context.host.env, plan.pins)
    exported = export.exports(plan, load(), path, configured)  # one that no variable can express stops before a file is written
    output_directory(path.parent, "--export")
    write_text(path, export.constraints_text(plan), "--export")
    return Exported(exported)


def _listed(value) -> list:
    return list(value) if isinstance(value, list) else [value] if value else []
