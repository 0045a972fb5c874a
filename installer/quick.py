"""The command lines most runs of detect and plan give, run without loading click.

Loading click (with the ``inspect``, ``typing`` and ``uuid`` it imports) adds about a third to
what ``torchup detect`` takes, and detect and plan are the commands people and scripts run most
often and wait on. So a command line made only of the words here (``torchup [-v] detect [--python PATH]
[--json]``, ``torchup [-v] plan [--python PATH] [--offline] [--no-gpu] [--json]``) is read here;
anything else (another option, a TORCHUP_* variable, a GitHub step summary to check, ``--help``)
goes to click, which also says what is wrong with a bad one. Both read a command line into the
same options and end the run through ``output``, so a run reads the same either way; a test
runs each command line both ways and compares what they print and exit with.
"""

from typing import FrozenSet, NamedTuple, Optional, Sequence

from .errors import TorchupError

VERBOSE = ("-v", "--verbose")
# Each command's flags read here, as cli.py declares them.
FLAGS = {"detect": ("--json",), "plan": ("--json", "--offline", "--no-gpu")}


class Request(NamedTuple):
    command: str
    verbose: bool
    python: Optional[str]
    flags: FrozenSet[str]


def parse(argv: Sequence[str], env) -> Optional[Request]:
    """The command line as a :class:`Request`, or None where click is to read it."""
    if "GITHUB_STEP_SUMMARY" in env or any(name.startswith("TORCHUP_") for name in env):
        return None
    words = list(argv)
    verbose = False
    while words and words[0] in VERBOSE:
        verbose = True
        words.pop(0)
    if not words or words[0] not in FLAGS:
        return None
    command, words = words[0], words[1:]
    python, flags = None, set()
    while words:
        word = words.pop(0)
        if word == "--python" and words and _a_value(words[0]):
            python = words.pop(0)
        elif word.startswith("--python=") and _a_value(word[len("--python=") :]):
            python = word[len("--python=") :]
        elif word in FLAGS[command]:
            flags.add(word)
        else:
            return None
    return Request(command, verbose, python, frozenset(flags))


def _a_value(word: str) -> bool:
    """A value read here: neither empty nor like an option (click reads those, and says what it makes of them)."""
    return bool(word) and not word.startswith("-")


def main(request: Request, argv: Sequence[str]) -> int:
    """Run the command as ``cli`` would, and end the same way: its exit code."""
    from .context import Run, Timeouts
    from .output import ABORTED_HINT, echo, emit, fail, internal_error, redact_from_here, stop

    redact_from_here(argv)
    run = Run(Timeouts(), request.verbose, lambda line: echo(line, err=True))
    as_json = "--json" in request.flags
    try:
        return emit(_outcome(run, request), request.verbose, as_json)
    except TorchupError as error:
        stop("torchup " + request.command, error, as_json, request.verbose)
    except KeyboardInterrupt:
        echo(err=True)
        fail("aborted", ABORTED_HINT, 1)
    except Exception as error:
        return internal_error(error, request.verbose)


def _outcome(run, request: Request):
    if request.command == "detect":
        from .commands import detect

        return detect.run(run, detect.Options(request.python))
    from .commands import plan
    from .plan.options import overrides_from

    overrides = overrides_from(dict(offline="--offline" in request.flags, no_gpu="--no-gpu" in request.flags))
    return plan.run(run, plan.Options(request.python, overrides))
