"""Files torchup writes where someone else may write too: ``--out``, ``-o``, ``--junit``, ``--html``.

A report directory is often in a shared place (the README's ssh recipe writes into the temporary
directory), where another user can plant a symbolic link named like a file torchup is about to
write. So a directory given for output must be a real directory of this user's (or root's), a
link where a file is expected is an error, and every file is written under a fresh name created
exclusively (O_EXCL, never following a link) and then renamed into place, which replaces a link
instead of writing through it.
"""

import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator, Optional, Union

from .errors import TorchupError

PathLike = Union[str, Path]


class UnsafeOutput(TorchupError):
    """An output path another user could redirect: refused before anything is written."""


def _owned_safely(info: os.stat_result) -> bool:
    return not hasattr(os, "geteuid") or info.st_uid in (os.geteuid(), 0)


def output_directory(path: PathLike, option: str) -> Path:
    """``path`` as a directory to write into: made where missing; refused where it is a link, not a
    directory, or another user's (who could swap what is in it between two writes)."""
    directory = Path(path).absolute()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        info = os.lstat(directory)
    except OSError as error:
        raise TorchupError(f"{option} {path}: cannot be created ({error.strerror or error})") from None
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeOutput(f"{option} {path}: a symbolic link, not a directory", hint="name the directory itself")
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeOutput(f"{option} {path}: not a directory", hint="name a directory, or one to create")
    if not _owned_safely(info):
        raise UnsafeOutput(f"{option} {path}: belongs to another user, who could redirect what torchup writes there", hint="name a directory of your own")
    return directory


def refuse_link(path: PathLike, option: str = "") -> None:
    """A file torchup will write: an error where a link (or a directory) is in its place."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    what = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "a directory" if stat.S_ISDIR(info.st_mode) else None
    if what:
        raise UnsafeOutput(f"{option + ' ' if option else ''}{path}: {what} is where torchup would write a file", hint="remove it, or name another file")


def _mode() -> int:
    """What a plain ``open(path, "w")`` would have given: 0o666 less the umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def replacing(path: PathLike, option: str = "") -> Iterator[BinaryIO]:
    """A binary handle to write ``path``'s new content into; it takes ``path``'s place only when
    the block ends without an error, else nothing of it stays."""
    path = Path(path)
    refuse_link(path, option)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=str(path.parent))
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
        os.chmod(temporary, _mode())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write_text(path: PathLike, text: str, option: str = "") -> None:
    with replacing(path, option) as handle:
        handle.write(text.encode("utf-8"))


def open_existing(path: PathLike) -> Optional[BinaryIO]:
    """A file already there, opened for reading without following a link; None where there is
    none, or where a link or anything but a regular file is in its place."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        return None
    return os.fdopen(descriptor, "rb")
