import sys

from torchup.installer import runner


def test_captures_output_and_status():
    done = runner.run([sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"])
    assert (done.returncode, done.stdout, done.stderr, done.failure) == (3, "out\n", "err\n", None)
    assert not done.ok
    assert done.describe_failure() == "exit status 3: err"


def test_missing_executable_is_data():
    done = runner.run(["no-such-tool-torchup"])
    assert done.failure == "no-such-tool-torchup: not found"
    assert done.returncode is None


def test_timeout_kills_the_whole_process_group():
    # The child starts a grandchild holding the pipes open; a timeout must end both, promptly.
    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    done = runner.run([sys.executable, "-c", script], timeout=0.5)
    assert done.failure == "timed out after 0.5 s"
    assert done.seconds < 10


def test_crash_by_signal_is_named():
    done = runner.run([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"])
    assert done.returncode == -11
    assert done.describe_failure() == "killed by SIGSEGV"


def test_input_and_undecodable_output():
    done = runner.run([sys.executable, "-c", "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read() + b'\\xff')"], input_text="hé")
    assert done.stdout == "hé\ufffd"
