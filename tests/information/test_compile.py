"""Every accelerated ``information`` function traces with ``torch.compile(fullgraph=True)`` in unchecked mode
and gives the eager result (float32)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import spec.validate
from accelerated import information as A

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _calls import good_inputs

CALLS = good_inputs()


@pytest.mark.parametrize("key", sorted(CALLS))
def test_compiles_fullgraph_and_matches_eager(key: str) -> None:
    inputs, kwargs = CALLS[key]
    fn = getattr(A, key.split(":")[0])
    args = {k: torch.tensor(np.asarray(v), dtype=torch.float32) for k, v in inputs.items()}
    eager = fn(**args, **kwargs)
    torch._dynamo.reset()
    compiled = torch.compile(fn, fullgraph=True, backend="eager")
    with spec.validate.unchecked(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = compiled(**args, **kwargs)
    outs = out if isinstance(out, tuple) else (out,)
    eagers = eager if isinstance(eager, tuple) else (eager,)
    for o, e in zip(outs, eagers, strict=True):
        assert o.dtype == e.dtype
        torch.testing.assert_close(o, e, rtol=1e-6, atol=1e-6)
