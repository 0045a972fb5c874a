"""torch's published advisories: in the data (sourced, checked at load), in the plan of an old
release with the oldest release that fixes them and runs here, and in the doctor."""

import json
import subprocess
import sys

from tests.conftest import REPO, isolated_env, make_venv, make_wheel
from torchup.installer.compat import load
from torchup.installer.plan import Overrides, make_plan
from torchup.installer.plan.report import render_text

DATA = load()
LINUX = dict(os="linux", arch="x86_64", python_version="3.11", offline=True)


def torchup(*args):
    return subprocess.run([sys.executable, "-m", "torchup", *args], capture_output=True, text=True, env=isolated_env(), cwd=REPO, timeout=600)


def test_a_kepler_gpu_gets_2_3_1_and_the_weights_only_advisory_is_named():
    """Tesla K80 (3.7) on driver 470: the newest release with sm_37 kernels is 2.3.1, which
    advisories[PYSEC-2025-41] (pypa-advisories) says loads untrusted checkpoints unsafely."""
    plan = make_plan(None, Overrides(nvidia_driver="470.256.02", gpu_cc=("3.7",), **LINUX))
    assert plan.torch == "2.3.1+cu118"
    found = {advisory.id: advisory for advisory in plan.advisories.found}
    assert found["PYSEC-2025-41"].aliases == ["CVE-2025-32434", "GHSA-53q9-r3pm-6pq6"] and found["PYSEC-2025-41"].fixed == "2.6.0"
    assert (plan.advisories.fixed_in, plan.advisories.fixed_build, plan.advisories.fixed_on_gpu) == ("2.13.0", "cpu", False)
    text = render_text(plan)
    assert "\nAdvisories for torch 2.3.1+cu118: 24 published (by the ids pip-audit and other scanners report)\n" in text
    assert "  fixed in 2.6.0   PYSEC-2025-41 (CVE-2025-32434): torch.load(weights_only=True) can still run code from an untrusted checkpoint\n" in text
    assert (
        "  the oldest release with every fix that runs here: 2.13.0+cpu, as a CPU build: "
        "no release with these fixes has a build for this machine's GPU (--torch 2.13.0)\n" in text
    )
    document = plan.as_data()["advisories"]
    assert document["fixed_in"] == "2.13.0" and len(document["found"]) == 24
    assert {"id": "PYSEC-2025-41", "url": "https://osv.dev/vulnerability/PYSEC-2025-41"}.items() <= document["found"][1].items()


def test_a_gpu_that_a_fixed_release_still_serves_is_named_with_that_build():
    plan = make_plan(None, Overrides(torch="2.9", nvidia_driver="570.86.15", gpu_cc=("8.6",), **LINUX))
    assert plan.torch == "2.9.1+cu128"
    assert [a.id for a in plan.advisories.found] == ["PYSEC-2025-195", "PYSEC-2026-2286", "PYSEC-2025-194", "PYSEC-2026-139"]
    assert (plan.advisories.fixed_in, plan.advisories.fixed_build, plan.advisories.fixed_on_gpu) == ("2.13.0", "cu126", True)
    assert "  the oldest release with every fix that runs here: 2.13.0+cu126 (--torch 2.13.0)\n" in render_text(plan)


def test_a_current_release_has_no_advisory_section():
    plan = make_plan(None, Overrides(no_gpu=True, **LINUX))
    assert plan.advisories.found == [] and "Advisories" not in render_text(plan)


def test_every_advisory_row_is_sourced_and_its_fix_lies_outside_its_range():
    for advisory in DATA.advisories:
        assert advisory.fixed is None or not advisory.affects(advisory.fixed), advisory.id
        assert advisory.verified == (advisory.source.split(":")[0] in ("pypa-advisories", "github-advisories")), advisory.id
    assert DATA.advisories_for("2.14.1") == [] and DATA.advisories_for("2.15.0+cu130") == []
    assert [a.named for a in DATA.advisories_for("2.6.0")][:2] == ["PYSEC-2025-198 (CVE-2025-46148)", "PYSEC-2025-199 (CVE-2025-46149)"]


def test_doctor_on_a_torch_without_advisories_passes_and_no_advisories_holds(torch_python):
    result = torchup("doctor", "--python", str(torch_python), "install.advisories", "--expect", "no-advisories", "--json")
    assert result.returncode == 0, result.stdout[-2000:]
    results = {r["id"]: r for r in json.loads(result.stdout)["results"]}
    assert results["install.advisories"]["status"] == "pass"
    assert results["install.advisories"]["evidence"] == f"none of the {len(DATA.advisories)} published advisories torchup knows affects torch 2.13.0+cpu"
    assert results["expect.no-advisories"]["status"] == "pass"


def test_doctor_warns_of_an_old_torch_and_no_advisories_fails_the_run(tmp_path):
    """The check reads the installed torch's version from its metadata, without importing it:
    a distribution named torch, version 2.5.1, is all it needs."""
    python = make_venv(tmp_path / "venv", with_pip=False)
    wheel = make_wheel(tmp_path / "wheels", "torch", "2.5.1")
    subprocess.run([sys.executable, "-m", "uv", "pip", "install", "-q", "--python", str(python), "--no-index", str(wheel)], check=True, env=isolated_env())
    warned = torchup("doctor", "--python", str(python), "install.advisories", "--json")
    advisory = json.loads(warned.stdout)["results"][0]
    assert advisory["status"] == "warn" and warned.returncode == 0
    lines = advisory["evidence"].splitlines()
    assert lines[0] == "torch 2.5.1: 22 published advisories affect it (every fix is in 2.13.0 and later, 8 with no fixed release)"
    assert "PYSEC-2025-41 (CVE-2025-32434), fixed in 2.6.0: torch.load(weights_only=True) can still run code from an untrusted checkpoint" in lines
    assert advisory["fix"]["commands"][0] == f"torchup plan --python {python} --torch '>=2.13.0'  (the oldest release with every fix, and whether it runs here)"
    gated = torchup("doctor", "--python", str(python), "install.advisories", "--expect", "no-advisories", "--json")
    assert gated.returncode == 1
    expectation = next(r for r in json.loads(gated.stdout)["results"] if r["id"] == "expect.no-advisories")
    assert expectation["status"] == "fail" and expectation["evidence"].startswith("expected no-advisories; found advisories = PYSEC-2025-41 (CVE-2025-32434), ")
