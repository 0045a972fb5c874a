"""Runs doctor checks inside the target interpreter: ``python worker.py '<json ids>' [extra-checks.py]``.

Prints one JSON line as each check starts and one with its result, so that whoever watches
(``diagnostics.pool``) knows which check a crash or a hang belongs to. torch is imported once,
by the first check that needs it. After a device-side assert the CUDA context is unusable: the
result says so and the worker stops, and a fresh one carries on.
"""

import json
import os
import sys
import time
import traceback
import warnings

# This file's directory is sys.path[0]; its parent holds the diagnostics package. Put the parent
# there instead, so that nothing torch imports can be shadowed by a module beside this file.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from diagnostics import checks  # noqa: E402  (after the path is set)
from diagnostics.causes import classify  # noqa: E402


def emit(event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def load_extra_checks(path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("torchup_extra_checks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


def ensure_torch(context):
    """Import torch for a check that needs it, when install.import has not run in this worker."""
    if context.torch is None and context.import_error is None:
        checks.import_torch(context)
    return context.torch is not None


def run(ids):
    by_id = dict((c.id, c) for c in checks.CHECKS)
    context = checks.Context()
    for check_id in ids:
        check = by_id[check_id]
        imports_torch = check.needs_torch and context.torch is None and context.import_error is None
        emit({"event": "start", "id": check_id, "imports_torch": imports_torch or check_id == "install.import"})
        started = time.monotonic()
        poisoned = False
        try:
            if imports_torch:
                ensure_torch(context)
                # torch is in: from here on the check has only the check timeout, not the import allowance.
                emit({"event": "start", "id": check_id, "imports_torch": False})
            if check.needs_torch and context.torch is None:
                result = checks.skipped("torch does not import (see install.import)")
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # warnings a check cares about it records itself
                    result = check.function(context)
        except BaseException as error:  # a check's own exception is a crash of that check, not of the run
            text = "%s: %s" % (type(error).__name__, error)
            cause = classify(text)
            result = checks.outcome("crash", text + ("\n" + cause.cause if cause else ""), cause.commands if cause else None, cause.link if cause else None)
            result["traceback"] = traceback.format_exc()
            poisoned = "device-side assert" in text
        result.update({"event": "result", "id": check_id, "seconds": round(time.monotonic() - started, 3)})
        if poisoned:
            result["poisoned"] = True
        emit(result)
        if poisoned:
            return


def main(argv):
    if len(argv) > 2:
        load_extra_checks(argv[2])
    run(json.loads(argv[1]))
    emit({"event": "done"})
    # Everything is reported: skip the interpreter's teardown, which with torch loaded takes
    # a noticeable part of a second and can itself crash on a broken install.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
