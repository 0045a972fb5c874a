"""``python -I path/to/diagnostics [CHECK|GROUP]... [--json]``: the doctor's checks in this
interpreter, in this one process, from nothing but a copy of this folder.

``torchup doctor`` runs each check in a worker it watches and survives a crash or a hang; this
does not, and says so. It exists for a machine where only the target environment can be used.
"""

import json
import os
import sys


def main(argv):
    import importlib.util

    kit = os.path.dirname(os.path.abspath(__file__))
    # Run as a directory, Python put this folder first on sys.path: take it off, so that
    # nothing torch imports can be shadowed by a module here.
    if sys.path and os.path.abspath(sys.path[0]) == kit:
        del sys.path[0]
    spec = importlib.util.spec_from_file_location("torchup_kit_worker", os.path.join(kit, "worker.py"))
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    worker.add_user_site()
    checks, causes = worker.load_kit()
    as_json = "--json" in argv
    names = [name for name in argv if name != "--json"]
    try:
        selected = [c.id for c in checks.select(names)]
    except ValueError as error:
        sys.stderr.write("error: %s\n" % error)
        return 2
    results = []

    def emit(event):
        if event["event"] == "result":
            results.append(event)
            if not as_json:
                mark = {"pass": "ok", "warn": "!", "skip": "-"}.get(event["status"], "FAIL")
                sys.stdout.write("%-4s %s  %s\n" % (mark, event["id"], event["evidence"].splitlines()[0] if event["evidence"] else ""))
                sys.stdout.flush()

    worker.run(selected, checks, causes.classify, emit)
    if as_json:
        sys.stdout.write(json.dumps({"python": sys.executable, "results": results}, indent=2) + "\n")
    failed = [r for r in results if r["status"] in ("fail", "crash")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
