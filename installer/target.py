"""The target interpreter: which one it is, and the facts its own probe reports.

The probe (``diagnostics/probe.py``) is fed on stdin to a two-line bootstrap that any Python,
2.x included, can parse, so an interpreter too old to run the probe still answers with its version.
"""

import json
import os
import shutil
from typing import Mapping, NamedTuple, Optional

from . import kit, runner
from .errors import TargetError

OLDEST_PROBE_PYTHON = (3, 6)
NOT_PYTHON_HINT = "name a Python 3 interpreter or a venv's directory: --python /usr/bin/python3, --python .venv"

# Loads the probe from its file (so the bytecode cache spares a compile on later runs) and runs it;
# an interpreter too old for the probe answers with its version instead.
_BOOTSTRAP = (
    "import sys\n"
    "if sys.version_info < (3, 6):\n"
    '    sys.stdout.write(\'{"too_old": "%d.%d.%d"}\\n\' % tuple(sys.version_info[:3]))\n'
    "else:\n"
    "    import importlib.util\n"
    "    spec = importlib.util.spec_from_file_location('torchup_probe', sys.argv[1])\n"
    "    probe = importlib.util.module_from_spec(spec)\n"
    "    spec.loader.exec_module(probe)\n"
    "    probe.main()\n"
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


def isolated(python: str, argv, env: Mapping[str, str], timeout: float) -> runner.Completed:
    """Run ``python`` isolated from the user's current directory, PYTHONPATH and user site: ``-I``
    where it has it, else (Python 2, 3.3 and older, which are only asked their version) ``-E -s``."""
    completed = runner.run([python, "-I"] + list(argv), env=env, timeout=timeout)
    if completed.returncode == 2 and "-I" in completed.stderr and "option" in completed.stderr.lower():
        completed = runner.run([python, "-E", "-s"] + list(argv), env=env, timeout=timeout)
    return completed


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
    'sys.stdout.write(\'{"version": "%d.%d.%d", "torch": %s}\\n\' % answer)\n'
)


class CheckedInterpreter(NamedTuple):
    python: str  # absolute
    version: str
    torch: Optional[str]  # torch's version as installed there, None where it is not


def probe_interpreter(python: str, env: Mapping[str, str], timeout: float) -> dict:
    """Run the probe with ``python``; the parsed JSON document, or a TargetError saying why not."""
    document = _answer(python, isolated(python, ["-c", _BOOTSTRAP, probe_path()], env, timeout), "probe_schema")
    if "too_old" in document:
        _too_old(python, document["too_old"])
    return document


def checked_interpreter(python: Optional[str], env: Mapping[str, str], timeout: float) -> CheckedInterpreter:
    """The interpreter ``--python`` names (or the default), once it is known to be one the kit runs
    in (3.6 or newer), else a TargetError saying why not."""
    interpreter = resolve_interpreter(python, env)
    answer = _answer(interpreter, isolated(interpreter, ["-c", _VERSION], env, timeout), "version")
    if tuple(int(part) for part in answer["version"].split(".")[:2]) < OLDEST_PROBE_PYTHON:
        _too_old(interpreter, answer["version"])
    return CheckedInterpreter(interpreter, answer["version"], answer.get("torch"))


def _answer(python: str, completed: runner.Completed, key: str) -> dict:
    if completed.failure:
        raise TargetError(f"--python {python}: {completed.failure}", hint=NOT_PYTHON_HINT)
    try:
        document = json.loads(completed.stdout)
    except ValueError:
        from .findings import StoreAlias  # a catalogued problem (F28), found before there are facts

        printed = _own_words(completed)
        raise TargetError(
            f"--python {python}: not a Python interpreter torchup can use (exit status {completed.returncode}; it printed: {printed[:120]})",
            hint=StoreAlias.hint if StoreAlias.applies(python, printed) else NOT_PYTHON_HINT,
        ) from None
    if not isinstance(document, dict) or not ("too_old" in document or key in document):
        raise TargetError(f"--python {python}: not a Python interpreter torchup can use (its answer was not a Python's)", hint=NOT_PYTHON_HINT)
    return document


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
