"""Runs doctor checks inside the target interpreter:
``python -I worker.py EVENTS_FD '<json ids>' [extra-checks.py]``, the ids with what torchup's data
tells the checks, ``'{"run": [ids], "knowledge": {...}}'``, or, to choose them first,
``python -I worker.py EVENTS_FD '{"select": [names]}' [extra-checks.py]``.

Started by path with isolated flags from a neutral directory, so neither torchup's packages nor
the current directory are on the target's path; this folder is imported as the package
``torchup.diagnostics`` by its path. Events go, one JSON line each, to the file descriptor
``EVENTS_FD``: "ready" once, "start" as each check starts, its "result", and "done". Whatever a
check, a library or the interpreter itself prints goes to stdout and stderr, never into the
events: whoever started the worker points both at one file, and "start" and "result" say where
in it each check's own output lies. torch is imported once, by the first
check that needs it. After a device-side assert the CUDA context is unusable: the result says so
and the worker stops, and a fresh one carries on.

Site-specific checks (``--extra-checks``) are loaded here, in the target, never in torchup's own
process. The checks run in a child of the started process, which only waits for it: a check that
signals its parent ends that waiting process, never whoever started the worker.
"""

import json
import os
import sys
import time
import traceback
import warnings


def load_kit():
    """This folder as the package ``torchup.diagnostics``, found by its path, never through sys.path."""
    import importlib
    import importlib.util
    import types

    kit = os.path.dirname(os.path.abspath(__file__))
    if "torchup.diagnostics" not in sys.modules:
        if "torchup" not in sys.modules:
            top = types.ModuleType("torchup")
            top.__path__ = []
            sys.modules["torchup"] = top
        spec = importlib.util.spec_from_file_location("torchup.diagnostics", os.path.join(kit, "__init__.py"), submodule_search_locations=[kit])
        package = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = package
        spec.loader.exec_module(package)
    return importlib.import_module("torchup.diagnostics.checks"), importlib.import_module("torchup.diagnostics.causes")


def add_user_site():
    """-I leaves out the user's site-packages, where ``pip install --user`` puts torch; put it back
    where this interpreter would have used it (outside a venv)."""
    import site

    if sys.prefix == getattr(sys, "base_prefix", sys.prefix) and not hasattr(sys, "real_prefix"):
        user_site = site.getusersitepackages()
        if os.path.isdir(user_site):
            site.addsitedir(user_site)


def load_extra_checks(path, checks):
    """The site's checks, registered beside the kit's; why the file cannot be used, or None."""
    import importlib.util
    import inspect

    known = len(checks.CHECKS)
    spec = importlib.util.spec_from_file_location("torchup_extra_checks", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except BaseException as error:  # SystemExit too: the file must not end the run
        where = " (line %s)" % error.lineno if isinstance(error, SyntaxError) else ""
        return "%s%s: %s" % (type(error).__name__, where, error)
    for added in checks.CHECKS[known:]:
        try:
            inspect.signature(added.function).bind(checks.Context())
        except TypeError:
            return "check %s: %s%s takes no single argument; a check is `def name(context):` returning outcome(...)" % (
                added.id,
                added.function.__name__,
                inspect.signature(added.function),
            )
    return None


def describe(check):
    return {"id": check.id, "group": check.group, "title": check.title, "opt_in": check.opt_in}


def output_offset():
    """How much this process has written to stdout and stderr, which share one file: where a check's own output starts or ends."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        return os.fstat(1).st_size
    except OSError:
        return None


def run(ids, checks, classify, emit, knowledge=None):
    by_id = dict((c.id, c) for c in checks.CHECKS)
    context = checks.Context(knowledge)
    for check_id in ids:
        check = by_id[check_id]
        imports_torch = check.needs_torch and context.torch is None and context.import_error is None
        emit(
            {
                "event": "start",
                "id": check_id,
                "imports_torch": imports_torch or check_id == "install.import",
                "output_from": output_offset(),
                "timeout": check.timeout,
            }
        )
        started = time.monotonic()
        poisoned = False
        try:
            if imports_torch:
                checks.import_torch(context)
                # torch is in: from here on the check has only the check timeout, not the import allowance.
                emit({"event": "start", "id": check_id, "imports_torch": False, "output_from": None, "timeout": check.timeout})
            if check.needs_torch and context.torch is None:
                result = checks.skipped("torch does not import (see install.import)")
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # warnings a check cares about it records itself
                    result = check.function(context)
        except BaseException as error:  # a check's own exception, SystemExit included, is a crash of that check
            text = "%s: %s" % (type(error).__name__, error)
            cause = classify(text)
            result = checks.outcome("crash", text + ("\n" + cause.cause if cause else ""), cause.commands if cause else None, cause.link if cause else None)
            result["traceback"] = traceback.format_exc()
            poisoned = "device-side assert" in text
        poisoned = poisoned or bool(result.pop("poisoned", False))  # a check may say it left the context unusable
        result.update({"event": "result", "id": check_id, "seconds": round(time.monotonic() - started, 3), "output_to": output_offset()})
        result.update(group=check.group, title=check.title)
        if poisoned:
            result["poisoned"] = True
        emit(result)
        if poisoned:
            return


def wait_as_parent(events_fd):
    """Fork: the child goes on to run the checks; this process only waits for it and ends as it
    ended (its exit status, or the same signal). A check's ``os.kill(os.getppid(), …)`` reaches this
    process, not whoever started the worker."""
    if not hasattr(os, "fork"):
        return
    child = os.fork()
    if child == 0:
        return
    os.close(events_fd)  # the child's copy is the channel; the events end when it does
    _, status = os.waitpid(child, 0)
    if os.WIFSIGNALED(status):
        import signal

        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def main(argv):
    events_fd = int(argv[1])
    wait_as_parent(events_fd)
    events = os.fdopen(events_fd, "w")

    def emit(event):
        events.write(json.dumps(event) + "\n")
        events.flush()

    add_user_site()
    checks, causes = load_kit()
    emit({"event": "ready", "python": "%d.%d.%d" % sys.version_info[:3]})
    if len(argv) > 3:
        problem = load_extra_checks(argv[3], checks)
        if problem:
            emit({"event": "unusable-extra-checks", "error": problem})
            os._exit(0)
    asked = json.loads(argv[2])
    if isinstance(asked, dict) and "run" in asked:
        run(asked["run"], checks, causes.classify, emit, asked.get("knowledge"))
    elif isinstance(asked, dict):  # the choice only: which checks the names select
        try:
            chosen = checks.select(asked["select"], include_opt_in=asked.get("include_opt_in", False))
        except ValueError as error:
            emit({"event": "unknown-names", "error": str(error)})
        else:
            emit({"event": "selected", "checks": [describe(check) for check in chosen]})
    else:
        run(asked, checks, causes.classify, emit)
    emit({"event": "done"})
    # Everything is reported: skip the interpreter's teardown, which with torch loaded takes
    # a noticeable part of a second and can itself crash on a broken install.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
