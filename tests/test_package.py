"""The package documents itself: every module and subpackage of waelib is named in the
waelib docstring and in the README's module map."""
import pkgutil
from pathlib import Path

import waelib

ROOT = Path(__file__).resolve().parent.parent


def _modules():
    """The top-level modules and packages, and every module of the course, the studies and the
    objectives (the layers a newcomer reads the map for)."""
    top = [m.name for m in pkgutil.iter_modules(waelib.__path__) if not m.name.startswith("_")]
    subs = [f"{pkg}.{m.name}" for pkg in ("course", "studies", "objectives")
            for m in pkgutil.iter_modules([str(ROOT / "waelib" / pkg)]) if not m.name.startswith("_")]
    return sorted(top + [s for s in subs if not s.startswith("objectives.")])


def test_every_module_is_listed_in_the_package_docstring_and_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing_doc = [m for m in _modules() if f":mod:`waelib.{m}`" not in waelib.__doc__]
    missing_readme = [m for m in _modules() if f"`waelib.{m}`" not in readme]
    assert not missing_doc, f"add to waelib/__init__.py's docstring: {missing_doc}"
    assert not missing_readme, f"add to the README's module map: {missing_readme}"


def test_no_module_is_much_over_600_lines():
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "waelib").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 650}
    assert not long, f"split these modules along their seams: {long}"


def test_readme_tells_a_newcomer_what_issue_11_found_missing():
    """Issue #11 item 15: a rerun reuses runs/<profile> and retrain trains again; data_root is the
    folder that contains celeba/; how large .venv is (measured, in the timings block); the TensorBoard
    command."""
    readme = (ROOT / "README.md").read_text()
    for needle in ("runs/<profile>/<model>", "-p retrain True", "*contains* `celeba/`",
                   "the size `.venv` then takes on disk", "tensorboard --logdir"):
        assert needle in readme, needle


# --------------------------------------------------------------------------------------
# Layers: the core library, the course and the studies (issue: one objective per model)
# --------------------------------------------------------------------------------------
import ast  # noqa: E402


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path):
    """(imported waelib module, line, in a function, names, source line) of every import in path."""
    name = _module_name(path)
    is_pkg = path.name == "__init__.py"
    src = path.read_text()
    lines = src.splitlines()
    tree = ast.parse(src)
    in_function = {id(sub) for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for sub in ast.walk(node) if isinstance(sub, (ast.Import, ast.ImportFrom))}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = []
            for a in node.names:
                sub = f"{mod}.{a.name}"
                is_module = (ROOT / Path(*sub.split("."))).with_suffix(".py").is_file() or \
                    (ROOT / Path(*sub.split(".")) / "__init__.py").is_file()
                targets.append((sub, []) if is_module else (mod, [a.name]))
        else:
            continue
        for mod, names in targets:
            if mod.split(".")[0] == "waelib":
                yield mod, node.lineno, id(node) in in_function, names, lines[node.lineno - 1]


def _graph():
    graph = {}
    for path in sorted((ROOT / "waelib").rglob("*.py")):
        graph[_module_name(path)] = {m for m, *_ in _imports(path)} - {_module_name(path)}
    return graph


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ("course", "studies") else "core"


def test_the_core_imports_neither_the_course_nor_the_studies_and_the_course_not_the_studies():
    """Arrows point down only: studies -> course -> core (module- and function-level imports)."""
    allowed = {"core": {"core"}, "course": {"core", "course"}, "studies": {"core", "course", "studies"}}
    bad = sorted(f"{a} -> {b}" for a, targets in _graph().items() for b in targets
                 if a != "waelib" and _layer(b) not in allowed[_layer(a)])
    assert not bad, bad


def test_there_is_no_import_cycle():
    """No cycle among waelib's modules, counting imports inside functions too."""
    graph = _graph()
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):                     # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_no_private_name_is_imported_across_modules():
    bad = [f"{path.relative_to(ROOT)}:{line} {n}" for path in (ROOT / "waelib").rglob("*.py")
           for _, line, _, names, _ in _imports(path) for n in names if n.startswith("_")]
    assert not bad, bad


def test_function_level_imports_say_why():
    """An import inside a function (a heavy or optional dependency) says why in a comment."""
    bad = []
    for path in (ROOT / "waelib").rglob("*.py"):
        src = path.read_text().splitlines()
        tree = ast.parse("\n".join(src))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for sub in ast.walk(node):
                    if isinstance(sub, (ast.Import, ast.ImportFrom)):
                        here, k = src[sub.lineno - 1], sub.lineno - 2
                        while k > 0 and src[k].strip().startswith(("import ", "from ")):
                            k -= 1              # the comment may head a block of deferred imports
                        above = src[k]
                        if "deferred" not in here and not (above.strip().startswith("#") and "deferred" in above):
                            bad.append(f"{path.relative_to(ROOT)}:{sub.lineno}: {here.strip()}")
    assert not bad, bad


def test_no_module_is_imported_under_a_single_letter():
    """``from waelib import evaluate``, never ``as E`` (library, tests, notebooks, scripts)."""
    bad = []
    for folder in ("waelib", "tests", "notebooks", "scripts", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    bad += [f"{path.relative_to(ROOT)}:{node.lineno} as {a.asname}" for a in node.names
                            if a.asname and len(a.asname) == 1]
    assert not bad, bad


def test_no_function_is_much_over_60_lines_without_saying_why():
    """Small functions; a long one states its reason ("Long on purpose: ...") in its body."""
    bad = []
    for path in (ROOT / "waelib").rglob("*.py"):
        src = path.read_text()
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = "\n".join(src.splitlines()[node.lineno - 1:node.end_lineno])
                code = node.end_lineno - (node.body[1] if ast.get_docstring(node) and len(node.body) > 1
                                          else node.body[0]).lineno + 1
                if code > 65 and "Long on purpose" not in body:
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({code} lines)")
    assert not bad, bad
