"""Credentials out of text shown to a person: the tool side's copy of the kit's URL rule."""

import re

_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")


def redact(text):
    """Hide the user-info part of every URL in ``text`` (``https://user:secret@host`` -> ``https://****@host``)."""
    if text is None:
        return None
    return _CREDENTIALS.sub(lambda match: match.group("scheme") + "****@", text)
