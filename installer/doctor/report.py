"""The doctor's results as one data object, rendered late: text, JSON, JUnit XML, Markdown, and
GitHub Actions annotations. Standard library only."""

import json
import os
import re
import time
from xml.etree import ElementTree

from .. import kit
from ..outcome import workflow_command

SCHEMA_VERSION = 1
MARKS = {"pass": "✓", "warn": "!", "fail": "✗", "crash": "✗", "timeout": "✗", "skip": "-"}
FAILING = ("fail", "crash", "timeout")
EXIT_OK, EXIT_FAILED = 0, 1


def _describe(result):
    """A result's group and title, from the list of checks (a worker reports ids alone)."""
    known = next((c for c in kit.checks().CHECKS if c.id == result["id"]), None)
    result.setdefault("group", known.group if known else result["id"].split(".")[0])
    result.setdefault("title", known.title if known else result["id"])
    return result


def build(python, results, seconds, strict=False):
    for result in results:
        _describe(result)
    counts = dict((status, sum(1 for r in results if r["status"] == status)) for status in MARKS)
    failed = any(r["status"] in FAILING for r in results) or (strict and counts["warn"])
    torch = next((r for r in results if r["id"] == "install.import" and r["status"] == "pass"), None)
    return {
        "schema": SCHEMA_VERSION,
        "python": python,
        "torch": torch.get("torch_version") if torch else None,
        "strict": strict,
        "seconds": round(seconds, 3),
        "counts": counts,
        "exit_code": EXIT_FAILED if failed else EXIT_OK,
        "results": results,
    }


def summary(report):
    counts = report["counts"]
    parts = ["%d passed" % counts["pass"]]
    for status, word in (("warn", "warning"), ("fail", "failed"), ("crash", "crashed"), ("timeout", "timed out"), ("skip", "skipped")):
        if counts[status]:
            parts.append("%d %s" % (counts[status], word + ("s" if status == "warn" and counts[status] > 1 else "")))
    verdict = "OK" if report["exit_code"] == EXIT_OK else "FAILED"
    return "%s in %.1f s: %s" % (", ".join(parts), report["seconds"], verdict)


class TextStream:
    """The text report, one check's lines as soon as it has finished: the header when the run
    begins, each check as it ends. Skipped checks wait for the end (``finish``), where a reason
    shared by many (torch does not import) is said once, not per check."""

    def __init__(self, echo, verbose=False):
        self.echo, self.verbose = echo, verbose
        self.group, self.skipped = None, []

    def begin(self, python, torch=None):
        """The header, as soon as the target is known: ``torch``, its version as installed (from its metadata)."""
        self.echo("torchup doctor: %s%s" % (python, " (torch %s)" % torch if torch else ""))

    def add(self, result):
        _describe(result)
        if result["status"] == "skip" and not self.verbose:
            self.skipped.append(result)
            return
        if result["group"] != self.group:
            self.group = result["group"]
            self.echo("")
            self.echo(self.group)
        for line in self._lines(result):
            self.echo(line)

    def _lines(self, result):
        status = result["status"]
        label = "" if status in ("pass", "skip", "warn", "fail") else status + ": "
        lines = ["  %s %s  %s" % (MARKS[status], result["id"], result["title"])]
        if status != "pass" or self.verbose:
            lines += ["      %s" % line for line in (label + result["evidence"]).splitlines()]
        fix = result.get("fix")
        if fix and status != "pass":
            lines += ["      fix: %s" % command for command in fix["commands"]]
            if fix.get("link"):
                lines.append("      see: %s" % fix["link"])
        return lines

    def finish(self, report):
        """What is left of the report once every check has been shown: the skipped checks and the summary."""
        reasons = {}
        for result in self.skipped:
            reasons.setdefault(result["evidence"], []).append(result)
        singles = [result for results in reasons.values() if len(results) <= 2 for result in results]
        out = ["", "skipped"] + [line for result in singles for line in self._lines(result)] if singles else []
        for reason, results in reasons.items():
            if len(results) > 2:
                out += ["", "%s %d checks skipped: %s" % (MARKS["skip"], len(results), reason)]
        return "\n".join(out + ["", summary(report)]) + "\n"


def render_text(report, verbose=False):
    out = []
    stream = TextStream(out.append, verbose)
    stream.begin(report["python"], report["torch"])
    for result in report["results"]:
        stream.add(result)
    return "\n".join(out) + "\n" + stream.finish(report)


def render_json(report):
    return json.dumps(report, indent=2)


def render_junit(report):
    failures = sum(1 for r in report["results"] if r["status"] == "fail")
    errors = sum(1 for r in report["results"] if r["status"] in ("crash", "timeout"))
    suite = ElementTree.Element(
        "testsuite",
        {
            "name": "torchup doctor",
            "tests": str(len(report["results"])),
            "failures": str(failures),
            "errors": str(errors),
            "skipped": str(report["counts"]["skip"]),
            "time": "%.3f" % report["seconds"],
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"),
        },
    )
    for result in report["results"]:
        case = ElementTree.SubElement(
            suite, "testcase", {"classname": "doctor." + result["group"], "name": result["id"], "time": "%.3f" % result.get("seconds", 0.0)}
        )
        detail = result["evidence"]
        fix = result.get("fix")
        if fix:
            detail += "".join("\nfix: " + command for command in fix["commands"]) + ("\nsee: " + fix["link"] if fix.get("link") else "")
        first_line = result["evidence"].splitlines()[0] if result["evidence"] else ""
        if result["status"] == "fail":
            ElementTree.SubElement(case, "failure", {"message": first_line, "type": "fail"}).text = detail
        elif result["status"] in ("crash", "timeout"):
            ElementTree.SubElement(case, "error", {"message": first_line, "type": result["status"]}).text = detail
        elif result["status"] == "skip":
            ElementTree.SubElement(case, "skipped", {"message": first_line})
        elif result["status"] == "warn":
            ElementTree.SubElement(case, "system-out").text = "warning: " + detail
        else:
            ElementTree.SubElement(case, "system-out").text = result["evidence"]
    root = ElementTree.Element("testsuites")
    root.append(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"


def redact(text):
    """Home directories, the user's name and GPU UUIDs out of text meant for a public bug tracker."""
    home = os.path.expanduser("~")
    if home and home != "/":
        text = text.replace(home, "~")
    user = os.environ.get("USER") or os.environ.get("USERNAME")
    if user and len(user) > 2:
        text = re.sub(r"\b%s\b" % re.escape(user), "<user>", text)
    text = re.sub(r"/(home|Users)/[^/\s]+", r"/\1/<user>", text)
    return re.sub(r"\b(GPU|MIG)-[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b", r"\1-<redacted>", text)


def _code(value):
    return "`%s`" % str(value).replace("`", "'")


# The pip settings that say where packages come from, in the order a maintainer reads them.
SOURCE_SETTINGS = ("index-url", "extra-index-url", "find-links", "no-index", "trusted-host", "proxy", "cert")


def machine_markdown(facts):
    """The machine facts maintainers ask for first (what PyTorch's collect_env gives), from detect's
    facts: OS and kernel, C library, CPU and its vector extensions, GPUs and driver, Python, pip and
    its sources."""
    m = facts.machine
    system = [_code("%s %s" % (m.os, m.arch))]
    if m.distribution:
        system.append(_code(m.distribution.pretty_name or m.distribution.id))
    system += ["kernel " + _code(m.kernel)] if m.kernel else []
    system += [_code("%s %s" % (m.libc, m.libc_version))] if m.libc else []
    system += ["WSL " + _code(m.wsl)] if m.wsl else []
    system += ["container " + _code(m.container)] if m.container else []
    cpu = m.cpu
    cores = "%s cores, %s threads" % (cpu.physical_cores or "?", cpu.logical_cores or "?")
    isa = _code(" ".join(flag.upper() for flag in cpu.isa_flags)) if cpu.isa_flags else "no AVX"
    out = ["### Machine", "", "- OS: " + " · ".join(system), "- CPU: %s · %s · %s" % (_code(cpu.model or "unknown model"), cores, isa)]
    out += _accelerator_lines(facts.accelerators)
    p = facts.pip
    if p:
        settings = [
            "%s %s (%s)" % (key, _code(" ".join(value) if isinstance(value, list) else value), setting.source)
            for key in SOURCE_SETTINGS
            for setting in [p.config.settings.get(key)]
            if setting
            for value in [setting.value]
        ]
        pip = _code(p.version) if p.present else "not installed"
        out.append("- pip: %s · %s" % (pip, " · ".join(settings) if settings else "no index settings: PyPI"))
    return out + ["", "### Checks", ""]


def _interpreter(facts):
    """The target interpreter in words: its version, implementation, bits and kind."""
    i = facts.interpreter if facts else None
    if not i:
        return ""
    kind = "a venv on a %s Python" % i.base_kind if i.kind == "venv" else "a %s Python" % i.kind
    return " (%s, %s, %d-bit, %s)" % (i.version, i.implementation, i.bits, kind)


def _accelerator_lines(accelerators):
    lines = []
    n = accelerators.nvidia
    if n:
        driver = "%s (CUDA %s)" % (_code(n.driver_version), _code(n.cuda_driver_version or "unknown")) if n.driver_version else "driver unknown"
        gpus = ["GPU %s %s, compute capability %s" % (gpu.index, _code(gpu.name), _code(gpu.compute_capability)) for gpu in n.gpus]
        lines.append("- NVIDIA driver: " + " · ".join([driver] + gpus + [error.message for error in n.errors]))
    if accelerators.amd:
        a = accelerators.amd
        lines.append("- AMD GPUs: %s · ROCm %s" % (_code(", ".join(a.architectures)), _code(a.rocm_version or "unknown")))
    if accelerators.intel:
        lines.append("- Intel display devices: " + _code(", ".join(accelerators.intel.gpu_names or accelerators.intel.pci_devices)))
    if accelerators.apple:
        lines.append("- Apple: %s, macOS %s" % (_code(accelerators.apple.chip or "Apple Silicon"), _code(accelerators.apple.macos)))
    return lines or ["- GPU: none found"]


def render_markdown(report, for_bug_tracker=True, machine=None):
    """The report in Markdown: for a bug tracker (``--markdown``, with a note on what was redacted,
    starting with the machine's facts: ``machine``, detect's), or for a CI job's summary page."""
    out = [
        "## torchup doctor report",
        "",
        *(machine_markdown(machine) if machine else []),
        "- Python: `%s`%s" % (report["python"], _interpreter(machine)),
        "- torch: `%s`" % (report["torch"] or "does not import"),
        "- Result: %s" % summary(report),
        "",
        "| | check | result |",
        "|---|---|---|",
    ]
    for result in report["results"]:
        evidence = result["evidence"].replace("|", "\\|").replace("\n", "<br>")
        out.append("| %s | `%s` | %s |" % (MARKS[result["status"]], result["id"], evidence))
    problems = [r for r in report["results"] if r["status"] not in ("pass", "skip")]
    if problems:
        out += ["", "### Fixes", ""]
        for result in problems:
            fix = result.get("fix") or {"commands": [], "link": None}
            steps = "; ".join("`%s`" % command for command in fix["commands"]) or "none known"
            out.append("- `%s`: %s%s" % (result["id"], steps, " ([docs](%s))" % fix["link"] if fix.get("link") else ""))
    if for_bug_tracker:
        out += ["", "_Paths under your home directory, your user name and GPU UUIDs are redacted; read it once more before posting._"]
    return redact("\n".join(out) + "\n")


def github_annotations(report):
    lines = []
    for result in report["results"]:
        level = "error" if result["status"] in FAILING else "warning" if result["status"] == "warn" else None
        if level:
            lines.append(workflow_command(level, "torchup doctor %s" % result["id"], result["evidence"]))
    return lines
