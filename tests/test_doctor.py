"""``torchup doctor`` against real targets: a venv with the CPU torch, one without torch, one whose
numpy is broken, and checks injected to segfault, hang and die by SIGILL."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from xml.etree import ElementTree

import pytest

from tests.conftest import REPO, find_python, fixture_text, isolated_env, make_venv, venv_from_wheels
from torchup.diagnostics import checks
from torchup.diagnostics.causes import classify
from torchup.installer import doctor
from torchup.installer.doctor import report

DEFAULT_IDS = [c.id for c in checks.CHECKS if not c.opt_in]


def torchup(*args, env=None):
    return subprocess.run([sys.executable, "-m", "torchup", *args], capture_output=True, text=True, env=env or isolated_env(), cwd=REPO, timeout=600)


def by_id(document):
    return {result["id"]: result for result in document["results"]}


@pytest.fixture(scope="module")
def healthy(torch_python):
    result = torchup("doctor", "--python", str(torch_python), "--json")
    return result, json.loads(result.stdout)


def test_healthy_cpu_venv_passes(healthy):
    result, document = healthy
    assert result.returncode == 0, result.stdout[-2000:]
    assert document["schema"] == 1 and document["torch"] == "2.13.0+cpu"
    assert [r["id"] for r in document["results"]] == DEFAULT_IDS
    statuses = {r["id"]: r["status"] for r in document["results"]}
    assert all(statuses[i] == "pass" for i in DEFAULT_IDS if i.startswith("tutorial.")), statuses
    assert statuses["install.import"] == statuses["install.numpy_abi"] == "pass"
    assert all(statuses[i] == "skip" for i in DEFAULT_IDS if i.startswith("accelerator."))
    results = by_id(document)
    assert results["tutorial.autograd"]["evidence"] == "out = 27.0, x.grad = 4.5 in every element"
    assert results["tutorial.loss_cross_entropy"]["evidence"].startswith("2.0794")
    assert "known difference: the tutorial printed -50" in results["tutorial.loss_bce"]["evidence"]
    assert all(r["seconds"] >= 0 for r in document["results"])


def test_text_report_and_junit(torch_python, tmp_path):
    junit = tmp_path / "doctor.xml"
    result = torchup("doctor", "--python", str(torch_python), "--junit", str(junit), "install", "tutorial.autograd")
    assert result.returncode == 0
    assert result.stdout.startswith(f"torchup doctor: {torch_python} (torch 2.13.0+cpu)\n")
    assert "\ninstall\n  ✓ install.import  torch imports\n" in result.stdout
    assert result.stdout.rstrip().endswith(": OK")
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite.get("tests") == "11" and suite.get("failures") == "0" and suite.get("errors") == "0"
    assert [case.get("name") for case in suite.iter("testcase")][-1] == "tutorial.autograd"


def test_venv_without_torch_fails_with_a_fix(tmp_path, torch_python):
    python = make_venv(tmp_path / "venv", with_pip=False)
    result = torchup("doctor", "--python", str(python))
    assert result.returncode == 1
    assert "✗ install.import  torch imports" in result.stdout
    assert "import torch failed: ModuleNotFoundError: No module named 'torch'" in result.stdout
    assert f"fix: torchup install --python {python}  (the build that fits this machine, verified)" in result.stdout
    # The checks that need torch are skipped for one reason, said once.
    needing_torch = sum(1 for c in checks.CHECKS if c.needs_torch and not c.opt_in)
    assert result.stdout.count("torch does not import (see install.import)") == 1
    assert f"- {needing_torch} checks skipped: torch does not import (see install.import)" in result.stdout
    assert result.stdout.rstrip().endswith("FAILED")


def test_broken_numpy_is_named(tmp_path, wheelhouse):
    """A real breakage: numpy's compiled core is gone from an otherwise complete install."""
    venv = tmp_path / "venv"
    python = venv_from_wheels(venv, wheelhouse, "torch==2.13.0+cpu", "numpy")
    core = next((venv / "lib").glob("python3*/site-packages/numpy/_core/_multiarray_umath*.so"))
    core.unlink()
    result = torchup("doctor", "--python", str(python), "--json", "install")
    document = json.loads(result.stdout)
    results = by_id(document)
    assert result.returncode == 1
    # torch imports numpy as it starts, so its import fails too, and says why; the fix is the
    # target's own pip (set up first: uv made this venv without one), never a bare `pip`.
    reinstall = [f"{python} -m ensurepip --upgrade", f"{python} -m pip install --force-reinstall numpy"]
    assert results["install.import"]["status"] == "fail"
    assert "numpy's compiled part is missing or broken" in results["install.import"]["evidence"]
    assert results["install.import"]["fix"]["commands"] == reinstall
    assert results["install.numpy"]["status"] == "fail"
    assert "Importing the numpy C-extensions failed" in results["install.numpy"]["evidence"]
    assert results["install.numpy"]["fix"]["commands"] == reinstall
    assert results["install.numpy_abi"]["status"] == "skip"


def test_with_numpy_missing_each_fix_installs_numpy_with_the_targets_own_pip(tmp_path, wheelhouse):
    """scipy without numpy (put there without its dependencies): its fix is numpy, the root cause."""
    python = venv_from_wheels(tmp_path / "venv", wheelhouse, "torch==2.13.0+cpu")
    subprocess.run(
        [sys.executable, "-m", "uv", "pip", "install", "-q", "--python", str(python), "--no-index", "--find-links", str(wheelhouse), "--no-deps", "scipy"],
        check=True,
    )
    with_pip = make_venv(tmp_path / "with-pip")
    install_numpy = [f"{python} -m ensurepip --upgrade", f"{python} -m pip install numpy"]
    results = by_id(json.loads(torchup("doctor", "--python", str(python), "--json", "install").stdout))
    assert (results["install.import"]["status"], results["install.numpy"]["status"], results["install.scipy"]["status"]) == ("pass", "fail", "fail")
    assert results["install.numpy"]["evidence"] == "numpy is not installed (ModuleNotFoundError: No module named 'numpy')"
    assert results["install.scipy"]["evidence"] == "import scipy failed: it needs numpy, which is not installed (ModuleNotFoundError: No module named 'numpy')"
    assert results["install.numpy"]["fix"]["commands"] == results["install.scipy"]["fix"]["commands"] == install_numpy
    # What torch warns of at its import, numpy missing, is install.numpy's to say, not a failure of its own.
    assert (results["install.numpy_abi"]["status"], results["install.numpy_abi"]["evidence"]) == ("skip", "numpy does not import (see install.numpy)")
    # A target that has pip is given pip alone.
    results = by_id(json.loads(torchup("doctor", "--python", str(with_pip), "--json", "install.numpy").stdout))
    assert results["install.numpy"]["fix"]["commands"] == [f"{with_pip} -m pip install numpy"]


def test_a_torch_missing_its_compiled_core_is_named_a_damaged_install(tmp_path, wheelhouse):
    """torch's own message blames "the torch/_C folder of the repository"; the cause is the file gone."""
    python = venv_from_wheels(tmp_path / "venv", wheelhouse, "torch==2.13.0+cpu")
    site = next((tmp_path / "venv" / "lib").glob("python3*/site-packages"))
    core = next(site.glob("torch/_C.*.so"))
    core.unlink()
    result = torchup("doctor", "--python", str(python), "--json", "install.import", "install.build")
    results = by_id(json.loads(result.stdout))
    assert result.returncode == 1 and results["install.import"]["status"] == "fail"
    assert results["install.import"]["evidence"] == (
        f"import torch failed: its compiled core torch/{core.name} is missing from {site} (torch-2.13.0+cpu.dist-info lists it): this torch install is damaged"
    )
    assert results["install.import"]["fix"]["commands"] == [
        f"torchup plan --python {python} --torch 2.13.0+cpu  (names the index that serves this build)",
        f"{python} -m ensurepip --upgrade",
        f"{python} -m pip install --force-reinstall --no-deps --index-url INDEX torch==2.13.0+cpu  (INDEX: the one plan names)",
    ]
    assert results["install.build"]["status"] == "skip"


EXTRA = textwrap.dedent(
    """
    import os, signal, time
    from torchup.diagnostics.checks import check, passed

    @check("extra.segfault", "a check that kills its own process with SIGSEGV")
    def segfault(context):
        os.kill(os.getpid(), signal.SIGSEGV)

    @check("extra.hang", "a check that never returns")
    def hang(context):
        time.sleep(3600)

    @check("extra.sigill", "a check that dies as a build for a newer CPU would")
    def sigill(context):
        os.kill(os.getpid(), signal.SIGILL)

    @check("extra.fine", "a check that passes", needs_torch=False)
    def fine(context):
        return passed("fine")
    """
)


def test_crashes_and_hangs_cost_one_check_each(torch_python, tmp_path):
    extra = tmp_path / "extra_checks.py"
    extra.write_text(EXTRA)
    names = ["install.import", "extra.segfault", "extra.hang", "extra.sigill", "tutorial.autograd", "extra.fine"]
    result = torchup("doctor", "--python", str(torch_python), "--extra-checks", str(extra), "--check-timeout", "3", "--json", *names)
    assert result.returncode == 1
    results = by_id(json.loads(result.stdout))
    assert [results[n]["status"] for n in names] == ["pass", "crash", "timeout", "crash", "pass", "pass"]
    assert results["extra.segfault"]["evidence"].startswith("the worker was killed by SIGSEGV: a segmentation fault in native code")
    assert results["extra.hang"]["evidence"] == "no result within 3 s; the worker was stopped"
    assert "this CPU lacks an instruction set the build needs" in results["extra.sigill"]["evidence"]
    assert results["extra.sigill"]["fix"]["commands"][0].startswith("torchup detect")
    assert results["tutorial.autograd"]["evidence"] == "out = 27.0, x.grad = 4.5 in every element"


def test_github_annotations_and_strict(torch_python, tmp_path):
    extra = tmp_path / "extra_checks.py"
    extra.write_text(
        "from torchup.diagnostics.checks import check, outcome\n"
        "@check('extra.warns', 'a check that warns', needs_torch=False)\n"
        "def warns(context):\n    return outcome('warn', 'something to know', ['do this'])\n"
    )
    env = isolated_env(GITHUB_ACTIONS="true")
    relaxed = torchup("doctor", "--python", str(torch_python), "--extra-checks", str(extra), "extra.warns", env=env)
    assert relaxed.returncode == 0
    assert "::warning title=torchup doctor extra.warns::something to know" in relaxed.stdout
    assert "fix: do this" in relaxed.stdout
    strict = torchup("doctor", "--python", str(torch_python), "--extra-checks", str(extra), "--strict", "--json", "extra.warns", env=env)
    assert strict.returncode == 1
    assert json.loads(strict.stdout)["exit_code"] == 1  # the annotations went to stderr, the JSON is whole
    assert "::warning" in strict.stderr


def test_markdown_is_redacted():
    document = report.build(
        "/home/alice/proj/.venv/bin/python",
        [
            {
                "id": "install.import",
                "status": "pass",
                "evidence": "torch 2.13.0 imported from /home/alice/proj/.venv/lib",
                "fix": None,
                "seconds": 1.0,
                "torch_version": "2.13.0",
            },
            {
                "id": "accelerator.arch",
                "status": "fail",
                "evidence": "GPU-8be06dda-c9f4-d5c6-8fd7-749beafc1536 (sm_61) is not among sm_70",
                "fix": {"commands": ["torchup plan"], "link": "https://x"},
                "seconds": 0.1,
            },
        ],
        1.5,
    )
    text = report.render_markdown(document)
    assert "alice" not in text and "8be06dda" not in text
    assert "/home/<user>/proj" in text and "GPU-<redacted>" in text
    assert "| ✗ | `accelerator.arch` |" in text and "- `accelerator.arch`: `torchup plan` ([docs](https://x))" in text


def test_markdown_starts_with_the_machine_facts_maintainers_ask_for_first(torch_python, tmp_path):
    """OS and kernel, C library, CPU and its vector extensions, GPUs and driver, pip and its sources:
    what detect reports, redacted, above the checks; the JSON report is what it was."""
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nextra-index-url = https://ci:two words@mirror.example/simple\n")
    env = isolated_env(PIP_CONFIG_FILE=str(conf), PIP_INDEX_URL="https://token@mirror.example/whl", HOME=str(tmp_path))
    facts = json.loads(torchup("detect", "--json", "--python", str(torch_python), env=env).stdout)
    text = torchup("doctor", "--markdown", "--python", str(torch_python), "install.numpy", env=env).stdout
    head, checks = text.split("\n### Checks\n", 1)
    machine, cpu = facts["machine"], facts["machine"]["cpu"]
    assert head.startswith("## torchup doctor report\n\n### Machine\n\n- OS: `Linux %s` · `%s` · kernel `%s` · `glibc %s`" % (
        machine["arch"], machine["distribution"]["pretty_name"], machine["kernel"], machine["libc_version"]
    ))  # fmt: skip
    assert f"- CPU: `{cpu['model']}` · {cpu['physical_cores']} cores, {cpu['logical_cores']} threads · `{' '.join(cpu['isa_flags']).upper()}`" in head
    nvidia = facts["accelerators"]["nvidia"]
    assert (f"- NVIDIA driver: `{nvidia['driver_version']}`" if nvidia else "- GPU: none found") in head
    assert (
        f"- pip: `{facts['pip']['version']}` · index-url `https://****@mirror.example/whl` (PIP_INDEX_URL)"
        f" · extra-index-url `https://****@mirror.example/simple` (~/pip.conf [global])"
    ) in head  # fmt: skip
    assert "token" not in text and "two words" not in text and str(tmp_path) not in text
    assert f"- Python: `{torch_python}` ({facts['interpreter']['version']}, cpython, 64-bit, a venv on a " in checks
    assert "| ✓ | `install.numpy` |" in checks
    assert "machine" not in json.loads(torchup("doctor", "--json", "--python", str(torch_python), "install.numpy", env=env).stdout)


def test_markdown_names_the_gpus_and_driver_detect_found(torch_python, tmp_path):
    from tests.test_cli_detect import fake_h100_tools

    env = isolated_env([fake_h100_tools(tmp_path)], PIP_CONFIG_FILE=os.devnull)
    text = torchup("doctor", "--markdown", "--python", str(torch_python), "install.numpy", env=env).stdout
    assert "- NVIDIA driver: `580.159.04` (CUDA `13.0`) · GPU 0 `NVIDIA H100 80GB HBM3`, compute capability `9.0`\n" in text
    assert "- pip: `" in text and "· no index settings: PyPI\n" in text


def test_list_checks_and_bad_names():
    listed = torchup("doctor", "--list-checks")
    assert listed.returncode == 0
    assert "distributed.gloo" in listed.stdout and "(opt-in)" in listed.stdout
    bad = torchup("doctor", "no.such.check")
    assert bad.returncode == 2 and "unknown check or group: no.such.check" in bad.stderr


def test_the_kit_runs_from_a_copy_in_an_empty_directory(torch_python, tmp_path):
    """Where nothing but torch is installed: a copy of diagnostics/, run by that venv's python
    under -I from an empty directory, with torchup nowhere on its path."""

    copy = tmp_path / "copy" / "diagnostics"
    shutil.copytree(REPO / "diagnostics", copy, ignore=shutil.ignore_patterns("__pycache__"))
    empty = tmp_path / "empty"
    empty.mkdir()
    result = subprocess.run(
        [str(torch_python), "-I", str(copy), "tutorial.autograd", "tutorial.loss_mse"], capture_output=True, text=True, cwd=empty, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert [line.split()[:2] for line in result.stdout.splitlines()] == [["ok", "tutorial.autograd"], ["ok", "tutorial.loss_mse"]]
    # The worker's protocol, on its own descriptor, from the same copy.
    read, write = os.pipe()
    worker = subprocess.run(
        [str(torch_python), "-I", str(copy / "worker.py"), str(write), '["tutorial.ones"]'],
        capture_output=True,
        text=True,
        cwd=empty,
        timeout=300,
        pass_fds=(write,),
    )
    os.close(write)
    with os.fdopen(read) as events:
        kinds = [json.loads(line)["event"] for line in events]
    assert worker.returncode == 0, worker.stderr
    # A second "start" says torch is imported: the check's own time starts there.
    assert kinds == ["ready", "start", "start", "result", "done"]
    probed = subprocess.run([str(torch_python), "-I", str(copy / "probe.py")], capture_output=True, text=True, cwd=empty, timeout=300)
    assert probed.returncode == 0 and json.loads(probed.stdout)["probe_schema"], probed.stderr


def test_the_kit_imports_nothing_from_the_tool():
    """Every import in diagnostics/ is of the standard library, torch, numpy or the kit itself (relative)."""
    import ast

    allowed = set(sys.stdlib_module_names) | {"torch", "numpy", "scipy"}
    for path in (REPO / "diagnostics").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                roots = [] if node.level else [node.module.split(".")[0]]
            else:
                continue
            assert set(roots) <= allowed, (path.name, roots)


def test_distributed_gloo(torch_python):
    result = torchup("doctor", "--python", str(torch_python), "--json", "distributed.gloo")
    gloo = by_id(json.loads(result.stdout))["distributed.gloo"]
    assert gloo["status"] == "pass", gloo
    assert gloo["evidence"] == "2 ranks summed to 3.0 over tcp://127.0.0.1"


def test_the_tool_process_never_imports_torch(torch_python):
    from torchup.installer.context import Run, Timeouts

    document = doctor.run(Run(Timeouts(), False, print), str(torch_python), ["install.import", "tutorial.ones"])
    assert document["exit_code"] == 0
    assert "torch" not in sys.modules


@pytest.mark.parametrize(
    "name, cause",
    [
        ("collected/torch-runtimeerror-driver-too-old-11040.txt", "driver-too-old"),
        ("collected/torch-userwarning-driver-too-old-11000.txt", "driver-too-old"),
        ("collected/torch-userwarning-error-803-unsupported-display-driver.txt", "unsupported-display-driver"),
        ("collected/torch-userwarning-error-804-forward-compat.txt", "forward-compat-unsupported"),
        ("collected/torch-userwarning-found-no-nvidia-driver.txt", "no-driver"),
        ("collected/torch-userwarning-cuda-driver-init-failed.txt", "driver-init-failed"),
        ("collected/torch-mps-runtimeerror-macos-13-required.txt", "mps-macos-too-old"),
    ],
)
def test_known_causes(name, cause):
    found = classify(fixture_text(name))
    assert found.id == cause
    assert found.commands and found.link.startswith("https://")


def test_driver_too_old_names_the_cuda_version():
    assert classify(fixture_text("collected/torch-runtimeerror-driver-too-old-11040.txt")).cause.startswith("the NVIDIA driver supports CUDA 11.4 at most")
    assert classify("RuntimeError: something new") is None


def test_a_target_that_is_no_python_is_refused_at_once(tmp_path):
    import time

    started = time.monotonic()
    result = torchup("doctor", "--python", "/bin/true")
    assert time.monotonic() - started < 10
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == "torchup: error: --python /bin/true: not a Python interpreter torchup can use (exit status 0; it printed: nothing)"
    python2 = find_python("2.7")
    if python2:
        old = torchup("doctor", "--python", python2)
        assert old.returncode == 2 and "Python 2.7" in old.stderr and "too old" in old.stderr and "Traceback" not in old.stderr


def test_what_checks_and_libraries_print_stays_their_output(torch_python, tmp_path):
    extra = tmp_path / "loud.py"
    extra.write_text(
        "import sys\n"
        "from torchup.diagnostics.checks import check, passed\n\n"
        "@check('extra.loud', 'a check that prints 5 MB', needs_torch=False)\n"
        "def loud(context):\n"
        "    sys.stdout.write('{\"event\": \"done\"}\\n' + 'x' * 5000000 + '\\nlast line\\n')\n"
        "    return passed('said a lot')\n"
    )
    result = torchup(
        "doctor", "--python", str(torch_python), "--extra-checks", str(extra), "--json", "extra.loud", "tutorial.autograd", env=isolated_env(MKL_VERBOSE="1")
    )
    assert result.returncode == 0, result.stderr
    results = by_id(json.loads(result.stdout))
    assert [results[i]["status"] for i in ("extra.loud", "tutorial.autograd")] == ["pass", "pass"]
    loud = results["extra.loud"]["output"]
    assert loud["bytes"] > 5000000 and loud["tail"].endswith("last line\n") and len(loud["tail"]) <= 4000


def test_torch_compile_matches_eager_here(torch_python):
    """PyTorch's release smoke test compiles a function: so does the opt-in compile group, with a C compiler found here."""
    result = torchup("doctor", "--python", str(torch_python), "--json", "compile", "install.linalg")
    assert result.returncode == 0, result.stdout + result.stderr
    results = by_id(json.loads(result.stdout))
    assert results["compile.cpu"]["status"] == "pass" and "matches eager" in results["compile.cpu"]["evidence"]
    assert "vector ISA: " in results["compile.cpu"]["evidence"]
    assert results["install.linalg"]["evidence"].startswith("torch.linalg.svd of a 3x3 matrix on cpu reconstructs it to ")


def test_doctor_leaves_nothing_in_the_temporary_directory(torch_python, tmp_path):
    """torch.compile caches its kernels under the temporary directory (torchinductor_<user>): the
    checks get one of their own, removed when the run ends, so a doctor run leaves nothing behind."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    result = torchup("doctor", "--python", str(torch_python), "--json", "compile.cpu", env=isolated_env(TMPDIR=str(temporary)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert by_id(json.loads(result.stdout))["compile.cpu"]["status"] == "pass"
    assert sorted(path.name for path in temporary.iterdir()) == []


def test_expectations_are_checks(torch_python):
    held = torchup(
        "doctor", "--python", str(torch_python), "--json", "--expect", "variant=cpu", "--expect", "torch>=2.7,<3", "--expect", "gpus=0", "tutorial.ones"
    )
    assert held.returncode == 0, held.stdout
    assert {r["id"]: r["status"] for r in json.loads(held.stdout)["results"] if r["group"] == "expect"} == {
        "expect.variant": "pass",
        "expect.torch": "pass",
        "expect.gpus": "pass",
    }
    unmet = torchup("doctor", "--python", str(torch_python), "--json", "--expect", "cuda=13.0", "tutorial.ones")
    assert unmet.returncode == 1
    assert by_id(json.loads(unmet.stdout))["expect.cuda"]["evidence"] == "expected cuda==13.0; found cuda = none"
    bad = torchup("doctor", "--python", str(torch_python), "--expect", "gpu=8")
    assert bad.returncode == 2 and bad.stderr.startswith("torchup: error: --expect gpu=8: not KEY=VALUE")


def test_the_text_report_streams_each_check_as_it_finishes(torch_python, tmp_path):
    extra = tmp_path / "slow.py"
    extra.write_text(
        "import time\nfrom torchup.diagnostics.checks import check, passed\n\n"
        "@check('extra.slow', 'a check that takes its time', needs_torch=False)\n"
        "def slow(context):\n    time.sleep(8)\n    return passed('done')\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "torchup", "doctor", "--python", str(torch_python), "--extra-checks", str(extra), "tutorial.ones", "extra.slow"],
        stdout=subprocess.PIPE,
        text=True,
        env=isolated_env(),
        cwd=REPO,
    )
    try:
        for line in process.stdout:
            if "tutorial.ones" in line:
                break
        # The first check is on the screen while the second still runs.
        assert process.poll() is None
        rest = process.stdout.read()
    finally:
        process.wait(timeout=120)
    assert "✓ extra.slow" in rest and rest.rstrip().endswith(": OK")


def test_two_cuda_runtimes_in_one_process_are_seen_in_its_maps():
    """/proc/<pid>/maps lines of a process that loaded a wheel's CUDA 13 runtime and, through LD_LIBRARY_PATH, a toolkit's CUDA 12 one."""
    maps = "\n".join(
        [
            "7f0a1c000000-7f0a1c0a0000 r-xp 00000000 08:01 1234 /opt/venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcudart.so.13",
            "7f0a1d000000-7f0a1d090000 r-xp 00000000 08:01 2345 /usr/local/cuda-12.4/lib64/libcudart.so.12.4.127",
            "7f0a1e000000-7f0a2e000000 r-xp 00000000 08:01 3456 /opt/venv/lib/python3.12/site-packages/nvidia/cudnn/lib/libcudnn.so.9",
            "7f0a2f000000-7f0a3f000000 r-xp 00000000 08:01 4567 /opt/venv/lib/python3.12/site-packages/nvidia/nccl/lib/libnccl.so.2",
            "7f0a40000000-7f0a40001000 r--p 00000000 00:00 0 [heap]",
        ]
    )
    found = checks.parse_maps(maps)
    assert sorted(found["cudart"].values()) == ["12", "13"]
    assert list(found["cudnn"]) == ["/opt/venv/lib/python3.12/site-packages/nvidia/cudnn/lib/libcudnn.so.9"]
    assert list(found["nccl"].values()) == ["2"]
    assert checks.parse_maps("7f0a40000000-7f0a40001000 r--p 00000000 00:00 0 [heap]") == {}


def test_the_header_is_shown_before_the_first_check_finishes(torch_python, tmp_path):
    extra = tmp_path / "slow.py"
    extra.write_text(
        "import time\nfrom torchup.diagnostics.checks import check, passed\n\n"
        "@check('extra.slow', 'a check that takes its time', needs_torch=False)\n"
        "def slow(context):\n    time.sleep(8)\n    return passed('done')\n"
    )
    argv = [sys.executable, "-m", "torchup", "doctor", "--python", str(torch_python), "--extra-checks", str(extra), "extra.slow"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=isolated_env(), cwd=REPO)
    try:
        header = process.stdout.readline()
        assert header == f"torchup doctor: {torch_python} (torch 2.13.0+cpu)\n"  # torch's version from its metadata, before any check
        assert process.poll() is None  # the only check still runs
    finally:
        process.communicate(timeout=120)


def test_the_readme_lists_every_check_as_the_registry_does():
    """The README's table of checks is the registry's (ids, titles, order, opt-in), so neither drifts from the other."""
    import re

    text = (REPO / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z_]+\.[a-z_0-9]+)` \| (.+?) \|( opt-in)? \|$", text, re.M)
    listed = [(check_id, title.replace("\\|", "|"), bool(opt_in)) for check_id, title, opt_in in rows]
    assert listed == [(c.id, c.title, c.opt_in) for c in checks.CHECKS]


def misbehaving_checks(tmp_path, at_import="", in_check="return passed('fine')"):
    extra = tmp_path / "site_checks.py"
    extra.write_text(
        "import os, signal, sys, time\nfrom torchup.diagnostics.checks import check, passed\n"
        + at_import
        + "\n@check('site.check', 'a site check', needs_torch=False)\ndef site_check(context):\n    "
        + in_check
        + "\n"
    )
    return extra


def doctor_with(torch_python, extra, *argv):
    return subprocess.run(
        [sys.executable, "-m", "torchup", "doctor", "--python", str(torch_python), "--extra-checks", str(extra), *argv],
        capture_output=True,
        text=True,
        env=isolated_env(),
        cwd=REPO,
        timeout=180,  # far less than the 600 s a child that held on would take
    )


def test_a_site_check_file_that_forks_at_import_runs_only_in_the_target(torch_python, tmp_path):
    extra = misbehaving_checks(tmp_path, at_import="if os.fork() == 0:\n    time.sleep(600)\n    os._exit(0)\n")
    result = doctor_with(torch_python, extra, "site.check", "tutorial.ones")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("2 passed") == 1  # one torchup, one report: the fork was the worker's


def test_a_site_check_file_that_sleeps_at_import_is_refused_within_the_check_timeout(torch_python, tmp_path):
    extra = misbehaving_checks(tmp_path, at_import="time.sleep(600)\n")
    result = doctor_with(torch_python, extra, "--check-timeout", "3", "site.check")
    lines = result.stderr.splitlines()
    assert result.returncode == 2 and len(lines) == 2, result.stderr
    assert lines[0] == f"torchup: error: --extra-checks {extra}: no answer within 3 s (does the file do work when it is loaded?)"


def test_a_check_that_leaves_a_child_holding_the_pipe_does_not_hold_torchup(torch_python, tmp_path):
    extra = misbehaving_checks(tmp_path, in_check="if os.fork() == 0:\n        time.sleep(600)\n        os._exit(0)\n    return passed('fine')")
    result = doctor_with(torch_python, extra, "site.check", "tutorial.ones")
    assert result.returncode == 0 and "2 passed" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_check_that_signals_its_parent_is_a_crash_and_torchup_goes_on(torch_python, tmp_path, how):
    extra = misbehaving_checks(tmp_path, in_check=f"os.kill(os.getppid(), signal.{how})\n    time.sleep(5)\n    return passed('fine')")
    result = doctor_with(torch_python, extra, "--json", "site.check", "tutorial.ones")
    assert result.returncode == 1, result.stderr
    results = by_id(json.loads(result.stdout))
    assert results["site.check"]["status"] == "crash" and how in results["site.check"]["evidence"]
    assert results["tutorial.ones"]["status"] == "pass"  # a fresh worker carried on


def test_a_check_of_the_wrong_signature_is_bad_input_before_any_check_runs(torch_python, tmp_path):
    extra = tmp_path / "site_checks.py"
    extra.write_text(
        "from torchup.diagnostics.checks import check, passed\n\n@check('site.none', 'takes nothing')\ndef takes_nothing():\n    return passed('x')\n"
    )
    result = doctor_with(torch_python, extra, "tutorial.ones")
    lines = result.stderr.splitlines()
    assert result.returncode == 2 and len(lines) == 2 and result.stdout == "", result.stdout + result.stderr
    assert lines[0].startswith(f"torchup: error: --extra-checks {extra}: check site.none: takes_nothing() takes no single argument")


def test_the_readme_example_of_site_checks_runs(torch_python, tmp_path):
    import re

    text = (REPO / "README.md").read_text(encoding="utf-8")
    example = next(block for block in re.findall(r"```python\n(.*?)```", text, re.S) if "@check(" in block)
    extra = tmp_path / "site_checks.py"
    extra.write_text(example)
    result = doctor_with(torch_python, extra, "--json", "site")
    assert result.returncode == 0, result.stderr
    results = by_id(json.loads(result.stdout))
    assert results["site.scratch"]["evidence"] == "/tmp is writable" and results["site.cuda_devices"]["evidence"] == "0 GPU(s)"
