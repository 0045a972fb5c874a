"""An install as a transaction: the target is put back as it was however a run ends.

Before the installer runs, each directory it may write (site-packages, the scripts directory
and, in a venv, ``share/`` and ``include/``) is copied as hard links beside itself: no file data
is copied, so this is quick even with torch installed. pip and uv never write into an existing
file: they move old files aside and write new ones, so the links keep the old contents.
Restoring swaps the copies back in; a directory that was not there is removed.

The transaction holds an exclusive lock on the target for the whole run, taken before anything
looks at the target, and keeps a journal of where it is:

- ``copying``: the copies are being made; the installer has not started, the target is as it was;
- ``installing``: every copy is complete; the installer or the verification may have changed the target;
- ``restoring``: the copies are going back in place;
- ``committed``: the install verified; only the copies are left to delete.

A run killed outright (SIGKILL, a power cut) leaves the journal, and the next run into that
target finishes what it was doing before anything else: it puts the target back (``installing``,
``restoring``) or keeps the verified install (``committed``), and removes every copy and half-made
folder a dead run left beside the target's directories. So every killed point ends, on the next
run, in the exact previous state or the verified new install, never a mix.
"""

import fcntl
import json
import os
import shutil
import time
from pathlib import Path
from typing import Callable, List, Optional

from ..errors import TorchupError

STATE_DIR = ".torchup"  # inside the venv (or beside site-packages): the lock and the journal
# What a run leaves beside a directory it covers: ``.site-packages.torchup-<pid>`` (the copy),
# with ``.partial`` while it is made and ``.aside`` for the installer's version during a restore.
LEFTOVER = ".{name}.torchup-"

COPYING, INSTALLING, RESTORING, COMMITTED = "copying", "installing", "restoring", "committed"


class TargetBusy(TorchupError):
    """Another torchup run is installing into this target."""

    exit_code = 1


def _link_tree(source: Path, destination: Path) -> None:
    for root, directories, files in os.walk(source):
        relative = Path(root).relative_to(source)
        target_root = destination / relative
        target_root.mkdir(parents=True, exist_ok=True)
        for name in files + [d for d in directories if (Path(root) / d).is_symlink()]:
            origin = Path(root) / name
            if origin.is_symlink():
                os.symlink(os.readlink(origin), target_root / name)
            else:
                try:
                    os.link(origin, target_root / name)
                except OSError:  # another filesystem, or links not allowed: copy this one
                    shutil.copy2(origin, target_root / name)
        directories[:] = [d for d in directories if not (Path(root) / d).is_symlink()]


def _outermost(directories: List[str]) -> List[Path]:
    """Nested paths (platlib inside purelib's parent, say) are covered by their outermost one."""
    kept: List[Path] = []
    for directory in sorted({str(Path(d)) for d in directories if d}, key=len):
        if not any(Path(directory).is_relative_to(outer) for outer in kept):
            kept.append(Path(directory))
    return kept


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


class Transaction:
    """``with Transaction(state_dir, say) as t: …; t.protect(directories); …``: the target locked,
    a killed run's journal dealt with on entry; once ``protect`` has run, restored on any exit but success."""

    def __init__(self, state_dir: Path, say: Callable[[str], None], wait: bool = True):
        self.state = state_dir / STATE_DIR
        self.say = say
        self.wait = wait
        self.copies: List[List[Optional[str]]] = []  # [directory, copy or None where the directory was absent]
        self.recovered = False  # a killed run's journal was found and dealt with
        self._lock = None

    @property
    def journal(self) -> Path:
        return self.state / "journal.json"

    def lock(self) -> "Transaction":
        lock_file = self.state / "lock"
        while True:
            try:
                self.state.mkdir(parents=True, exist_ok=True)
                self._lock = open(lock_file, "a+")
            except FileNotFoundError:  # the run before removed the folder between the two: again
                continue
            except OSError as error:
                raise TorchupError(
                    f"cannot lock {self.state.parent} for the install ({error.strerror or error}): nothing was changed",
                    hint="is the target on a read-only filesystem? install into a venv you can write: torchup install --venv DIR",
                ) from None
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = lock_file.read_text().strip() or "another process"
                if not self.wait:
                    self._release()
                    raise TargetBusy(
                        f"another torchup run ({holder}) is installing into {self.state.parent}", hint="wait for it, or run again without --no-wait to wait"
                    ) from None
                self.say(f"  waiting: another torchup run ({holder}) is installing into {self.state.parent}")
                fcntl.flock(self._lock, fcntl.LOCK_EX)
            if _same_file(self._lock, lock_file):
                break
            self._release()  # the run it waited for removed that lock file as it finished: take the current one
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(f"pid {os.getpid()}")
        self._lock.flush()
        self.recover()
        return self

    def recover(self) -> None:
        """Finish what a killed run left half-done, from its journal (see the module docstring)."""
        if not self.journal.exists():
            return
        try:
            left = json.loads(self.journal.read_text())
        except ValueError:  # killed while writing it: it is written to another name first, so this is not ours
            left = {}
        state, copies = left.get("state"), left.get("copies") or []
        if state in (INSTALLING, RESTORING):
            self._write_journal(RESTORING, copies, left)
            _restore(copies)
        _sweep(copies)
        self.journal.unlink()
        self.recovered = True
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(left.get("started", 0)))
        if state == COMMITTED:
            outcome = "its verified install was kept"
        elif state in (INSTALLING, RESTORING):
            outcome = "the target was put back as it was before it"
        else:
            outcome = "it had not changed the target"
        self.say(f"  ! a torchup run (pid {left.get('pid', '?')}, started {when}) was killed mid-install: {outcome}")

    def protect(self, directories: List[str]) -> None:
        """Keep a copy of each directory the installer may write; from here on, failure restores them."""
        self.copies = []
        try:
            for directory in _outermost(directories):
                if not directory.exists():
                    self.copies.append([str(directory), None])
                    continue
                copy = directory.with_name(LEFTOVER.format(name=directory.name) + str(os.getpid()))
                _remove(copy)
                self.copies.append([str(directory), str(copy)])
                self._write_journal(COPYING)  # before the copy is begun, so a kill during it leaves no half-made folder behind
                partial = copy.with_name(copy.name + ".partial")
                _link_tree(directory, partial)
                partial.rename(copy)
            self._write_journal(INSTALLING)
        except OSError as error:
            _sweep(self.copies)
            self.copies = []
            self._forget()
            raise TorchupError(
                f"cannot keep a copy of {error.filename or directories[0]} to roll back to ({error.strerror or error}): nothing was changed",
                hint="is the target on a read-only filesystem? install into a venv you can write: torchup install --venv DIR",
            ) from None

    def _write_journal(self, state: str, copies: Optional[list] = None, previous: Optional[dict] = None) -> None:
        record = {"pid": os.getpid(), "started": time.time(), **(previous or {}), "state": state, "copies": self.copies if copies is None else copies}
        temporary = self.journal.with_suffix(".tmp")
        temporary.write_text(json.dumps(record))
        os.replace(temporary, self.journal)

    def restore(self) -> None:
        self.say("  putting the target back as it was")
        self._write_journal(RESTORING)
        _restore(self.copies)
        _sweep(self.copies)
        self.copies = []
        self._forget()

    def commit(self) -> None:
        """The install verified: it stays; the copies go (and a kill while they go keeps it too)."""
        self._write_journal(COMMITTED)
        _sweep(self.copies)
        self.copies = []
        self._forget()

    def _forget(self) -> None:
        if self.journal.exists():
            self.journal.unlink()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    def _leave_no_trace(self) -> None:
        """With nothing left to recover, the lock file and its folder go, so that a run that
        changed nothing (refused, or already installed) leaves the target exactly as it was. A run
        waiting on the removed file notices and takes the next one (see ``lock``)."""
        if self._lock is not None and not self.journal.exists():
            (self.state / "lock").unlink(missing_ok=True)
            try:
                self.state.rmdir()
            except OSError:  # something else is in it
                pass

    def __enter__(self) -> "Transaction":
        self.lock()
        return self

    def __exit__(self, kind, error, trace) -> None:
        try:
            if self.copies:
                if kind is None:
                    self.commit()
                else:
                    self.restore()
            self._leave_no_trace()
        finally:
            self._release()


def _same_file(handle, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


def _restore(copies: List[List[Optional[str]]]) -> None:
    """Each directory back from its copy; safe to run again on what a killed restore left."""
    for directory, copy in copies:
        target = Path(directory)
        if copy is None:  # it was not there before: whatever the installer made goes
            _remove(target)
            continue
        if not Path(copy).is_dir():  # already put back by a restore that was killed later
            continue
        aside = Path(copy + ".aside")
        if target.exists() or target.is_symlink():
            _remove(aside)
            target.rename(aside)
        Path(copy).rename(target)


def _sweep(copies: List[List[Optional[str]]]) -> None:
    """Whatever any run left beside these directories: copies, half-made copies, the installer's
    version set aside. Only called with the lock held, so none of it belongs to a live run."""
    for directory, _ in copies:
        target = Path(directory)
        if target.parent.is_dir():
            for leftover in target.parent.glob(LEFTOVER.format(name=target.name) + "*"):
                _remove(leftover)
