"""The install transaction, killed for real (SIGKILL) at every point of its life: the next run into
the target ends in the exact previous state or the verified new install, never a mix, and
leaves no copy or half-made folder behind.

Here a child process drives a real ``Transaction`` over a small tree and is killed at one point;
``test_hardening`` kills whole ``torchup install`` runs at the points a user sees."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.test_hardening import tree_digest

# The child: protect a "site-packages" and a "bin", play the installer (replace a file, add a
# package, add a directory that was not there), then end as the case says. ``kill_at`` names the
# function that, when reached, kills the process outright instead of returning.
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from torchup.installer.install import transaction

    target, kill_at, ending = Path(sys.argv[1]), sys.argv[2], sys.argv[3]

    calls = {}

    def killer(name, original):
        def wrapped(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            if kill_at in (name, "%s:%d" % (name, calls[name])):
                os.kill(os.getpid(), signal.SIGKILL)
            result = original(*args, **kwargs)
            if name + ".after" == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return result
        return wrapped

    for name in ("_link_tree", "_restore", "_sweep"):
        setattr(transaction, name, killer(name, getattr(transaction, name)))
    Path.rename = killer("rename", Path.rename)

    def install():
        site = target / "site-packages"
        (site / "numpy.py").unlink()
        (site / "numpy.py").write_text("numpy 2\\n")
        (site / "torch").mkdir()
        (site / "torch" / "__init__.py").write_text("torch\\n")
        (target / "include").mkdir()
        (target / "include" / "torch.h").write_text("header\\n")
        if kill_at == "installing":
            os.kill(os.getpid(), signal.SIGKILL)

    with transaction.Transaction(target, print) as run:
        run.protect([str(target / "site-packages"), str(target / "bin"), str(target / "include")])
        install()
        if ending == "fail":
            raise SystemExit("the installer failed")
    """
)


def make_target(path):
    (path / "site-packages" / "numpy").mkdir(parents=True)
    (path / "site-packages" / "numpy.py").write_text("numpy 1\n")
    (path / "site-packages" / "numpy" / "core.py").write_text("core\n")
    (path / "bin").mkdir()
    (path / "bin" / "python").write_text("#!python\n")
    os.symlink("python", path / "bin" / "python3")
    return path


def digest(target):
    return tree_digest(target / "site-packages", target / "bin", target / "include")


def leftovers(target):
    return sorted(entry.name for entry in target.iterdir() if ".torchup-" in entry.name) + (
        sorted(os.listdir(target / ".torchup")) if (target / ".torchup").exists() else []
    )


def run_child(target, kill_at, ending):
    script = target.parent / "child.py"
    script.write_text(CHILD)
    return subprocess.run([sys.executable, str(script), str(target), kill_at, ending], capture_output=True, text=True, cwd=target.parent, timeout=60)


def recover(target):
    from torchup.installer.install.transaction import Transaction

    said = []
    with Transaction(target, said.append):
        pass
    return said


# (where the kill lands, how the run would have ended, what the next run must find)
KILL_POINTS = [
    ("_link_tree", "ok", "before"),  # while the first copy is made: the installer never ran
    ("_link_tree.after", "ok", "before"),  # a copy made, the next not yet
    ("installing", "ok", "before"),  # the installer half-way
    ("_restore", "fail", "before"),  # the run failed: killed as the restore begins
    ("rename:2", "ok", "before"),  # the second copy made, not yet under its name
    ("rename:3", "fail", "before"),  # restoring: site-packages set aside, its copy not yet in place
    ("rename:4", "fail", "before"),  # restoring: site-packages back, bin not yet
    ("_restore.after", "fail", "before"),  # restored, the set-aside folders not yet removed
    ("_sweep", "ok", "after"),  # committed: killed while the copies are removed
]


@pytest.mark.parametrize("kill_at, ending, found", KILL_POINTS, ids=[point[0] for point in KILL_POINTS])
def test_a_kill_at_any_point_ends_in_one_state_or_the_other(tmp_path, kill_at, ending, found):
    target = make_target(tmp_path / "target")
    before = digest(target)
    killed = run_child(target, kill_at, ending)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    said = recover(target)
    assert any("was killed mid-install" in line for line in said), said
    if found == "before":
        assert digest(target) == before
        assert not (target / "include").exists() and not (target / "site-packages" / "torch").exists()
    else:
        assert (target / "site-packages" / "numpy.py").read_text() == "numpy 2\n" and (target / "include" / "torch.h").exists()
    assert leftovers(target) == [], leftovers(target)
    assert recover(target) == []  # nothing left for a third run


def test_a_completed_run_leaves_nothing_but_its_result(tmp_path):
    target = make_target(tmp_path / "target")
    done = run_child(target, "never", "ok")
    assert done.returncode == 0, done.stderr
    assert (target / "site-packages" / "torch" / "__init__.py").exists()
    assert leftovers(target) == [] and not (target / ".torchup").exists()


def test_a_failed_run_puts_everything_back(tmp_path):
    target = make_target(tmp_path / "target")
    before = digest(target)
    failed = run_child(target, "never", "fail")
    assert failed.returncode == 1 and "the installer failed" in failed.stderr
    assert digest(target) == before and leftovers(target) == []


def test_the_journal_names_its_state(tmp_path):
    target = make_target(tmp_path / "target")
    run_child(target, "installing", "ok")
    journal = json.loads((target / ".torchup" / "journal.json").read_text())
    assert journal["state"] == "installing" and len(journal["copies"]) == 3
    assert [copy is None for _, copy in journal["copies"]] == [False, True, False]  # include/ was not there
