"""``torchup fix``: the known pip, TLS and PEP 668 problems, each with its fix; the safe ones carried out (see ``installer.fix``)."""

import os
from typing import NamedTuple, Optional

from ..errors import TorchupError
from ..outcome import SCHEMA, Outcome


class Options(NamedTuple):
    python: Optional[str] = None
    apply: bool = False
    system: bool = False  # with apply, as root: the package-manager commands too
    mirror: Optional[str] = None


class Fixed(Outcome):
    def __init__(self, facts, findings, steps, changes, after):
        from ..fix import blocking

        self.facts, self.findings, self.steps, self.changes, self.after = facts, findings, steps, changes, after
        self.remaining = after if after is not None else findings
        self.exit_code = 1 if blocking(self.remaining) else 0

    def as_data(self) -> dict:
        from ..fix import step_data

        return {
            "schema": SCHEMA,
            "python": self.facts.python,
            "findings": [f.as_data() for f in self.findings],
            "actions": [step_data(step) for step in self.steps],
            "changes": [c.as_data() for c in self.changes] if self.changes is not None else None,
            "remaining": [f.as_data() for f in self.remaining],
        }

    def render_text(self, verbose: bool = False) -> str:
        from ..fix import render_text

        text = render_text(self.facts.python, self.findings, self.steps, self.changes, self.after)
        if verbose:
            from ..detect import sources_consulted
            from ..outcome import sources_section

            text += sources_section(sources_consulted(self.facts))
        return text


def run(context, options: Options) -> Fixed:
    from .. import fix
    from ..detect import detect
    from ..findings import find

    try:
        mirror = fix.check_mirror(options.mirror)
    except ValueError:  # urllib refuses it outright: an unbalanced "[" or "]" (in a password, say)
        raise TorchupError(f"--mirror {options.mirror}: not an http(s) URL", hint="e.g. --mirror https://mirror.example/simple") from None
    if options.system and not options.apply:
        raise TorchupError("--system goes with --apply: it runs the package-manager commands as root", hint="torchup fix --apply --system")
    if options.system and hasattr(os, "geteuid") and os.geteuid() != 0:
        raise TorchupError("--system runs the package manager, which needs root", hint="run as root, or run the printed commands yourself")
    facts = detect(options.python, context.host)
    findings = find(facts)
    steps = fix.plan(facts, findings, mirror, context.host.env)
    changes = after = None
    if options.apply:
        changes = fix.apply(context, steps, options.system)
        after = find(detect(options.python, context.host))
    return Fixed(facts, findings, steps, changes, after)
