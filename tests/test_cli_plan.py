"""``torchup plan`` as a user runs it. Every run is --offline or points --index-base at loopback."""

import json
import sys

import pytest

from tests.conftest import REPO, isolated_env
from tests.test_cli_detect import fake_h100_tools, torchup

ANOTHER_MACHINE = ["--os", "linux", "--arch", "x86_64", "--python-version", "3.12"]


def test_json_document():
    result = torchup(
        "plan",
        "--offline",
        "--json",
        *ANOTHER_MACHINE,
        "--nvidia-driver",
        "570.124.06",
        "--gpu-cc",
        "12.0",
        "--torch",
        "2.7",
        "--with",
        "torchvision,torchaudio",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["schema"] == 1
    assert (data["variant"], data["torch"]) == ("cu128", "2.7.1+cu128")
    assert data["index_url"] == "https://download.pytorch.org/whl/cu128"
    assert data["packages"] == ["torch==2.7.1+cu128", "torchvision==0.22.1+cu128", "torchaudio==2.7.1+cu128"]
    by_variant = {c["variant"]: c for c in data["candidates"]}
    assert by_variant["cu128"]["chosen"] and by_variant["cu128"]["accepted"]
    assert not by_variant["cu126"]["accepted"] and "compute capability 12.0" in by_variant["cu126"]["reason"]
    assert data["inputs"]["sources"]["nvidia_driver"] == "--nvidia-driver"
    assert data["inputs"]["gpus"] == [{"index": 0, "name": "GPU with compute capability 12.0", "compute_capability": "12.0"}]
    assert data["confirmed"] == "offline"


def test_text_table_and_reasons():
    result = torchup("plan", "--offline", *ANOTHER_MACHINE, "--nvidia-driver", "450.80.02", "--gpu-cc", "8.0", "--torch", "2.13")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Plan: torch 2.13.0+cpu from https://download.pytorch.org/whl/cpu\n")
    assert "✗ cu126    driver 450.80.02 is older than 525.60.13, the minimum for CUDA 12.x" in result.stdout
    assert "✓ cpu      runs on any CPU  ← chosen" in result.stdout
    assert "torch 2.7.1 has a build for it (cu118): --torch 2.7" in result.stdout
    assert "NVIDIA driver: 450.80.02  (--nvidia-driver)" in result.stdout


def test_environment_variables_are_overrides():
    env = isolated_env(
        TORCHUP_OS="windows",
        TORCHUP_ARCH="x86_64",
        TORCHUP_PYTHON_VERSION="3.12",
        TORCHUP_NVIDIA_DRIVER="527.41",
        TORCHUP_GPU_CC="8.6",
        TORCHUP_TORCH="2.7",
        TORCHUP_OFFLINE="1",
    )
    result = torchup("plan", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["torch"] == "2.7.1+cu118"


def test_torch_with_local_tag_names_the_build():
    result = torchup("plan", "--offline", "--json", *ANOTHER_MACHINE, "--no-gpu", "--torch", "2.7.1+cu118")
    assert json.loads(result.stdout)["torch"] == "2.7.1+cu118"


def test_macos_default_comes_from_pypi():
    result = torchup("plan", "--offline", "--json", "--os", "macos", "--arch", "arm64", "--python-version", "3.12", "--no-gpu")
    data = json.loads(result.stdout)
    assert (data["variant"], data["torch"], data["index_url"]) == ("default", "2.15.0", "https://pypi.org/simple")


def test_detected_target_is_used_when_not_overridden():
    result = torchup("plan", "--offline", "--json", "--python", __import__("sys").executable, env=isolated_env(PIP_CONFIG_FILE="/dev/null"))
    data = json.loads(result.stdout)
    assert data["inputs"]["sources"]["python"].startswith("detected: ")
    assert data["variant"] == "cpu"


def test_bad_input_is_one_line_and_exit_2():
    for args, expected in (
        (["--variant", "cu999"], "torchup: error: --variant cu999: not a build torchup knows"),
        (["--torch", "2.x"], "torchup: error: --torch 2.x: not a version or a version range"),
        (["--nvidia-driver", "abc"], "torchup: error: --nvidia-driver abc: not a driver version"),
        (["--gpu-cc", "sm_86"], "torchup: error: --gpu-cc sm_86: not a compute capability"),
        (["--torch", "2.4", "--python-version", "3.13"], "torchup: error: torch 2.4 has no wheel for Python 3.13"),
        (["--with", "torchtext"], "Invalid value for '--with': torchtext"),
    ):
        argv = (
            ["plan", "--offline", "--os", "linux", "--arch", "x86_64", "--no-gpu"]
            + (["--python-version", "3.12"] if "--python-version" not in args else [])
            + args
        )
        result = torchup(*argv)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert expected in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    missing = torchup("plan", "--offline", "--os", "linux", "--arch", "x86_64", "--no-gpu", "--python-version", "3.13", "--torch", "2.4")
    assert "hint: releases that do: 2.15.0" in missing.stderr


def test_rocm_architectures_from_the_environment_as_detect_reads_them():
    env = isolated_env(TORCHUP_ROCM_ARCH="gfx942,gfx90a")
    result = torchup("plan", "--offline", "--json", *ANOTHER_MACHINE, "--torch", "2.13", env=env)
    data = json.loads(result.stdout)
    assert data["inputs"]["rocm_archs"] == ["gfx942", "gfx90a"]
    assert data["variant"] == "rocm7.2"


def test_the_readme_examples_plan_on_the_default_release():
    for extra, torch in (
        (["--with", "torchvision,torchaudio"], "2.15.0+cpu"),
        (["--variant", "cu128", "--nvidia-driver", "570.124.06", "--gpu-cc", "8.6"], "2.11.0+cu128"),
        (["--variant", "rocm6.4", "--rocm-arch", "gfx942"], "2.9.1+rocm6.4"),
        (["--variant", "xpu"], "2.15.0+xpu"),
    ):
        result = torchup(
            "plan", "--offline", "--json", *ANOTHER_MACHINE, *(["--no-gpu"] if "--gpu-cc" not in extra and "--rocm-arch" not in extra else []), *extra
        )
        assert result.returncode == 0, (extra, result.stderr)
        data = json.loads(result.stdout)
        assert data["torch"] == torch, extra
        # How the build was asked for is said only where one was asked for.
        assert data["inputs"]["variant_asked"] == ("asked for with --variant" if "--variant" in extra else None), extra


def test_a_driver_below_580_gets_the_newest_gpu_build_and_says_why():
    result = torchup("plan", "--offline", *ANOTHER_MACHINE, "--nvidia-driver", "570.86.15", "--gpu-cc", "8.6")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Plan: torch 2.14.1+cu126 from https://download.pytorch.org/whl/cu126\n")
    assert "! torch 2.15.0 has no build for this machine's GPU (driver 570.86.15 is older than 580, the minimum for CUDA 13.x) → 2.14.1+cu126" in result.stdout


def test_a_jetson_is_described_with_its_l4t_release():
    thor = torchup("plan", "--offline", "--json", "--os", "linux", "--arch", "aarch64", "--python-version", "3.12", "--jetson", "38.2", "--gpu-cc", "11.0")
    assert thor.returncode == 0, thor.stderr
    data = json.loads(thor.stdout)
    assert (data["torch"], data["inputs"]["jetson"], data["inputs"]["sources"]["jetson"]) == ("2.15.0+cu130", "38.2", "--jetson")
    orin = torchup("plan", "--offline", "--json", "--os", "linux", "--arch", "aarch64", "--python-version", "3.12", "--jetson", "36.4", "--gpu-cc", "8.7")
    assert json.loads(orin.stdout)["variant"] == "cpu"
    bad = torchup("plan", "--offline", "--os", "linux", "--arch", "aarch64", "--python-version", "3.12", "--jetson", "thor", "--gpu-cc", "11.0")
    assert (bad.returncode, bad.stderr.splitlines()[0]) == (
        2,
        "torchup: error: --jetson thor: not an L4T release (e.g. 36.4 for JetPack 6, 38.2 for JetPack 7)",
    )


def test_the_plan_stays_within_the_constraint_files_of_the_users_pip_configuration(tmp_path):
    """A site that caps torch in a pip constraint file: pip would refuse a newer torch, so the plan
    takes the newest release the cap allows, says why, and a --torch beyond it is refused before any work."""
    caps = tmp_path / "caps.txt"
    caps.write_text("torch<=2.13.0\n")
    # Left to pip: a marker (pip judges it in the target). torchup's own pins limit nothing: a new plan replaces them.
    marked = tmp_path / "marked.txt"
    marked.write_text('torch<2.5 ; python_version < "3.0"\n')
    venv_pins = tmp_path / "venv" / "torchup-constraints.txt"
    exported_pins = tmp_path / "state" / "torchup" / "constraints" / "torch-0123456789ab.txt"
    for pins, pin in ((venv_pins, "torch==2.10.0+cpu"), (exported_pins, "torch==2.11.0+cpu")):
        pins.parent.mkdir(parents=True)
        pins.write_text(pin + "\n")
    config = tmp_path / "pip.conf"
    config.write_text(f"[global]\nconstraint = {caps} {marked} {venv_pins} {exported_pins}\n")
    env = isolated_env(PIP_CONFIG_FILE=str(config), XDG_CONFIG_DIRS=str(tmp_path / "none"), HOME=str(tmp_path))
    argv = ["plan", "--offline", "--no-gpu", "--python", sys.executable]
    data = json.loads(torchup(*argv, "--json", env=env).stdout)
    assert (data["torch"], data["inputs"]["torch_constraint"]) == ("2.13.0+cpu", "<=2.13.0")
    assert data["inputs"]["sources"]["torch_constraint"] == f"your pip configuration's constraint: {caps}"
    text = torchup(*argv, env=env).stdout
    assert "release 2.13.0: the newest release that your pip configuration allows (torch<=2.13.0) with a wheel for Python" in text
    assert f"torch allowed: <=2.13.0  (your pip configuration's constraint: {caps})" in text
    beyond = torchup(*argv, "--torch", "2.15", env=env)
    assert beyond.returncode == 2 and beyond.stdout == ""
    assert beyond.stderr.startswith("torchup: error: your pip configuration's constraint torch<=2.13.0 excludes torch 2.15: pip would refuse the install")
    # A local tag limits the release; which build it names is pip's to refuse.
    caps.write_text("torch==2.12.1+cu126\n")
    assert json.loads(torchup(*argv, "--json", env=env).stdout)["torch"] == "2.12.1+cpu"
    caps.write_text("torch<=2.13.0\n")
    # A plan for another machine is not bound by this one's pip configuration.
    elsewhere = json.loads(torchup("plan", "--offline", "--json", "--no-gpu", *ANOTHER_MACHINE, env=env).stdout)
    assert elsewhere["inputs"]["torch_constraint"] is None and elsewhere["torch"] == "2.15.0+cpu"
    # Nor is a project's file, which uv, poetry and pdm read without pip's configuration.
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0.1"\n')
    initialized = torchup("project", "init", str(tmp_path / "project"), "--tool", "uv", "--offline", "--dry-run", "--json", env=env)
    assert json.loads(initialized.stdout)["torch"] == "2.15.0", initialized.stderr


def test_a_gpu_plan_that_only_a_cpu_build_could_serve_exits_1(tmp_path):
    import sys

    py = "cp%d%d" % sys.version_info[:2]
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / f"torch-2.13.0+cpu-{py}-{py}-manylinux_2_28_x86_64.whl").write_text("")
    env = isolated_env(PIP_CONFIG_FILE="/dev/null", PIP_FIND_LINKS=str(wheels))
    argv = ["--timeout", "2", "plan", "--python", sys.executable, "--nvidia-driver", "580.95.05", "--gpu-cc", "9.0", "--index-base", "http://127.0.0.1:9/whl"]
    result = torchup(*argv, env=env)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith("torchup: error: the index could not be reached (http://127.0.0.1:9/whl/")
    assert "only torch 2.13.0+cpu: the plan is torch 2.15.0+cu130, and a CPU build would leave the GPU unused" in result.stderr
    assert torchup(*argv, "--variant", "cpu", env=env).returncode == 0


# (case, arguments after ANOTHER_MACHINE, lines the text shows, texts it never shows)
SAID_ONCE = [
    (
        "a GPU given by its compute capability is named once, with its family",
        ["--nvidia-driver", "570.86.15", "--gpu-cc", "8.6"],
        ["  GPU 0: compute capability 8.6 (Ampere: RTX 30, A10, A40)  (--gpu-cc)"],
        ["GPU with compute capability", "compute capability 8.6, compute capability"],
    ),
    (
        "several GPUs, each with its own family; one the data has no family for",
        ["--nvidia-driver", "580.95.05", "--gpu-cc", "8.9", "--gpu-cc", "12.1", "--gpu-cc", "9.9"],
        [
            "  GPU 0: compute capability 8.9 (Ada: RTX 40, L4, L40)  (--gpu-cc)",
            "  GPU 1: compute capability 12.1 (Blackwell: GB10, DGX Spark)  (--gpu-cc)",
            "  GPU 2: compute capability 9.9  (--gpu-cc)",
        ],
        ["GPU with compute capability"],
    ),
    (
        "why the newest release lost is said in the notes, not again on the release line",
        ["--nvidia-driver", "570.86.15", "--gpu-cc", "8.6"],
        [
            "  release 2.14.1: the newest release with a build for this machine's GPU",
            "  ! torch 2.15.0 has no build for this machine's GPU (driver 570.86.15 is older than 580, the minimum for CUDA 13.x) → 2.14.1+cu126",
        ],
        ["(torch 2.15.0: "],
    ),
    (
        "why the chosen build fits is said in the table, not again on the build line",
        ["--nvidia-driver", "570.86.15", "--gpu-cc", "8.6"],
        [
            "  build cu126: the newest build that fits",
            "  ✓ cu126     driver 570.86.15 meets 525.60.13 (CUDA 12.x); every GPU is supported  ← chosen",
        ],
        ["fits: driver"],
    ),
    (
        "a build asked for that does not fit is marked as asked for, and its reason is said once",
        ["--no-gpu", "--torch", "2.7", "--variant", "cu118"],
        ["  build cu118: asked for with --variant", "  ! cu118      no NVIDIA GPU detected  ← asked for with --variant"],
        ["← chosen", "was asked for although"],
    ),
    (
        "a build asked for that fits is marked as asked for",
        ["--nvidia-driver", "570.124.06", "--gpu-cc", "8.6", "--torch", "2.11", "--variant", "cu128"],
        ["  ✓ cu128    driver 570.124.06 meets 525.60.13 (CUDA 12.x); every GPU is supported  ← asked for with --variant"],
        ["← chosen"],
    ),
    (
        "a build named by --torch's local tag is marked as asked for with --torch",
        ["--no-gpu", "--torch", "2.7.1+cu118"],
        ["  build cu118: asked for with --torch 2.7.1+cu118", "  ! cu118      no NVIDIA GPU detected  ← asked for with --torch 2.7.1+cu118"],
        ["--variant", "← chosen"],
    ),
]


@pytest.mark.parametrize("case, args, shown, never", SAID_ONCE, ids=[case[0] for case in SAID_ONCE])
def test_plan_text_says_each_thing_once(case, args, shown, never):
    result = torchup("plan", "--offline", *ANOTHER_MACHINE, *args)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for line in shown:
        assert lines.count(line) == 1, (line, result.stdout)
    for text in never:
        assert text not in result.stdout, (text, result.stdout)
    assert not any("✗" in line and "←" in line for line in lines), result.stdout


def test_a_detected_gpu_is_named_once_with_its_family(tmp_path):
    env = isolated_env([fake_h100_tools(tmp_path)], PIP_CONFIG_FILE="/dev/null")
    result = torchup("plan", "--offline", "--python", sys.executable, env=env)
    assert result.returncode == 0, result.stderr
    assert "  GPU 0: NVIDIA H100 80GB HBM3, compute capability 9.0 (Hopper: H100, H200, GH200)  (detected: " in result.stdout


def test_the_readme_plan_text_is_what_the_command_prints():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    command = "$ torchup plan --offline --os linux --arch x86_64 --python-version 3.12 --nvidia-driver 570.86.15 --gpu-cc 8.6\n"
    shown = readme.split(command, 1)[1].split("```", 1)[0]
    result = torchup(*command[len("$ torchup ") :].split())
    assert result.stdout == shown


def test_every_readme_plan_excerpt_is_what_the_command_prints():
    """Each README console block that starts with a `torchup plan` command shows lines of its
    output (… stands for the lines left out): every line shown is printed, in that order."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = [block.split("```", 1)[0] for block in readme.split("```console\n")[1:]]
    excerpts = [block.splitlines() for block in blocks if block.startswith("$ torchup plan ")]
    assert len(excerpts) >= 4
    for command, *shown in excerpts:
        printed = torchup(*command[len("$ torchup ") :].split()).stdout.splitlines()
        position = 0
        for line in shown:
            if line == "…" or line.strip() == "…":
                continue
            assert line in printed[position:], (command, line)
            position = printed.index(line, position) + 1


def test_jetson_alone_plans_nvidias_wheel_for_linux_aarch64():
    """--jetson 36.4 with no --os or --arch: a Jetson board is Linux on aarch64, and JetPack 6.1 gets NVIDIA's wheel."""
    result = torchup("plan", "--offline", "--json", "--jetson", "36.4", "--python-version", "3.10")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["inputs"]["os"], data["inputs"]["arch"], data["variant"]) == ("linux", "aarch64", "jp61")
    assert data["inputs"]["sources"]["arch"] == "--jetson"
    assert data["packages"] == [
        "torch @ https://developer.download.nvidia.com/compute/redist/jp/v61/pytorch/torch-2.5.0a0+872d972e41.nv24.08.17622132-cp310-cp310-linux_aarch64.whl"
    ]
    assert data["torch"] == "2.5.0a0+872d972e41.nv24.08" and data["confirmed"] == "offline"


def test_an_intel_gpu_by_its_pci_id_plans_xpu_for_another_machine():
    result = torchup("plan", "--offline", *ANOTHER_MACHINE, "--torch", "2.13", "--intel-gpu", "8086:E20B")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Plan: torch 2.13.0+xpu from https://download.pytorch.org/whl/xpu\n")
    assert "  ✓ xpu      the Arc B-series (Battlemage) GPU (8086:e20b) is validated for it  ← chosen\n" in result.stdout
    assert "  Intel GPU 0: Arc B-series (Battlemage): Arc B580, B570, Arc Pro B50, B60 (8086:e20b)  (--intel-gpu)\n" in result.stdout
    older = json.loads(torchup("plan", "--offline", "--json", *ANOTHER_MACHINE, "--torch", "2.6", "--intel-gpu", "e20b").stdout)
    assert older["variant"] == "cpu" and "is validated for the XPU build from torch 2.7 on Linux" in older["reason"]


def test_a_jetson_planned_from_an_x86_64_machine_takes_nothing_of_this_machine():
    """--jetson here, with this machine's Python 3.11 (NVIDIA's JetPack 6 wheel is for 3.10): Linux
    aarch64's own release, neither this machine's glibc nor its wheel tags nor its GPUs."""
    result = torchup("plan", "--offline", "--json", "--jetson", "36.4", "--python", sys.executable, env=isolated_env(PIP_CONFIG_FILE="/dev/null"))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["inputs"]["arch"], data["inputs"]["glibc"], data["variant"]) == ("aarch64", None, "cpu")
    assert data["inputs"]["sources"]["gpus"] == "none: this machine's GPUs do not apply to linux aarch64"
    assert any("for the GPU, plan and install with python3.10" in note for note in data["notes"])
    text = torchup("plan", "--offline", "--jetson", "36.4", "--python", sys.executable, env=isolated_env(PIP_CONFIG_FILE="/dev/null")).stdout
    assert "  GPUs: none  (this machine's GPUs do not apply to linux aarch64)\n" in text  # "none" said once
