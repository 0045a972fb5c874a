"""One module per command: each has ``run(context, options)``, taking the run context
(``installer.context.Run``) and the command's typed options, and returning an outcome
(``installer.outcome.Outcome``). The command line declares options, builds those, calls ``run``
and renders what comes back; the work itself lives in the packages these call.

Options are checked before any work or output: bad input raises a ``TorchupError`` (exit 2)
first thing.
"""
