"""What every command gets from the command line, made once: the host, the timeouts, verbosity,
and where progress goes.

Progress (what a run is doing) goes to stderr as it happens; the result goes to stdout once, at
the end (see ``outcome``), so ``--json`` keeps stdout for the document alone.
"""

from typing import Callable, NamedTuple

# Seconds any one external command (nvidia-smi, the probe), index request or target start-up may
# take: --timeout.
COMMAND_TIMEOUT = 5.0


class Timeouts(NamedTuple):
    """Every limit a run has, in one place: each spelt once, each with its own flag where it has one."""

    command: float = COMMAND_TIMEOUT  # --timeout
    # pip, uv and package managers run for minutes on a slow link: only a run this long is taken for a hang.
    installer: float = 3600.0
    # One doctor check (--check-timeout); the check that imports torch gets torch_import more, since a
    # cold import from a network filesystem alone can take that long.
    check: float = 60.0
    torch_import: float = 120.0
    # A stalled read of a multi-GB wheel (bundle downloads): index listings have `command`.
    download: float = 60.0
    # A whole fleet run, joining included (fleet launch --run-timeout).
    fleet_run: float = 600.0


class Run:
    """The run context: ``host`` (filesystem root, environment, the command timeout), ``timeouts``,
    ``verbose``, and ``say`` for a line of progress. The host is made when a command first asks for
    it, so ``torchup CMD --help`` loads none of what it needs."""

    def __init__(self, timeouts: Timeouts, verbose: bool, say: Callable[[str], None], host=None):
        self.timeouts, self.verbose, self.say = timeouts, verbose, say
        self._host = host

    @property
    def host(self):
        if self._host is None:
            from .host import Host

            self._host = Host(timeout=self.timeouts.command)
        return self._host

    def with_timeouts(self, **changed: float) -> "Run":
        return Run(self.timeouts._replace(**changed), self.verbose, self.say, self._host)
