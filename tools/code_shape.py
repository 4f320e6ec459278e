"""The shape of dnallm's code: each module's lines and what it owns, the largest module, the longest functions.

    python tools/code_shape.py            # the tree of dnallm/ and the figures
    python tools/code_shape.py --top 10   # the ten longest functions and classes

Lines are physical lines of the file (docstrings and comments included); a function's or class's length runs
from its ``def``/``class`` line to its last line.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "dnallm"


def summary(tree: ast.Module) -> str:
    doc = ast.get_docstring(tree) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=5, help="how many of the longest functions/classes to list")
    args = parser.parse_args()
    modules, defs = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        name = path.relative_to(PACKAGE.parent).as_posix()
        modules.append((name, len(text.splitlines()), summary(tree)))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                kind = "class" if isinstance(node, ast.ClassDef) else "def"
                defs.append((node.end_lineno - node.lineno + 1, f"{name}:{node.lineno}", kind, node.name))
    width = max(len(m[0]) for m in modules)
    for name, lines, doc in modules:
        print(f"{name:<{width}} {lines:>4}  {doc[:100]}")
    largest = max(modules, key=lambda m: m[1])
    functions = sorted((d for d in defs if d[2] == "def"), reverse=True)
    classes = {d[3]: d for d in defs if d[2] == "class"}
    print(f"\n{len(modules)} modules, {sum(m[1] for m in modules):,} lines; largest: {largest[0]} ({largest[1]} lines)")
    print(f"longest function: {functions[0][3]} at {functions[0][1]} ({functions[0][0]} lines)")
    if "DNAInference" in classes:
        print(f"DNAInference: {classes['DNAInference'][0]} lines (class); "
              f"{next(m[1] for m in modules if m[0] == 'dnallm/inference.py')} lines (dnallm/inference.py)")
    print("\nlongest functions and classes:")
    for length, where, kind, name in sorted(defs, reverse=True)[: args.top]:
        print(f"  {length:>4}  {kind:<5} {name:<28} {where}")


if __name__ == "__main__":
    main()
