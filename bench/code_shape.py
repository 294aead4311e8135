"""The shape of the production code at a git revision (issue 17's before/after figures): how many
modules, their median and largest size, and the largest functions.

    python3 -m uv run --frozen python -m bench.code_shape [REV ...]   # default: HEAD

Production code is every .py under schemas/, infra/, services/ and stack/ (tests and benches
aside); a module's size is its lines that are neither blank nor comments, a function's its
lines from `def` to its last statement (docstring included).
"""

from __future__ import annotations

import argparse
import ast
import statistics
import subprocess
from dataclasses import dataclass

ROOTS = ("schemas/", "infra/", "services/", "stack/")


@dataclass(frozen=True)
class Shape:
    rev: str
    modules: int
    median_lines: float
    largest_modules: list[tuple[int, str]]
    largest_functions: list[tuple[int, str]]


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


def code_lines(source: str) -> int:
    """Lines that are neither blank nor a comment."""
    return sum(
        1 for line in source.splitlines() if line.strip() and not line.strip().startswith("#")
    )


def functions(source: str, path: str) -> list[tuple[int, str]]:
    """(lines, 'path:name') of every function and method, nested ones too."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno:
            found.append((node.end_lineno - node.lineno + 1, f"{path}:{node.name}"))
    return found


def shape(rev: str, top: int = 8) -> Shape:
    paths = [
        p
        for p in _git("ls-tree", "-r", "--name-only", rev).split()
        if p.endswith(".py") and p.startswith(ROOTS)
    ]
    sizes: list[tuple[int, str]] = []
    funcs: list[tuple[int, str]] = []
    for path in paths:
        source = _git("show", f"{rev}:{path}")
        sizes.append((code_lines(source), path))
        funcs += functions(source, path)
    return Shape(
        rev=_git("rev-parse", "--short", rev).strip(),
        modules=len(sizes),
        median_lines=statistics.median(n for n, _ in sizes),
        largest_modules=sorted(sizes, reverse=True)[:top],
        largest_functions=sorted(funcs, reverse=True)[:top],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("revs", nargs="*", default=["HEAD"])
    for rev in parser.parse_args().revs:
        s = shape(rev)
        print(f"## {rev} ({s.rev}): {s.modules} modules, median {s.median_lines:g} code lines")
        print("largest modules: " + ", ".join(f"{p} {n}" for n, p in s.largest_modules))
        print("largest functions: " + ", ".join(f"{p} {n}" for n, p in s.largest_functions))


if __name__ == "__main__":
    main()
