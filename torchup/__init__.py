"""torchup: take a machine to a working PyTorch, and prove it works.

The tool is ``torchup.installer`` (it runs in torchup's own environment); the kit that runs
inside the target interpreter is ``torchup.diagnostics`` (standard library only, started there
by file path). In a source checkout they are the top-level folders ``installer/`` and
``diagnostics/``; the build maps them under this package.
"""
