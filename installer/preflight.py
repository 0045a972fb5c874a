"""``python -m installer.preflight``: what `make setup` asks first, with the system Python itself.

Standard library only and before any pip call, so that a newcomer whose Python lacks TLS, pip or
venv support learns the real cause and the fix instead of watching pip retry. Exit status 1 when
something would stop the setup.
"""

import sys

from .detect import detect
from .findings import FAIL, find, render_lines

# Setup makes its own venv (so PEP 668 does not apply to it) and keeps the user's mirror.
NOT_FOR_SETUP = ("F14", "F23")


def main() -> int:
    facts = detect(sys.executable)
    findings = [finding for finding in find(facts) if finding.id not in NOT_FOR_SETUP]
    blocking = [finding for finding in findings if finding.severity == FAIL]
    if findings:
        print(f"Before setting up, torchup looked at {sys.executable}:")
        print("\n".join(render_lines(findings)))
    if blocking:
        print(f"\nSetup stopped: fix {', '.join(f.id for f in blocking)} first (torchup's README, `torchup fix`, lists each fix).")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
