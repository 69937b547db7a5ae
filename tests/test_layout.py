"""The package's boundaries: Ray only under rayedit/cluster/, research/ never imported by rayedit."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "rayedit"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_only_cluster_imports_ray():
    offenders = {str(p.relative_to(PACKAGE)): sorted(m for m in _imports(p) if m == "ray" or m.startswith("ray."))
                 for p in PACKAGE.rglob("*.py") if p.parent.name != "cluster"}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_rayedit_never_imports_research():
    offenders = [str(p) for p in PACKAGE.rglob("*.py")
                 if any(m == "research" or m.startswith("research.") for m in _imports(p))]
    assert offenders == []
