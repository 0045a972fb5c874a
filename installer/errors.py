"""torchup's one error family: a message a user can act on, and the exit code it maps to."""

from typing import Optional

USAGE_EXIT = 2


class TorchupError(Exception):
    """An expected failure: shown as one line (and a hint), never as a traceback unless --verbose."""

    exit_code = USAGE_EXIT

    def __init__(self, message: str, hint: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class TargetError(TorchupError):
    """The interpreter named with --python cannot be probed."""
