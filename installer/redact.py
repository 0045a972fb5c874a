"""Credentials out of everything torchup prints: the one rule, applied at the output boundary.

``main`` puts a :class:`RedactingStream` in front of stdout and stderr, so every format (text,
JSON, Markdown, errors, progress, the installer's echoed output) passes through it; files
torchup writes (JUnit) go through :func:`redact` too. The kit's probe applies the same rule
inside the target (``diagnostics/probe.py``), since its document is data torchup may print.
"""

import re

# The userinfo of a URL, up to the last "@" of the token: a password may hold "@" or "/".
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s\"'<>]*@(?=[^\s\"'<>@]*)")
# A proxy written without a scheme: user:secret@host:3128.
_BARE_USERINFO = re.compile(r"(?<![\w/:@.%+-])[\w.%+-]+:(?!//)[^\s\"'<>]*@(?=[\w.-]+(?::\d+)?\b)")


def redact(text):
    """``https://user:p@ss/w@host`` -> ``https://****@host``; ``user:secret@proxy:3128`` -> ``****@proxy:3128``."""
    if text is None:
        return None
    text = _URL_USERINFO.sub(lambda match: match.group("scheme") + "****@", text)
    return _BARE_USERINFO.sub("****@", text)


class RedactingStream:
    """A text stream that writes everything through :func:`redact`."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        return self._stream.write(redact(text) if isinstance(text, str) else text)

    def __getattr__(self, name):
        return getattr(self._stream, name)
