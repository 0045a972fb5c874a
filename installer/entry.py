"""torchup's entry point: the console script's, ``python -m torchup``'s and ``python -m installer``'s.

A command that reads the target first (detect, plan, fix) spends its start-up in two waits of
about the same length: loading the command line and the command, and the target's probe (an
interpreter start and the standard library the probe needs). So the probe starts here, before
click loads, for the target the command line names as read here; the command takes it up only
when the target it resolves from its parsed options is that one, in the same environment, and
otherwise it ends unread. A misreading here costs time, never a wrong answer. The commonest
detect and plan command lines then run without click (``quick``); the rest go to ``cli``.
"""

import gc
import os
import sys
from typing import Optional, Sequence, Tuple

# The commands whose first work is probing the target that --python names (detect.Detection).
PROBING_COMMANDS = ("detect", "plan", "fix")
# The group's options that take a value: they come before the command.
_GROUP_OPTIONS_WITH_A_VALUE = ("--timeout",)
# Options that end a run before any command works.
_RUN_ENDING = ("-h", "--help", "--version")


def target_to_probe(argv: Sequence[str]) -> Tuple[bool, Optional[str]]:
    """Whether ``argv`` runs a command that probes the target first, and the --python it names
    (None: the default target)."""
    if any(word in _RUN_ENDING for word in argv):
        return False, None
    words = iter(argv)
    command = None
    for word in words:
        if word in _GROUP_OPTIONS_WITH_A_VALUE:
            next(words, None)
        elif not word.startswith("-"):
            command = word
            break
    if command not in PROBING_COMMANDS:
        return False, None
    python = None
    for word in words:
        if word == "--python":
            python = next(words, None)
        elif word.startswith("--python="):
            python = word[len("--python=") :]
    return True, python


def main() -> None:
    # Loading makes objects that live as long as the run (modules, classes), and the cycle collector
    # looks through them again and again while it does: off for the short runs quick reads, and
    # for every other run until its command line has loaded.
    gc.disable()
    argv = sys.argv[1:]
    probes, python = target_to_probe(argv)
    if probes:
        from .target import probe_ahead

        probe_ahead(python, os.environ)
    from . import quick

    request = quick.parse(argv, os.environ)
    try:
        if request is not None:
            end(quick.main(request, argv))
        from .cli import main as command_line

        gc.enable()
        command_line()
    finally:
        # At exit the interpreter looks through every object of the run for cycles once more before
        # it frees them all anyway, a cost a short command's time shows: frozen, they are only freed.
        gc.freeze()


def end(code: int) -> None:
    """End a run that has written all it had to: as the interpreter's exit would, less its teardown.

    That teardown frees every object of the run one by one, which makes a detect or a plan take
    about 3 ms longer to exit than a bare interpreter does. A quick run needs none of it: its
    output is written and flushed, the files it wrote are closed, and its threads are daemons
    waiting on nothing. So the exit handlers run (torchup's own remove its scratch directory and
    end a probe never read), the standard streams are flushed, and the process ends.
    """
    import atexit

    try:
        # CPython's and PyPy's: what the interpreter's exit runs first. Each handler's error is
        # reported as at exit; 3.9 and 3.10 raise the last one again, which must not change the code.
        atexit._run_exitfuncs()
    except BaseException:
        pass
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # echo flushed every write: a stream closed since holds nothing more
        pass
    os._exit(code)
