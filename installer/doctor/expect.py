"""``doctor --expect KEY=VALUE``: what a CI job requires of its environment, each a check of its own.

Keys: ``variant`` (``cpu``, ``cu130``, ``default``…), ``torch`` (a version or a range:
``torch>=2.7``), ``cuda`` (the CUDA torch was built with: ``cuda=13.0``), ``gpus`` (how many GPUs
torch sees: ``gpus>=8``); and ``no-advisories``: no published security advisory affects the
installed torch (``install.advisories`` only warns). An expectation that does not hold fails the
run like any check.
"""

import re
from typing import List, NamedTuple

from ..errors import TorchupError

KEYS = ("variant", "torch", "cuda", "gpus")
NO_ADVISORIES = "no-advisories"
_FORM = re.compile(r"^\s*(?P<key>[A-Za-z]+)\s*(?P<operator>==|!=|>=|<=|=|>|<)\s*(?P<value>\S+)\s*$")


class Expectation(NamedTuple):
    key: str
    operator: str  # "==" for "=" too
    value: str

    @property
    def text(self) -> str:
        return NO_ADVISORIES if self.key == "advisories" else f"{self.key}{self.operator}{self.value}"

    @property
    def checks(self) -> List[str]:
        """The checks whose facts judge it."""
        return ["install.import", "install.build"] + (["install.advisories"] if self.key == "advisories" else [])


def parse(given: List[str]) -> List[Expectation]:
    found = []
    for text in given:
        if text.strip().lower() == NO_ADVISORIES:
            found.append(Expectation("advisories", "==", "none"))
            continue
        match = _FORM.match(text)
        if not match or match.group("key").lower() not in KEYS:
            raise TorchupError(
                f"--expect {text}: not KEY=VALUE with a key of {', '.join(KEYS)}, nor {NO_ADVISORIES}",
                hint="e.g. --expect variant=cpu --expect 'torch>=2.7' --expect 'gpus>=8' --expect no-advisories",
            )
        key, value = match.group("key").lower(), match.group("value")
        operator = "==" if match.group("operator") == "=" else match.group("operator")
        if key in ("variant", "cuda") and operator not in ("==", "!="):
            raise TorchupError(f"--expect {text}: {key} takes = or !=", hint=f"e.g. --expect {key}={value}")
        if key == "variant":
            value = value.lower()  # build names are lower case: CPU is cpu
        problem = _bad_value(key, operator, value)
        if problem:
            raise TorchupError(f"--expect {text}: {problem}", hint="e.g. --expect variant=cpu --expect 'torch>=2.7' --expect cuda=13.0 --expect 'gpus>=8'")
        found.append(Expectation(key, operator, value))
    return found


def _bad_value(key: str, operator: str, value: str):
    """Why ``value`` is none a ``key`` can be compared with, or None."""
    if key == "gpus" and not value.isdigit():
        return f"{value!r} is not a number of GPUs"
    if key == "cuda" and not re.fullmatch(r"\d+\.\d+|none", value):
        return f"{value!r} is not a CUDA version (13.0) or none"
    if key == "variant" and not re.fullmatch(r"cpu|xpu|default|cu\d+|rocm\d+(\.\d+)*", value):
        return f"{value!r} is not a build (cpu, cu130, rocm7.2, xpu, default)"
    if key == "torch":
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            SpecifierSet(operator + value)
        except InvalidSpecifier:
            return f"{operator}{value} is not a version or range of torch"
    return None


def _facts(results: List[dict]) -> dict:
    facts: dict = {}
    for result in results:
        facts.update(result.get("facts") or {})
        if result["id"] == "install.import" and result.get("torch_version"):
            facts.setdefault("torch", result["torch_version"])
    return facts


def _compare(found, operator: str, wanted) -> bool:
    return {"==": found == wanted, "!=": found != wanted, ">=": found >= wanted, "<=": found <= wanted, ">": found > wanted, "<": found < wanted}[operator]


def results_for(expectations: List[Expectation], results: List[dict]) -> List[dict]:
    """One result per expectation, judged from the facts the checks reported."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    facts = _facts(results)
    judged = []
    for expectation in expectations:
        torch = facts.get("torch")
        if expectation.key == "torch":
            found = torch
            holds = torch is not None and Version(torch) in SpecifierSet(expectation.operator + expectation.value, prereleases=True)
        elif expectation.key == "variant":
            found = (torch.partition("+")[2] or "default") if torch else None
            holds = found is not None and _compare(found, expectation.operator, expectation.value)
        elif expectation.key == "cuda":
            found = (facts.get("cuda") or "none") if torch else None
            holds = found is not None and _compare(found, expectation.operator, expectation.value)
        elif expectation.key == "advisories":
            published = facts.get("advisories")
            found = (", ".join(published) or "none") if published is not None else None
            holds = published == []
        else:
            found = facts.get("device_count")
            holds = found is not None and _compare(int(found), expectation.operator, int(expectation.value))
        absent = "nothing (no advisory data, or torch is not installed)" if expectation.key == "advisories" else "nothing (torch does not import)"
        evidence = f"expected {expectation.text}; found {expectation.key} = {found if found is not None else absent}"
        if expectation.key == "advisories":
            commands = ["torchup doctor install.advisories  (each advisory, and the oldest release with every fix)"]
        else:
            commands = ["torchup plan  (what this machine gets, and why)", "torchup install  (the build this machine runs)"]
        fix = None if holds else {"commands": commands, "link": None}
        judged.append(
            {
                "id": f"expect.{NO_ADVISORIES if expectation.key == 'advisories' else expectation.key}",
                "group": "expect",
                "title": f"{expectation.text}",
                "status": "pass" if holds else "fail",
                "evidence": evidence,
                "fix": fix,
                "seconds": 0.0,
            }
        )
    return judged
