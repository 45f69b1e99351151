"""The layers import one way, with no cycles:

    web (controllers, app, auth, web, drafts, returns, security, cli, demo_rp)
      -> journeys: registration -> approvals -> accounts -> mail
        -> models (queries, typed rows, tables, the engine)
          -> plain helpers (settings, clock, crypto, hashing, catalog, formats, ...)

A module may import its own package and anything below it, never above. Journeys, models and
helpers never import Litestar (portal.edge, the ASGI edge, only its types). Every import counts,
also one inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PORTAL = Path(__file__).resolve().parents[2] / "portal"

# Higher imports lower. The journeys are ordered among themselves too.
RANKS = {
    "web": 60,
    "registration": 54,
    "approvals": 53,
    "accounts": 52,
    "mail": 51,
    "models": 40,
    "helpers": 10,
}
WEB = {"app", "controllers", "auth", "web", "drafts", "returns", "security", "cli", "demo_rp", "__main__"}
MODELS = {"models", "piccolo_conf"}


def layer(module: str) -> str:
    """The layer of ``portal.x.y``."""
    top = module.split(".")[1] if "." in module else ""
    if top in WEB:
        return "web"
    if top in {"registration", "approvals", "accounts", "mail"}:
        return top
    if top in MODELS:
        return "models"
    return "helpers"


def module_name(path: Path) -> str:
    if not path.is_relative_to(PORTAL.parent):
        return path.stem
    parts = path.relative_to(PORTAL.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports (at any depth of its code)."""
    found: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def portal_modules() -> dict[str, Path]:
    return {module_name(p): p for p in PORTAL.rglob("*.py") if "piccolo_migrations" not in p.parts}


def graph() -> dict[str, set[str]]:
    """Module -> the portal modules it imports (a name that is a module's attribute counts as
    the module)."""
    modules = portal_modules()
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in imports_of(path):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and imported != "portal":
                targets.add(imported)
        edges[name] = targets
    return edges


def test_the_layer_map_knows_every_package():
    tops = {name.split(".")[1] for name in portal_modules() if "." in name}
    known = WEB | MODELS | {"registration", "approvals", "accounts", "mail"}
    helpers = {t for t in tops if t not in known}
    # A new top-level module is a helper unless this map says otherwise: list them, so a
    # new package gets a conscious place.
    assert helpers == {
        "assets",
        "catalog",
        "clock",
        "crypto",
        "edge",
        "errors",
        "formats",
        "hashing",
        "invisible",
        "links",
        "logs",
        "malloc",
        "metrics",
        "text",
        "timefmt",
        "settings",
        "signing",
    }


def test_every_import_runs_down_the_layers():
    wrong = [
        f"{source} ({layer(source)}) imports {target} ({layer(target)})"
        for source, targets in graph().items()
        for target in targets
        if RANKS[layer(target)] > RANKS[layer(source)]
    ]
    assert wrong == []


def test_no_import_cycle():
    edges = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert cycles == []


@pytest.mark.parametrize("name", sorted(n for n in portal_modules() if layer(n) != "web"))
def test_below_the_web_layer_nothing_imports_litestar(name):
    imported = imports_of(portal_modules()[name])
    litestar = {i for i in imported if i == "litestar" or i.startswith("litestar.")}
    if name == "portal.edge":  # the ASGI edge: Litestar's type names, nothing that runs
        litestar = {i for i in litestar if not i.startswith("litestar.types")}
    assert litestar == set()


def test_the_checker_sees_a_wrong_way_import(tmp_path):
    """The test itself can fail: an import from models up into a journey is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("from portal.registration.steps import STEPS\n", encoding="utf-8")
    assert "portal.registration.steps" in imports_of(bad)
    assert RANKS[layer("portal.registration.steps")] > RANKS[layer("portal.models.registration")]


def test_no_controller_imports_another():
    """Controllers share pieces through modules that are not controllers (errors, role_fields)."""
    shared = {"portal.controllers", "portal.controllers.errors", "portal.controllers.role_fields"}
    controllers = {n for n in portal_modules() if n.startswith("portal.controllers.") and n not in shared}
    wrong = [
        f"{source} imports {target}" for source in controllers for target in graph()[source] if target in controllers
    ]
    assert wrong == []
