"""What a project tool is to torchup: one small protocol, implemented once per tool (``uv.py``,
``poetry.py``, ``pdm.py`` beside this module) and registered by name in ``installer/project_tools.py``.

A tool knows its own tables of a pyproject.toml and nothing else: it reads them (which index routes
which package, the indexes it declares, what it declares as a dependency beyond PEP 621), writes a
``Layout`` (torch's pins and routes, decided once for every tool) its own documented way, and says
how its user gives an index's credential without writing it into a file meant for version control.
Everything else (the plan, the checks, line endings, the diff) is the same for every tool.
"""

import re
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Set, Tuple

from packaging.utils import canonicalize_name

from ..compat import Build

LINUX = "sys_platform == 'linux'"
NOT_LINUX = "sys_platform != 'linux'"


class Route(NamedTuple):
    """Where torch comes from, to write: an index, for a platform (marker) or an optional group (extra)."""

    index: Optional[str]  # the index's name in the tool's configuration, e.g. "pytorch-cu130"; None: the project's default index
    url: Optional[str]  # never with credentials: see Layout.credentials
    marker: Optional[str] = None
    extra: Optional[str] = None


class Layout(NamedTuple):
    """What to write: the pins and the routes, decided from the plan, the same for every tool."""

    pins: List[Tuple[str, str]]  # (name, version) for torch and each companion: public versions, the index adds the local tag
    routes: List[Route]
    environment: str  # the marker of the machine planned for, for uv's required-environments
    notes: List[str]
    credentials: bool = False  # the index needs credentials, which the tool is told of its own way, never in the file

    @property
    def indexed(self) -> List[Route]:
        """The routes to an index torchup names (not to the project's default index)."""
        return [route for route in self.routes if route.index]


class Routed(NamedTuple):
    """A route a configuration declares: ``package`` comes from the index ``index`` (at ``url``)."""

    package: str
    index: Optional[str]
    url: Optional[str]
    marker: Optional[str]
    extra: Optional[str]


class Index(NamedTuple):
    """An index or source a configuration declares."""

    name: str
    url: str
    # Whether it serves only the packages routed to it: an index that serves any package lets a
    # package of the same name there win over the real one (dependency confusion).
    explicit: bool
    why_not_explicit: str  # in the tool's own words, e.g. "priority 'primary'"


class IndexProblem(NamedTuple):
    """A way the configuration lets another index serve torch (check P04)."""

    needle: str  # text on the line to point at
    evidence: str
    fix: str


class ProjectTool:
    """The protocol: a tool overrides what it has; the defaults are what most tools share."""

    name: str = ""
    locks: Tuple[str, ...] = ()  # the lock files it writes, by name
    next_step: str = ""  # what its user runs after ``project init``
    # The pyproject.toml keys it reads and the type each must have (see check.pyproject_shape).
    shape: Dict[str, object] = {}
    writes_extras = False  # whether it can express one optional group per build (``--extras``)
    make_explicit = ""  # how an index is made explicit in its configuration, for P04's fix

    def fits(self, document, path) -> None:
        """Raise ``ProjectError`` where this tool cannot hold torch in the project at ``path`` as it is (before any work)."""

    def configure(self, document, layout: Layout) -> List[str]:
        """Write ``layout`` into ``document`` (a tomlkit document); notes on what it could not express."""
        raise NotImplementedError

    def credential_note(self, indexes: Sequence[str]) -> str:
        """How its user gives the credential of the indexes named, the tool's own way."""
        raise NotImplementedError

    def routes(self, config: dict) -> List[Routed]:
        """Every package-to-index route the configuration (pyproject.toml, unwrapped) declares."""
        raise NotImplementedError

    def indexes(self, config: dict) -> List[Index]:
        raise NotImplementedError

    def direct_dependencies(self, config: dict) -> Set[str]:
        """Names it declares as dependencies outside PEP 621's and PEP 735's tables, canonicalised."""
        return set()

    def index_problems(self, config: dict) -> List[IndexProblem]:
        """Check P04 in this tool's tables: every index serving torch's builds must be explicit."""
        return [
            IndexProblem(
                index.url,
                f"{self.name} index {index.name} is not explicit ({index.why_not_explicit}): every package may come from it (dependency confusion)",
                f"make it explicit ({self.make_explicit}) and route torch to it",
            )
            for index in self.indexes(config)
            if build_of_url(index.url) and not index.explicit
        ]


def routing_entries(table: dict, key: str) -> Iterator[Tuple[str, dict]]:
    """(package, entry) for each entry of a table mapping packages to one entry or a list of them
    (``[tool.uv.sources]``, ``[tool.poetry.dependencies]``) that names an index under ``key``."""
    for package, spec in table.items():
        for entry in spec if isinstance(spec, list) else [spec]:
            if isinstance(entry, dict) and key in entry:
                yield canonicalize_name(package), entry


def build_of_url(url: Optional[str]) -> Optional[Build]:
    """The PyTorch build an index serves, where its URL ends in a build name (``…/whl/cu130``)."""
    tail = (url or "").rstrip("/").rsplit("/", 1)[-1]
    return Build.parse(tail) if tail else None


def extra_of(markers: Optional[str]) -> Optional[str]:
    """The optional group a marker names (``extra == 'cu130'``)."""
    found = re.search(r"extra\s*==\s*['\"]([^'\"]+)", markers or "")
    return found.group(1) if found else None


def requirement_name(requirement: str) -> str:
    """The canonical name a requirement string (PEP 508, or poetry's ``name (==1.0)``) starts with."""
    return canonicalize_name(re.split(r"[\s\[<>=!~;(@]", requirement.strip(), 1)[0])
