"""An install as a transaction: the target is put back as it was however a run ends.

Before the installer runs, each directory it may write (site-packages, the scripts directory
and, in a venv, ``share/`` and ``include/``) is copied as hard links beside itself: no file data
is copied, so this is quick even with torch installed. pip and uv never write into an existing
file: they move old files aside and write new ones, so the links keep the old contents.
Restoring swaps the copies back in; a directory that was not there is removed.

The transaction holds an exclusive lock on the target for its whole length, so two runs never
install into one environment at once, and writes a journal naming its copies before the
installer starts: a run killed outright (SIGKILL, a power cut) leaves the journal, and the
next run into that target restores from it before doing anything else.
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


class Transaction:
    """``with Transaction(state_dir, directories, say) as t: …``: locked, snapshotted, restored on any exit but success."""

    def __init__(self, state_dir: Path, directories: List[str], say: Callable[[str], None], wait: bool = True):
        """``directories``: what the installer may write; one that does not exist yet is removed on restore."""
        self.state = state_dir / STATE_DIR
        self.directories = _outermost(directories)
        self.say = say
        self.wait = wait
        self.copies: List[List[str]] = []  # [directory, copy or None where the directory was absent]
        self._lock = None

    @property
    def journal(self) -> Path:
        return self.state / "journal.json"

    def lock(self) -> "Transaction":
        try:
            self.state.mkdir(parents=True, exist_ok=True)
            self._lock = open(self.state / "lock", "a+")
        except OSError as error:
            raise TorchupError(
                f"cannot lock {self.state.parent} for the install ({error.strerror or error}): nothing was changed",
                hint="is the target on a read-only filesystem? install into a venv you can write: torchup install --venv DIR",
            ) from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = (self.state / "lock").read_text().strip() or "another process"
            if not self.wait:
                self._release()
                raise TargetBusy(
                    f"another torchup run ({holder}) is installing into {self.state.parent}", hint="wait for it, or run again without --no-wait to wait"
                )
            self.say(f"  waiting: another torchup run ({holder}) is installing into {self.state.parent}")
            fcntl.flock(self._lock, fcntl.LOCK_EX)
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(f"pid {os.getpid()}")
        self._lock.flush()
        self.recover()
        return self

    def recover(self) -> None:
        """Put back what a killed run left half-done, from its journal."""
        if not self.journal.exists():
            return
        try:
            left = json.loads(self.journal.read_text())
        except ValueError:
            left = {"copies": []}
        _restore(left.get("copies", []))
        self.journal.unlink()
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(left.get("started", 0)))
        self.say(f"  ! a torchup run (pid {left.get('pid', '?')}, started {when}) ended mid-install: the target was put back as it was before it")

    def snapshot(self) -> None:
        try:
            for directory in self.directories:
                if not directory.exists():
                    self.copies.append([str(directory), None])
                    continue
                copy = directory.with_name(f".{directory.name}.torchup-{os.getpid()}")
                if copy.exists():
                    shutil.rmtree(copy)
                self.copies.append([str(directory), str(copy)])
                self._write_journal()  # before the copy exists, so a kill during it is recovered too
                _link_tree(directory, copy)
            self._write_journal()
        except OSError as error:
            self.discard()
            raise TorchupError(
                f"cannot keep a copy of {error.filename or self.directories[0]} to roll back to ({error.strerror or error}): nothing was changed",
                hint="is the target on a read-only filesystem? install into a venv you can write: torchup install --venv DIR",
            ) from None

    def _write_journal(self) -> None:
        temporary = self.journal.with_suffix(".tmp")
        temporary.write_text(json.dumps({"pid": os.getpid(), "started": time.time(), "copies": self.copies}))
        os.replace(temporary, self.journal)

    def restore(self) -> None:
        _restore(self.copies)
        self.copies = []
        self._forget()

    def discard(self) -> None:
        for _, copy in self.copies:
            if copy:
                shutil.rmtree(copy, ignore_errors=True)
        self.copies = []
        self._forget()

    def _forget(self) -> None:
        if self.journal.exists():
            self.journal.unlink()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    def __enter__(self) -> "Transaction":
        self.lock()
        return self

    def __exit__(self, kind, error, trace) -> None:
        # The lock file stays: removing it while another run waits on it would let a third one in.
        try:
            if kind is None:
                self.discard()
            else:
                self.restore()
        finally:
            self._release()


def _restore(copies: List[List[Optional[str]]]) -> None:
    for directory, copy in copies:
        target = Path(directory)
        if copy is None:  # it was not there before: whatever the installer made goes
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target, ignore_errors=True)
            elif target.exists() or target.is_symlink():
                target.unlink()
            continue
        if not Path(copy).exists():
            continue
        aside = target.with_name(f".{target.name}.torchup-failed-{os.getpid()}")
        if target.exists():
            target.rename(aside)
        Path(copy).rename(target)
        shutil.rmtree(aside, ignore_errors=True)
