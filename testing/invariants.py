#!/usr/bin/env python3
"""The invariants ARCHITECTURE.md promises that a machine can check.

1. No import cycle between the top-level modules of src/. Every
   `crate::MODULE` a file under src/MODULE/ (or src/MODULE.rs) mentions is an
   edge MODULE -> that module. Each strongly connected group of more than one
   module is printed with one file:line for every edge inside it;
   `--graph` prints every edge.
2. No I/O in the pure modules (PURE below): no file, network, process,
   store, runtime or host access, no `.await`; the lifecycle and the opening
   rules do not read a clock either (the engine passes the time in).

3. ARCHITECTURE.md stays true to the tree: every `src/…` path it names
   exists, every top-level module has its place in it, and every source file
   of src/ and testbed/ is in its code map (its path anywhere, or its name in
   the section of its folder: `engine.rs` under `### src/recovery/`).

Test code (`#[cfg(test)]` items, `*_tests.rs`) and src/bin/ are left out:
they sit on top of all. Exits 1 when an invariant does not hold.
"""
import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
MENTION = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")


def top_modules():
    with open(os.path.join(SRC, "lib.rs")) as f:
        return re.findall(r"^pub mod ([a-z_0-9]+);", f.read(), re.M)


def files_of(module):
    single = os.path.join(SRC, module + ".rs")
    if os.path.exists(single):
        yield single
    folder = os.path.join(SRC, module)
    for root, _, names in os.walk(folder):
        for name in sorted(names):
            if name.endswith(".rs") and not name.endswith("_tests.rs"):
                yield os.path.join(root, name)


# Files whose module documentation promises no I/O, and what that rules out.
IO = [r"std::fs", r"std::net", r"std::process", r"\btokio\b", r"\breqwest\b", r"\brusqlite\b",
      r"\.await\b", r"crate::host\b", r"crate::store::records", r"std::env::var"]
CLOCK = [r"::now\(\)", r"\.elapsed\(\)"]
PURE = {
    "src/recovery/lifecycle.rs": IO + CLOCK,
    "src/recovery/opening.rs": IO + CLOCK,
    "src/recovery/catch_up.rs": IO + CLOCK,
    "src/recovery/guards.rs": IO,
    "src/recovery/policy.rs": IO,
    "src/recovery/actions.rs": IO,
    "src/recovery/state.rs": IO,
    "src/health/node.rs": IO,
    "src/notify/compose.rs": IO,
    "src/monitor/jmx/checks.rs": IO,
    "src/ha/term.rs": IO + CLOCK,
    "src/ha/opinion.rs": IO + CLOCK,
}


def code_lines(path):
    """(line number, code) of a file's non-test code, comments removed."""
    with open(path) as f:
        lines = f.read().split("\n")
    skip = 0  # brace depth inside a `#[cfg(test)]` item, or -1 right after the attribute
    for i, line in enumerate(lines, 1):
        code = line.split("//")[0]
        if skip:
            if skip == -1 and code.strip().endswith(";") and "{" not in code:
                skip = 0  # `mod tests;` in a file of its own (`*_tests.rs`, left out)
                continue
            depth = (0 if skip == -1 else skip) + code.count("{") - code.count("}")
            skip = depth if depth > 0 else (-1 if skip == -1 and "{" not in code else 0)
            continue
        if line.strip().startswith("#[cfg(test)]"):
            skip = -1
            continue
        if code.strip():
            yield i, code


def impure():
    root = os.path.join(SRC, "..")
    found = []
    for rel, patterns in sorted(PURE.items()):
        for i, code in code_lines(os.path.join(root, rel)):
            for p in patterns:
                if re.search(p, code):
                    found.append(f"{rel}:{i}: `{code.strip()}` ({p!r} in a module documented as pure)")
    return found


def map_drift(modules):
    root = os.path.join(SRC, "..")
    with open(os.path.join(root, "ARCHITECTURE.md")) as f:
        text = f.read()
    found = []
    for path in sorted(set(re.findall(r"`?(src/[A-Za-z0-9_./-]+)", text))):
        path = path.rstrip(".")
        if not os.path.exists(os.path.join(root, path)):
            found.append(f"ARCHITECTURE.md names {path}, which does not exist")
    for m in modules:
        if f"src/{m}.rs" not in text and f"src/{m}/" not in text:
            found.append(f"ARCHITECTURE.md has no place for the top-level module `{m}` (src/{m}.rs or src/{m}/)")
    # Each `### ` section of the code map, by the folders its heading names.
    sections = {}
    for part in re.split(r"^### ", text, flags=re.M)[1:]:
        heading, _, body = part.partition("\n")
        for folder in re.findall(r"`((?:src|testbed)/[A-Za-z0-9_/]*/)`", heading):
            sections[folder] = sections.get(folder, "") + body
    for top in ("src", "testbed"):
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for name in sorted(n for n in names if n.endswith(".rs")):
                rel = os.path.relpath(os.path.join(dirpath, name), root)
                if rel.startswith("src/bin/") or name.endswith("_tests.rs") or rel in text:
                    continue
                # Named in the section of its folder, or of a folder above it;
                # a folder's `mod.rs` / `lib.rs` is its section.
                parts = rel.split("/")
                above = ["/".join(parts[:i]) + "/" for i in range(1, len(parts))]
                named = any(
                    re.search(r"\b" + re.escape(name) + r"\b", sections.get(folder, ""))
                    or (name in ("mod.rs", "lib.rs") and folder == above[-1] and folder in sections)
                    for folder in above
                )
                if not named:
                    found.append(f"ARCHITECTURE.md's code map does not name {rel}")
    return found


def edges(modules):
    found = {}
    for m in modules:
        for path in files_of(m):
            for i, line in code_lines(path):
                for target in MENTION.findall(line):
                    if target != m and target in modules:
                        found.setdefault((m, target), f"{os.path.relpath(path, os.path.join(SRC, '..'))}:{i}")
    return found


def groups(modules, found):
    """Tarjan's strongly connected components."""
    graph = {m: sorted({b for (a, b) in found if a == m}) for m in modules}
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    sys.setrecursionlimit(10000)
    for m in modules:
        if m not in index:
            visit(m)
    return out


def main():
    modules = top_modules()
    found = edges(modules)
    if "--graph" in sys.argv:
        for (a, b), where in sorted(found.items()):
            print(f"{a} -> {b}  ({where})")
    cycles = groups(modules, found)
    for group in cycles:
        print(f"import cycle between {len(group)} top-level modules: {', '.join(group)}")
        for (a, b), where in sorted(found.items()):
            if a in group and b in group:
                print(f"  {a} -> {b}  ({where})")
    problems = impure() + map_drift(modules)
    for p in problems:
        print(p)
    if cycles or problems:
        sys.exit(1)
    print(f"no import cycle between the {len(modules)} top-level modules of src/; "
          f"no I/O in the {len(PURE)} pure modules; ARCHITECTURE.md names every module and only files that exist")


if __name__ == "__main__":
    main()
