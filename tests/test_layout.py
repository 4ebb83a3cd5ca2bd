"""The layout meta-test (issue 5, section 7): every registered method is complete and where it belongs.

For every id of ``spec.all_specs()``: a reference and an accelerated function at
``reference.<family>.<id>`` / ``accelerated.<family>.<id>`` whose signatures are the spec's, defined in
the group module of the same name as the spec's (``spec.<family>.<group>`` -> ``<layer>.<family>.<group>``,
and ``conformance/cases``, ``conformance/mutants``, ``tests/<family>/test_<group>.py``); a case strategy
whose draws the reference accepts; at least two real mutants; a committed golden file; a catalogue row;
the papers cited in the reference docstring; no scaffolding marker left. And for the layout as a whole:
``__all__`` of every family package is the family's registered ids, no group module over 1,000 lines,
importing ``reference``/``accelerated`` does not import SymPy, one ``Array`` type in ``accelerated/``.
"""

from __future__ import annotations

import csv
import importlib
import inspect
import json
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis.errors import NoSuchExample, Unsatisfiable

import spec
from conformance.checks import invoke
from conformance.mutants import mutants_for
from conformance.scaffold import MARK
from conformance.strategies import Case, cases
from spec.model import MethodSpec

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT.parent / "shared" / "catalog" / "methods.csv"
LAYERS = ("reference", "accelerated")
MAX_GROUP_LINES = 1000

#: Registered ids that are not catalogue rows, each with the reason (issue 8: every registry entry of the
#: trainers, so that "which one is right?" has an audited answer).
PEER_ONLY: dict[str, str] = {
    "gae_advantages": "verl 0.9.1 advantage estimator 'gae' (GAE, arXiv 1506.02438)",
    "rloo_advantages": "verl 0.9.1 advantage estimators 'rloo' / 'rloo_vectorized' (RLOO, arXiv 2402.14740)",
    "reinforce_plus_plus_advantages": "verl 0.9.1 'reinforce_plus_plus' and its baseline variant (arXiv 2501.03262)",
    "remax_advantages": "verl 0.9.1 advantage estimator 'remax' (ReMax, arXiv 2310.10505)",
    "opo_advantages": "verl 0.9.1 advantage estimator 'opo' (OPO, arXiv 2505.23585)",
    "grpo_passk_advantages": "verl 0.9.1 advantage estimator 'grpo_passk' (arXiv 2503.19595)",
}
#: Public names of ``reference.<family>`` / ``accelerated.<family>`` that are not method ids. Empty today.
HELPERS: dict[str, set[str]] = {}

SPECS = list(spec.all_specs())
IDS = [s.id for s in SPECS]


def _spec(method_id: str) -> MethodSpec:
    return spec.get(method_id)


def _fn(layer: str, s: MethodSpec) -> Callable[..., Any]:
    module = importlib.import_module(f"{layer}.{s.family}")
    fn = getattr(module, s.id, None)
    assert callable(fn), f"{layer}.{s.family}.{s.id} does not exist"
    return fn  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- where each spec is registered

_REGISTERED_IN = r"""
import importlib.util, json, sys
pkg_spec = importlib.util.find_spec("spec")
pkg = importlib.util.module_from_spec(pkg_spec)
sys.modules["spec"] = pkg              # the package object exists, its __init__ (which loads families) not yet run
import spec.registry as registry
where = {}
original = registry.register
def register(s):
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == "spec" and not parts[2].startswith("_"):
            break
        frame = frame.f_back
    where[s.id] = name if frame is not None else None
    return original(s)
registry.register = register
pkg_spec.loader.exec_module(pkg)      # now discover the families: every group imports the patched register
print(json.dumps(where))
"""


@pytest.fixture(scope="module")
def spec_modules() -> dict[str, str | None]:
    """id -> the ``spec.<family>.<group>`` module whose code registered it (found in a fresh interpreter)."""
    done = subprocess.run([sys.executable, "-c", _REGISTERED_IN], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    table: dict[str, str | None] = json.loads(done.stdout.strip().splitlines()[-1])
    return table


def _group(spec_modules: dict[str, str | None], s: MethodSpec) -> str:
    module = spec_modules.get(s.id)
    assert module is not None, f"{s.id}: not registered from a group module spec.{s.family}.<group>"
    _, family, group = module.split(".")
    assert family == s.family, f"{s.id}: registered in {module}, but its family is {s.family!r}"
    return group


# --------------------------------------------------------------------------- per method


def _expected_parameters(s: MethodSpec) -> list[tuple[str, Any, Any]]:
    """(name, kind, default) of the spec's calling convention, from the fields ``signature()`` renders."""
    empty = inspect.Parameter.empty
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    keyword = inspect.Parameter.KEYWORD_ONLY
    out: list[tuple[str, Any, Any]] = []
    out += [(i.name, positional, empty) for i in s.inputs if i.positional and not i.optional]
    out += [(p.name, positional, empty if p.required else p.default) for p in s.params if p.positional]
    out += [(i.name, keyword, None) for i in s.inputs if not (i.positional and not i.optional)]
    out += [(p.name, keyword, empty if p.required else p.default) for p in s.params if not p.positional]
    return out


def _render(method_id: str, sig: inspect.Signature) -> str:
    """``sig`` written the way :meth:`MethodSpec.signature` writes a spec (positional defaults omitted)."""
    pos = [n for n, p in sig.parameters.items() if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    kw = [f"{n}={p.default!r}" for n, p in sig.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    return f"{method_id}({', '.join(pos)}{', *, ' + ', '.join(kw) if kw else ''})"


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("method_id", IDS)
def test_function_exists_with_the_spec_signature(method_id: str, layer: str) -> None:
    s = _spec(method_id)
    sig = inspect.signature(_fn(layer, s))
    assert _render(s.id, sig) == s.signature(), f"{layer}.{s.family}.{s.id}{sig} does not render as {s.signature()}"
    got = [(n, p.kind, p.default) for n, p in sig.parameters.items()]
    assert got == _expected_parameters(s), f"{layer}.{s.family}.{s.id}: parameters (name, kind, default) {got}"


@pytest.mark.parametrize("method_id", IDS)
def test_same_group_in_every_layer(method_id: str, spec_modules: dict[str, str | None]) -> None:
    s = _spec(method_id)
    group = _group(spec_modules, s)
    for layer in LAYERS:
        module = _fn(layer, s).__module__
        assert module == f"{layer}.{s.family}.{group}", f"{s.id}: {layer} function in {module}, spec in {group!r}"
    for package, attribute in (("conformance.cases", "CASES"), ("conformance.cases", "CURATED"),
                               ("conformance.mutants", "MUTANTS")):
        owners = _owners(package, attribute, s.id)
        assert owners in ([], [f"{package}.{s.family}.{group}"]), (
            f"{s.id}: {attribute} entry in {owners}, expected {package}.{s.family}.{group}")


@pytest.mark.parametrize("method_id", IDS)
def test_test_module_of_the_group(method_id: str, spec_modules: dict[str, str | None]) -> None:
    s = _spec(method_id)
    group = _group(spec_modules, s)
    tests = ROOT / "tests" / s.family
    assert (tests / f"test_{group}.py").is_file() or list(tests.glob(f"test_{group}_*.py")), (
        f"{s.id}: no tests/{s.family}/test_{group}.py")


def _owners(package: str, attribute: str, method_id: str) -> list[str]:
    import pkgutil

    root = importlib.import_module(package)
    found = []
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        if method_id in getattr(importlib.import_module(info.name), attribute, {}):
            found.append(info.name)
    return found


def _accepted_by_reference(s: MethodSpec) -> Callable[[Case], bool]:
    fn = _fn("reference", s)

    def accepted(case: Case) -> bool:
        try:
            invoke(fn, s, case.inputs, case.params)
        except Exception:
            return False
        return True

    return accepted


@pytest.mark.parametrize("method_id", IDS)
def test_case_strategy_draws_a_case_the_reference_accepts(method_id: str) -> None:
    s = _spec(method_id)
    try:
        find(cases(s, "float64"), _accepted_by_reference(s),
             settings=settings(max_examples=50, derandomize=True, database=None, phases=(Phase.generate,),
                               suppress_health_check=list(HealthCheck)))
    except (NoSuchExample, Unsatisfiable) as exc:
        case = find(cases(s, "float64"), lambda c: True, settings=settings(database=None, derandomize=True))
        try:
            invoke(_fn("reference", s), s, case.inputs, case.params)
        except Exception as error:
            reason = f"{type(error).__name__}: {error}"
        else:  # pragma: no cover - the first draw was accepted after all
            reason = "?"
        raise AssertionError(f"{s.id}: no drawn float64 case is accepted by the reference ({reason})") from exc


@pytest.mark.parametrize("method_id", IDS)
def test_at_least_two_mutants(method_id: str) -> None:
    mutants = mutants_for(method_id)
    assert len(mutants) >= 2, f"{method_id}: {len(mutants)} mutants (at least two per method)"
    placeholders = [m.name for m in mutants if MARK in m.description]
    assert not placeholders, f"{method_id}: placeholder mutants {placeholders} are not mutants"


def _committed(path: Path) -> bool:
    if not (ROOT / ".git").exists() or shutil.which("git") is None:
        return True  # not a git checkout (an sdist): existence is all that can be checked
    done = subprocess.run(["git", "ls-files", "--error-unmatch", str(path.relative_to(ROOT))], cwd=ROOT,
                          capture_output=True, check=False)
    return done.returncode == 0


@pytest.mark.parametrize("method_id", IDS)
def test_committed_golden_file(method_id: str) -> None:
    s = _spec(method_id)
    path = ROOT / "golden" / s.family / f"{s.id}.json"
    assert path.is_file(), f"{s.id}: no golden file golden/{s.family}/{s.id}.json"
    assert _committed(path), f"{s.id}: golden/{s.family}/{s.id}.json is not committed"


def _catalogue_ids() -> set[str]:
    if not CATALOG.is_file():
        pytest.skip(f"no catalogue at {CATALOG}")
    with CATALOG.open(newline="") as fh:
        return {row["id"] for row in csv.DictReader(fh)}


def _merged_aliases(family: str, method_id: str) -> set[str]:
    """The ids ``<family>.md`` lists as "Aliases merged here" in the section of ``method_id``."""
    path = CATALOG.parent / f"{family}.md"
    if not path.is_file():
        return set()
    section = re.search(rf"^## `{re.escape(method_id)}`\s*$(.*?)(?=^## |\Z)", path.read_text(), re.M | re.S)
    lines = re.findall(r"\*\*Aliases merged here:\*\*(.*)", section.group(1)) if section else []
    return {name for line in lines for name in re.findall(r"`([a-z0-9_]+)`", line)}


@pytest.mark.parametrize("method_id", IDS)
def test_catalogue_row(method_id: str) -> None:
    s = _spec(method_id)
    ids = _catalogue_ids()
    stray = [a for a in s.aliases if a not in ids and a not in _merged_aliases(s.family, s.id)]
    assert not stray, f"{s.id}: aliases {stray} are neither catalogue ids nor merged aliases in {s.family}.md"
    assert s.id in ids or s.aliases or s.id in PEER_ONLY, f"{s.id}: no row in {CATALOG} and no alias covering one"


def _flat(text: str) -> str:
    return " ".join(text.split()).casefold()


@pytest.mark.parametrize("method_id", IDS)
def test_reference_docstring_cites_the_papers(method_id: str) -> None:
    s = _spec(method_id)
    doc = _flat(inspect.getdoc(_fn("reference", s)) or "")
    for paper in s.papers:
        assert _flat(paper.title) in doc, f"reference.{s.family}.{s.id}: docstring does not cite {paper.title!r}"
        if paper.arxiv:
            assert paper.arxiv in doc, f"reference.{s.family}.{s.id}: docstring lacks arXiv:{paper.arxiv}"


@pytest.mark.parametrize("method_id", IDS)
def test_no_scaffolding_left(method_id: str) -> None:
    """``entropy-atlas new`` stubs carry the marker: a scaffolded method cannot pass for a finished one."""
    s = _spec(method_id)
    assert s.provenance.checked_against.strip(), f"{s.id}: provenance.checked_against is empty"
    texts = {"summary": s.summary, "provenance.notes": s.provenance.notes,
             "inputs": " ".join(i.doc for i in s.inputs), "outputs": " ".join(o.doc for o in s.outputs)}
    for layer in LAYERS:
        texts[f"{layer} function"] = inspect.getsource(_fn(layer, s))
    left = [where for where, text in texts.items() if MARK in text]
    assert not left, f"{s.id}: still a scaffold ({MARK} in {', '.join(left)})"


# --------------------------------------------------------------------------- the layout as a whole


def test_families_are_the_same_in_every_layer() -> None:
    from spec.discovery import family_names

    registered = sorted({s.family for s in SPECS})
    for layer in ("spec", *LAYERS):
        assert family_names(layer) == registered, f"{layer}: families {family_names(layer)} != {registered}"


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("family", sorted({s.family for s in SPECS}))
def test_family_all_is_the_registered_ids(layer: str, family: str) -> None:
    module = importlib.import_module(f"{layer}.{family}")
    ids = {s.id for s in SPECS if s.family == family}
    public = set(module.__all__)
    assert public == ids | HELPERS.get(f"{layer}.{family}", set()), (
        f"{layer}.{family}.__all__: missing {sorted(ids - public)}, not registered {sorted(public - ids)}")


def _group_files() -> list[Path]:
    files = []
    for layer in ("spec", "reference", "accelerated", "conformance/cases", "conformance/mutants"):
        for path in sorted((ROOT / layer).glob("*/*.py")):
            if not path.name.startswith("_"):
                files.append(path)
    return files


@pytest.mark.parametrize("path", _group_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_group_module_size(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_GROUP_LINES, f"{path.relative_to(ROOT)}: {lines} lines (at most {MAX_GROUP_LINES})"


def test_tests_folders_have_no_init() -> None:
    stray = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("__init__.py"))
    assert not stray, f"tests run with --import-mode=importlib; remove {stray}"


def test_importing_reference_and_accelerated_does_not_import_sympy() -> None:
    code = textwrap.dedent("""
        import sys
        import reference, accelerated
        loaded = sorted(m for m in sys.modules if m == "sympy" or m.startswith("sympy."))
        print(len(loaded))
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0", f"importing reference, accelerated imported {done.stdout.strip()} sympy modules"


def test_one_array_type_in_accelerated() -> None:
    pattern = re.compile(r"^\s*Array\s*(:[^=\n]*)?=", re.M)
    found = [f"{p.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}"
             for p in sorted((ROOT / "accelerated").rglob("*.py"))
             for text in [p.read_text()] for m in pattern.finditer(text)]
    assert len(found) == 1, f"Array is defined {len(found)} times in accelerated/: {found}"
