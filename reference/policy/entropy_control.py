"""Reference (NumPy float64) ``entropy_control`` group of the ``policy`` family: SIREN's peak-entropy quantile
mask and self-anchored entropy regulariser; EPO's phase weight, entropy smoothing penalty and policy loss.

Sequence inputs are ``(B, T)`` with a ``mask`` of the same shape (see :mod:`reference.policy._common`);
every aggregation goes through :func:`reference.policy.aggregate`.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from reference._math import F64
from reference.policy._common import Bool, sequences
from reference.policy.ppo import aggregate
from spec.errors import ShapeError
from spec.validate import check_finite, check_params

__all__ = ["peak_entropy_quantile_mask", "siren_entropy_loss"]


# --------------------------------------------------------------------------- helpers


def _lerp(a: F64, b: F64, w: F64) -> F64:
    """torch.lerp's formula (the interpolation of torch.quantile): exact at both ends."""
    return np.where(w < 0.5, a + w * (b - a), b - (b - a) * (1.0 - w))


def row_quantile(x: F64, valid: Bool, q: float) -> F64:
    """Per-row ``torch.nanquantile(where(valid, x, nan), q, dim=-1)`` (linear interpolation at
    ``pos = q·(n − 1)`` over the row's ``n`` valid entries), in float64; NaN for a row without valid entries."""
    out = np.full(x.shape[:-1], np.nan)
    for idx in np.ndindex(x.shape[:-1]):
        vals = np.sort(x[idx][valid[idx]])
        n = vals.size
        if n == 0:
            continue
        pos = q * (n - 1)
        lo = math.floor(pos)
        hi = math.ceil(pos)
        out[idx] = float(_lerp(vals[lo: lo + 1], vals[hi: hi + 1], np.array([pos - lo]))[0])
    return out


def peak_mask(h: F64, valid: Bool, q: float, double_mask: bool, restrict: bool) -> tuple[F64, Bool]:
    """``(entropies to aggregate, kept set)``: one or two rounds of ``H > row quantile``."""
    with np.errstate(invalid="ignore"):
        keep = h > row_quantile(h, valid, q)[..., None]
    if restrict:
        keep &= valid
    if not double_mask:
        return h, np.asarray(keep, dtype=bool)
    masked = np.where(keep, h, 0.0)
    with np.errstate(invalid="ignore"):
        keep2 = masked > row_quantile(masked, valid, q)[..., None]
    if restrict:
        keep2 &= valid
    return masked, np.asarray(keep2, dtype=bool)


# --------------------------------------------------------------------------- peak_entropy_quantile_mask


def peak_entropy_quantile_mask(entropy: npt.ArrayLike, mask: npt.ArrayLike, *, quantile: float = 0.8,
                               double_mask: bool = False, restrict_to_mask: bool = True) -> Bool:
    r"""SIREN's peak-entropy mask: the tokens whose entropy exceeds their sequence's ``q``-quantile.

    ``bound_b = nanquantile(H_b over the valid tokens, q)`` per row (linear interpolation at
    ``pos = q·(n_b − 1)``: ``lerp(v_⌊pos⌋, v_⌈pos⌉, pos − ⌊pos⌋)``), ``keep = H > bound_b`` (strict),
    AND-ed with the mask when ``restrict_to_mask`` (the code does not AND it). ``double_mask`` repeats
    the step on ``where(keep, H, 0)`` (the official ``experiment_type='siren'`` path). A row without
    valid tokens keeps nothing; all-equal valid entropies keep nothing.

    Paper: "Rethinking Entropy Regularization in Large Reasoning Models" (2025, arXiv:2509.25133),
    official code ``mask_by_quantile`` in Linn3a/siren ``verl/verl/workers/actor/dp_actor.py``
    (commit fa59a8d), which computes the quantile with ``torch.nanquantile`` in float32; the bound is
    computed here in float64 with torch's ``lerp`` formula.

    Papers:

    - Rethinking Entropy Regularization in Large Reasoning Models (2025, arXiv:2509.25133)
    """
    fn = "peak_entropy_quantile_mask"
    check_params(fn, quantile=quantile, double_mask=double_mask, restrict_to_mask=restrict_to_mask)
    a, valid = sequences(fn, mask, entropy=entropy)
    _, keep = peak_mask(a["entropy"], valid, quantile, double_mask, restrict_to_mask)
    return keep


# --------------------------------------------------------------------------- siren_entropy_loss


def siren_aggregate(h: F64, keep: Bool, mode: str, empty_rows: str) -> float:
    """``aggregate(h, keep, mode)``; with ``empty_rows='zero'`` a seq-mean-token-mean row without kept tokens
    counts as 0 in the mean over all rows (the fork's ``agg_loss``)."""
    value = float(aggregate(h, keep, mode))
    if mode == "seq-mean-token-mean" and empty_rows == "zero" and keep.size:
        k2 = keep.reshape(-1, keep.shape[-1])
        value = value * float(k2.any(axis=-1).sum()) / k2.shape[0]
    return value


def siren_entropy_loss(entropy: npt.ArrayLike, mask: npt.ArrayLike, *, anchor: npt.ArrayLike | None = None,
                       old_entropy: npt.ArrayLike | None = None, coef: float = 1.0, quantile: float = 0.8,
                       double_mask: bool = True, restrict_to_mask: bool = True, mode: str = "seq-mean-token-mean",
                       empty_rows: str = "zero") -> tuple[F64, F64]:
    r"""SIREN's self-anchored selective entropy regulariser; returns ``(loss, anchor)``.

    ``H_sel = aggregate(H', M, mode)`` with ``(H', M)`` from :func:`peak_entropy_quantile_mask`
    (``double_mask``: ``H' = where(M1, H, 0)`` and ``M = M2``, the official 'siren' path; otherwise
    ``H' = H``, ``M = M1``); ``loss = coef·(H_sel − anchor)²``.

    State: ``anchor`` (0-d) is an input and an output. ``anchor=None`` is the first step: the anchor
    is ``H_sel`` of ``old_entropy`` (the old policy's entropies, as the official trainer at global
    step 1) with ONE mask (as the trainer), or of the current ``entropy`` when ``old_entropy`` is None;
    it is computed without gradient. The returned anchor is passed back unchanged afterwards (the
    code keeps it constant). Stop-gradients: masks, anchor, ``old_entropy``.

    ``empty_rows='zero'`` reproduces the fork's ``agg_loss`` (seq-mean-token-mean over all rows, a row
    without kept tokens counting 0); ``'exclude'`` is our ``aggregate``. The fork adds
    ``entropy_coeff·loss`` to the PPO loss (``entropy_coeff = 0.005`` in ``exp_scripts/siren.sh``);
    the entropies are its top-p entropies (``top_p_renormalized_entropy``, p = 0.8).

    Paper: "Rethinking Entropy Regularization in Large Reasoning Models" (2025, arXiv:2509.25133);
    official code Linn3a/siren ``dp_actor.py`` ``update_policy`` and ``ray_trainer.py`` (commit fa59a8d).

    Papers:

    - Rethinking Entropy Regularization in Large Reasoning Models (2025, arXiv:2509.25133)
    """
    fn = "siren_entropy_loss"
    check_params(fn, coef=coef, quantile=quantile, double_mask=double_mask, restrict_to_mask=restrict_to_mask,
                 mode=mode, empty_rows=empty_rows)
    a, valid = sequences(fn, mask, entropy=entropy, old_entropy=old_entropy) if old_entropy is not None \
        else sequences(fn, mask, entropy=entropy)
    if anchor is not None:
        anc = np.asarray(anchor)
        if anc.ndim != 0:
            raise ShapeError(fn, "anchor", "a 0-d array (the anchor state)", f"shape {anc.shape}")
        check_finite(fn, "anchor", anc, np)
        anchor_value = float(anc)
    else:
        src = a["old_entropy"] if old_entropy is not None else a["entropy"]
        h0, k0 = peak_mask(src, valid, quantile, False, restrict_to_mask)
        anchor_value = siren_aggregate(h0, k0, mode, empty_rows)
    h, keep = peak_mask(a["entropy"], valid, quantile, double_mask, restrict_to_mask)
    h_sel = siren_aggregate(h, keep, mode, empty_rows)
    return np.asarray(coef * (h_sel - anchor_value) ** 2), np.asarray(anchor_value)
