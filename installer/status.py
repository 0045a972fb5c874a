"""How a fact, a finding or a change stands, and the one mark every text report shows for it.

Standard library only: the setup preflight renders findings with the system Python.
"""

import enum


class Status(str, enum.Enum):
    """A closed set, in order of worsening. Its value is what JSON documents carry (``"fail"``)."""

    OK = "ok"  # it works
    WARN = "warn"  # worth knowing
    FAIL = "fail"  # it will break an install

    @property
    def mark(self) -> str:
        return MARKS[self]


MARKS = {Status.OK: "✓", Status.WARN: "!", Status.FAIL: "✗"}


def worst(*statuses: Status) -> Status:
    return max(statuses, key=list(Status).index)
