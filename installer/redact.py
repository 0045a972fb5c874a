"""Credentials out of everything torchup prints: the one rule, applied at the output boundary.

``main`` puts a :class:`RedactingStream` in front of stdout and stderr, so every format (text,
JSON, Markdown, errors, progress, the installer's echoed output) passes through it; files
torchup writes (JUnit) go through :func:`redact` too. The kit's probe applies the same rule
inside the target (``diagnostics/probe.py``), since its document is data torchup may print.

Two kinds of secret: the userinfo of a URL, and the value of a variable whose name says it is
one (``HF_TOKEN``, ``AWS_SECRET_ACCESS_KEY``). In text, such a variable is recognised by an
upper-case name (as environment variables are written) followed by ``=`` or ``:``; in a
structure (:func:`redact_document`), by a key that is such a name, or ``env.`` and such a name.
"""

import re

# The userinfo of a URL, up to the last "@" of the token: a password may hold "@" or "/".
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s\"'<>]*@(?=[^\s\"'<>@]*)")
# A proxy written without a scheme: user:secret@host:3128.
_BARE_USERINFO = re.compile(r"(?<![\w/:@.%+-])[\w.%+-]+:(?!//)[^\s\"'<>]*@(?=[\w.-]+(?::\d+)?\b)")


MASK = "****"
# A variable whose name holds one of these words holds a secret: its value is never shown.
SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL")
_SECRET_NAME = r"\b[A-Z0-9_]*(?:" + "|".join(SECRET_WORDS) + r")[A-Z0-9_]*"
# NAME=value, NAME: value, "NAME": "value", 'NAME': 'value', and \"NAME\": \"value\" (JSON in a
# JSON string). The value keeps its quotes. Left alone: a value already masked, "(unset)", a
# reference ($HF_TOKEN) and the placeholder in "KEY=VALUE".
_SECRET_ASSIGNMENT = re.compile(
    r"(?P<lead>" + _SECRET_NAME + r"(?:\\?[\"'])?\s*[=:]\s*)"
    r"(?P<value>\\\"(?:[^\"\\]|\\[^\"])*\\\"|\"(?:[^\"\\]|\\.)*\"|'[^'\n]*'|(?!\*\*\*\*|\(unset\)|VALUE\b|\$)[^\s\"',;\\]+)"
)
# A key that names a variable: a fleet fact (env.NAME), or an upper-case name.
_VARIABLE = re.compile(r"env\.\w+|[A-Z][A-Z0-9_]*")


def _mask(match):
    value = match.group("value")
    for quote in ('\\"', '"', "'"):
        if value.startswith(quote) and len(value) >= 2 * len(quote):
            return match.group("lead") + quote + MASK + quote
    return match.group("lead") + MASK


def redact(text):
    """``https://user:p@ss/w@host`` -> ``https://****@host``; ``user:secret@proxy:3128`` -> ``****@proxy:3128``;
    ``HF_TOKEN=hf_abc`` -> ``HF_TOKEN=****``."""
    if text is None:
        return None
    text = _URL_USERINFO.sub(lambda match: match.group("scheme") + "****@", text)
    text = _BARE_USERINFO.sub("****@", text)
    return _SECRET_ASSIGNMENT.sub(_mask, text)


def secret_name(name):
    """Whether a variable of this name holds a secret: its name holds TOKEN, SECRET, PASSWORD,
    PASSWD, KEY or CREDENTIAL, in any case (``HF_TOKEN``, ``env.TORCH_TOKEN``, ``api_key``)."""
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)


def _secret_key(key):
    return isinstance(key, str) and bool(_VARIABLE.fullmatch(key)) and secret_name(key)


def redact_document(value):
    """A copy of a JSON-like document with every string redacted, and the value of every key that
    names a secret variable (``HF_TOKEN``, ``env.TORCH_TOKEN``) shown as ``****``."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: MASK if item is not None and _secret_key(key) else redact_document(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_document(item) for item in value]
    return value


class RedactingStream:
    """A text stream that writes everything through :func:`redact`."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        return self._stream.write(redact(text) if isinstance(text, str) else text)

    def __getattr__(self, name):
        return getattr(self._stream, name)
