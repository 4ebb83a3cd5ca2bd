"""Regenerate the committed golden vectors: ``python golden/regenerate.py [--method ID ...]``.

Also reachable as ``entropy-atlas vectors export --golden``. Writes ``golden/<family>/<id>.json`` from
the curated cases and a derandomised selection of drawn cases (see ``conformance/vectors.py`` and
``golden/README.md``). The output is byte-identical on rerun; review the diff before committing: a
changed output value means the reference changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))


def main(argv: list[str] | None = None) -> int:
    from conformance.vectors import DRAWN, write_golden

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", action="append", help="method id (repeatable); default: every registered one")
    parser.add_argument("--count", type=int, default=DRAWN, help="drawn cases per method (default %(default)s)")
    parser.add_argument("--out", type=Path, default=HERE, help="output directory (default: this golden/ folder)")
    args = parser.parse_args(argv)
    for path in write_golden(args.out, args.method, count=args.count):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
