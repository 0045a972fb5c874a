"""The kit that runs inside the target interpreter: the probe, the post-install check, the
doctor's checks and the worker that runs them, and known failure causes.

Standard library only (plus torch and numpy inside checks), Python 3.6 syntax, and nothing
imported from the tool: each file is started by its path with isolated flags (``python -I``),
and the worker loads this folder as the package ``torchup.diagnostics`` by its path. The tool
imports ``checks`` for the list of checks alone; nothing here imports torch at import time.
"""
