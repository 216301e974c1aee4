"""The msaccucmp / msit compare metric set for one output, under their names and zero/eps conventions.

Names are the column names of msit's compare CSV (`msit debug compare`, result_*.csv). Conventions follow msit's
public algorithms (Ascend/msit, msit/components/llm/msit_llm/compare/cmp_algorithm.py): eps is float32's machine
epsilon; relative errors skip elements whose reference is within eps of 0 (they count as 0), the relative Euclidean
distance of a reference with norm <= eps is 0, cosine of two all-zero tensors is 1, KL divergence is taken between
softmax(reference) and softmax(target) over the flattened tensor and floored at 0.
"""
from __future__ import annotations

from typing import Any, Dict

import numpy as np

EPS = float(np.finfo(np.float32).eps)
MSIT_METRICS = ("CosineSimilarity", "MaxAbsoluteError", "AccumulatedRelativeError", "RelativeEuclideanDistance",
                "KullbackLeiblerDivergence", "StandardDeviation", "MeanAbsoluteError", "RootMeanSquareError",
                "MaxRelativeError", "MeanRelativeError")


def _softmax_log(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max()
    return shifted - np.log(np.exp(shifted).sum())


def msit_metrics(ref: np.ndarray, got: np.ndarray) -> Dict[str, Any]:
    """Finite float64 vectors of one output (non-finite values are handled by the caller) -> msit's metrics.
    CosineSimilarity is None for a 1-element output (the cosine of one value is always 1: not a verdict)."""
    r, g = np.asarray(ref, np.float64).ravel(), np.asarray(got, np.float64).ravel()
    if r.size == 0:
        return {name: None for name in MSIT_METRICS}
    d = np.abs(g - r)
    relevant = np.abs(r) > EPS
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(relevant, d / np.where(relevant, np.abs(r), 1.0), 0.0)
    nr, ng = float(np.linalg.norm(r)), float(np.linalg.norm(g))
    if r.size == 1:
        cosine = None
    elif nr == 0.0 and ng == 0.0:
        cosine = 1.0
    elif nr == 0.0 or ng == 0.0:
        cosine = float("nan")  # msaccucmp: cannot compare (one side all zero)
    else:
        cosine = float(np.dot(r, g) / (nr * ng))
    red = 0.0 if nr <= EPS else float(np.linalg.norm(g - r) / nr)
    total = float(np.abs(r).sum())
    kl = float(np.sum(np.exp(_softmax_log(r)) * (_softmax_log(r) - _softmax_log(g))))
    return {
        "CosineSimilarity": cosine,
        "MaxAbsoluteError": float(d.max()),
        "AccumulatedRelativeError": 0.0 if total <= EPS else float(d.sum() / total),
        "RelativeEuclideanDistance": red,
        "KullbackLeiblerDivergence": max(kl, 0.0),
        "StandardDeviation": {"ref": [float(r.mean()), float(r.std())], "target": [float(g.mean()), float(g.std())]},
        "MeanAbsoluteError": float(d.mean()),
        "RootMeanSquareError": float(np.sqrt(np.mean(d ** 2))),
        "MaxRelativeError": float(rel.max()),
        "MeanRelativeError": float(rel.mean()),
    }


def identical_nonfinite(ref: np.ndarray, got: np.ndarray) -> np.ndarray:
    """Mask of elements that are the same inf or both NaN on both sides: equal, not an error."""
    return ~np.isfinite(ref) & ((ref == got) | (np.isnan(ref) & np.isnan(got)))
