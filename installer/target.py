"""The target interpreter: which one it is, and the facts its own probe reports.

The probe (``diagnostics/probe.py``) is started by a short bootstrap that any Python, 2.x
included, can parse, so an interpreter too old to run the probe still answers with its version.
"""

import atexit
import os
import shutil
import tempfile
import threading
from typing import Mapping, NamedTuple, Optional

from . import kit, runner
from .errors import TargetError

OLDEST_PROBE_PYTHON = (3, 6)
# The constraints file `torchup install` writes into a venv and names in the venv's pip.conf.
PINS_FILE = "torchup-constraints.txt"
NOT_PYTHON_HINT = "name a Python 3 interpreter or a venv's directory: --python /usr/bin/python3, --python .venv"

# What runs in the target answers in a file of torchup's own (its first argument), never on stdout:
# whatever the interpreter, a sitecustomize or a library prints there is the target's business.
# The bootstrap loads the probe from its file through the bytecode cache (with importlib.machinery:
# importlib.util costs start-up time) and runs it; an interpreter too old for the probe answers
# with its version instead (Python 2 parses this too).
_BOOTSTRAP = (
    "import sys\n"
    "answer = open(sys.argv[1], 'w')\n"
    "if sys.version_info < (3, 6):\n"
    '    answer.write(\'{"too_old": "%d.%d.%d"}\\n\' % tuple(sys.version_info[:3]))\n'
    "else:\n"
    "    from importlib.machinery import SourceFileLoader\n"
    "    probe = type(sys)('torchup_probe')\n"
    "    probe.__file__ = sys.argv[2]\n"
    "    exec(SourceFileLoader('torchup_probe', sys.argv[2]).get_code('torchup_probe'), probe.__dict__)\n"
    "    probe.main(answer)\n"
    "answer.close()\n"
)


def probe_path() -> str:
    return kit.path("probe.py")


# Stated in every command's --help, as the README states it.
DEFAULT_HELP = "The target interpreter or venv (default: the active venv, else ./.venv where it exists, else python3 on PATH)."


def venv_interpreters(venv: str):
    """Where a venv keeps its python: bin/ on POSIX, Scripts\\ on Windows."""
    return (os.path.join(venv, "bin", "python"), os.path.join(venv, "Scripts", "python.exe"))


def default_interpreter(env: Mapping[str, str], cwd: Optional[str] = None) -> str:
    """The one default of every command: the active virtual environment's python, else ./.venv's
    where it exists, else ``python3`` (then ``python``) on PATH. An active venv whose python is
    missing is an error, never a reason to fall through to another Python."""
    venv = env.get("VIRTUAL_ENV")
    if venv:
        for candidate in venv_interpreters(venv):
            if os.path.exists(candidate):
                return os.path.abspath(candidate)
        raise TargetError(
            f"the active virtual environment {venv} has no python", hint="recreate it, `deactivate` it, or name an interpreter with --python PATH"
        )
    for candidate in venv_interpreters(os.path.join(cwd or os.getcwd(), ".venv")):
        if os.path.exists(candidate):
            return os.path.abspath(candidate)
    for name in ("python3", "python"):
        found = shutil.which(name, path=env.get("PATH", os.defpath))
        if found:
            return os.path.abspath(found)
    raise TargetError("no Python found: no active virtual environment, no ./.venv and no python3 on PATH", hint="name one with --python PATH")


def resolve_interpreter(python: Optional[str], env: Mapping[str, str]) -> str:
    """The interpreter ``--python`` names (a path, a venv directory or a command on PATH), as an
    absolute path, since every command runs in a directory of torchup's own; else the default."""
    if python is None:
        return default_interpreter(env)
    if os.sep in python or (os.altsep and os.altsep in python) or os.path.exists(python):
        path = os.path.abspath(os.path.expanduser(python))
        if not os.path.exists(path):
            raise TargetError(f"--python {python}: no such file", hint=NOT_PYTHON_HINT)
        if os.path.isdir(path):
            # A virtual environment's directory is a fine way to name its interpreter.
            for candidate in venv_interpreters(path):
                if os.path.exists(candidate):
                    return candidate
            raise TargetError(f"--python {python}: a directory with no bin/python in it", hint=NOT_PYTHON_HINT)
        if not os.access(path, os.X_OK):
            raise TargetError(f"--python {python}: not executable", hint=NOT_PYTHON_HINT)
        return path
    found = shutil.which(python, path=env.get("PATH", os.defpath))
    if not found:
        raise TargetError(f"--python {python}: not found on PATH", hint=NOT_PYTHON_HINT)
    return os.path.abspath(found)


def isolated(python: str, argv, env: Mapping[str, str], timeout: float, started: Optional[runner.Started] = None) -> runner.Completed:
    """Run ``python`` isolated from the user's current directory, PYTHONPATH and user site: ``-I``
    where it has it, else (Python 2, 3.3 and older, which are only asked their version) ``-E -s``.
    ``started``: this very command, started earlier with :func:`start_isolated`."""
    completed = (started or start_isolated(python, argv, env)).finish(timeout)
    if completed.returncode == 2 and "-I" in completed.stderr and "option" in completed.stderr.lower():
        completed = runner.run([python, "-E", "-s"] + list(argv), env=env, timeout=timeout)
    return completed


def start_isolated(python: str, argv, env: Mapping[str, str]) -> runner.Started:
    """Start ``python -I argv``, to be finished by :func:`isolated`."""
    return runner.start([python, "-I"] + list(argv), env=env)


# The interpreter's version, and torch's as its metadata says (torch is not imported): Python 2
# parses this too, so an old interpreter is named as such rather than failing to answer.
_VERSION = (
    "import sys\n"
    "torch = None\n"
    "if sys.version_info >= (3, 8):\n"
    "    try:\n"
    "        from importlib.metadata import version\n"
    "        torch = version('torch')\n"
    "    except Exception:\n"
    "        pass\n"
    "answer = tuple(sys.version_info[:3]) + ('null' if torch is None else '\"%s\"' % torch,)\n"
    'open(sys.argv[1], "w").write(\'{"version": "%d.%d.%d", "torch": %s}\\n\' % answer)\n'
)


class CheckedInterpreter(NamedTuple):
    python: str  # absolute
    version: str
    torch: Optional[str]  # torch's version as installed there, None where it is not


class Answer(NamedTuple):
    """What a script run in the target answered on its own channel, and what else it printed."""

    document: dict
    printed: str  # the target's own stdout and stderr (a sitecustomize's banner, say): shown under -v


class Asking:
    """A script under way in the target, started with the path of a fresh file of torchup's own as
    its first argument: :meth:`answer` reads what it wrote there, :meth:`abandon` ends it unread."""

    def __init__(self, python: str, script: str, arguments, env: Mapping[str, str]):
        descriptor, self.path = tempfile.mkstemp(prefix="torchup-answer-", suffix=".json")
        os.close(descriptor)
        self.python, self.env = python, dict(env)
        self.argv = ["-c", script, self.path] + list(arguments)
        self.started = start_isolated(python, self.argv, self.env)

    def answer(self, timeout: float, key: str) -> Answer:
        """The JSON the script wrote (holding ``key``), or a TargetError saying why there is none."""
        # Loaded here, while the script runs, rather than once it has answered; the top of the
        # module would load it before the probe starts (entry).
        import json

        try:
            completed = isolated(self.python, self.argv, self.env, timeout, self.started)
            with open(self.path, encoding="utf-8", errors="replace") as handle:
                written = handle.read()
        finally:
            os.unlink(self.path)
        if completed.failure:
            raise TargetError(f"--python {self.python}: {completed.failure}", hint=NOT_PYTHON_HINT)
        try:
            document = json.loads(written)
        except ValueError:
            from .findings import StoreAlias  # a catalogued problem (F28), found before there are facts
            from .redact import shortened

            printed = _own_words(completed)
            raise TargetError(
                f"--python {self.python}: not a Python interpreter torchup can use (exit status {completed.returncode}; it printed: {shortened(printed, 120)})",
                hint=StoreAlias.hint if StoreAlias.applies(self.python, printed) else NOT_PYTHON_HINT,
            ) from None
        if not isinstance(document, dict) or not ("too_old" in document or key in document):
            raise TargetError(f"--python {self.python}: not a Python interpreter torchup can use (its answer was not a Python's)", hint=NOT_PYTHON_HINT)
        return Answer(document, (completed.stdout + completed.stderr).strip())

    def abandon(self) -> None:
        self.started.abandon()
        os.unlink(self.path)


def ask(python: str, script: str, arguments, env: Mapping[str, str], timeout: float, key: str) -> Answer:
    """Run ``script`` isolated in ``python`` and read its answer (see :class:`Asking`)."""
    return Asking(python, script, arguments, env).answer(timeout, key)


# The probe started before the command line was read (probe_ahead).
_ahead: Optional[Asking] = None
_ahead_lock = threading.Lock()


def probe_ahead(python: Optional[str], env: Mapping[str, str]) -> None:
    """Start probing the target that ``--python`` names (None: the default) while the command line
    and the command load, which take about as long as the probe. :func:`probe_interpreter` takes it
    up when it is asked about this interpreter with this environment; otherwise it ends unread.
    Whatever stops it here (a --python that names nothing) the command meets again, and says."""
    global _ahead
    try:
        _ahead = Asking(resolve_interpreter(python, env), _BOOTSTRAP, [probe_path()], env)
    except (TargetError, OSError):
        return
    atexit.register(_take_ahead, None, None)  # at exit, asked for nothing: one never taken up ends unread


def _take_ahead(python: Optional[str], env: Optional[Mapping[str, str]]) -> Optional[Asking]:
    """The probe started ahead where it is the one asked for; any other ends here, unread."""
    global _ahead
    with _ahead_lock:
        ahead, _ahead = _ahead, None
    if ahead is None or (ahead.python == python and ahead.env == dict(env or {})):
        return ahead
    ahead.abandon()
    return None


def probe_interpreter(python: str, env: Mapping[str, str], timeout: float) -> Answer:
    """Run the probe with ``python``: its document, or a TargetError saying why not."""
    asking = _take_ahead(python, env) or Asking(python, _BOOTSTRAP, [probe_path()], env)
    answer = asking.answer(timeout, "probe_schema")
    if "too_old" in answer.document:
        _too_old(python, answer.document["too_old"])
    return answer


def checked_interpreter(python: Optional[str], env: Mapping[str, str], timeout: float) -> CheckedInterpreter:
    """The interpreter ``--python`` names (or the default), once it is known to be one the kit runs
    in (3.6 or newer), else a TargetError saying why not."""
    interpreter = resolve_interpreter(python, env)
    answer = ask(interpreter, _VERSION, [], env, timeout, "version").document
    if tuple(int(part) for part in answer["version"].split(".")[:2]) < OLDEST_PROBE_PYTHON:
        _too_old(interpreter, answer["version"])
    return CheckedInterpreter(interpreter, answer["version"], answer.get("torch"))


def _own_words(completed: runner.Completed) -> str:
    """The last line a program that is no Python printed, leaving out lines that only echo what
    torchup passed it (`ls` quotes its arguments: the script, the probe's path)."""
    passed = [line.strip() for argument in completed.argv[1:] for line in argument.splitlines() if len(line.strip()) > 8] + [kit.KIT_DIR]
    lines = [line.strip() for line in (completed.stdout.strip() or completed.stderr.strip()).splitlines() if line.strip()]
    own = [line for line in lines if not any(fragment in line for fragment in passed)]
    return own[-1] if own else "nothing"


def _too_old(python: str, version: str) -> None:
    raise TargetError(
        f"--python {python}: Python {version} is too old; torchup needs Python "
        f"{'.'.join(map(str, OLDEST_PROBE_PYTHON))} or newer, and current PyTorch needs 3.10 or newer",
        hint="install a newer Python (python.org, your distribution, or `uv python install 3.12`) and name it with --python",
    )
