"""The GitHub Action's logic (``action.yml`` runs ``python -m torchup.installer.action``).

Inputs come as ``TORCHUP_ACTION_*`` variables; outputs go to ``GITHUB_OUTPUT``: the plan first
(``torch-version``, ``variant``, ``index-url`` and ``cache-key``, a stable hash of the plan for
actions/cache), then the install, then the doctor with JUnit and expectations. install and doctor
append their Markdown reports to ``GITHUB_STEP_SUMMARY`` themselves. The exit status is the first
failing step's.
"""

import hashlib
import json
import os
import shlex
import subprocess
import sys
from typing import Dict, List


def _inputs(env: Dict[str, str]) -> Dict[str, str]:
    names = ("python", "variant", "torch", "with", "checks", "expect", "strict", "install-args")
    return {name: env.get("TORCHUP_ACTION_" + name.upper().replace("-", "_"), "").strip() for name in names}


def plan_arguments(inputs: Dict[str, str]) -> List[str]:
    argv = ["--python", inputs["python"] or "python3"]
    if inputs["variant"] and inputs["variant"] != "auto":
        argv += ["--variant", inputs["variant"]]
    if inputs["torch"]:
        argv += ["--torch", inputs["torch"]]
    if inputs["with"]:
        argv += ["--with", inputs["with"]]
    return argv + shlex.split(inputs["install-args"])


def cache_key(plan: dict) -> str:
    """Stable while the plan is: the same torch build, packages, index and interpreter give the same key."""
    inputs = plan["inputs"]
    facts = [inputs["os"], inputs["arch"], inputs["python"], plan["torch"], plan["index_url"]] + sorted(plan["packages"])
    return "torchup-" + hashlib.sha256("\n".join(facts).encode("utf-8")).hexdigest()[:20]


def _torchup(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torchup", *argv], stdout=subprocess.PIPE, text=True)


def main(env=None) -> int:
    env = dict(os.environ if env is None else env)
    inputs = _inputs(env)
    arguments = plan_arguments(inputs)
    planned = _torchup("install", *arguments, "--dry-run", "--json")
    if planned.returncode != 0:
        return planned.returncode
    plan = json.loads(planned.stdout)["plan"]
    outputs = {"torch-version": plan["torch"], "variant": plan["variant"], "index-url": plan["index_url"], "cache-key": cache_key(plan)}
    if env.get("GITHUB_OUTPUT"):
        with open(env["GITHUB_OUTPUT"], "a", encoding="utf-8") as handle:
            handle.writelines(f"{key}={value}\n" for key, value in outputs.items())
    installed = _torchup("install", *arguments, "--yes")
    if installed.returncode != 0:
        return installed.returncode
    doctor = ["doctor", "--python", inputs["python"] or "python3", "--junit", "torchup-doctor.xml"]
    doctor += [part for expectation in inputs["expect"].split() for part in ("--expect", expectation)]
    doctor += ["--strict"] if inputs["strict"].lower() == "true" else []
    return _torchup(*doctor, *inputs["checks"].split()).returncode


if __name__ == "__main__":
    sys.exit(main())
