import signal
import sys

from torchup.installer import runner


def test_captures_output_and_status():
    done = runner.run([sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"], timeout=30)
    assert (done.returncode, done.stdout, done.stderr, done.failure) == (3, "out\n", "err\n", None)
    assert not done.ok
    assert done.describe_failure() == "exit status 3: err"


def test_missing_executable_is_data():
    done = runner.run(["no-such-tool-torchup"], timeout=30)
    assert done.failure == "no-such-tool-torchup: not found"
    assert done.returncode is None


def test_timeout_kills_the_whole_process_group():
    # The child starts a grandchild holding the pipes open; a timeout must end both, promptly.
    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    done = runner.run([sys.executable, "-c", script], timeout=0.5)
    assert done.failure == "timed out after 0.5 s"
    assert done.seconds < 10


def test_crash_by_signal_is_named():
    done = runner.run([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"], timeout=30)
    assert done.returncode == -11
    assert done.describe_failure() == "killed by SIGSEGV"


def test_input_and_undecodable_output():
    done = runner.run([sys.executable, "-c", "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read() + b'\\xff')"], input_text="hé", timeout=30)
    assert done.stdout == "hé\ufffd"


def test_output_without_end_costs_no_memory():
    """A tool that prints 40 MB: the first CAPTURE_LIMIT bytes are kept, the rest stays on disk until the run ends."""
    done = runner.run([sys.executable, "-c", "import sys; [sys.stdout.write('x' * 1000000) for _ in range(40)]"], timeout=60)
    assert done.ok and len(done.stdout) == runner.CAPTURE_LIMIT


def test_echoed_output_keeps_its_tail(tmp_path):
    import io

    echo = io.StringIO()
    code = "import sys\nfor n in range(6000): print('line %d ' % n + 'y' * 1000)\nprint('ERROR: the last word')"
    done = runner.run_echoed([sys.executable, "-c", code], echo=echo, timeout=60)
    assert echo.getvalue().count("\n") == 6001  # the user saw everything
    assert len(done.stdout) <= runner.CAPTURE_LIMIT + 2000 and done.stdout.endswith("ERROR: the last word\n")


def test_a_cwd_of_torchups_own(tmp_path):
    """Every command starts in an empty directory of torchup's own, never the user's current one."""
    done = runner.run([sys.executable, "-c", "import os; print(os.getcwd()); print(os.listdir('.'))"], timeout=30)
    where, listing = done.stdout.splitlines()
    assert where == runner.neutral_dir() and listing == "[]"


def test_a_started_command_finishes_later_or_ends_unread():
    started = runner.start([sys.executable, "-c", "print('later')"])
    assert started.finish(timeout=30).stdout == "later\n"
    sleeper = runner.start([sys.executable, "-c", "import time; time.sleep(60)"])
    sleeper.abandon()
    assert sleeper.process.returncode == -signal.SIGKILL
    assert runner.start(["no-such-tool-torchup"]).finish(timeout=30).failure == "no-such-tool-torchup: not found"
