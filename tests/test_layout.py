"""The package layout the product relies on: library modules never import the command line."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LIBRARY = ("data", "features", "models", "api", "engines", "desk")


def test_library_modules_never_import_the_cli():
    offenders = []
    for folder in LIBRARY:
        for path in (REPO / folder).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                offenders += [f"{path.relative_to(REPO)}: {n}" for n in names if n.startswith("contraband.cli")]
    assert not offenders


def test_every_package_says_what_it_owns():
    for init in [REPO / "contraband" / "__init__.py", REPO / "contraband" / "cli" / "__init__.py",
                 *[REPO / f / "__init__.py" for f in LIBRARY], REPO / "data" / "history" / "__init__.py"]:
        assert ast.get_docstring(ast.parse(init.read_text())), init
