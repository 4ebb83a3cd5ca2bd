"""``entropy-atlas audit``: every installed peer gets its documented verdict, and the README table says so.

A peer whose verdict changes (a new version that behaves differently, or a convention that no longer
explains it) fails here with the counterexample; a peer that is not installed must fail to load with an
``ImportError`` (listed as such, never dropped).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance.audit import END, START, audit_one
from conformance.cases import Peer, all_peers
from spec.registry import get

README = Path(__file__).resolve().parents[1] / "README.md"
PAIRS = all_peers()


def _readme_rows() -> dict[tuple[str, str], str]:
    text = README.read_text()
    block = text[text.index(START) + len(START):text.index(END)]
    rows = {}
    for line in block.strip().splitlines()[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows[(cells[0].strip("`"), cells[1].strip("`"))] = cells[3]
    return rows


def test_every_peer_is_in_the_readme_table() -> None:
    rows = _readme_rows()
    wanted = {(m, p.name) for m, p in PAIRS}
    assert set(rows) == wanted, f"README audit table out of date: run `entropy-atlas audit --write README.md` " \
                                f"(missing {sorted(wanted - set(rows))}, extra {sorted(set(rows) - wanted)})"


def test_peer_adapters_are_well_formed() -> None:
    names = [(m, p.name) for m, p in PAIRS]
    assert len(names) == len(set(names)), "two peers of one method share a name"
    for method, peer in PAIRS:
        spec = get(method)
        conventions = spec.conventions()
        for name in peer.accept:
            owner, _, short = name.partition(":")
            assert owner == method and short in conventions, f"{peer.name}: unknown convention {name}"
        assert peer.expect in ("agrees", "conventions", "differs")
        assert (peer.expect == "conventions") <= bool(peer.accept)
        if peer.expect != "agrees":
            assert peer.reading, f"{method} / {peer.name}: a difference needs our reading"


@pytest.mark.parametrize(("method", "peer"), PAIRS, ids=[f"{m}-{p.name}" for m, p in PAIRS])
def test_peer_verdict_is_documented(method: str, peer: Peer) -> None:
    verdict = audit_one(method, peer)
    if verdict.status == "not installed":
        with pytest.raises(ImportError):
            peer.load()
        return
    assert verdict.as_expected, (
        f"{method} / {peer.name} {verdict.version}: audit says {verdict.describe()}, documented {peer.expect}: "
        f"{verdict.counterexample}")
    row = _readme_rows()[(method, peer.name)]
    assert row == verdict.describe().replace("|", "\\|"), (
        f"README audit row for {method} / {peer.name} says {row!r}, the audit {verdict.describe()!r}: run "
        "`entropy-atlas audit --write README.md`")
