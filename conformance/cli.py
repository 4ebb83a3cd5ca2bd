"""The ``entropy-atlas`` command line.

::

    entropy-atlas list [--json] [--family F]
    entropy-atlas conform [--method ID ...] [--backend NAME ...] [--dtype D ...] [--level L ...]
                          [--profile ci|dev|deep] [--max-examples N] [--json PATH] [--no-progress]
    entropy-atlas check --impl package.module:function --method ID [--backend numpy|torch-cpu|...]
                        [--param NAME=VALUE ...] [--accept CONVENTION ...] [--class-axis N] [--errors]
    entropy-atlas vectors export (DIR | --golden) [--method ID ...] [--count N]
    entropy-atlas vectors verify [DIR] [--impl package.module:function] [--backend NAME] [--method ID ...]
    entropy-atlas mutate [--method ID ...] [--json PATH]
    entropy-atlas calibrate [--method ID ...] [--backend NAME ...] [--examples N] [--write]
    entropy-atlas audit [--peer NAME ...] [--method ID ...] [--json PATH] [--markdown PATH] [--write README.md]
    entropy-atlas catalogue [--write README.md]
    entropy-atlas bench [benchmark options]

``conform`` exits non-zero on any failure and prints, for each, the smallest failing example as a
ready-to-paste reproduction.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from conformance.api import check, conventions_followed, default_levels, method
from conformance.backends import BACKENDS, available_backends
from conformance.options import UsageError, nearest
from conformance.report import counts_table, table, write_json
from conformance.runner import LEVELS, PROFILES, iter_results, jobs_for
from conformance.scaffold import add_subcommand as add_new_subcommand
from spec.errors import EntropyAtlasError
from spec.model import Choice, MethodSpec
from spec.registry import all_specs

__all__ = ["load_callable", "main"]


def load_callable(path: str) -> Callable[..., Any]:
    """``package.module:function`` (or ``path/to/file.py:function``) to the function object.

    The current directory is importable (``--impl mypkg.mod:fn`` finds ``./mypkg``). Every failure is a
    one-line :class:`UsageError` saying what to fix.
    """
    if ":" not in path:
        raise UsageError(f"--impl expects package.module:function or file.py:function; got {path!r}")
    module_name, attr = path.rsplit(":", 1)
    if not attr:
        raise UsageError(f"--impl {path}: no function name after ':'")
    if module_name.endswith(".py"):
        if not Path(module_name).is_file():
            raise UsageError(f"--impl {path}: no file {module_name!r}")
        spec = importlib.util.spec_from_file_location(Path(module_name).stem, module_name)
        if spec is None or spec.loader is None:
            raise UsageError(f"--impl {path}: cannot load {module_name!r} as a Python module")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise UsageError(f"--impl {path}: importing {module_name} raised {type(exc).__name__}: {exc}") from None
    else:
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise UsageError(f"--impl {path}: no module named {exc.name!r} (run from the folder that contains it, "
                             "or install it)") from None
        except Exception as exc:
            raise UsageError(f"--impl {path}: importing {module_name} raised {type(exc).__name__}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            raise UsageError(f"--impl {path}: {module_name} has no attribute {part!r}{nearest(part, names)}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UsageError(f"--impl {path}: {attr} is not callable")
    return obj  # type: ignore[no-any-return]


def _parse_param(spec: MethodSpec, text: str) -> tuple[str, object]:
    """``NAME=VALUE`` to a pinned parameter, the value read as the parameter's domain expects."""
    if "=" not in text:
        raise UsageError(f"--param expects NAME=VALUE; got {text!r}")
    name, raw = text.split("=", 1)
    names = [p.name for p in spec.params]
    if name not in names:
        raise UsageError(f"--param {name}: {spec.id} has no parameter {name!r}{nearest(name, names)}; its "
                         f"parameters: {', '.join(names) or 'none'}")
    if raw in ("None", "none", "null"):
        return name, None
    if raw.lower() in ("true", "false"):
        return name, raw.lower() == "true"
    try:
        value: object = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    domain = spec.param(name).domain
    if isinstance(domain, Choice) and not domain.contains(value) and domain.contains(raw):
        value = raw
    return name, value


def _progress(args: argparse.Namespace) -> bool:
    """A progress bar only on a terminal (a log file gets no bar updates)."""
    return not getattr(args, "no_progress", False) and sys.stderr.isatty()


def _check_selection(args: argparse.Namespace) -> None:
    chosen = getattr(args, "method", None) or []
    for m in [chosen] if isinstance(chosen, str) else chosen:
        method(m)
    n = getattr(args, "max_examples", None)
    if n is not None and n < 1:
        raise UsageError(f"--max-examples must be >= 1; got {n}")


def _backends_of(spec: MethodSpec) -> list[str]:
    """Backends with an implementation of ``spec`` (whether or not this machine can run them)."""
    names: list[str] = []
    if hasattr(importlib.import_module(f"reference.{spec.family}"), spec.id):
        names.append("reference")
    if hasattr(importlib.import_module(f"accelerated.{spec.family}"), spec.id):
        names += ["numpy", "torch-cpu", "torch-cuda", "cupy"]
    return names


def cmd_list(args: argparse.Namespace) -> int:
    specs = [s for s in all_specs() if args.family is None or s.family == args.family]
    if args.json:
        entries = []
        for s in specs:
            entry = s.to_json()
            entry["backends"] = _backends_of(s)
            entries.append(entry)
        print(json.dumps(entries, indent=1))
        return 0
    width = max((len(s.id) for s in specs), default=10)
    for s in specs:
        print(f"{s.id:<{width}}  {s.family:<12} {s.kind:<12} {s.provenance.confidence:<14} {s.summary}")
    print(f"\n{len(specs)} methods; backends available here: {', '.join(b.name for b in available_backends())}")
    return 0


def cmd_conform(args: argparse.Namespace) -> int:
    _check_selection(args)
    jobs = jobs_for(args.method, args.backend, args.dtype, args.level)
    if not jobs:
        print("nothing to run for that selection", file=sys.stderr)
        return 2
    print(f"entropy-atlas conform: {len({j.spec.id for j in jobs})} methods, {len(jobs)} jobs, profile "
          f"{args.profile!r}, backends {sorted({j.backend.name for j in jobs})}", file=sys.stderr)
    results = list(iter_results(jobs, profile=args.profile, max_examples=args.max_examples,
                                progress=_progress(args)))
    print(table(results))
    if args.counts:
        print()
        print(counts_table(results))
    if args.json:
        write_json(results, args.json, profile=args.profile)
        print(f"\nJSON report written to {args.json}")
    return 1 if any(r.status == "fail" for r in results) else 0


def _peer(method_id: str, name: str) -> Any:
    from conformance.cases import peers_for

    peers = {p.name: p for p in peers_for(method_id)}
    if name not in peers:
        raise UsageError(f"--peer {name}: {method_id} has no such peer adapter{nearest(name, list(peers))}; its "
                         f"peers: {', '.join(peers) or 'none'}")
    return peers[name]


def cmd_check(args: argparse.Namespace) -> int:
    spec = method(args.method)
    _check_selection(args)
    if (args.impl is None) == (args.peer is None):
        raise UsageError("check needs exactly one of --impl package.module:function or --peer NAME")
    params: dict[str, object] = {}
    if args.peer is not None:  # a built-in adapter: its backend, dtypes, pins and layout unless given here
        peer = _peer(spec.id, args.peer)
        try:
            fn = peer.load()
        except ImportError as exc:
            raise UsageError(f"--peer {args.peer}: {peer.package} is not installed ({exc})") from None
        params.update(peer.params)
        args.backend = args.backend or peer.backend
        args.dtype = args.dtype or list(peer.dtypes)
        args.class_axis = peer.class_axis if args.class_axis is None else args.class_axis
    else:
        fn = load_callable(args.impl)
    args.backend = args.backend or "numpy"
    params.update(dict(_parse_param(spec, p) for p in args.param or []))
    levels = args.level
    if levels is None and args.errors:
        levels = None  # defaults plus errors, below
    dtypes = args.dtype or ["float64"]
    results = []
    for dtype in dtypes:
        wanted = levels or [*default_levels(spec, args.backend, dtype), *(["errors"] if args.errors else [])]
        results += check(fn, spec.id, backend=args.backend, dtypes=(dtype,), levels=wanted, params=params,
                         accept=args.accept or (), class_axis=args.class_axis, third_party=not args.ours,
                         profile=args.profile, max_examples=args.max_examples, progress=_progress(args))
    print(table(results))
    if params:
        print(f"\nchecked with {', '.join(f'{k}={v!r}' for k, v in params.items())} pinned: other values of these "
              "parameters were not checked")
    followed = conventions_followed(results)
    if args.accept:
        print("\nconventions accepted: " + ", ".join(args.accept))
        print("conventions followed: " + (", ".join(f"{k} ({n} cases)" for k, n in followed.items()) or
                                           "none (the function agrees with the reference on every case)"))
    return 1 if any(r.status == "fail" for r in results) else 0


def cmd_vectors(args: argparse.Namespace) -> int:
    from conformance.vectors import GOLDEN_DIR, export, verify, write_golden

    _check_selection(args)
    directory = args.directory or (str(GOLDEN_DIR) if args.golden or args.action == "verify" else None)
    if directory is None:
        raise UsageError("vectors export needs DIR or --golden")
    if args.action == "export":
        if args.golden and args.directory is None:
            files = write_golden(GOLDEN_DIR, args.method, count=args.count)
        else:
            files = export(directory, args.method, count=args.count)
        print(f"wrote {len(files)} files to {directory}")
        return 0
    fn_for = None
    if args.impl:
        impl = load_callable(args.impl)
        if args.method is None or len(args.method) != 1:
            raise UsageError("vectors verify --impl needs exactly one --method")

        def fn_for(_spec: MethodSpec) -> Callable[..., Any]:
            return impl

    results = verify(directory, fn_for, backend=args.backend, dtype=args.dtype, method_ids=args.method)
    for r in results:
        print(f"{r.method:<32} {r.cases:3d} cases  {'ok' if r.passed else 'FAIL'}")
        for f in r.failures[:5]:
            print(f"    {f}")
    if not results:
        print(f"no golden vector files found in {directory}")
        return 2
    return 0 if all(r.passed for r in results) else 1


def cmd_mutate(args: argparse.Namespace) -> int:
    from conformance.mutate import kill_table, run_mutants

    _check_selection(args)
    results = run_mutants(args.method, profile=args.profile)
    if not results:
        print("no mutants registered for that selection", file=sys.stderr)
        return 2
    print(kill_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps([r.to_json() for r in results], indent=1))
        print(f"\nJSON written to {args.json}")
    survivors = [r for r in results if not r.killed]
    for r in survivors:
        print(f"SURVIVED {r.method}/{r.mutant}: {r.description}")
    return 1 if survivors else 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from conformance.calibrate import calibrate, loose_or_failing, write

    _check_selection(args)
    table = calibrate(args.method, backends=args.backend, examples=args.examples, progress=_progress(args))
    for method_id, backends in sorted(table.items()):
        for backend, dtypes in sorted(backends.items()):
            for dtype, row in sorted(dtypes.items()):
                print(f"{method_id:<28} {backend:<10} {dtype:<9} worst/budget {row['worst_over_budget']:<10.3g} "
                      f"budget atol={row['budget']['atol']:.3g} rtol={row['budget']['rtol']:.3g} {row['status']}")
    problems = loose_or_failing(table)
    for line in problems:
        print("BUDGET", line)
    if args.write:
        write(table)
        print("conformance/calibration.json updated")
    return 1 if problems else 0


def cmd_audit(args: argparse.Namespace) -> int:
    from conformance import audit as audit_mod

    verdicts = audit_mod.audit(args.peer, args.method, profile=args.profile)
    print(audit_mod.markdown(verdicts))
    unexpected = [v for v in verdicts if not v.as_expected]
    statuses = ("agrees", "conventions", "differs", "not installed")
    counts = {s: sum(1 for v in verdicts if v.status == s) for s in statuses}
    print(f"\n{len(verdicts)} peer implementations: {counts['agrees']} agree, {counts['conventions']} agree under "
          f"named conventions, {counts['differs']} differ, {counts['not installed']} not installed")
    for v in unexpected:
        print(f"UNDOCUMENTED {v.method} / {v.peer} {v.version}: {v.describe()} (documented: {v.expect}); "
              f"{v.counterexample[:400]}")
    if args.json:
        audit_mod.write_json(verdicts, args.json)
    if args.markdown:
        Path(args.markdown).write_text(audit_mod.markdown(verdicts) + "\n")
    if args.write:
        changed = audit_mod.update_readme(args.write, verdicts)
        print(f"{args.write}: audit table {'updated' if changed else 'already up to date'}")
    return 1 if unexpected else 0


def cmd_catalogue(args: argparse.Namespace) -> int:
    from conformance.catalogue import render, update_readme

    if args.write:
        changed = update_readme(args.write)
        print(f"{args.write}: catalogue table {'updated' if changed else 'already up to date'}")
    else:
        print(render())
    return 0


def cmd_bench(argv: list[str]) -> int:
    root = Path(__file__).resolve().parent.parent
    run_py = root / "benchmarks" / "run.py"
    if not run_py.exists():
        print("benchmarks/ is not present (entropy-atlas bench runs from a source checkout)", file=sys.stderr)
        return 2
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    module = importlib.import_module("benchmarks.run")
    rc: int = module.main(argv)
    return rc


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) that name the nearest valid choice."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="entropy-atlas", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="list registered methods")
    p.add_argument("--json", action="store_true", help="a JSON array of method objects")
    p.add_argument("--family")
    p.set_defaults(func=cmd_list)

    def selection(q: argparse.ArgumentParser) -> None:
        q.add_argument("--dtype", action="append", choices=["float64", "float32", "bfloat16", "float16"])
        q.add_argument("--level", action="append", choices=list(LEVELS))
        q.add_argument("--profile", default="ci", choices=list(PROFILES))
        q.add_argument("--max-examples", type=int, default=None, help="examples for the values level")

    p = sub.add_parser("conform", help="check every backend against the reference")
    p.add_argument("--method", action="append", help="method id (repeatable); default: all")
    p.add_argument("--backend", action="append", choices=list(BACKENDS), help="default: all available")
    selection(p)
    p.add_argument("--json", metavar="PATH", help="also write a JSON report")
    p.add_argument("--counts", action="store_true", help="print how many cases exercised each property/branch")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_conform)

    p = sub.add_parser("check", help="check a third-party implementation against the reference")
    p.add_argument("--impl", help="package.module:function or file.py:function")
    p.add_argument("--peer", help="a built-in peer adapter by name (entropy-atlas audit lists them), e.g. "
                                  "'transformers TopPLogitsWarper'")
    p.add_argument("--method", required=True)
    p.add_argument("--backend", default=None, choices=list(BACKENDS),
                   help="how inputs are passed: numpy arrays (default) or torch/cupy tensors")
    selection(p)
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="pin a parameter (repeatable): every case holds it")
    p.add_argument("--accept", action="append", metavar="CONVENTION",
                   help="accept a named convention (repeatable), e.g. cross_entropy:all_ignored_nan")
    p.add_argument("--class-axis", type=int, default=None, metavar="N",
                   help="the function expects categories on axis N (torch/scipy style: 1 or 0)")
    p.add_argument("--errors", action="store_true",
                   help="also run the errors level (any ValueError/TypeError counts as a rejection)")
    p.add_argument("--ours", action="store_true", help="hold the function to our own error contract (our classes)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("vectors", help="export or verify golden vectors")
    p.add_argument("action", choices=["export", "verify"])
    p.add_argument("directory", nargs="?", help="default: the committed golden/ folder (verify, export --golden)")
    p.add_argument("--golden", action="store_true", help="export: regenerate the committed golden/ folder")
    p.add_argument("--method", action="append")
    p.add_argument("--count", type=int, default=8, help="drawn cases per method (export)")
    p.add_argument("--impl", help="verify this function instead of ours")
    p.add_argument("--backend", default="reference", choices=list(BACKENDS))
    p.add_argument("--dtype", default="float64", choices=["float64", "float32", "bfloat16", "float16"])
    p.set_defaults(func=cmd_vectors)

    p = sub.add_parser("mutate", help="run every mutant through the harness and print the kill table")
    p.add_argument("--method", action="append", help="method id (repeatable); default: all")
    p.add_argument("--profile", default="ci", choices=list(PROFILES))
    p.add_argument("--json", metavar="PATH", help="also write the kill table as JSON")
    p.set_defaults(func=cmd_mutate)

    p = sub.add_parser("calibrate", help="measure worst error / budget on a long derandomised run")
    p.add_argument("--method", action="append", help="method id (repeatable); default: all")
    p.add_argument("--backend", action="append", choices=list(BACKENDS), help="default: all available")
    p.add_argument("--examples", type=int, default=None, help="values examples per job (default 300)")
    p.add_argument("--write", action="store_true", help="merge the measurements into conformance/calibration.json")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("audit", help="run the harness on every installed peer implementation (torch, scipy, ...)")
    p.add_argument("--peer", action="append", help="a peer name or package (repeatable); default: all")
    p.add_argument("--method", action="append", help="method id (repeatable); default: all with peers")
    p.add_argument("--profile", default="ci", choices=list(PROFILES))
    p.add_argument("--json", metavar="PATH", help="also write the verdicts as JSON")
    p.add_argument("--markdown", metavar="PATH", help="also write the table as Markdown")
    p.add_argument("--write", metavar="README", help="replace the generated audit block in this file")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("catalogue", help="print the README catalogue table generated from the registry")
    p.add_argument("--write", metavar="README", help="replace the generated block in this file")
    p.set_defaults(func=cmd_catalogue)

    sub.add_parser("bench", help="run the benchmarks (options: entropy-atlas bench --help)", add_help=False)
    add_new_subcommand(sub)  # entropy-atlas new ID [--group NAME] [--catalog PATH] [--dry-run]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "bench":
        return cmd_bench(args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    try:
        rc: int = args.func(args)
    except EntropyAtlasError as exc:
        print(f"entropy-atlas {args.command}: {exc}", file=sys.stderr)
        return 2
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
