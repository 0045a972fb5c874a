"""poetry: torch routed to ``priority = "explicit"`` sources by ``[tool.poetry.dependencies]``
entries with ``source`` and ``markers`` (https://python-poetry.org/docs/repositories/#package-source-constraint),
in the style of the project found:

- a PEP 621 project (a ``[project]`` table, poetry 2): the pins in ``[project].dependencies``, and
  ``[tool.poetry.dependencies]`` entries holding only where each comes from, as poetry documents
  for enriching them;
- a poetry 1 project (``[tool.poetry]`` name, version, …, no ``[project]``): the pins and routes
  together in ``[tool.poetry.dependencies]``. A ``[project]`` table is never added there: poetry 2
  reads any ``[project]`` as PEP 621 metadata and then requires its ``name``.

A route to the project's default index is an entry without ``source``: poetry applies an entry's
markers to the dependency itself, so a platform that no entry names would get no torch at all.

Credentials: ``poetry config http-basic.<source>`` (https://python-poetry.org/docs/repositories/#configuring-credentials).
"""

from typing import List, Sequence, Set

from packaging.utils import canonicalize_name

from . import ProjectError, edit
from .tool import Index, Layout, ProjectTool, Routed, extra_of, routing_entries

# poetry 1's ways of ranking a source, which poetry 2 replaced by `priority`.
CONTRADICTING = {
    "default": 'poetry ranks sources by priority, and this one is priority = "explicit"',
    "secondary": 'poetry ranks sources by priority, and this one is priority = "explicit"',
}


class Poetry(ProjectTool):
    name = "poetry"
    locks = ("poetry.lock",)
    next_step = "poetry lock && poetry install"
    shape = {"tool.poetry": dict, "tool.poetry.dependencies": dict, "tool.poetry.source": (list, dict)}
    make_explicit = 'priority = "explicit"'

    def fits(self, document, path) -> None:
        if "project" not in document and "poetry" not in document.get("tool", {}):
            raise ProjectError(
                f"{path}: neither a [project] table nor [tool.poetry]: not a project poetry can manage yet",
                hint="create it first (poetry init), then run this again",
            )

    def configure(self, document, layout: Layout) -> List[str]:
        poetry = edit.table(edit.super_table(document, "tool"), "poetry")
        dependencies = edit.table(poetry, "dependencies")
        if "project" in document:
            edit.set_requirements(edit.project_dependencies(document), layout.pins, style="poetry")
            for name, _ in layout.pins:
                dependencies[name] = edit.routes_as(layout.routes, "source", "markers", extra_as_marker=True)
        else:
            for name, version in layout.pins:
                dependencies[name] = edit.routes_as(layout.routes, "source", "markers", extra_as_marker=True, version=f"=={version}")
        sources = edit.named_tables(poetry, "source")
        edit.drop_stale(sources, layout.indexed)
        notes = []
        for route in layout.indexed:
            notes += edit.upsert(sources, route.index, {"url": route.url, "priority": "explicit"}, CONTRADICTING)
        return notes

    def credential_note(self, indexes: Sequence[str]) -> str:
        commands = "; ".join(f"poetry config http-basic.{name} USER PASSWORD" for name in indexes)
        # poetry's own spelling of a setting as a variable: upper case, "-" as "_" (poetry.config.Config.get)
        variables = ", ".join(
            f"POETRY_HTTP_BASIC_{variable}_USERNAME and POETRY_HTTP_BASIC_{variable}_PASSWORD"
            for variable in (name.upper().replace("-", "_") for name in indexes)
        )
        return f"poetry keeps an index's credentials in its own configuration: {commands} (or set {variables})"

    def routes(self, config: dict) -> List[Routed]:
        poetry = config.get("tool", {}).get("poetry", {})
        urls = {source.get("name"): source.get("url") for source in poetry.get("source", [])}
        return [
            Routed(package, entry["source"], urls.get(entry["source"]), entry.get("markers"), extra_of(entry.get("markers")))
            for package, entry in routing_entries(poetry.get("dependencies", {}), "source")
        ]

    def indexes(self, config: dict) -> List[Index]:
        found = []
        for source in config.get("tool", {}).get("poetry", {}).get("source", []):
            priority = source.get("priority", "primary")
            found.append(Index(str(source.get("name")), str(source.get("url")), priority == "explicit", f"priority {priority!r}"))
        return found

    def direct_dependencies(self, config: dict) -> Set[str]:
        dependencies = config.get("tool", {}).get("poetry", {}).get("dependencies", {})
        return {canonicalize_name(name) for name, spec in dependencies.items() if _declares(spec)}


def _declares(spec) -> bool:
    """A poetry dependency entry that declares the dependency (a version), not only its source."""
    entries = spec if isinstance(spec, list) else [spec]
    return any(isinstance(entry, str) or "version" in entry for entry in entries)


TOOL = Poetry()
