"""Where detection reads the machine from: a filesystem root, an environment and a timeout.

Probes never call ``open`` on an absolute path or read ``os.environ`` themselves; they
ask a :class:`Host`. Tests hand them a Host over a directory laid out like ``/sys``,
``/proc`` and ``/etc`` and an environment whose PATH holds fake tools.
"""

import os
import shutil
from typing import List, Mapping, Optional, Sequence

from . import runner
from .context import COMMAND_TIMEOUT


class Host:
    def __init__(
        self,
        root: str = "/",
        env: Optional[Mapping[str, str]] = None,
        timeout: float = COMMAND_TIMEOUT,
    ):
        self.root = str(root)
        self.env = dict(os.environ if env is None else env)
        self.timeout = timeout

    def path(self, absolute: str) -> str:
        return os.path.join(self.root, absolute.lstrip("/"))

    def read_text(self, absolute: str) -> Optional[str]:
        """The file's text, or None when it does not exist or cannot be read."""
        try:
            with open(self.path(absolute), "rb") as handle:
                return handle.read().decode("utf-8", errors="replace")
        except OSError:
            return None

    def exists(self, absolute: str) -> bool:
        return os.path.exists(self.path(absolute))

    def list_dir(self, absolute: str) -> List[str]:
        try:
            return sorted(os.listdir(self.path(absolute)))
        except OSError:
            return []

    def which(self, name: str, extra_dirs: Sequence[str] = ()) -> Optional[str]:
        """A command on this host's PATH, else in ``extra_dirs`` (absolute, under the root)."""
        found = shutil.which(name, path=self.env.get("PATH", os.defpath))
        if found:
            return found
        for directory in extra_dirs:
            candidate = os.path.join(self.path(directory), name)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
        return None

    def run(self, argv: Sequence[str], timeout: Optional[float] = None) -> runner.Completed:
        return runner.run(argv, timeout=self.timeout if timeout is None else timeout, env=self.env)
