"""``torchup detect`` run as a user runs it: a separate process, real output, real exit codes."""

import json
import subprocess
import sys
import time

from tests.conftest import REPO, isolated_env, make_venv, replay_tool, write_tool
from torchup.installer.detect import nvidia


def torchup(*args, env=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "torchup", *args], capture_output=True, text=True, env=env or isolated_env(), cwd=REPO, timeout=timeout)


def test_json_has_schema_and_every_section():
    result = torchup("detect", "--json", "--python", sys.executable)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # nothing but the document on stdout
    assert data["schema"] == 1
    assert set(data) >= {"machine", "interpreter", "pip", "tls", "accelerators", "environment", "unknown"}
    assert data["interpreter"]["executable"]
    assert data["machine"]["os"] == "Linux"
    assert data["machine"]["resources"]["memory_total_bytes"] > 0


def test_text_groups_sections_with_marks(tmp_path):
    python = make_venv(tmp_path / "venv", with_pip=False)
    result = torchup("detect", "--python", str(python))
    assert result.returncode == 0, result.stderr
    for title in ("Machine", "Python", "pip", "TLS", "Accelerators", "Environment"):
        assert f"\n{title}\n" in "\n" + result.stdout
    assert "✗ pip is not installed" in result.stdout
    assert "python -m ensurepip --upgrade" in result.stdout
    assert "✓ no GPU found" in result.stdout


def test_a_fact_a_finding_is_about_carries_its_mark(tmp_path):
    """pip with a configuration that does not parse, an https:// proxy and a CA file that is not there
    are no ✓ in detect: each line has the mark and id of the finding that judges it, as `fix` lists it."""
    import pip

    python = make_venv(tmp_path / "venv")
    config = tmp_path / "venv" / "pip.conf"
    config.write_text("[global\nindex-url = https://mirror.example/simple\n")
    gone = tmp_path / "gone.pem"
    env = isolated_env(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path), HTTPS_PROXY="https://proxy.example:3128", SSL_CERT_FILE=str(gone))
    env.pop("SSL_CERT_DIR", None)  # else uv would take its roots from there, and the missing file would break nothing
    text = torchup("detect", "--python", str(python), env=env).stdout
    assert f"  ✗ pip {pip.__version__}\n      F30: a pip configuration file does not parse: {config}\n" in text
    assert "  ! HTTPS_PROXY = https://proxy.example:3128\n      F11: HTTPS_PROXY uses the https:// scheme\n" in text
    assert f"  ✗ SSL_CERT_FILE: {gone} (missing)\n      F06: SSL_CERT_FILE names a missing file\n" in text
    for finding in ("✗ F30", "! F11", "✗ F06"):
        assert f"\n  {finding} " in "\n" + text.split("\nFindings\n")[1]

    config.write_text("[global]\nindex-url = https://mirror.example/simple\n")
    env.update(HTTPS_PROXY="http://proxy.example:3128", SSL_CERT_FILE=str(config))  # a file that is there
    text = torchup("detect", "--python", str(python), env=env).stdout
    assert f"  ✓ pip {pip.__version__}\n" in text
    assert "  ✓ HTTPS_PROXY = http://proxy.example:3128\n" in text
    assert f"  ✓ SSL_CERT_FILE: {config}\n" in text


def fake_h100_tools(tmp_path):
    """A folder for PATH whose nvidia-smi answers as the recorded H100 machine's did."""
    tools = tmp_path / "bin"
    replay_tool(
        tools,
        "nvidia-smi",
        {
            f"--query-gpu={nvidia.QUERY_FIELDS} --format=csv,nounits": ("nvidia-h100-driver-580/nvidia-smi-query-gpu.csv", 0, "stdout"),
            "": ("nvidia-h100-driver-580/nvidia-smi.txt", 0, "stdout"),
        },
    )
    return tools


def test_fake_h100_on_path_shows_driver_source_and_gpu(tmp_path):
    tools = fake_h100_tools(tmp_path)
    result = torchup("--verbose", "detect", "--python", sys.executable, env=isolated_env([tools]))
    assert "NVIDIA driver 580.159.04 (from nvidia-smi), CUDA 13.0 (from nvidia-smi)" in result.stdout
    assert "GPU 0: NVIDIA H100 80GB HBM3, compute capability 9.0, 81559 MiB" in result.stdout
    assert "Sources consulted" in result.stdout


def test_hanging_nvidia_smi_costs_one_line(tmp_path):
    tools = tmp_path / "bin"
    write_tool(tools, "nvidia-smi", "import time\ntime.sleep(600)\n")
    started = time.monotonic()
    result = torchup("--timeout", "1", "detect", "--python", sys.executable, env=isolated_env([tools]))
    assert time.monotonic() - started < 20
    assert result.returncode == 0
    assert "✗ nvidia-smi: timed out after 1 s" in result.stdout
    assert "Python " in result.stdout and "ssl module" in result.stdout


def test_timeout_from_environment(tmp_path):
    tools = tmp_path / "bin"
    write_tool(tools, "nvidia-smi", "import time\ntime.sleep(600)\n")
    result = torchup("detect", "--json", "--python", sys.executable, env=isolated_env([tools], TORCHUP_TIMEOUT="0.5"))
    errors = json.loads(result.stdout)["accelerators"]["nvidia"]["errors"]
    assert errors == [{"kind": "failed", "message": "timed out after 0.5 s"}]


def test_bad_python_is_one_line_and_exit_2(tmp_path):
    for bad, expected in (
        (str(tmp_path / "missing"), "no such file"),
        ("/bin/true", "not a Python interpreter"),
        ("no-such-command-xyz", "not found on PATH"),
    ):
        result = torchup("detect", "--python", bad)
        assert result.returncode == 2, result
        assert result.stdout == ""
        assert f"torchup: error: --python {bad}: " in result.stderr and expected in result.stderr
        assert "Traceback" not in result.stderr


def test_unknown_command_is_usage_error():
    result = torchup("detcet")
    assert result.returncode == 2
    assert "No such command" in result.stderr
