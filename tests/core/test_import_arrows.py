"""Arrows point down: the shared layers (`core/`, `orchestration/`) import no domain app. They reach
tenants through hooks the domain installs (`core.tenancy`) and settings naming its classes by dotted
path, and the domains register their handlers with the engine."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_LAYERS = ("core", "orchestration")
DOMAIN_APPS = frozenset({"campaigns", "workflow_runs", "scans", "tenants", "console"})


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """Every absolute module an `import` or `from … import` statement names (relative ones stay inside
    their package), including imports under `if TYPE_CHECKING:` and inside functions."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def domain_imports(package: str) -> list[str]:
    offenders = []
    for source in sorted((ROOT / package).rglob("*.py")):
        for lineno, module in imported_modules(ast.parse(source.read_text(), filename=str(source))):
            if module.split(".")[0] in DOMAIN_APPS:
                offenders.append(f"{source.relative_to(ROOT)}:{lineno} imports {module}")
    return offenders


@pytest.mark.parametrize("package", SHARED_LAYERS)
def test_shared_layer_imports_no_domain_app(package: str) -> None:
    assert (ROOT / package / "__init__.py").exists()  # a renamed package must not pass by being empty
    assert domain_imports(package) == []


def test_the_walk_sees_a_domain_import() -> None:
    """The checker itself: the forms a domain import takes are all caught, relative imports are not."""
    tree = ast.parse(
        "import tenants\n"
        "from tenants.models import User\n"
        "import campaigns.services as s\n"
        "def f():\n    from scans import selectors\n"
        "from . import tenants_like\n"
        "from core import api\n"
    )
    named = [module for _, module in imported_modules(tree) if module.split(".")[0] in DOMAIN_APPS]
    assert named == ["tenants", "tenants.models", "campaigns.services", "scans"]
