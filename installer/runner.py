"""The one seam through which torchup runs external commands.

Every command is an argv list (never a shell string), runs with a timeout and
captured output, and never raises for the ordinary ways a tool fails: a missing
executable, a non-zero exit, a hang, a crash. Those come back as data so that a
broken ``nvidia-smi`` costs one line of a report, never the run.
"""

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from typing import Mapping, NamedTuple, Optional, Sequence, TextIO

DEFAULT_TIMEOUT = 5.0
# pip, uv and package managers run for minutes on a slow link: only a run this long is taken for a hang.
INSTALLER_TIMEOUT = 3600.0
_neutral: Optional[str] = None


def neutral_dir() -> str:
    """An empty directory of torchup's own, where every command starts: an interpreter started
    there finds no ``json.py``, ``pip/`` or ``sitecustomize.py`` of the user's current directory."""
    global _neutral
    if _neutral is None:
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
            return f"killed by {_signal_name(-self.returncode)}" + (f": {first}" if first else "")
        return f"exit status {self.returncode}" + (f": {first}" if first else "")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def run(
    argv: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    env: Optional[Mapping[str, str]] = None,
    input_text: Optional[str] = None,
    cwd: Optional[str] = None,
) -> Completed:
    """Run ``argv`` and capture its output; see the module docstring for the contract."""
    argv = tuple(str(part) for part in argv)
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None,
            cwd=cwd or neutral_dir(),
            # A process group of its own, so a timeout also ends whatever the command started.
            start_new_session=os.name == "posix",
        )
    except FileNotFoundError:
        return Completed(argv, None, "", "", time.monotonic() - started, f"{argv[0]}: not found")
    except OSError as error:
        return Completed(argv, None, "", "", time.monotonic() - started, f"{argv[0]}: {error.strerror or error}")
    try:
        out, err = process.communicate(input=_encode(input_text), timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process)
        out, err = process.communicate()
        return Completed(argv, None, _decode(out), _decode(err), time.monotonic() - started, f"timed out after {timeout:g} s")
    except KeyboardInterrupt:
        kill_group(process)
        raise
    return Completed(argv, process.returncode, _decode(out), _decode(err), time.monotonic() - started)


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
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=neutral_dir(),
            start_new_session=os.name == "posix",
        )
    except OSError as error:
        return Completed(argv, None, "", "", time.monotonic() - started, f"{argv[0]}: {error.strerror or error}")
    lines = []

    def copy():
        for raw in process.stdout:
            line = _decode(raw)
            lines.append(line)
            echo.write(line)
            echo.flush()

    reader = threading.Thread(target=copy, daemon=True)
    reader.start()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process)
        process.wait()
        reader.join()
        return Completed(argv, None, "".join(lines), "", time.monotonic() - started, f"timed out after {timeout:g} s")
    except KeyboardInterrupt:
        kill_group(process)
        process.wait()
        raise
    reader.join()
    return Completed(argv, process.returncode, "".join(lines), "", time.monotonic() - started)


def kill_group(process: subprocess.Popen) -> None:
    """End a process started with start_new_session, and everything it started."""
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except (ProcessLookupError, PermissionError):
        pass


def _encode(text: Optional[str]) -> Optional[bytes]:
    return None if text is None else text.encode("utf-8")


def _decode(data: Optional[bytes]) -> str:
    # Tool output is not always UTF-8 (localised dates in /proc, Windows code pages): never fail on it.
    return (data or b"").decode("utf-8", errors="replace")
