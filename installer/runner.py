"""The one seam through which torchup runs external commands.

Every command is an argv list (never a shell string), runs with a timeout and
captured output, and never raises for the ordinary ways a tool fails: a missing
executable, a non-zero exit, a hang, a crash. Those come back as data so that a
broken ``nvidia-smi`` costs one line of a report, never the run.
"""

import atexit
import collections
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from typing import Callable, Deque, Mapping, NamedTuple, Optional, Sequence, TextIO

# How long a stopped installer gets to clean up (pip removes its temporary directories on SIGINT)
# before SIGTERM, and then SIGKILL.
STOP_GRACE = 10.0
# The most of a command's output kept in memory: the head of a short command's, the tail of an installer's.
CAPTURE_LIMIT = 4 * 1024 * 1024
_neutral: Optional[str] = None


def neutral_dir() -> str:
    """An empty directory of torchup's own, where every command starts: an interpreter started
    there finds no ``json.py``, ``pip/`` or ``sitecustomize.py`` of the user's current directory."""
    global _neutral
    # Made again where it has gone (a temporary directory cleaned under a long run): a command
    # started in a directory that is not there fails as if it were not there itself.
    if _neutral is None or not os.path.isdir(_neutral):
        _neutral = tempfile.mkdtemp(prefix="torchup-cwd-")
        atexit.register(shutil.rmtree, _neutral, True)
    return _neutral


class Completed(NamedTuple):
    argv: tuple
    returncode: Optional[int]
    stdout: str
    stderr: str
    seconds: float
    # Why the command produced no usable exit status, in words; None when it ran to its end.
    failure: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.failure is None and self.returncode == 0

    def describe_failure(self) -> str:
        """One line saying how the command failed, for reports."""
        if self.failure:
            return self.failure
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        first = text[0] if text else ""
        if self.returncode is not None and self.returncode < 0:
            return f"killed by {signal_name(-self.returncode)}" + (f": {first}" if first else "")
        return f"exit status {self.returncode}" + (f": {first}" if first else "")


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Optional[Mapping[str, str]] = None,
    input_text: Optional[str] = None,
    cwd: Optional[str] = None,
) -> Completed:
    """Run ``argv`` and capture its output; see the module docstring for the contract."""
    return start(argv, env=env, input_text=input_text, cwd=cwd).finish(timeout)


def start(
    argv: Sequence[str],
    *,
    env: Optional[Mapping[str, str]] = None,
    input_text: Optional[str] = None,
    cwd: Optional[str] = None,
) -> "Started":
    """Start ``argv`` now and wait for it later (:meth:`Started.finish`), as :func:`run` does in one go."""
    return Started(tuple(str(part) for part in argv), env, input_text, cwd)


class Started:
    """A command under way: :meth:`finish` waits for it within a timeout counted from its start,
    :meth:`abandon` ends it unread. One that could not start finishes at once, saying why."""

    def __init__(self, argv: tuple, env: Optional[Mapping[str, str]], input_text: Optional[str], cwd: Optional[str]):
        self.argv, self.input_text, self.started = argv, input_text, time.monotonic()
        self.process: Optional[subprocess.Popen] = None
        self.failure: Optional[str] = None
        # Output goes to files, and only their first CAPTURE_LIMIT bytes are read back: a tool that
        # prints without end costs disk, never memory.
        self.out, self.err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        try:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
                stdout=self.out,
                stderr=self.err,
                env=dict(env) if env is not None else None,
                cwd=cwd or neutral_dir(),
                # A process group of its own, so a timeout also ends whatever the command started.
                start_new_session=os.name == "posix",
            )
        except FileNotFoundError:
            self.failure = f"{argv[0]}: not found"
        except OSError as error:
            self.failure = f"{argv[0]}: {error.strerror or error}"

    def finish(self, timeout: float) -> Completed:
        process = self.process
        try:
            if process is None:
                return Completed(self.argv, None, "", "", time.monotonic() - self.started, self.failure)
            # A timer ends a command that takes too long, rather than communicate(timeout=…): with a
            # timeout, subprocess polls, sleeping up to 50 ms between looks, which would near double
            # what every short command (the probe, nvidia-smi) costs.
            overran = threading.Event()

            def end_it():
                if process.returncode is None:  # not when it has just ended: its group id may be reused
                    overran.set()
                    kill_group(process)

            timer = threading.Timer(max(0.0, timeout - (time.monotonic() - self.started)), end_it)
            timer.daemon = True
            timer.start()
            try:
                process.communicate(input=_encode(self.input_text))
            except BaseException:
                kill_group(process)
                raise
            finally:
                timer.cancel()
            failure = f"timed out after {timeout:g} s" if overran.is_set() else None
            seconds = time.monotonic() - self.started
            return Completed(self.argv, None if failure else process.returncode, _read_back(self.out), _read_back(self.err), seconds, failure)
        finally:
            self.out.close()
            self.err.close()

    def abandon(self) -> None:
        """End it unread, with whatever it started."""
        if self.process is not None and self.process.returncode is None:
            kill_group(self.process)
            self.process.wait()
        self.out.close()
        self.err.close()


def _watched(argv: Sequence[str], stderr, env: Optional[Mapping[str, str]]) -> subprocess.Popen:
    """A command whose stdout is read as it comes: in a session of its own, ended with torchup."""
    prctl = _prctl()
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        preexec_fn=_end_with_parent(prctl) if prctl else None,
        env=dict(env) if env is not None else None,
        cwd=neutral_dir(),
        start_new_session=os.name == "posix",
    )


def run_echoed(
    argv: Sequence[str],
    *,
    echo: TextIO,
    timeout: float,
    env: Optional[Mapping[str, str]] = None,
) -> Completed:
    """As :func:`run`, for long commands whose progress the user should watch (installers).

    stdout and stderr are merged, copied line by line to ``echo`` as they come, and captured.
    """
    argv = tuple(str(part) for part in argv)
    started = time.monotonic()
    try:
        process = _watched(argv, subprocess.STDOUT, env)
    except OSError as error:
        return Completed(argv, None, "", "", time.monotonic() - started, f"{argv[0]}: {error.strerror or error}")
    lines: Deque[str] = collections.deque()
    kept = 0

    def copy():
        nonlocal kept
        for raw in process.stdout:
            line = _decode(raw)
            echo.write(line)
            echo.flush()
            lines.append(line)
            kept += len(line)
            while kept > CAPTURE_LIMIT and len(lines) > 1:
                kept -= len(lines.popleft())

    reader = threading.Thread(target=copy, daemon=True)
    reader.start()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(process)
        reader.join()
        return Completed(argv, None, "".join(lines), "", time.monotonic() - started, f"timed out after {timeout:g} s")
    except BaseException:  # Ctrl-C, or SIGTERM/SIGHUP turned into an exception: stop it gracefully, then go on failing
        stop_group(process)
        raise
    reader.join()
    return Completed(argv, process.returncode, "".join(lines), "", time.monotonic() - started)


class Beside:
    """A helper command run beside a longer one: each line of its stdout handed to ``on_line`` as
    it comes (from a thread of its own), its stderr dropped. :meth:`stop` ends it, and whatever
    it started; a helper that cannot start is a helper that says nothing."""

    def __init__(self, argv: Sequence[str], on_line, env: Optional[Mapping[str, str]] = None):
        self.process: Optional[subprocess.Popen] = None
        self.reader: Optional[threading.Thread] = None
        try:
            self.process = _watched([str(part) for part in argv], subprocess.DEVNULL, env)
        except OSError:
            return
        process = self.process

        def read():
            for raw in process.stdout:
                on_line(_decode(raw))

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()

    def stop(self, grace: float = 0.0) -> None:
        """End it, after up to ``grace`` seconds for it to end by itself."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        kill_group(self.process)
        self.process.wait()
        self.reader.join(timeout=5.0)


def stop_group(process: subprocess.Popen, grace: float = STOP_GRACE) -> None:
    """End a command started with start_new_session as a person would: SIGINT, then SIGTERM, then SIGKILL."""
    if os.name != "posix":
        process.kill()
        process.wait()
        return
    for number, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 2.0)):
        try:
            os.killpg(process.pid, number)
        except (ProcessLookupError, PermissionError):
            break
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    kill_group(process)  # whatever is left of the group, the leader included
    process.wait()


def _prctl():
    """Linux's prctl, for installers only (ctypes costs start-up time every other command would pay)."""
    if os.name != "posix" or os.uname().sysname != "Linux":
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _end_with_parent(prctl) -> Callable[[], None]:
    """In the child, before exec: be sent SIGTERM if torchup dies, even by SIGKILL, rather than run on as an orphan."""
    return lambda: prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def kill_group(process: subprocess.Popen) -> None:
    """End a process started with start_new_session, and everything it started."""
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except (ProcessLookupError, PermissionError):
        pass


def _read_back(handle) -> str:
    handle.seek(0)
    return _decode(handle.read(CAPTURE_LIMIT))


def _encode(text: Optional[str]) -> Optional[bytes]:
    return None if text is None else text.encode("utf-8")


def _decode(data: Optional[bytes]) -> str:
    # Tool output is not always UTF-8 (localised dates in /proc, Windows code pages): never fail on it.
    return (data or b"").decode("utf-8", errors="replace")
