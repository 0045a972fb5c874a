"""Runs checks in worker processes of the target interpreter, and survives them.

A worker that dies (a segfault, SIGILL, an abort) marks the check it was running as a crash;
a check that outlives its timeout is marked as a timeout and its worker killed. Either way a
fresh worker carries on with the checks that are left. Standard library only: this also runs
from ``python -m diagnostics`` in an environment that has nothing but torch.

As with installer.runner, every process here gets an argv list (never a shell), a timeout and
captured output, and is ended the same way; this module exists because its line-by-line
protocol needs the process while it runs, not only once it has finished.
"""

import json
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time

# The seam's own way of ending a process group; installer/runner.py is standard library only too.
from installer.runner import kill_group

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
CHECK_TIMEOUT = 60.0
# import torch alone takes 10 to 20 s on a cold network filesystem (research note §7, "Slow import").
IMPORT_TIMEOUT = 120.0

SIGNAL_MEANINGS = {
    "SIGILL": ("this CPU lacks an instruction set the build needs (AVX2, AVX-512, …)",
               ["torchup detect  (the CPU line lists AVX/AVX2/AVX-512)", "use hardware or a VM that exposes the host CPU's flags, or an older torch"],
               "https://github.com/pytorch/pytorch/issues/37577"),
    "SIGSEGV": ("a segmentation fault in native code", ["torchup doctor --markdown  (a report to attach to a bug)"], "https://github.com/pytorch/pytorch/issues"),
    "SIGABRT": ("native code aborted", ["torchup doctor --markdown  (a report to attach to a bug)"], "https://github.com/pytorch/pytorch/issues"),
    "SIGKILL": ("killed, often by the kernel's out-of-memory killer", ["dmesg | tail  (look for 'Out of memory')"], None),
}


def _signal_name(returncode):
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return "signal %d" % -returncode


def _crash(check_id, returncode, stderr_tail, seconds):
    if returncode is not None and returncode < 0:
        name = _signal_name(returncode)
        meaning, commands, link = SIGNAL_MEANINGS.get(name, ("killed by a signal", [], None))
        evidence = "the worker was killed by %s: %s" % (name, meaning)
    else:
        evidence = "the worker exited with status %s" % returncode
        commands, link = ["torchup doctor --markdown  (a report to attach to a bug)"], None
    if stderr_tail:
        evidence += "\n" + stderr_tail
    fix = {"commands": commands, "link": link} if commands or link else None
    return {"id": check_id, "status": "crash", "evidence": evidence, "fix": fix, "seconds": round(seconds, 3)}


def _tail(handle, lines=6):
    handle.seek(0)
    text = handle.read().decode("utf-8", "replace").strip()
    return "\n".join(text.splitlines()[-lines:])


def run_checks(python, ids, env=None, check_timeout=CHECK_TIMEOUT, import_timeout=IMPORT_TIMEOUT, extra_checks=None):
    """Results for ``ids``, in order: each a dict with id, status, evidence, fix and seconds."""
    results = {}
    remaining = list(ids)
    while remaining:
        argv = [python, WORKER, json.dumps(remaining)] + ([extra_checks] if extra_checks else [])
        with tempfile.TemporaryFile() as stderr:
            finished = _one_worker(argv, env, stderr, remaining, results, check_timeout, import_timeout)
        remaining = [check_id for check_id in remaining if check_id not in results]
        if finished and remaining:  # the worker said it was done without these: it cannot run them
            for check_id in remaining:
                results[check_id] = {"id": check_id, "status": "crash", "evidence": "the worker skipped this check", "fix": None, "seconds": 0.0}
            remaining = []
    return [results[check_id] for check_id in ids]


def _one_worker(argv, env, stderr, remaining, results, check_timeout, import_timeout):
    """Run one worker until it finishes, dies or hangs; record what it reported. True when it finished."""
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, env=env, start_new_session=os.name == "posix")
    except OSError as error:
        for check_id in remaining:
            results[check_id] = {"id": check_id, "status": "crash", "evidence": "the worker could not start: %s" % error, "fix": None, "seconds": 0.0}
        return True
    lines = queue.Queue()

    def read():
        for raw in process.stdout:
            lines.put(raw)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    current, started = None, time.monotonic()
    deadline = started + import_timeout + check_timeout  # the worker's own start-up
    try:
        while True:
            try:
                raw = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                _kill(process)
                check_id = current or next(c for c in remaining if c not in results)
                results[check_id] = {
                    "id": check_id, "status": "timeout",
                    "evidence": "no result within %g s; the worker was stopped" % (deadline - started),
                    "fix": {"commands": ["torchup doctor --check-timeout 300 %s  (if it is only slow)" % check_id], "link": None},
                    "seconds": round(time.monotonic() - started, 3),
                }
                return False
            if raw is None:  # the worker's output ended: it finished or died
                process.wait()
                if current is not None:
                    results[current] = _crash(current, process.returncode, _tail(stderr), time.monotonic() - started)
                    return False
                if not any(check_id in results for check_id in remaining) and process.returncode != 0:
                    # It died before starting any check: every check would meet the same end.
                    for check_id in remaining:
                        results[check_id] = _crash(check_id, process.returncode, _tail(stderr), 0.0)
                    return True
                return False
            event = json.loads(raw.decode("utf-8", "replace"))
            if event["event"] == "start":
                current, started = event["id"], time.monotonic()
                deadline = started + check_timeout + (import_timeout if event.get("imports_torch") else 0.0)
            elif event["event"] == "result":
                event.pop("event")
                results[event["id"]] = event
                current = None
            elif event["event"] == "done":
                process.wait()
                return True
    finally:
        if process.poll() is None:
            _kill(process)


def _kill(process):
    kill_group(process)
    process.wait()
