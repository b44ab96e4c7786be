"""The house's floors, enforced: wire primitives at the bottom, stores and services above them,
the edge (signatures, authorisation, dispatch) above the services, the faces on top.

The import graph is read from the source with ``ast`` (imports inside functions count; imports
under ``if TYPE_CHECKING:`` do not, they are erased at run time), so a violation fails here
before it is merged, whoever writes it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cove

SOURCE = Path(cove.__file__).parent


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. cove.training._api
    target: str  # the imported module, e.g. cove.wire
    function: str  # the enclosing function's name, "" at module level
    line: int


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(SOURCE.rglob("*.py")):
        parts = path.relative_to(SOURCE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _targets(node: ast.Import | ast.ImportFrom, module: str, package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: resolve against the importing package
        parts = module.split(".") if package else module.split(".")[:-1]
        parts = parts[:len(parts) - node.level + 1]
        base = ".".join(parts + ([base] if base else []))
    # ``from cove import edge`` imports the subpackage cove.edge
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def _walk(node: ast.AST, module: str, package: bool, function: str) -> Iterator[Import]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for sub in child.orelse:
                yield from _walk(sub, module, package, function)
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            for target in _targets(child, module, package):
                yield Import(module, target, function, child.lineno)
        inner = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) \
            else function
        yield from _walk(child, module, package, inner)


def runtime_imports() -> list[Import]:
    found = []
    for name, path in _modules():
        tree = ast.parse(path.read_text(), str(path))
        found += list(_walk(tree, name, path.name == "__init__.py", ""))
    return found


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _broken(rule: str, bad: list[Import]) -> str:
    return rule + ":\n" + "\n".join(f"  {i.module}:{i.line} imports {i.target}" for i in bad)


def test_the_import_graph_is_read() -> None:
    """The reader itself: it sees a module-level, a function-level and a relative import, and
    drops a TYPE_CHECKING one (else the rules below could pass by seeing nothing)."""
    tree = ast.parse("from typing import TYPE_CHECKING\nimport a.b\nif TYPE_CHECKING:\n"
                     "    import hidden\ndef f():\n    from . import sibling\n")
    found = {(i.target, i.function) for i in _walk(tree, "cove.pkg.mod", False, "")}
    assert ("a.b", "") in found and ("cove.pkg.sibling", "f") in found
    assert not any(target == "hidden" for target, _ in found)
    assert any(i.target == "cove.edge" for i in runtime_imports() if i.module == "cove.server")


def test_the_wire_package_imports_nothing_of_cove_but_errors() -> None:
    bad = [i for i in runtime_imports() if _under(i.module, "cove.wire")
           and _under(i.target, "cove") and i.target != "cove"
           and not _under(i.target, "cove.wire") and not _under(i.target, "cove.errors")]
    assert not bad, _broken("cove.wire is the ground floor; it may import only cove.errors", bad)


def test_only_the_server_imports_the_edge() -> None:
    """The edge (SigV4, dispatch) sits above the services: no service, store, identity or face
    imports it; the server assembles it."""
    bad = [i for i in runtime_imports() if _under(i.target, "cove.edge")
           and not _under(i.module, "cove.edge") and i.module != "cove.server"]
    assert not bad, _broken("only cove.server may import cove.edge", bad)



def _root(node: ast.expr) -> str:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


def _patches(target: ast.Attribute) -> bool:
    """An assignment to another object's attribute: ``x.a = ...`` or ``self.x.a = ...``
    (``self.a = ...`` is an object's own state; uvicorn's ``should_exit`` is its stop signal)."""
    if target.attr == "should_exit":
        return False
    return _root(target) != "self" or isinstance(target.value, ast.Attribute)


def test_the_server_builds_its_parts_whole() -> None:
    """Run-time parts (the URL, the event loop, a reader of objects) are passed to
    constructors; nothing in the server finishes a component by assigning its attributes
    afterwards (``functions.read_object = ...``, ``training.endpoint_url = url``)."""
    tree = ast.parse((SOURCE / "server.py").read_text())
    patched = [f"line {node.lineno}: {ast.unparse(target)}"
               for node in ast.walk(tree) if isinstance(node, ast.Assign | ast.AugAssign)
               for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
               if isinstance(target, ast.Attribute) and _patches(target)]
    assert not patched, "components patched after construction:\n" + "\n".join(patched)


def test_the_cli_is_an_api_client_never_a_database_client() -> None:
    """The CLI reaches state through the running server's API; the server itself (and with it
    the database) is imported only by ``cove up``, which runs it in the foreground."""
    cli = [i for i in runtime_imports() if _under(i.module, "cove.cli")]
    bad = [i for i in cli if _under(i.target, "cove.meta") or _under(i.target, "sqlalchemy")
           or (_under(i.target, "cove.server") and i.function != "up")]
    assert not bad, _broken("the CLI must not open the database or build the server", bad)
