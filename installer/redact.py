"""Credentials out of everything torchup prints: found by parsing, hidden at the output boundary.

Secrets reach torchup in known places: the environment (an index or proxy URL with user-info, a
variable named like a secret), the command line (``--index-base URL``, ``--mirror URL``) and pip's
configuration files. Each value found there is parsed (:func:`secrets_in`): as one URL, whose
user-info is everything between ``://`` and the last ``@`` before its host, whatever the characters
(quotes, spaces, ``@``, ``/``); as a proxy written without a scheme (``user:pass@[::1]:3128``); or
whole, for a variable named like a secret. What is secret is kept (``KNOWN``, :class:`Secrets`),
and :func:`redact` hides it however it is written out: as it is, percent-encoded or decoded, escaped
for JSON, a Python repr, HTML, XML, Markdown or a workflow annotation.

Text from anywhere else (an installer's output, a lock file, another node's report) is parsed for
the shapes a secret has there: the user-info of a URL (any characters where the URL stands in
quotes, JSON-escaped ones included; any but white space where it stands bare), a scheme-less
``user:pass@host`` (IPv6 hosts included), and ``NAME=value`` for a variable named like a secret
(``HF_TOKEN``, ``AWS_SECRET_ACCESS_KEY``): in text, an upper-case name followed by ``=`` or ``:``;
in a document (:func:`redact_document`), a key that is such a name, or ``env.`` and such a name. A
string in a document is parsed as one value first, so a URL there is hidden whatever it holds.

``main`` remembers the secrets of the environment and the command line and puts a
:class:`RedactingStream` in front of stdout and stderr, so every format (text, JSON, Markdown,
errors, progress, the installer's echoed output) passes :func:`redact`; so do the files torchup
writes. The kit keeps its own copy of the shapes (``diagnostics/probe.py``), since it imports
nothing of the tool, and hides pip's configuration inside the target already.
"""

import re
from typing import Iterable, Mapping, Sequence, Set

MASK = "****"
# A variable whose name holds one of these words holds a secret: its value is never shown.
SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL")
# A remembered secret shorter than this is hidden only where its shape shows (a URL's user-info,
# NAME=value): hiding every "1" or "abc" wherever it stands would hide the output.
SHORTEST_REMEMBERED = 4

# --- the shapes of a secret ------------------------------------------------------------------

_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*://"
# What follows user-info: an IPv6 literal in brackets, or a name or IPv4 address; then a port.
_HOST = r"(?:\[[0-9A-Fa-f:.]+(?:%[\w.~%-]*)?\]|[\w.~%-]+)(?::\d+)?"
_HOST_ENDS = r"(?=[/?#\s\"'\\<>)\],;|]|\Z)"
# A proxy's user name, where no scheme says that a URL begins.
_USER = r"[\w.~%+-]+"
# The characters of a JSON string inside a JSON string: its own escapes, escaped once more.
_JSON_IN_JSON = r'(?:\\\\(?:\\"|\\\\|\\u[0-9A-Fa-f]{4}|[^\\"])|\\u[0-9A-Fa-f]{4}|\\[bfnrt/]|[^"\\\n])*'
# In quotes, user-info runs to the closing quote, past escaped ones; bare in text, to the next
# white space. Either way, to the last "@" that a host follows. (where it opens, what it may hold)
_IN_QUOTES = (
    (r'(?<=")(?<!\\")', r'(?:\\.|[^"\\\n])*'),  # "double quotes", a JSON string
    (r"(?<=')(?<!\\')", r"(?:\\.|[^'\\\n])*"),  # 'single quotes', a Python repr
    (r'(?<=\\")(?<!\\\\\\")', _JSON_IN_JSON),  # a JSON string in a JSON string
)
# The patterns stay strings: re compiles each on first use, and text without an "@" (or a
# secret's name) is never matched against them, so most runs compile none.
_USERINFO_IN_TEXT = (
    [rf"{opens}(?P<lead>{_SCHEME}){body}@(?={_HOST}{_HOST_ENDS})" for opens, body in _IN_QUOTES]
    + [rf"{opens}(?P<lead>){_USER}:(?!//){body}@(?={_HOST}{_HOST_ENDS})" for opens, body in _IN_QUOTES]
    + [
        rf"(?P<lead>\b{_SCHEME})\S*@(?={_HOST}{_HOST_ENDS})",
        rf"(?<![\w/:@.%+~-])(?P<lead>){_USER}:(?!//)\S*@(?={_HOST}{_HOST_ENDS})",
    ]
)
# One value that is one URL, or one scheme-less proxy: its user-info may hold anything.
_ONE_URL = rf"(?s)(?P<lead>{_SCHEME})(?P<userinfo>.+)@(?P<rest>{_HOST}(?:[/?#]\S*)?)\Z"
_ONE_PROXY = rf"(?s)(?P<lead>)(?P<userinfo>[^/:@]+:.*)@(?P<rest>{_HOST}/?)\Z"
# Where a secret may come in, a URL's user-info runs to its last "@" whatever follows (where
# urllib would stop at a "/", a "#" or a "["): better to hide too much than a piece of a password.
# In a value of several URLs (PIP_EXTRA_INDEX_URL), each one's runs to the last "@" before the next.
_ANY_USERINFO = rf"(?s){_SCHEME}(?P<userinfo>.+)@"
_EACH_USERINFO = rf"(?s){_SCHEME}(?P<userinfo>(?:(?!{_SCHEME}).)+)@"

_SECRET_NAME = r"\b[A-Z0-9_]*(?:" + "|".join(SECRET_WORDS) + r")[A-Z0-9_]*"
# NAME=value, NAME: value, "NAME": "value", 'NAME': 'value', and \"NAME\": \"value\" (JSON in a
# JSON string). The value keeps its quotes. Left alone: a value already masked, "(unset)", a
# reference ($HF_TOKEN) and the placeholder in "KEY=VALUE".
_SECRET_ASSIGNMENT = (
    r"(?P<lead>" + _SECRET_NAME + r"(?:\\?[\"'])?\s*[=:]\s*)"
    r"(?P<value>\\\"" + _JSON_IN_JSON + r"\\\"|\"(?:[^\"\\]|\\.)*\"|'[^'\n]*'|(?!\*\*\*\*|\(unset\)|VALUE\b|\$)[^\s\"',;\\]+)"
)
# A key that names a variable: a fleet fact (env.NAME), or an upper-case name.
_VARIABLE = r"env\.\w+|[A-Z][A-Z0-9_]*"


def _mask_value(match):
    value = match.group("value")
    for quote in ('\\"', '"', "'"):
        if value.startswith(quote) and len(value) >= 2 * len(quote):
            return match.group("lead") + quote + MASK + quote
    return match.group("lead") + MASK


def hide_shapes(text):
    """``text`` with every secret its shape gives away hidden: ``https://user:p@ss/w@host`` ->
    ``https://****@host``; ``user:secret@[::1]:3128`` -> ``****@[::1]:3128``; ``HF_TOKEN=hf_abc`` ->
    ``HF_TOKEN=****``."""
    if "@" in text:
        for pattern in _USERINFO_IN_TEXT:
            text = re.sub(pattern, lambda match: match.group("lead") + MASK + "@", text)
    if any(word in text for word in SECRET_WORDS):
        text = re.sub(_SECRET_ASSIGNMENT, _mask_value, text)
    return text


def _one_value(value):
    """A value that is one URL or one scheme-less proxy, parsed: (lead, user-info, rest), else None."""
    if "@" not in value:  # every user-info ends with one
        return None
    match = re.match(_ONE_URL, value) or re.match(_ONE_PROXY, value)
    return (match.group("lead"), match.group("userinfo"), match.group("rest")) if match else None


def secret_name(name):
    """Whether a variable of this name holds a secret: its name holds TOKEN, SECRET, PASSWORD,
    PASSWD, KEY or CREDENTIAL, in any case (``HF_TOKEN``, ``env.TORCH_TOKEN``, ``api_key``)."""
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)


# --- where secrets enter: parsed, and remembered ------------------------------------------------


def secrets_in(value: str) -> Set[str]:
    """What is secret in one value (a variable's, an argument's, a configuration setting's): the
    user-info of the URL or proxy it is, whole, and of each URL or proxy written in it; with a
    password, the password alone too."""
    found: Set[str] = set()
    if "@" not in value:  # every user-info ends with one
        return found
    parsed = [re.match(_ANY_USERINFO, value), *re.finditer(_EACH_USERINFO, value)] + [re.match(_ONE_PROXY, word) for word in [value] + value.split()]
    found.update(match.group("userinfo") for match in parsed if match)
    for pattern in _USERINFO_IN_TEXT:
        for match in re.finditer(pattern, value):
            found.add(value[match.end("lead") : match.end() - 1])
    for userinfo in list(found):
        found.add(userinfo.partition(":")[2])
    return {secret for secret in found if secret}


def _worth_remembering(value: str) -> bool:
    """A secret variable's value that is a secret, not a setting: "1", "subprocess" (PIP_KEYRING_PROVIDER)
    and "0" (NCCL_IB_PKEY) are not, and hiding them wherever they stand would hide the output."""
    return len(value) >= 6 and not re.fullmatch(r"[a-z]+|\d+", value)


def secrets_in_environment(environ: Mapping[str, str]) -> Set[str]:
    """The URL credentials in every variable (PIP_INDEX_URL, HTTPS_PROXY, …), and the values of the
    variables named like secrets."""
    found: Set[str] = set()
    for name, value in environ.items():
        found |= secrets_in(value)
        if secret_name(name) and _worth_remembering(value):
            found.add(value)
    return found


def secrets_in_arguments(argv: Sequence[str]) -> Set[str]:
    """The URL credentials in the command line: ``--index-base URL`` and ``--index-base=URL`` alike."""
    found: Set[str] = set()
    for argument in argv:
        found |= secrets_in(argument)
        if argument.startswith("-") and "=" in argument:
            found |= secrets_in(argument.partition("=")[2])
    return found


_CONFIG_SETTING = re.compile(r"\s*[\w.-]+\s*[=:]\s*(?P<value>.*)")


def secrets_in_pip_configuration(text: str) -> Set[str]:
    """The URL credentials in a pip configuration file: read line by line, so a file pip cannot
    parse gives its secrets up too (a continuation line is one more value)."""
    found: Set[str] = set()
    for line in text.splitlines():
        setting = _CONFIG_SETTING.match(line)
        found |= secrets_in(setting.group("value").strip() if setting else line.strip())
    return found


class Secrets:
    """Secrets known as such: each hidden wherever it stands, however it is written out."""

    def __init__(self):
        self._known: Set[str] = set()
        self._pattern = None

    def remember(self, secrets: Iterable[str]) -> None:
        new = {secret for secret in secrets if len(secret) >= SHORTEST_REMEMBERED} - self._known
        if not new:
            return
        self._known |= new
        forms = {form for secret in self._known for form in _written_forms(secret) if len(form) >= SHORTEST_REMEMBERED}
        self._pattern = re.compile("|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True)))

    def hide(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern else text


# The secrets of this run: its environment's, its command line's, and those of the pip
# configuration files of its target.
KNOWN = Secrets()


def remember_where_secrets_enter(environ: Mapping[str, str], argv: Sequence[str]) -> None:
    """What ``main`` remembers before anything runs: the secrets of the environment and the command line."""
    KNOWN.remember(secrets_in_environment(environ) | secrets_in_arguments(argv))


def remember_files(paths: Iterable[str]) -> None:
    """The secrets of these pip configuration files (those the target's pip reads)."""
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                KNOWN.remember(secrets_in_pip_configuration(handle.read()))
        except OSError:
            continue


def _written_forms(secret: str) -> Set[str]:
    """Every way torchup's outputs may write ``secret``: as it is, percent-encoded and decoded, in
    a JSON string, a Python repr, HTML and XML, Markdown, a workflow annotation; and each of those
    in a JSON string, and in a JSON string inside a JSON string."""
    import html
    import json
    from urllib.parse import quote, unquote

    from .outcome import escape_markdown

    written = {
        secret,
        unquote(secret),
        quote(secret, safe=""),
        quote(secret, safe=":@"),
        repr(secret)[1:-1],
        html.escape(secret),
        html.escape(secret, quote=False),
        html.escape(secret).replace("&#x27;", "'").replace("\n", "&#10;"),  # ElementTree's attributes
        escape_markdown(secret),
        secret.replace("|", "\\|"),
        secret.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"),
    }
    for _ in range(2):  # in a JSON string, and in a JSON string inside one
        written |= {json.dumps(form, ensure_ascii=ascii)[1:-1] for form in written for ascii in (True, False)}
    return written


# --- the output boundary -------------------------------------------------------------------


def redact(text):
    """``text`` with every remembered secret hidden, then every secret its shape gives away (see
    :func:`hide_shapes`)."""
    if text is None:
        return None
    return hide_shapes(KNOWN.hide(text))


def redact_value(value):
    """One value (a setting, a URL, a proxy): parsed whole first, so that its user-info is hidden
    whatever it holds (``https://user:two words@host`` -> ``https://****@host``), then as text."""
    if value is None:
        return None
    parsed = _one_value(value)
    return redact(parsed[0] + MASK + "@" + parsed[2] if parsed else value)


def _secret_key(key):
    return isinstance(key, str) and bool(re.fullmatch(_VARIABLE, key)) and secret_name(key)


def redact_document(value):
    """A copy of a JSON-like document with every string redacted as one value, and the value of
    every key that names a secret variable (``HF_TOKEN``, ``env.TORCH_TOKEN``) shown as ``****``."""
    if isinstance(value, str):
        return redact_value(value)
    if isinstance(value, dict):
        return {key: MASK if item is not None and _secret_key(key) else redact_document(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_document(item) for item in value]
    return value


def shortened(text: str, limit: int) -> str:
    """At most ``limit`` characters of ``text``, redacted before it is cut: a secret cut in two
    would no longer be recognised."""
    return redact(text)[:limit]


class RedactingStream:
    """A text stream that writes everything through :func:`redact`."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        return self._stream.write(redact(text) if isinstance(text, str) else text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def __getattr__(self, name):
        return getattr(self._stream, name)
