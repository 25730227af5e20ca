"""Data flows one way: the import graph of `dca_pipeline`, read with `ast` (imports inside functions included).

Fails on any import circle, on any import of a higher layer, on a ground-floor module (config, money, paths)
importing anything of the package, and on settings read at import time (module-level code calling
`cached_settings` / `load_settings` / `Settings(...)` or reading `os.environ` / `os.getenv`, directly or through a
package function that does; ALLOWED_AT_IMPORT names the exceptions). The layer order is the README's `## Architecture`.
"""
from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "dca_pipeline"

# Low → high. A module may import its own layer and lower ones, never a higher one (not even inside a function).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("ground", ("config", "money", "paths", "secrets", "metadata", "partitions", "resources", "layers", "recovery", "event_storage", "charts")),
    ("storage", ("storage",)),
    ("quality", ("quality",)),  # Great Expectations suites and their runner (used by every layer's gx_checks)
    ("governance", ("governance",)),
    ("ingestion", ("ingestion",)),
    ("analytics", ("analytics",)),
    ("intelligence", ("intelligence",)),
    ("portfolio", ("portfolio",)),
    ("execution", ("execution",)),
    ("backtest", ("backtest",)),
    ("monitoring", ("monitoring",)),
    ("top", ("definitions", "cli", "demo", "runner", "backfills", "")),  # "" = the package's own __init__
]
STRICT_GROUND = ("config", "money", "paths", "charts")  # import nothing else of the package at all
SETTINGS_LOADERS = {"cached_settings", "load_settings", "Settings"}
# Package functions that read the environment and may run at import, with the reason. Nothing else may.
ALLOWED_AT_IMPORT = {
    "config:env_tags": "job tags name the deployment ($DCA_ENV), like DAGSTER_HOME; Dagster job tags are static",
}


@dataclass
class Module:
    name: str  # dotted, relative to the package ("execution.orders"; "" for the package itself)
    tree: ast.Module
    is_package: bool
    imports: set[str] = field(default_factory=set)


def load_modules(package_dir: Path) -> dict[str, Module]:
    out = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        out[".".join(parts)] = Module(".".join(parts), ast.parse(path.read_text(), str(path)), is_package)
    pkg = package_dir.name
    for mod in out.values():
        mod.imports = _imports(mod, pkg, out)
    return out


def _imports(mod: Module, pkg: str, modules: dict[str, Module]) -> set[str]:
    """Package modules `mod` imports anywhere in its body (relative to the package)."""
    def resolve(dotted: str) -> str | None:
        if dotted != pkg and not dotted.startswith(pkg + "."):
            return None
        rel = dotted[len(pkg) + 1:]
        while rel and rel not in modules:
            rel = rel.rpartition(".")[0]
        return rel

    found: set[str] = set()
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Import):
            found.update(r for a in node.names if (r := resolve(a.name)) is not None)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ([pkg] + mod.name.split(".") if mod.name else [pkg])
                base = base if mod.is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                r = resolve(f"{target}.{alias.name}")  # `from pkg.layer import module` names a module
                if r is not None:
                    found.add(r)
        elif isinstance(node, ast.Call) and _call_name(node) == "import_module" and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            r = resolve(node.args[0].value)
            if r is not None:
                found.add(r)
    found.discard(mod.name)
    return found


def _call_name(node: ast.Call) -> str | None:
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def layer_of(name: str, layers: list[tuple[str, tuple[str, ...]]] = LAYERS) -> int | None:
    best, best_len = None, -1
    for i, (_, prefixes) in enumerate(layers):
        for p in prefixes:
            if (name == p or name.startswith(p + ".") or p == "") and len(p) > best_len:
                if p == "" and name != "":
                    continue
                best, best_len = i, len(p)
    return best


def circles(modules: dict[str, Module]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(modules[v].imports):
            if w not in modules:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for name in sorted(modules):
        if name not in index:
            visit(name)
    return out


def upward_imports(modules: dict[str, Module], layers=LAYERS, strict=STRICT_GROUND) -> list[str]:  # noqa: ANN001
    out = []
    for mod in modules.values():
        own = layer_of(mod.name, layers)
        if own is None:
            out.append(f"{mod.name} belongs to no layer: add it to LAYERS and to the README's Architecture")
            continue
        for dep in sorted(mod.imports):
            if mod.name in strict:
                out.append(f"{mod.name} (ground floor) imports {dep}")
            elif (layer_of(dep, layers) or 0) > own:
                out.append(f"{mod.name} ({layers[own][0]}) imports {dep} ({layers[layer_of(dep, layers)][0]})")
    return out


def _import_time_nodes(tree: ast.Module | ast.FunctionDef | ast.AsyncFunctionDef):  # noqa: ANN202
    """Nodes that run when the module is imported (or, given a function, when it is called): everything except
    the bodies of functions defined inside (decorators, default arguments and class bodies do run)."""
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            todo.extend(node.decorator_list)
            todo.extend(node.args.defaults)
            todo.extend(d for d in node.args.kw_defaults if d is not None)
        elif isinstance(node, ast.Lambda):
            todo.extend(node.args.defaults)
        elif isinstance(node, ast.If) and ast.unparse(node.test) in ("__name__ == '__main__'", "'__main__' == __name__"):
            continue  # runs as a script, not on import
        else:
            todo.extend(ast.iter_child_nodes(node))


def _reads_env(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") and isinstance(node.value, ast.Name) \
            and node.value.id == "os":
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getenv"


def settings_reads_at_import(modules: dict[str, Module], pkg: str, allowed: dict[str, str] | None = None) -> list[str]:
    """Module-level code that loads the settings (directly or through a package function that does) or reads
    os.environ."""
    # 1. which package functions load settings, transitively (by the names modules import them under)
    functions: dict[str, ast.AST] = {}
    aliases: dict[str, dict[str, str]] = {}
    for mod in modules.values():
        names: dict[str, str] = {}
        for node in mod.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions[f"{mod.name}:{node.name}"] = node
                names[node.name] = f"{mod.name}:{node.name}"
        for node in ast.walk(mod.tree):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level \
                    and (node.module == pkg or node.module.startswith(pkg + ".")):
                src = node.module[len(pkg) + 1:]
                for alias in node.names:
                    names.setdefault(alias.asname or alias.name, f"{src}:{alias.name}")
        aliases[mod.name] = names
    owner = {key: key.split(":")[0] for key in functions}
    loads: set[str] = set()
    changed = True
    while changed:
        changed = False
        for key, fn in functions.items():
            if key in loads:
                continue
            names = aliases[owner[key]]
            for node in _import_time_nodes(fn):  # a call runs the body, not the functions it defines
                called = _call_name(node) if isinstance(node, ast.Call) else None
                if _reads_env(node) or called in SETTINGS_LOADERS or names.get(called or "") in loads:
                    loads.add(key)
                    changed = True
                    break
    # 2. module-level code
    out = []
    for mod in modules.values():
        names = aliases[mod.name]
        for node in _import_time_nodes(mod.tree):
            if isinstance(node, ast.Call):
                called = _call_name(node)
                target = names.get(called or "")
                if called in SETTINGS_LOADERS or (target in loads and target not in (allowed or {})):
                    out.append(f"{mod.name}:{node.lineno} calls {called}() at import time")
            elif _reads_env(node):
                out.append(f"{mod.name}:{node.lineno} reads os.environ at import time")
    return sorted(set(out))


def violations(package_dir: Path, layers=LAYERS, strict=STRICT_GROUND, allowed=None) -> list[str]:  # noqa: ANN001
    modules = load_modules(package_dir)
    out = [f"import circle: {' -> '.join(c)}" for c in circles(modules)]
    out += upward_imports(modules, layers, strict)
    out += settings_reads_at_import(modules, package_dir.name, allowed)
    return out


# ----------------------------------------------------------------------------------------------- the real package
def test_dca_pipeline_flows_one_way() -> None:
    found = violations(PACKAGE_DIR, allowed=ALLOWED_AT_IMPORT)
    assert found == [], "\n".join(found)


def test_every_allowed_import_time_read_is_still_needed() -> None:
    found = "\n".join(violations(PACKAGE_DIR))
    for key in ALLOWED_AT_IMPORT:
        assert f"calls {key.split(':')[1]}() at import time" in found, f"{key} no longer runs at import: drop it"


def test_every_layer_folder_is_a_known_layer() -> None:
    folders = {p.name for p in PACKAGE_DIR.iterdir() if (p / "__init__.py").exists()}
    known = {prefix for _, prefixes in LAYERS for prefix in prefixes}
    assert folders <= known, folders - known


# ------------------------------------------------------------------------------------- the checker catches each kind
TOY_LAYERS = [("ground", ("config",)), ("low", ("low",)), ("high", ("high",)), ("top", ("",))]


def _toy(tmp_path: Path, files: dict[str, str]) -> Path:
    pkg = tmp_path / "toy"
    for rel, text in {"__init__.py": "", "low/__init__.py": "", "high/__init__.py": "",
                      "config.py": "def cached_settings():\n    return 1\n", **files}.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(textwrap.dedent(text))
    return pkg


def test_clean_toy_package_passes(tmp_path: Path) -> None:
    pkg = _toy(tmp_path, {
        "low/a.py": "from toy.config import cached_settings\n\ndef f():\n    return cached_settings()\n",
        "high/b.py": "from toy.low import a\nfrom toy.low.a import f\n\ndef g():\n    return f()\n",
    })
    assert violations(pkg, TOY_LAYERS, ("config",)) == []


def test_lazy_import_of_a_higher_layer_fails(tmp_path: Path) -> None:
    pkg = _toy(tmp_path, {"low/a.py": "def f():\n    from toy.high.b import g\n    return g\n", "high/b.py": "g = 1\n"})
    assert violations(pkg, TOY_LAYERS, ("config",)) == ["low.a (low) imports high.b (high)"]


def test_circle_fails(tmp_path: Path) -> None:
    pkg = _toy(tmp_path, {"low/a.py": "from toy.low import b\n", "low/b.py": "from . import a\n"})
    assert violations(pkg, TOY_LAYERS, ("config",)) == ["import circle: low.a -> low.b"]


def test_ground_floor_importing_the_package_fails(tmp_path: Path) -> None:
    pkg = _toy(tmp_path, {"config.py": "def cached_settings():\n    from toy.low import a\n    return a\n",
                          "low/a.py": "x = 1\n"})
    assert violations(pkg, TOY_LAYERS, ("config",)) == ["config (ground floor) imports low.a"]


@pytest.mark.parametrize("code, expected", [
    ("from toy.config import cached_settings\nS = cached_settings()\n", "low.a:2 calls cached_settings() at import time"),
    # through a package function, in a decorator argument
    ("from toy.config import cached_settings\n\ndef tz():\n    return cached_settings()\n\n"
     "def deco(x):\n    return lambda f: f\n\n@deco(tz())\ndef job():\n    pass\n", "low.a:9 calls tz() at import time"),
    ("import os\nHOME = os.environ.get('X')\n", "low.a:2 reads os.environ at import time"),
    # the environment through a package function
    ("import os\n\ndef home():\n    return os.getenv('X')\n\nHOME = home()\n", "low.a:6 calls home() at import time"),
    ("class C:\n    from toy.config import cached_settings\n    s = cached_settings()\n",
     "low.a:3 calls cached_settings() at import time"),
])
def test_settings_read_at_import_fails(tmp_path: Path, code: str, expected: str) -> None:
    pkg = _toy(tmp_path, {"low/a.py": code})
    assert violations(pkg, TOY_LAYERS, ("config",)) == [expected]


def test_settings_read_inside_a_function_passes(tmp_path: Path) -> None:
    pkg = _toy(tmp_path, {"low/a.py": "import os\nfrom toy.config import cached_settings\n\n"
                                      "def f(default=None):\n    return cached_settings(), os.environ.get('X')\n"})
    assert violations(pkg, TOY_LAYERS, ("config",)) == []


def test_a_factory_whose_inner_function_reads_settings_passes(tmp_path: Path) -> None:
    pkg = _toy(tmp_path, {"low/a.py": "from toy.config import cached_settings\n\ndef make():\n"
                                      "    def check():\n        return cached_settings()\n    return check\n\nCHECK = make()\n"})
    assert violations(pkg, TOY_LAYERS, ("config",)) == []
