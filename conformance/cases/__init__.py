"""Per-method case strategies, curated hard cases, and their discovery.

Layout: ``conformance/cases/<family>/<group>.py`` mirrors ``spec/<family>/<group>.py``. A group
module may define

* ``CASES``: method id -> ``(spec, dtype[, small=False]) -> SearchStrategy[Case]`` for inputs whose
  relations the spec cannot express (the generic builder in :mod:`conformance.strategies` serves
  every other method);
* ``CURATED``: method id -> tuple of :class:`Curated` hard cases written by hand (mid-distribution
  cuts, ties, ``-inf``, all-ignored targets, clips on both sides, empty masks...). They run as
  explicit examples in every conformance job and are the first cases of the committed golden
  vectors. ``expected`` holds outputs derived by hand (closed forms), never taken from our code;
* ``PEERS``: method id -> tuple of :class:`Peer` adapters — other libraries' implementations of the
  method, each a few lines, that ``entropy-atlas audit`` runs the harness on.

Modules are found by walking the package: nothing is listed by hand.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Curated", "Peer", "all_peers", "collect", "curated_for", "override_for", "peers_for"]


@dataclass(frozen=True)
class Curated:
    """A hand-written hard case: float64 ``inputs``, ``params``, why it is hard, and (when derived by
    hand) the ``expected`` outputs by output name."""

    name: str
    why: str
    inputs: Mapping[str, Any]
    params: Mapping[str, Any] = field(default_factory=dict)
    expected: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Peer:
    """Another library's implementation of a method, adapted to our calling convention.

    ``load()`` imports the library and returns a function with the spec's signature (it raises
    ``ImportError`` when the library is not installed); ``package`` is the distribution whose version
    is reported. ``backend``/``dtypes`` say how inputs are passed; ``params`` pins parameters the peer
    does not have, ``class_axis`` moves the category axis, ``accept`` lists the named conventions the
    peer is documented to follow. ``expect`` is the documented verdict (``"agrees"``, ``"conventions"``
    or ``"differs"``): the test suite fails when the audit finds another (a new peer version that
    changes behaviour is a finding). ``reading`` is our reading of a difference: which side is right
    and why.
    """

    name: str
    package: str
    load: Callable[[], Callable[..., Any]]
    backend: str = "numpy"
    dtypes: tuple[str, ...] = ("float64",)
    params: Mapping[str, Any] = field(default_factory=dict)
    accept: tuple[str, ...] = ()
    class_axis: int | None = None
    expect: str = "agrees"
    reading: str = ""


def collect(package: str, attribute: str) -> dict[str, Any]:
    """Merge the ``attribute`` dicts of every module below ``package`` (ids must not repeat)."""
    root = importlib.import_module(package)
    table: dict[str, Any] = {}
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        module = importlib.import_module(info.name)
        for key, value in getattr(module, attribute, {}).items():
            if key in table:
                raise ImportError(f"{package}: {attribute}[{key!r}] is defined twice (second in {info.name})")
            table[key] = value
    return table


_CACHE: dict[str, dict[str, Any]] = {}


def _table(attribute: str) -> dict[str, Any]:
    if attribute not in _CACHE:
        _CACHE[attribute] = collect(__name__, attribute)
    return _CACHE[attribute]


def override_for(method_id: str) -> Callable[..., Any] | None:
    """The case strategy of ``method_id`` when its group module defines one."""
    fn: Callable[..., Any] | None = _table("CASES").get(method_id)
    return fn


def curated_for(method_id: str) -> tuple[Curated, ...]:
    """The curated hard cases of ``method_id`` (empty when none are written yet)."""
    return tuple(_table("CURATED").get(method_id, ()))


def peers_for(method_id: str) -> tuple[Peer, ...]:
    """The peer adapters of ``method_id`` (empty when none are written)."""
    return tuple(_table("PEERS").get(method_id, ()))


def all_peers() -> list[tuple[str, Peer]]:
    """Every (method id, peer) pair, in method-id order."""
    return [(method_id, peer) for method_id, peers in sorted(_table("PEERS").items()) for peer in peers]
