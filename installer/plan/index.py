"""Reading a package index's listing (PEP 503 HTML or PEP 691 JSON) to confirm a wheel exists."""

import base64
import json
import os
import re
import socket
import urllib.error
import urllib.request
from html.parser import HTMLParser
from typing import Dict, Iterable, List, Optional, Set, Tuple
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import Version

ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"


class IndexUnreachable(Exception):
    """An index or source that gave no listing, and how: ``in_words`` tells one that never answered
    from one that answered with an HTTP error and one that could not be reached at all (refused,
    a name that does not resolve)."""

    def __init__(self, message: str, in_words: str = "could not be reached"):
        super().__init__(message)
        self.in_words = in_words

    @classmethod
    def from_error(cls, url: str, error: Exception, timeout: float) -> "IndexUnreachable":
        reason = getattr(error, "reason", error)
        # socket.timeout is TimeoutError from Python 3.10 on, a plain OSError before.
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return cls(f"{url}: {reason}", f"did not answer within {timeout:g} s")
        return cls(f"{url}: {reason}")


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: List[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


class Listing(list):
    """The file names a project page lists; ``sizes``, in bytes, where the page gives them (PEP 700 JSON)."""

    def __init__(self, names=(), sizes=None):
        super().__init__(names)
        self.sizes: Dict[str, int] = dict(sizes or {})


def parse_listing(body: str, content_type: str) -> Listing:
    """The file names a project page lists, from either form of the simple API."""
    if "json" in content_type:
        files = json.loads(body).get("files", [])
        return Listing([entry["filename"] for entry in files], {entry["filename"]: entry["size"] for entry in files if isinstance(entry.get("size"), int)})
    parser = _Links()
    parser.feed(body)
    return Listing([unquote(urlsplit(href).path.rsplit("/", 1)[-1]) for href in parser.hrefs])


def tls_context(cafile: Optional[str]):
    """The CA bundle pip is configured with (its `cert`), for torchup's own requests; None: Python's defaults."""
    if not cafile:
        return None
    import ssl

    return ssl.create_default_context(cafile=cafile)


def split_userinfo(url: str) -> Tuple[str, Optional[str], Optional[str]]:
    """``url`` without its credentials, and the user name and password it held (unquoted), or
    None. Everything up to the last "@" is the user-info, since a password may hold "/" or "@"
    (where urllib's parser would cut the host name short)."""
    scheme, separator, rest = url.partition("://")
    userinfo, _, location = rest.rpartition("@")
    if not separator or not userinfo:
        return url, None, None
    user, _, password = userinfo.partition(":")
    return f"{scheme}://{location}", unquote(user), unquote(password)


def request_for(url: str, **headers: str) -> urllib.request.Request:
    """A request for ``url``; credentials in it (``https://user:secret@host/…``) go as basic auth."""
    headers.setdefault("User-Agent", "torchup")
    url, user, password = split_userinfo(url)
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    return urllib.request.Request(url, headers=headers)


def fetch_listing(index_url: str, project: str, timeout: float, cafile: Optional[str] = None) -> Listing:
    url = f"{index_url.rstrip('/')}/{project}/"
    request = request_for(url, Accept=ACCEPT)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=tls_context(cafile)) as response:
            body = response.read().decode("utf-8", errors="replace")
            content_type = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return []
        raise IndexUnreachable(f"{url}: HTTP {error.code}", "answered with an error") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise IndexUnreachable.from_error(url, error, timeout) from None
    return parse_listing(body, content_type)


def fetch_page(url: str, timeout: float, cafile: Optional[str] = None) -> str:
    request = request_for(url)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=tls_context(cafile)) as response:
            return response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as error:
        raise IndexUnreachable(f"{url}: HTTP {error.code}", "answered with an error") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise IndexUnreachable.from_error(url, error, timeout) from None


def source_listing(location: str, project: str, kind: str, timeout: float, cafile: Optional[str] = None) -> List[str]:
    """File names a pip source offers for ``project``: an index base (PEP 503) or a find-links location.

    Local directories and file:// URLs are read from disk; http(s) ones are fetched.
    """
    if "://" in location and not location.startswith("file:"):
        if kind == "index":
            return fetch_listing(location, project, timeout, cafile)
        return parse_listing(fetch_page(location, timeout, cafile), "text/html")
    path = url2pathname(urlsplit(location).path) if location.startswith("file:") else location
    if kind == "index":
        path = os.path.join(path, project)
    if os.path.isdir(path):
        page = os.path.join(path, "index.html")
        if os.path.isfile(page):
            with open(page, encoding="utf-8", errors="replace") as handle:
                return parse_listing(handle.read(), "text/html")
        return sorted(os.listdir(path))
    if os.path.isfile(path):
        with open(path, encoding="utf-8", errors="replace") as handle:
            return parse_listing(handle.read(), "text/html")
    return []


def supported_tags(interpreter: str, abis: Iterable[str], platforms: Iterable[str]) -> Set[Tag]:
    """Every tag an interpreter installs, from the probe's interpreter, ABI and platform tags."""
    version = (int(interpreter[2]), int(interpreter[3:]))
    platforms = list(platforms)
    found = set(cpython_tags(version, [abi for abi in abis if abi not in ("abi3", "none")], platforms))
    found.update(compatible_tags(version, interpreter, platforms))
    return found


def generic_platforms(os_name: str, arch: str, glibc: Optional[str] = None) -> List[str]:
    """Platform tags for a machine described only by --os/--arch (planning for another machine)."""
    if os_name == "linux":
        newest = int(glibc.split(".")[1]) if glibc else 40
        return [f"manylinux_2_{minor}_{arch}" for minor in range(newest, 16, -1)] + [f"manylinux2014_{arch}", f"linux_{arch}"]
    if os_name == "windows":
        return ["win_amd64" if arch == "x86_64" else f"win_{arch}"]
    arches = [arch, "universal2"]
    return [f"macosx_{major}_0_{name}" for major in range(26, 10, -1) for name in arches] + [
        f"macosx_10_{minor}_{name}" for minor in range(16, 8, -1) for name in arches
    ]


def matching_wheels(filenames: Iterable[str], project: str, version: str, tags: Set[Tag]) -> List[str]:
    wanted = Version(version)
    found = []
    for filename in filenames:
        if not filename.endswith(".whl"):
            continue
        try:
            name, wheel_version, _, wheel_tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            continue
        if name == project and wheel_version == wanted and wheel_tags & tags:
            found.append(filename)
    return found


def versions_listed(filenames: Iterable[str], project: str) -> List[str]:
    versions = set()
    for filename in filenames:
        match = re.match(rf"{project}-([^-]+)-", filename)
        if match and filename.endswith(".whl"):
            versions.add(match.group(1))
    return sorted(versions, key=Version, reverse=True)
