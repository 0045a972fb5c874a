"""Code that runs inside the target interpreter, never in torchup's own process.

Everything here uses the standard library alone (plus torch and numpy for doctor's checks),
so it runs in whatever Python the user wants PyTorch in.
"""
