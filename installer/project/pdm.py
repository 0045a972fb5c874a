"""pdm: one ``[[tool.pdm.source]]`` for the Linux build, with ``include_packages`` for torch and
its companions and ``exclude_packages = ["*"]`` for everything else
(https://pdm-project.org/latest/usage/config/#specify-index-for-individual-packages). pdm chooses a
source per package, not per platform, and torchup says so. Credentials: environment variables in
the source's URL, which pdm expands (https://pdm-project.org/latest/usage/config/#store-credentials-with-the-index).
"""

from typing import List, Sequence

from packaging.utils import canonicalize_name

from . import edit
from .tool import Index, Layout, ProjectTool, Routed

# Named for what they hold, not for one build, so that a later move to another build keeps them.
USERNAME, PASSWORD = "PYTORCH_INDEX_USERNAME", "PYTORCH_INDEX_PASSWORD"


class Pdm(ProjectTool):
    name = "pdm"
    locks = ("pdm.lock",)
    next_step = "pdm lock && pdm install"
    shape = {"tool.pdm": dict, "tool.pdm.source": (list, dict)}
    make_explicit = "include_packages"

    def fits(self, document, path) -> None:
        edit.require_project_table(document, path, self.name)

    def configure(self, document, layout: Layout) -> List[str]:
        names = [name for name, _ in layout.pins]
        edit.set_requirements(edit.project_dependencies(document), layout.pins)
        pdm = edit.table(edit.super_table(document, "tool"), "pdm")
        sources = edit.named_tables(pdm, "source")
        route = layout.routes[0]  # one source per package, not per platform: the Linux build
        edit.drop_stale(sources, [route])
        url = route.url
        if layout.credentials:
            scheme, _, rest = url.partition("://")
            url = f"{scheme}://${{{USERNAME}}}:${{{PASSWORD}}}@{rest}"
        notes = edit.upsert(sources, route.index, {"url": url, "include_packages": names, "exclude_packages": ["*"]})
        if len(layout.routes) > 1:
            notes.append(f"pdm has no per-platform sources: every platform gets {route.index} (lock one target per variant with `pdm lock --platform`)")
        return notes

    def credential_note(self, indexes: Sequence[str]) -> str:
        return f"pdm expands environment variables in a source's URL: the URL written holds ${{{USERNAME}}} and ${{{PASSWORD}}}; set them"

    def routes(self, config: dict) -> List[Routed]:
        return [
            Routed(canonicalize_name(package), source.get("name"), source.get("url"), None, None)
            for source in config.get("tool", {}).get("pdm", {}).get("source", [])
            for package in source.get("include_packages", [])
        ]

    def indexes(self, config: dict) -> List[Index]:
        sources = config.get("tool", {}).get("pdm", {}).get("source", [])
        return [Index(str(source.get("name")), str(source.get("url")), bool(source.get("include_packages")), "no include_packages") for source in sources]


TOOL = Pdm()
