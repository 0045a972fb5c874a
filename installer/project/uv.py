"""uv: torch and its companions as direct dependencies, each routed by ``[tool.uv.sources]`` to an
explicit ``[[tool.uv.index]]``, as uv's PyTorch guide documents
(https://docs.astral.sh/uv/guides/integration/pytorch/): per platform by ``sys_platform`` markers,
or one optional group per build declared as ``conflicts``; ``required-environments`` for the
machine planned for. Credentials: ``UV_INDEX_<NAME>_USERNAME`` and ``_PASSWORD``
(https://docs.astral.sh/uv/configuration/indexes/#providing-credentials-directly)."""

import re
from typing import List, Sequence, Set

import tomlkit
from packaging.utils import canonicalize_name

from . import edit
from .tool import Index, IndexProblem, Layout, ProjectTool, Routed, requirement_name, routing_entries

# An explicit index serves only what is routed to it; `default = true` would make it serve everything.
CONTRADICTING = {"default": "an explicit index serves only the packages routed to it, so it cannot be the default"}


class Uv(ProjectTool):
    name = "uv"
    locks = ("uv.lock",)
    next_step = "uv lock && uv sync"
    shape = {
        "tool.uv": dict,
        "tool.uv.sources": dict,
        "tool.uv.index": (list, dict),
        "tool.uv.pip": dict,
        "tool.uv.index-strategy": str,
        "tool.uv.dev-dependencies": (list, str),
    }
    writes_extras = True
    make_explicit = "explicit = true"

    def fits(self, document, path) -> None:
        edit.require_project_table(document, path, self.name)

    def configure(self, document, layout: Layout) -> List[str]:
        names = [name for name, _ in layout.pins]
        extras = [route.extra for route in layout.routes if route.extra]
        if extras:
            edit.drop_requirements(edit.project_dependencies(document), {canonicalize_name(name) for name in names})
            optional = edit.table(document["project"], "optional-dependencies")
            for extra in extras:
                if extra not in optional:
                    optional[extra] = tomlkit.array()
                edit.set_requirements(optional[extra], layout.pins)
        else:
            edit.set_requirements(edit.project_dependencies(document), layout.pins)
        uv = edit.table(edit.super_table(document, "tool"), "uv")
        sources = edit.table(uv, "sources")
        for name in names:
            # A platform no source names falls back to the default index, as uv documents.
            sources[name] = edit.routes_as(layout.indexed, "index", "marker", extra_as_marker=False)
        indexes = edit.named_tables(uv, "index")
        edit.drop_stale(indexes, layout.indexed)
        notes = []
        for route in layout.indexed:
            notes += edit.upsert(indexes, route.index, {"url": route.url, "explicit": True}, CONTRADICTING)
        if extras:
            group = tomlkit.array()
            for extra in extras:
                member = tomlkit.inline_table()
                member["extra"] = extra
                group.append(member)
            conflicts = tomlkit.array()
            conflicts.append(group)
            uv["conflicts"] = conflicts
        else:
            uv["required-environments"] = [layout.environment]
        return notes

    def credential_note(self, indexes: Sequence[str]) -> str:
        # uv's spelling of an index name in a variable: upper case, any other character an underscore.
        variables = ", ".join(
            f"UV_INDEX_{spelt}_USERNAME and UV_INDEX_{spelt}_PASSWORD" for spelt in (re.sub(r"[^A-Z0-9]", "_", name.upper()) for name in indexes)
        )
        return f"uv reads an index's credentials from the environment: set {variables}"

    def routes(self, config: dict) -> List[Routed]:
        uv = config.get("tool", {}).get("uv", {})
        urls = {index.get("name"): index.get("url") for index in uv.get("index", [])}
        return [
            Routed(package, entry["index"], urls.get(entry["index"]), entry.get("marker"), entry.get("extra"))
            for package, entry in routing_entries(uv.get("sources", {}), "index")
        ]

    def indexes(self, config: dict) -> List[Index]:
        tables = config.get("tool", {}).get("uv", {}).get("index", [])
        return [Index(str(table.get("name")), str(table.get("url")), bool(table.get("explicit")), "no explicit = true") for table in tables]

    def direct_dependencies(self, config: dict) -> Set[str]:
        legacy = config.get("tool", {}).get("uv", {}).get("dev-dependencies", [])  # before PEP 735's [dependency-groups]
        return {requirement_name(requirement) for requirement in legacy if requirement.strip()}

    def index_problems(self, config: dict) -> List[IndexProblem]:
        uv = config.get("tool", {}).get("uv", {})
        found = super().index_problems(config)
        if uv.get("index-strategy") == "unsafe-best-match" or uv.get("pip", {}).get("extra-index-url"):
            found.append(
                IndexProblem(
                    "index-strategy" if uv.get("index-strategy") else "extra-index-url",
                    "an extra index with unsafe-best-match (or [tool.uv.pip] extra-index-url) lets a package of the same name from any index win",
                    "an explicit [[tool.uv.index]] with [tool.uv.sources] for torch instead",
                )
            )
        return found


TOOL = Uv()
