"""Runs checks in worker processes of the target interpreter, and survives them.

A worker that dies (a segfault, SIGILL, an abort) marks the check it was running as a crash;
a check that outlives its timeout is marked as a timeout and its worker killed. Either way a
fresh worker carries on with the checks that are left.

As with ``runner``, every process here gets an argv list (never a shell), a timeout, captured
output, the neutral working directory and isolated flags (``-I``), and is ended the same way;
this module exists because its event protocol needs the process while it runs, not only once
it has finished. Events come on a pipe of their own; stdout and stderr go to a file, so that
whatever a check prints stays that check's output and never breaks the protocol.
"""

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from typing import List, NamedTuple

from .. import kit
from ..context import Timeouts
from ..errors import TorchupError
from ..redact import redact
from ..runner import kill_group, neutral_dir, signal_name

WORKER = kit.path("worker.py")
# One check's limit (--check-timeout), and what the check that imports torch gets on top of it.
DEFAULTS = Timeouts()
# Characters of a check's own output (what it, a library or a sitecustomize printed) kept in its result.
OUTPUT_TAIL = 4000

SIGNAL_MEANINGS = {
    "SIGILL": (
        "this CPU lacks an instruction set the build needs (AVX2, AVX-512, …)",
        ["torchup detect  (the CPU line lists AVX/AVX2/AVX-512)", "use hardware or a VM that exposes the host CPU's flags, or an older torch"],
        "https://github.com/pytorch/pytorch/issues/37577",
    ),
    "SIGSEGV": (
        "a segmentation fault in native code",
        ["torchup doctor --markdown  (a report to attach to a bug)"],
        "https://github.com/pytorch/pytorch/issues",
    ),
    "SIGABRT": ("native code aborted", ["torchup doctor --markdown  (a report to attach to a bug)"], "https://github.com/pytorch/pytorch/issues"),
    "SIGKILL": ("killed, often by the kernel's out-of-memory killer", ["dmesg | tail  (look for 'Out of memory')"], None),
}


def _crash(check_id, returncode, stderr_tail, seconds, why=None):
    if why:
        evidence = "%s (exit status %s)" % (why, returncode)
        commands, link = ["torchup doctor --markdown  (a report to attach to a bug)"], None
    elif returncode is not None and returncode < 0:
        name = signal_name(-returncode)
        meaning, commands, link = SIGNAL_MEANINGS.get(name, ("killed by a signal", [], None))
        evidence = "the worker was killed by %s: %s" % (name, meaning)
    else:
        evidence = "the worker exited with status %s" % returncode
        commands, link = ["torchup doctor --markdown  (a report to attach to a bug)"], None
    if stderr_tail:
        evidence += "\n" + stderr_tail
    fix = {"commands": commands, "link": link} if commands or link else None
    return {"id": check_id, "status": "crash", "evidence": evidence, "fix": fix, "seconds": round(seconds, 3)}


def _read(handle, start, end, limit=OUTPUT_TAIL):
    """The last ``limit`` characters the worker wrote between two offsets of its output file,
    redacted before they are cut (twice as much is read): a secret cut in two is not recognised."""
    start = max(start or 0, end - 2 * limit)
    handle.seek(start)
    return redact(handle.read(max(0, end - start)).decode("utf-8", "replace"))[-limit:]


def _size(handle):
    return os.fstat(handle.fileno()).st_size


class _Results(dict):
    """Results by check id, each handed to ``on_result`` as it comes (the text report streams them)."""

    def __init__(self, on_result):
        super().__init__()
        self.on_result = on_result

    def __setitem__(self, check_id, result):
        super().__setitem__(check_id, result)
        if self.on_result:
            self.on_result(result)


def run_checks(python, ids, env=None, check_timeout=DEFAULTS.check, import_timeout=DEFAULTS.torch_import, extra_checks=None, on_result=None, knowledge=None):
    """Results for ``ids``, in order: each a dict with id, status, evidence, fix and seconds.
    ``knowledge``: what the data tells the checks (``Compatibility.for_checks``), handed to each worker.

    Every worker either reports a result or is charged one: the run always finishes.
    """
    results = _Results(on_result)
    remaining = list(ids)
    scratch = tempfile.mkdtemp(prefix="torchup-doctor-")
    try:
        worker_env = _with_own_temporary_directory(env, scratch)
        while remaining:
            request = {"run": remaining, "knowledge": knowledge} if knowledge else remaining
            with tempfile.TemporaryFile() as output:
                _one_worker(python, worker_env, output, request, results, check_timeout, import_timeout, extra_checks)
            remaining = [check_id for check_id in remaining if check_id not in results]
    finally:
        # A check's stray child may still be writing there: the results stand all the same.
        shutil.rmtree(scratch, ignore_errors=True)
    return [results[check_id] for check_id in ids]


def _with_own_temporary_directory(env, scratch: str) -> dict:
    """The workers' environment with a temporary directory removed after the run: what torch's
    compiler caches there (torchinductor_<user>, triton's kernels) would stay behind otherwise."""
    return dict(os.environ if env is None else env, TMPDIR=scratch, TEMP=scratch, TMP=scratch)


class _Worker(NamedTuple):
    process: subprocess.Popen
    events: "queue.Queue"  # raw event lines, then None when the channel ends


def _start(python, env, output, request, extra_checks) -> _Worker:
    """A worker of ``python`` asked ``request`` (check ids, or a selection), in a session of its
    own (so that it and whatever its checks start end together), reporting on a pipe; OSError
    where it cannot start."""
    events_read, events_write = os.pipe()
    argv = [python, "-I", WORKER, str(events_write), json.dumps(request)] + ([extra_checks] if extra_checks else [])
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            env=env,
            cwd=neutral_dir(),
            pass_fds=(events_write,),
            start_new_session=os.name == "posix",
        )
    except OSError:
        os.close(events_read)
        raise
    finally:
        os.close(events_write)
    lines = queue.Queue()

    def read():
        with os.fdopen(events_read, "rb") as events:
            for raw in events:
                lines.put(raw)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return _Worker(process, lines)


def _next_event(worker: _Worker, deadline: float):
    """The next event (a dict), None when the channel has ended, or queue.Empty at the deadline.

    Once the worker process has ended, whatever it left behind in its session (a check's forked
    child holding the pipe) is ended too, so the channel closes instead of outliving it."""
    while True:
        try:
            raw = worker.events.get(timeout=max(0.0, min(deadline - time.monotonic(), 0.5)))
        except queue.Empty:
            if worker.process.poll() is not None:
                kill_group(worker.process)
            if time.monotonic() >= deadline:
                raise
            continue
        if raw is None:
            return None
        try:
            return json.loads(raw.decode("utf-8", "replace"))
        except ValueError:
            continue


def select(python, names, env=None, extra_checks=None, timeout=DEFAULTS.check, include_opt_in=False) -> List[dict]:
    """The checks ``names`` select (ids or groups; none: every check that is not opt-in), as the
    worker sees them with ``extra_checks`` loaded there (never in this process): each a dict with
    id, group, title and opt_in. A file that does not load, a check of the wrong signature or an
    unknown name is bad input (TorchupError), said before any check runs."""
    where = f"--extra-checks {extra_checks}" if extra_checks else f"--python {python}"
    with tempfile.TemporaryFile() as output:
        try:
            worker = _start(python, env, output, {"select": list(names), "include_opt_in": include_opt_in}, extra_checks)
        except OSError as error:
            raise TorchupError(f"{where}: the worker could not start ({error})") from None
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    event = _next_event(worker, deadline)
                except queue.Empty:
                    raise TorchupError(f"{where}: no answer within {timeout:g} s (does the file do work when it is loaded?)", hint=CHECK_HINT) from None
                if event is None:
                    said = _last_lines(_read(output, 0, _size(output)).strip(), 2)
                    raise TorchupError(f"{where}: the worker ended before it answered (exit status {worker.process.wait()}){': ' + said if said else ''}")
                if event["event"] == "selected":
                    return event["checks"]
                if event["event"] == "unusable-extra-checks":
                    raise TorchupError(f"--extra-checks {extra_checks}: {event['error']}", hint=CHECK_HINT)
                if event["event"] == "unknown-names":
                    raise TorchupError(
                        f"CHECK|GROUP: {event['error']}", hint="torchup doctor --list-checks" + (f" --extra-checks {extra_checks}" if extra_checks else "")
                    )
        finally:
            _kill(worker.process)


CHECK_HINT = "the file only defines checks: @check('site.name', 'what it checks') above `def name(context):` returning outcome(...) (see the README)"


def _one_worker(python, env, output, request, results, check_timeout, import_timeout, extra_checks):
    """Run one worker until it finishes, dies or hangs, recording what it reported."""
    remaining = request["run"] if isinstance(request, dict) else request
    try:
        worker = _start(python, env, output, request, extra_checks)
    except OSError as error:
        for check_id in remaining:
            results[check_id] = {"id": check_id, "status": "crash", "evidence": "the worker could not start: %s" % error, "fix": None, "seconds": 0.0}
        return
    process = worker.process
    current, ready, started, output_from = None, False, time.monotonic(), 0
    deadline = started + check_timeout  # the worker's own start-up: no torch is imported before it is ready
    try:
        while True:
            try:
                event = _next_event(worker, deadline)
            except queue.Empty:
                _kill(process)
                check_id = current or next(c for c in remaining if c not in results)
                results[check_id] = {
                    "id": check_id,
                    "status": "timeout",
                    "evidence": "no result within %g s; the worker was stopped" % (deadline - started),
                    "fix": {"commands": ["torchup doctor --check-timeout 300 %s  (if it is only slow)" % check_id], "link": None},
                    "seconds": round(time.monotonic() - started, 3),
                }
                return
            if event is None:  # the events ended: the worker finished or died
                process.wait()
                tail = _read(output, output_from, _size(output)).strip()
                if current is not None:
                    results[current] = _crash(current, process.returncode, _last_lines(tail), time.monotonic() - started)
                    return
                left = [check_id for check_id in remaining if check_id not in results]
                if left:
                    # It ended outside any check (before the first, or skipping the rest): none of
                    # the checks left would fare better in a fresh worker.
                    why = "the worker ended before it could run this check" if ready else "the target interpreter could not start the worker"
                    for check_id in left:
                        results[check_id] = _crash(check_id, process.returncode, _last_lines(tail), 0.0, why)
                return
            if event["event"] == "ready":
                ready = True
            elif event["event"] == "start":
                current, started = event["id"], time.monotonic()
                if event.get("output_from") is not None:
                    output_from = event["output_from"]
                own = max(check_timeout, event.get("timeout") or 0.0)  # a check that needs longer says so (a compile)
                deadline = started + own + (import_timeout if event.get("imports_torch") else 0.0)
            elif event["event"] == "result":
                event.pop("event")
                end = event.pop("output_to", None) or output_from
                if end > output_from:
                    event["output"] = {"bytes": end - output_from, "tail": _read(output, output_from, end)}
                output_from = end
                results[event["id"]] = event
                current = None
            elif event["event"] == "done":
                kill_group(process)  # whatever its checks left running (a forked child holding the pipe) ends with it
    finally:
        if process.poll() is None:
            _kill(process)


def _last_lines(text, lines=6):
    return "\n".join(text.splitlines()[-lines:])


def _kill(process):
    kill_group(process)
    process.wait()
