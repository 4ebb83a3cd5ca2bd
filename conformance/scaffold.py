"""``entropy-atlas new ID``: scaffold a catalogued method in the right group modules of every layer.

Reads the catalogue row of ``ID`` (``../shared/catalog/methods.csv`` beside the repository root, or
``--catalog PATH``), the papers that list it (``papers.csv``) and the first lines of its section in
``<family>.md``, and writes, in group ``<group>`` of family ``<family>``:

* ``spec/<family>/<group>.py``: a ``MethodSpec`` stub (id, family, kind, summary, papers, provenance with
  the catalogue's confidence and an empty ``checked_against``, placeholder inputs/params/outputs);
* ``reference/<family>/<group>.py`` and ``accelerated/<family>/<group>.py``: functions with the spec's
  signature that raise ``NotImplementedError``, added to the module's ``__all__``;
* ``conformance/cases/<family>/<group>.py``: a ``CASES`` entry (the generic builder) and an empty
  ``CURATED`` entry;
* ``conformance/mutants/<family>/<group>.py``: a ``MUTANTS`` entry with two placeholder mutants;
* ``tests/<family>/test_<group>.py``: a failing placeholder test.

A group module is created when missing, appended to otherwise; a family that does not exist yet gets
its packages (the discovery ``__init__`` of every layer). Every stub carries :data:`MARK`, and
``tests/test_layout.py`` fails for any method that still does (or that has no golden file), so a
scaffolded method cannot pass for a finished one. The group is ``--group NAME`` or derived from the
catalogue ``kind`` (``loss`` -> ``losses``; ``_2``, ``_3``... once a group holds 8 methods or ~900 lines).
"""

from __future__ import annotations

import argparse
import ast
import csv
import difflib
import json
import keyword
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spec.errors import EntropyAtlasError

__all__ = ["MARK", "CatalogueRow", "Plan", "ScaffoldError", "add_subcommand", "plan", "read_row", "scaffold"]

#: The marker of scaffolded, unfinished work; the layout meta-test fails while a method carries it.
MARK = "TODO(entropy-atlas new)"

#: Group module names derived from the catalogue ``kind`` when ``--group`` is not given.
KIND_GROUPS = {
    "estimator": "estimators",
    "loss": "losses",
    "regularizer": "regularizers",
    "algorithm": "algorithms",
    "helper": "helpers",
    "decoding": "rules",
    "advantage": "advantages",
    "reward": "rewards",
}

#: A derived group is considered full at this many methods or lines (the layout's limit is ~8 / 1,000).
GROUP_MAX_METHODS = 8
GROUP_MAX_LINES = 900

ROOT = Path(__file__).resolve().parent.parent

# The placeholder calling convention of every stub: ``fn(logits)``. It equals the placeholder spec's
# ``signature()``, so the stubs stay importable and consistent until the real inputs are written.
_PLACEHOLDER_INPUT = "logits"


class ScaffoldError(EntropyAtlasError):
    """``entropy-atlas new`` refused (unknown or already registered id, bad group name, ...)."""


# --------------------------------------------------------------------------- the catalogue


@dataclass(frozen=True)
class CatalogueRow:
    """One row of ``methods.csv`` plus what ``papers.csv`` and ``<family>.md`` say about it."""

    id: str
    family: str
    kind: str
    tier: str
    confidence: str
    papers: tuple[str, ...]  # the catalogue's short names ("EATA", "peer: llama.cpp", ...)
    official_code: str
    peers: str
    paper_titles: tuple[str, ...] = ()  # full titles from papers.csv
    summary: str = ""


def _split(cell: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in cell.split("|") if part.strip())


def _summary(markdown: Path, method_id: str) -> str:
    """The first sentence of the method's section in ``<family>.md`` (empty when there is none)."""
    if not markdown.is_file():
        return ""
    section = re.search(rf"^## `{re.escape(method_id)}`\s*$(.*?)(?=^## |\Z)", markdown.read_text(), re.M | re.S)
    if section is None:
        return ""
    paragraph: list[str] = []
    for line in section.group(1).splitlines():
        text = line.strip()
        if not text:
            if paragraph:
                break
            continue
        if text.startswith("- **") or text.startswith("|"):
            if paragraph:
                break
            continue
        if paragraph and text.startswith("- "):
            break
        paragraph.append(text.removeprefix("- "))
    text = " ".join(paragraph)
    text = re.sub(r"^\*Source paper:.*?\*\s*", "", text)
    sentence = re.split(r"(?<=[.!?])\s+(?=[A-Z`(])", text, maxsplit=1)[0].strip()
    return sentence if len(sentence) <= 240 else sentence[:237].rstrip() + "..."


def read_row(catalog: Path, method_id: str) -> CatalogueRow:
    """The catalogue row of ``method_id`` with its paper titles and summary; ScaffoldError if absent."""
    if not catalog.is_file():
        raise ScaffoldError(f"no catalogue at {catalog} (pass --catalog PATH to methods.csv)")
    with catalog.open(newline="") as fh:
        rows = {r["id"]: r for r in csv.DictReader(fh)}
    if method_id not in rows:
        close = difflib.get_close_matches(method_id, list(rows), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ScaffoldError(f"{method_id!r} is not in the catalogue {catalog}{hint}")
    r = rows[method_id]
    titles: list[str] = []
    papers_csv = catalog.parent / "papers.csv"
    if papers_csv.is_file():
        with papers_csv.open(newline="") as fh:
            titles = [p["title"].strip() for p in csv.DictReader(fh) if method_id in p["method_ids"].split()]
    return CatalogueRow(
        id=method_id, family=r["family"].strip(), kind=r["kind"].strip(), tier=r["tier"].strip(),
        confidence=r["confidence"].strip(), papers=_split(r["papers"]), official_code=r["official_code"].strip(),
        peers=r["peers"].strip(), paper_titles=tuple(titles),
        summary=_summary(catalog.parent / f"{r['family'].strip()}.md", method_id),
    )


# --------------------------------------------------------------------------- rendering helpers


def _lit(text: str) -> str:
    """A Python string literal (double quotes)."""
    return json.dumps(text, ensure_ascii=False)


def _chunks(text: str, width: int) -> list[str]:
    """``text`` cut at spaces into pieces whose literals fit ``width`` columns."""
    chunks: list[str] = []
    current = ""
    for word in re.split(r"(?<= )", text):
        if current and len(_lit(current + word)) > width:
            chunks.append(current)
            current = ""
        current += word
    chunks.append(current)
    return chunks


def _wrapped(name: str, text: str, indent: int) -> str:
    """``name=<literal>,`` on one line, or split into adjacent literals when it passes 120 columns."""
    pad = " " * indent
    one = f"{pad}{name}={_lit(text)},"
    if len(one) <= 120:
        return one
    body = "\n".join(f"{pad}    {_lit(c)}" for c in _chunks(text, 120 - indent - 4))
    return f"{pad}{name}=(\n{body}\n{pad}),"


def _wrap(text: str, first: str, rest: str) -> list[str]:
    """``text`` in lines of at most 120 columns, the first prefixed by ``first``, the others by ``rest``."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        prefix = rest if lines else first
        if current and len(prefix) + len(current) + 1 + len(word) > 120:
            lines.append(prefix + current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    lines.append((rest if lines else first) + current)
    return lines


def _comment(text: str, indent: int = 0) -> str:
    """``text`` as ``#`` comment lines of at most 120 columns."""
    pad = " " * indent + "# "
    return "\n".join(_wrap(text, pad, pad))


def _docstring(text: str, indent: int) -> list[str]:
    """A docstring of ``text`` (paragraphs split by blank lines), wrapped at 120 columns."""
    pad = " " * indent
    out: list[str] = []
    for n, para in enumerate(text.split("\n\n")):
        if n:
            out.append("")
        out += _wrap(para, pad + ('"""' if n == 0 else ""), pad)
    if len(out[-1]) + 3 <= 120 and len(out) == 1:
        return [out[0] + '"""']
    return [*out, pad + '"""']


def _call(head: str, args: list[str], room: int = 0) -> str:
    """``head(arg, ...)`` on one line when it fits (with ``room`` columns for a suffix), else one argument a line."""
    one = f"{head}({', '.join(args)})"
    if len(one) + room <= 120:
        return one
    pad = " " * (len(head) - len(head.lstrip()) + 4)
    return f"{head}(\n" + "".join(f"{pad}{a},\n" for a in args) + " " * (len(pad) - 4) + ")"


def _header(method_id: str) -> str:
    return f"\n\n# {'-' * max(3, min(75, 117 - len(method_id)))} {method_id}\n"


# --------------------------------------------------------------------------- source editing

Import = tuple[str, str, str | None]  # (module, name or "", asname): "from module import name as asname"


def _bound_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _ensure_imports(text: str, imports: Sequence[Import]) -> str:
    """Insert the imports whose bound name ``text`` lacks after its last top-level import."""
    tree = ast.parse(text)
    bound = _bound_names(tree)
    new: list[str] = []
    for module, name, asname in imports:
        binding = asname or name or module.split(".")[0]
        if binding in bound:
            continue
        if name:
            new.append(f"from {module} import {name}" + (f" as {asname}" if asname else ""))
        else:
            new.append(f"import {module}" + (f" as {asname}" if asname else ""))
        bound.add(binding)
    if not new:
        return text
    lines = text.splitlines(keepends=True)
    last = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    if last:
        at = max(n.end_lineno or n.lineno for n in last)
    elif tree.body and isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Constant):
        at = tree.body[0].end_lineno or 1
    else:
        at = 0
    return "".join(lines[:at]) + "".join(line + "\n" for line in new) + "".join(lines[at:])


def _add_to_all(text: str, name: str) -> str:
    """Add ``name`` to the module's ``__all__`` list literal (sorted), or create one after the imports."""
    tree = ast.parse(text)
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target: ast.expr | None = node.targets[0]
        elif isinstance(node, ast.AnnAssign):
            target = node.target
        else:
            continue
        if not (isinstance(target, ast.Name) and target.id == "__all__"):
            continue
        value = node.value
        if not isinstance(value, (ast.List, ast.Tuple)) or not all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in value.elts):
            raise ScaffoldError("cannot edit a computed __all__; add the id to it by hand")
        names = sorted({str(e.value) for e in value.elts if isinstance(e, ast.Constant)} | {name})
        head = "__all__" if isinstance(node, ast.Assign) else f"__all__: {ast.unparse(node.annotation)}"
        rendered = f"{head} = [\n" + "".join(f"    {_lit(n)},\n" for n in names) + "]\n"
        lines = text.splitlines(keepends=True)
        return "".join(lines[: node.lineno - 1]) + rendered + "".join(lines[node.end_lineno or node.lineno:])
    return _insert_after_imports(text, f"\n__all__ = [{_lit(name)}]\n")


def _insert_after_imports(text: str, block: str) -> str:
    tree = ast.parse(text)
    nodes = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    at = max((n.end_lineno or n.lineno for n in nodes), default=0)
    lines = text.splitlines(keepends=True)
    return "".join(lines[:at]) + block + "".join(lines[at:])


def _has_toplevel(text: str, name: str) -> bool:
    return name in _bound_names(ast.parse(text))


# --------------------------------------------------------------------------- the plan


@dataclass
class FileEdit:
    path: Path
    action: str  # "create" or "append"
    text: str  # the full new content
    added: int  # lines added


@dataclass
class Plan:
    row: CatalogueRow
    group: str
    root: Path
    edits: list[FileEdit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        out = [f"entropy-atlas new {self.row.id}: family {self.row.family!r}, kind {self.row.kind!r}, "
               f"group {self.group!r}"]
        for e in self.edits:
            out.append(f"  {e.action:<6} {e.path.relative_to(self.root)} (+{e.added} lines)")
        out.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(out)


def _registered(method_id: str) -> str | None:
    """Why ``method_id`` is already taken (registered or covered by an alias), or None."""
    from spec.registry import all_specs

    for s in all_specs():
        if s.id == method_id:
            return f"{method_id!r} is already registered (family {s.family!r})"
        if method_id in s.aliases:
            return f"{method_id!r} is already covered by {s.id!r} (its aliases)"
    return None


def _group_size(root: Path, family: str, group: str) -> tuple[int, int]:
    """(methods, max lines) of an existing group, read from the reference module's ``__all__``."""
    methods = 0
    ref = root / "reference" / family / f"{group}.py"
    if ref.is_file():
        for node in ast.parse(ref.read_text()).body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and "__all__" in ast.unparse(node).split("=")[0]:
                value = node.value
                if isinstance(value, (ast.List, ast.Tuple)):
                    methods = len(value.elts)
    lines = max((len(p.read_text().splitlines()) for p in _paths(root, family, group).values() if p.is_file()),
                default=0)
    return methods, lines


def _paths(root: Path, family: str, group: str) -> dict[str, Path]:
    return {
        "spec": root / "spec" / family / f"{group}.py",
        "reference": root / "reference" / family / f"{group}.py",
        "accelerated": root / "accelerated" / family / f"{group}.py",
        "cases": root / "conformance" / "cases" / family / f"{group}.py",
        "mutants": root / "conformance" / "mutants" / family / f"{group}.py",
        "tests": root / "tests" / family / f"test_{group}.py",
    }


def _check_group(name: str, catalogue_ids: set[str]) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or keyword.iskeyword(name):
        raise ScaffoldError(f"group {name!r} must be a lower-case Python identifier not starting with '_'")
    if name in catalogue_ids:
        raise ScaffoldError(f"group {name!r} is a method id; a group module must not shadow a method")


def _choose_group(root: Path, row: CatalogueRow, requested: str | None, catalogue_ids: set[str]) -> tuple[str, str]:
    if requested:
        _check_group(requested, catalogue_ids)
        methods, lines = _group_size(root, row.family, requested)
        note = ""
        if methods >= GROUP_MAX_METHODS or lines >= GROUP_MAX_LINES:
            note = (f"group {requested!r} already holds {methods} methods / {lines} lines; the layout allows "
                    "about 8 methods or 1,000 lines per module")
        return requested, note
    base = KIND_GROUPS.get(row.kind, re.sub(r"[^a-z0-9_]", "_", row.kind.lower()) + "s")
    for n in range(1, 100):
        name = base if n == 1 else f"{base}_{n}"
        _check_group(name, catalogue_ids)
        methods, lines = _group_size(root, row.family, name)
        if methods < GROUP_MAX_METHODS and lines < GROUP_MAX_LINES:
            return name, ""
    raise ScaffoldError(f"no room in the {base!r} groups of {row.family!r}; pass --group NAME")


# --------------------------------------------------------------------------- stub bodies


def _spec_block(row: CatalogueRow) -> str:
    cat = f"../shared/catalog/{row.family}.md#{row.id}"
    lines = [
        _header(row.id),
        _comment(f"{MARK}: scaffolded from the catalogue row of {row.id}; nothing below is checked. Read {cat} "
                 "(formula, pitfalls, errata) and write: the papers' year and arXiv id, provenance (checked_against: "
                 "what you read; every code-vs-paper difference and its flag), inputs, params (ParamSpec: default, "
                 "domain, doc; names from the README glossary), outputs with their natural scale, properties, "
                 "branches, the SymPy derivation if differentiable, degenerate cases.") + "\n",
        "register(MethodSpec(",
        f"    id={_lit(row.id)},",
        f"    family={_lit(row.family)},",
        f"    kind={_lit(row.kind)},",
        _wrapped("summary", row.summary or f"{MARK}: a one-line summary", 4),
    ]
    if row.paper_titles:
        lines.append(f"    papers=(  # {MARK}: year and arXiv id of each paper")
        lines.extend(_paper(t) for t in row.paper_titles)
        lines.append("    ),")
    else:
        lines.append(f"    papers=(),  # {MARK}: the catalogue lists {'; '.join(row.papers) or 'no paper'}")
    official = f"        official_code={_lit(row.official_code)}," if row.official_code else \
        "        official_code=None,"
    note = (f"{MARK}: scaffolded from the catalogue (papers: {'; '.join(row.papers) or '-'}; "
            f"peers: {row.peers or '-'}; tier {row.tier})")
    lines += [
        "    provenance=Provenance(",
        f"        confidence={_lit(row.confidence)},",
        f'        checked_against="",  # {MARK}: what the formula was checked against (code, paper, version)',
        official,
        _wrapped("notes", note, 8),
        "    ),",
        f"    inputs=(InputSpec({_lit(_PLACEHOLDER_INPUT)}, \"logits\", (\"...\", \"V\"), "
        f"{_lit(MARK + ': placeholder input')}),),",
        f"    params=(),  # {MARK}: ParamSpec(name, default, domain, doc)",
        f"    outputs=(OutputSpec(\"value\", {_lit(MARK + ': placeholder output')}, scale=UNIT_SCALE),),",
        f"    branches=(),  # {MARK}: the named non-trivial regimes, counted by the harness",
        "))",
    ]
    return "\n".join(lines) + "\n"


def _paper(title: str) -> str:
    one = f"        Paper({_lit(title)}, 0),"
    if len(one) <= 120:
        return one
    body = "\n".join(f"            {_lit(c)}" for c in _chunks(title, 120 - 12 - 1))
    return f"        Paper(\n{body},\n            0,\n        ),"


def _function(row: CatalogueRow, layer: str) -> str:
    typ = "npt.ArrayLike" if layer == "reference" else "Array"
    ret = "F64" if layer == "reference" else "Array"
    what = ("The NumPy float64 definition" if layer == "reference"
            else f"The array-API form of :func:`reference.{row.family}.{row.id}`")
    doc = _docstring(f"{MARK}: {what} of ``{row.id}``; not written yet.\n\nWrite the formula, the paper (title, "
                     "year, arXiv id, as in the spec), the conventions and the code-vs-paper differences; see "
                     f"../shared/catalog/{row.family}.md#{row.id}.", 4)
    return "\n".join([
        _header(row.id),
        "",
        f"def {row.id}({_PLACEHOLDER_INPUT}: {typ}) -> {ret}:",
        *doc,
        _call("    raise NotImplementedError", [_lit(f"{MARK}: {layer}.{row.family}.{row.id}")]),
    ]) + "\n"


def _cases_block(row: CatalogueRow) -> str:
    return "\n".join([
        _header(row.id),
        "",
        _call(f"def _{row.id}_case", ["spec: MethodSpec", "dtype: str", "small: bool = False"], 28)
        + " -> st.SearchStrategy[Case]:",
        *_docstring(f"{MARK}: draw mostly where {row.id} does something non-trivial (edge values a minority), "
                    "or delete this override when the generic builder reaches every branch and property.", 4),
        "    return generic_case(spec, dtype, small)",
        "",
        "",
        f"CASES[{_lit(row.id)}] = _{row.id}_case",
        _comment(f"{MARK}: hand-written hard cases of {row.id}, expected outputs derived by hand"),
        f"CURATED[{_lit(row.id)}] = ()",
    ]) + "\n"


def _mutants_block(row: CatalogueRow) -> str:
    fns: list[str] = []
    for n in (1, 2):
        fns += [
            "",
            f"def _{row.id}_todo_{n}({_PLACEHOLDER_INPUT}: Any) -> Any:",
            _call("    raise NotImplementedError", [_lit(f"{MARK}: placeholder mutant {n} of {row.id}")]),
            "",
        ]
    return "\n".join([
        _header(row.id),
        _comment(f"{MARK}: replace both placeholders with complete implementations of {row.id}, each with ONE "
                 "plausible bug (off-by-one at a cut, wrong side of a comparison, wrong tie rule, wrong normaliser, "
                 "sign, log base, missing stop-gradient, accumulation in the input dtype); more for selection "
                 f"rules. Pitfalls: ../shared/catalog/{row.family}.md#{row.id}."),
        *fns,
        "",
        f"MUTANTS[{_lit(row.id)}] = (",
        *(_call("    Mutant", [f'"todo_{n}"', _lit(f"{MARK}: placeholder, not a mutant"), f"_{row.id}_todo_{n}"],
                1) + "," for n in (1, 2)),
        ")",
    ]) + "\n"


def _test_block(row: CatalogueRow) -> str:
    return "\n".join([
        _header(row.id),
        "",
        f"def test_{row.id}_todo() -> None:",
        "    raise AssertionError(",
        *(f"        {_lit(c)}" for c in _chunks(f"{MARK}: {row.id} has no tests yet: values derived by hand or by an "
                                              "independent computation (never our reference), bad input, "
                                              "stability, peer parity", 120 - 8)),
        "    )",
    ]) + "\n"


def _module_head(row: CatalogueRow, group: str, layer: str) -> str:
    what = {
        "spec": "Specs",
        "reference": "Reference (NumPy float64) implementations",
        "accelerated": "Accelerated (array API: Torch, CuPy, NumPy) implementations",
        "cases": "Case strategies and curated hard cases",
        "mutants": "Mutants (plausible wrong versions the ``ci`` profile must kill)",
        "tests": "Tests",
    }[layer]
    doc = "\n".join(_docstring(f"{what} of the ``{row.family}`` family, group ``{group}``.\n\n{MARK}: say what "
                                "the group holds and the conventions its methods share.", 0))
    doc += "\n\nfrom __future__ import annotations\n"
    tail = {
        "spec": "",
        "reference": '\n__all__: list[str] = []\n',
        "accelerated": '\n__all__: list[str] = []\n',
        "cases": '\n__all__ = ["CASES", "CURATED"]\n',
        "mutants": '\n__all__ = ["MUTANTS"]\n',
        "tests": "",
    }[layer]
    return doc + tail


_IMPORTS: dict[str, tuple[Import, ...]] = {
    "spec": (("spec.model", "UNIT_SCALE", None), ("spec.model", "InputSpec", None), ("spec.model", "MethodSpec", None),
             ("spec.model", "OutputSpec", None), ("spec.model", "Provenance", None),
             ("spec.registry", "register", None)),
    "reference": (("numpy.typing", "", "npt"), ("reference._math", "F64", None)),
    "accelerated": (("accelerated._xp", "Array", None),),
    "cases": (("collections.abc", "Callable", None), ("typing", "Any", None), ("hypothesis", "strategies", "st"),
              ("conformance.cases", "Curated", None), ("conformance.strategies", "Case", None),
              ("conformance.strategies", "generic_case", None), ("spec.model", "MethodSpec", None)),
    "mutants": (("typing", "Any", None), ("conformance.mutants", "Mutant", None)),
    "tests": (),
}

_FAMILY_INIT = '''"""The ``{family}`` family of the ``{layer}`` layer: one module per method group, discovered."""

from spec.discovery import load_groups

__all__ = load_groups(__name__, globals())
'''

_FAMILY_DOC = {
    "cases": '"""Case strategies and curated cases of the ``{family}`` family, one module per method group."""\n',
    "mutants": '"""Mutants of the ``{family}`` family, one module per method group."""\n',
}


def _edit_module(layer: str, row: CatalogueRow, group: str, path: Path) -> FileEdit:
    created = not path.is_file()
    text = _module_head(row, group, layer) if created else path.read_text()
    if not created and re.search(rf"^def {re.escape(row.id)}\(|^def test_{re.escape(row.id)}_todo\(|"
                                 rf"^(CASES|MUTANTS)\[{re.escape(_lit(row.id))}\]", text, re.M):
        raise ScaffoldError(f"{path} already defines {row.id}; nothing scaffolded")
    imports = list(_IMPORTS[layer])
    if layer == "spec" and row.paper_titles:
        imports.append(("spec.model", "Paper", None))
    text = _ensure_imports(text, imports)
    if layer in ("reference", "accelerated"):
        text = _add_to_all(text, row.id)
    if layer == "cases":
        for name, typ in (("CASES", "dict[str, Callable[..., Any]]"), ("CURATED", "dict[str, tuple[Curated, ...]]")):
            if not _has_toplevel(text, name):
                text = text.rstrip("\n") + f"\n\n{name}: {typ} = {{}}\n"
    if layer == "mutants" and not _has_toplevel(text, "MUTANTS"):
        text = text.rstrip("\n") + "\n\nMUTANTS: dict[str, tuple[Mutant, ...]] = {}\n"
    if layer in ("reference", "accelerated"):
        block = _function(row, layer)
    else:
        blocks = {"spec": _spec_block, "cases": _cases_block, "mutants": _mutants_block, "tests": _test_block}
        block = blocks[layer](row)
    before = 0 if created else len(path.read_text().splitlines())
    text = text.rstrip("\n") + "\n" + block
    return FileEdit(path, "create" if created else "append", text, len(text.splitlines()) - before)


def plan(method_id: str, *, catalog: Path | None = None, group: str | None = None, root: Path = ROOT) -> Plan:
    """Every file ``new`` would create or change, with its full new content; nothing is written."""
    catalog = catalog or root.parent / "shared" / "catalog" / "methods.csv"
    row = read_row(catalog, method_id)
    taken = _registered(method_id)
    if taken:
        raise ScaffoldError(f"{taken}; nothing scaffolded")
    with catalog.open(newline="") as fh:
        catalogue_ids = {r["id"] for r in csv.DictReader(fh)}
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", row.family):
        raise ScaffoldError(f"catalogue family {row.family!r} of {method_id!r} is not a package name")
    chosen, note = _choose_group(root, row, group, catalogue_ids)
    result = Plan(row, chosen, root)
    if note:
        result.notes.append(note)
    for layer, pkg in (("spec", root / "spec"), ("reference", root / "reference"),
                       ("accelerated", root / "accelerated"), ("cases", root / "conformance" / "cases"),
                       ("mutants", root / "conformance" / "mutants")):
        init = pkg / row.family / "__init__.py"
        if not init.is_file():
            text = _FAMILY_DOC.get(layer, _FAMILY_INIT).format(family=row.family, layer=layer)
            result.edits.append(FileEdit(init, "create", text, len(text.splitlines())))
    for layer, path in _paths(root, row.family, chosen).items():
        result.edits.append(_edit_module(layer, row, chosen, path))
    result.notes.append(f"still to do by hand: golden/{row.family}/{row.id}.json (hand-derived curated cases "
                        "plus drawn ones), the real spec/reference/accelerated/mutants/tests; "
                        "tests/test_layout.py fails for this id until then")
    return result


def _ruff_fix(root: Path, paths: Sequence[Path]) -> str | None:
    """Sort the imports and ``__all__`` of the written files with ruff; a warning when ruff is missing."""
    try:
        done = subprocess.run([sys.executable, "-m", "ruff", "check", "--fix", "--quiet", "--select", "I,RUF022",
                               *map(str, paths)], cwd=root, capture_output=True, text=True, check=False)
    except OSError as exc:  # pragma: no cover - no interpreter?
        return f"could not run ruff ({exc}); run `ruff check --fix --select I` on the files above"
    if done.returncode != 0 and "No module named ruff" in done.stderr:
        return "ruff is not installed: run `ruff check --fix --select I,RUF022` on the files above"
    if done.returncode != 0:
        return f"ruff reported:\n{done.stdout}{done.stderr}"
    return None


def scaffold(method_id: str, *, catalog: Path | None = None, group: str | None = None, root: Path = ROOT,
             dry_run: bool = False) -> Plan:
    """Write the stubs of :func:`plan` (unless ``dry_run``) and return the plan."""
    result = plan(method_id, catalog=catalog, group=group, root=root)
    if dry_run:
        return result
    for edit in result.edits:
        edit.path.parent.mkdir(parents=True, exist_ok=True)
        edit.path.write_text(edit.text)
    warning = _ruff_fix(root, [e.path for e in result.edits if e.path.suffix == ".py"])
    if warning:
        result.notes.append(warning)
    return result


# --------------------------------------------------------------------------- the command


def _cmd_new(args: argparse.Namespace) -> int:
    result = scaffold(args.id, catalog=Path(args.catalog) if args.catalog else None, group=args.group,
                      dry_run=args.dry_run)
    print(("dry run (nothing written): " if args.dry_run else "") + result.describe())
    return 0


def add_subcommand(sub: Any) -> None:
    """Register ``new`` on the ``entropy-atlas`` subparsers (called by :mod:`conformance.cli`)."""
    p = sub.add_parser("new", help="scaffold a catalogued method: spec, reference, accelerated, cases, mutants, "
                                   "test stubs (all marked TODO)")
    p.add_argument("id", help="a catalogue id (methods.csv) that is not registered yet")
    p.add_argument("--group", help="group module name (default: derived from the catalogue kind)")
    p.add_argument("--catalog", metavar="PATH", help="methods.csv (default: ../shared/catalog/methods.csv)")
    p.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    p.set_defaults(func=_cmd_new)
