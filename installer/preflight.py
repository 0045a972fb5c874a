"""``python -m installer.preflight``: what `make setup` asks first, with the system Python itself.

Standard library only and before any pip call, so that a newcomer whose Python lacks TLS, pip or
venv support learns the real cause and the fix instead of watching pip retry. Exit status 1 when
something would stop the setup. Which findings setup deals with itself is the catalogue's to say.
"""

import sys

from .detect import detect
from .findings import find, render_lines
from .status import Status


def main() -> int:
    facts = detect(sys.executable)
    findings = find(facts, for_setup=True)
    blocking = [finding for finding in findings if finding.severity is Status.FAIL]
    if findings:
        print(f"Before setting up, torchup looked at {sys.executable}:")
        print("\n".join(render_lines(findings)))
    if blocking:
        print(f"\nSetup stopped: fix {', '.join(f.id for f in blocking)} first (torchup's README, `torchup fix`, lists each fix).")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
