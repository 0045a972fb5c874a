"""What -v adds, on a machine without a GPU as on any other: where each fact came from, for each
command a maintainer reads in a bug report (detect, fix, plan, install)."""

import re
import subprocess
import sys

from tests.conftest import REPO, isolated_env


def torchup(*args, env):
    return subprocess.run([sys.executable, "-m", "torchup", *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)


def consulted(text):
    """The lines of the "Sources consulted" section, without their indent."""
    section = text.split("\nSources consulted\n", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in section.splitlines()]


def without_numbers(text):
    return re.sub(r"\d+(\.\d+)?", "N", text)


def user_env(tmp_path, **extra):
    """A user whose pip reads one configuration file, with an index and a CA bundle, and no GPU tool on PATH."""
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = https://mirror.example/simple\ncert = /etc/ssl/certs/ca-certificates.crt\n")
    return isolated_env(PIP_CONFIG_FILE=str(conf), **extra), conf


def test_detect_and_fix_say_where_each_fact_came_from(tmp_path):
    env, conf = user_env(tmp_path)
    for command in ("detect", "fix"):
        quiet = torchup(command, "--python", sys.executable, env=env)
        loud = torchup("-v", command, "--python", sys.executable, env=env)
        assert "Sources consulted" not in quiet.stdout and quiet.stdout.splitlines()[0] == loud.stdout.splitlines()[0], command
        # The report as it would be without -v, then where its facts came from (free memory and
        # disk change between the two runs, as other processes work).
        report, verbose_report = without_numbers(quiet.stdout), without_numbers(loud.stdout)
        assert verbose_report.startswith(report) and verbose_report.index("Sources consulted") >= len(report), command
        lines = consulted(loud.stdout)
        assert "kernel: /proc/sys/kernel/osrelease" in lines and "memory: /proc/meminfo" in lines
        assert next(line for line in lines if line.startswith("distribution: ")) in ("distribution: /etc/os-release", "distribution: /usr/lib/os-release")
        assert next(line for line in lines if line.startswith("CPU: ")).startswith("CPU: /proc/cpuinfo (model, flags, physical and core ids)")
        assert f"Python, pip and TLS: the probe, run by {sys.executable} -I in an empty directory; the target printed nothing else" in lines
        # pip's files in the order pip reads them, each said to be read or not there; PIP_CONFIG_FILE last.
        files = next(line for line in lines if line.startswith("pip configuration files, in the order pip reads them: "))
        assert files.endswith(f"{conf} (read)") and "/etc/pip.conf (" in files
        # Where no GPU was found, what was looked at is said all the same.
        nvidia = next(line for line in lines if line.startswith("NVIDIA: "))
        assert nvidia.startswith("NVIDIA: TORCHUP_NVIDIA_DRIVER: not set; /sys/module/nvidia/version: ")
        assert "nvidia-smi: " in nvidia
        assert next(line for line in lines if line.startswith("AMD: ")).startswith("AMD: TORCHUP_ROCM_ARCH: not set; rocm_agent_enumerator: ")
        assert any(line.startswith("Intel: /sys/bus/pci/devices: ") for line in lines)


def test_plan_says_what_it_was_made_from(tmp_path):
    env, _ = user_env(tmp_path)
    detected = consulted(torchup("-v", "plan", "--offline", "--python", sys.executable, env=env).stdout)
    assert "kernel: /proc/sys/kernel/osrelease" in detected  # the detection behind the inputs
    assert any(line.startswith("builds, releases and their limits: ") and line.endswith("compatibility.json") for line in detected)
    tags = next(line for line in detected if line.startswith("wheel tags a listing is checked against: "))
    assert tags.startswith("wheel tags a listing is checked against: cp%d%d-cp%d%d-" % (sys.version_info[:2] * 2))
    assert "CA bundle for index requests: /etc/ssl/certs/ca-certificates.crt (pip's cert)" in detected
    assert "your pip's sources, asked where the index does not answer: https://mirror.example/simple" in detected
    given = consulted(torchup("-v", "plan", "--offline", "--os", "linux", "--arch", "x86_64", "--python-version", "3.12", "--no-gpu", env=env).stdout)
    assert given[0] == "nothing detected: every input was given on the command line"


def test_install_says_which_installer_runs_and_what_torchup_changes_in_its_environment(tmp_path):
    env, _ = user_env(tmp_path, PYTHONPATH="/somewhere")
    wheelhouse = tmp_path / "wheels"
    wheelhouse.mkdir()
    argv = ["install", "--dry-run", "--venv", str(tmp_path / "venv"), "--offline", "--no-gpu", "--installer", "pip"]
    said = torchup("-v", *argv, "--find-links", str(wheelhouse), "--no-index", env=env).stderr
    line = next(line for line in said.splitlines() if line.startswith("  installer: "))
    assert line == (
        f"  installer: the target's pip ({tmp_path / 'venv' / 'bin' / 'python'} -m pip); its environment, as torchup changes it: "
        "sets PIP_CONFIG_FILE=/dev/null, PIP_USER=0, UV_NO_CONFIG=1; unsets PYTHONPATH"
    )
    assert "  installer: " not in torchup(*argv, env=env).stderr
