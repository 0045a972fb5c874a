"""The target interpreter: which one it is, and the facts its own probe reports.

The probe (``diagnostics/probe.py``) is fed on stdin to a two-line bootstrap that any Python,
2.x included, can parse, so an interpreter too old to run the probe still answers with its version.
"""

import json
import os
import shutil
from importlib.util import find_spec
from typing import Mapping, Optional

from . import runner
from .errors import TargetError

OLDEST_PROBE_PYTHON = (3, 6)

# Loads the probe from its file (so the bytecode cache spares a compile on later runs) and runs it;
# an interpreter too old for the probe answers with its version instead.
_BOOTSTRAP = (
    "import sys\n"
    "if sys.version_info < (3, 6):\n"
    "    sys.stdout.write('{\"too_old\": \"%d.%d.%d\"}\\n' % tuple(sys.version_info[:3]))\n"
    "else:\n"
    "    import importlib.util\n"
    "    spec = importlib.util.spec_from_file_location('torchup_probe', sys.argv[1])\n"
    "    probe = importlib.util.module_from_spec(spec)\n"
    "    spec.loader.exec_module(probe)\n"
    "    probe.main()\n"
)


def probe_path() -> str:
    # Located, not imported: the probe runs in the target, and importing it here would only cost start-up time.
    return find_spec("diagnostics.probe").origin


def venv_interpreters(venv: str):
    """Where a venv keeps its python: bin/ on POSIX, Scripts\\ on Windows."""
    return (os.path.join(venv, "bin", "python"), os.path.join(venv, "Scripts", "python.exe"))


def default_interpreter(env: Mapping[str, str]) -> str:
    """The active virtual environment's python, else ``python3`` (then ``python``) on PATH."""
    venv = env.get("VIRTUAL_ENV")
    if venv:
        for candidate in venv_interpreters(venv):
            if os.path.exists(candidate):
                return candidate
    for name in ("python3", "python"):
        found = shutil.which(name, path=env.get("PATH", os.defpath))
        if found:
            return found
    raise TargetError("no Python found: no active virtual environment and no python3 on PATH", hint="name one with --python PATH")


def doctor_default(env: Mapping[str, str]) -> str:
    """As install would choose: the active venv, else ./.venv where it exists, else python3 on PATH."""
    local = os.path.join(".venv", "Scripts", "python.exe") if os.name == "nt" else os.path.join(".venv", "bin", "python")
    if not env.get("VIRTUAL_ENV") and os.path.exists(local):
        return os.path.abspath(local)
    return default_interpreter(env)


def resolve_interpreter(python: Optional[str], env: Mapping[str, str]) -> str:
    if python is None:
        return default_interpreter(env)
    if os.sep in python or (os.altsep and os.altsep in python) or os.path.exists(python):
        path = os.path.expanduser(python)
        if not os.path.exists(path):
            raise TargetError(f"--python {python}: no such file")
        if os.path.isdir(path):
            # A virtual environment's directory is a fine way to name its interpreter.
            for candidate in venv_interpreters(path):
                if os.path.exists(candidate):
                    return candidate
            raise TargetError(f"--python {python}: a directory with no bin/python in it")
        if not os.access(path, os.X_OK):
            raise TargetError(f"--python {python}: not executable")
        return path
    found = shutil.which(python, path=env.get("PATH", os.defpath))
    if not found:
        raise TargetError(f"--python {python}: not found on PATH")
    return found


def probe_interpreter(python: str, env: Mapping[str, str], timeout: float) -> dict:
    """Run the probe with ``python``; the parsed JSON document, or a TargetError saying why not."""
    completed = runner.run([python, "-c", _BOOTSTRAP, probe_path()], env=env, timeout=timeout)
    if completed.failure:
        raise TargetError(f"--python {python}: {completed.failure}")
    try:
        document = json.loads(completed.stdout)
    except ValueError:
        shown = (completed.stdout.strip() or completed.stderr.strip() or "nothing").splitlines()[-1][:120]
        raise TargetError(
            f"--python {python}: not a Python interpreter torchup can use (exit status {completed.returncode}; it printed: {shown})"
        ) from None
    if not isinstance(document, dict) or not ("too_old" in document or "probe_schema" in document):
        raise TargetError(f"--python {python}: not a Python interpreter torchup can use (its answer was not the probe's)")
    if "too_old" in document:
        raise TargetError(
            f"--python {python}: Python {document['too_old']} is too old; torchup needs Python "
            f"{'.'.join(map(str, OLDEST_PROBE_PYTHON))} or newer, and current PyTorch needs 3.10 or newer",
            hint="install a newer Python (python.org, your distribution, or `uv python install 3.12`) and name it with --python",
        )
    return document
