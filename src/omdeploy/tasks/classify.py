"""Classification post-processing: probabilities and top-k with labels."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .base import ImageTask, ModelRef
from .preprocess import Geometry


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    z = logits.astype(np.float32) - logits.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def looks_like_probabilities(scores: np.ndarray) -> bool:
    return bool(scores.min() >= 0 and abs(float(scores.sum(axis=-1).mean()) - 1.0) < 1e-3)


def top_k(scores: np.ndarray, k: int = 5, labels: Optional[Sequence[str]] = None) -> List[Dict[str, object]]:
    """Top-k of one row of scores (logits are soft-maxed first) as [{'index','label','score'}]."""
    row = np.asarray(scores, dtype=np.float32).reshape(-1)
    probs = row if looks_like_probabilities(row) else softmax(row)
    k = min(k, probs.size)
    order = np.argpartition(-probs, k - 1)[:k]
    order = order[np.argsort(-probs[order])]
    return [{"index": int(i), "label": labels[i] if labels is not None and i < len(labels) else str(int(i)),
             "score": float(probs[i])} for i in order]


class Classifier(ImageTask):
    """Top-k classification of RGB uint8 images, driven by the spec (preprocessing, labels)."""

    name = "classify"

    def __init__(self, model: ModelRef, k: int = 5, labels: Optional[Sequence[str]] = None,
                 preset: Optional[str] = None, backend: str = "auto", **options: Any):
        self._open(model, preset, labels, backend, options)
        self.k = k

    def finish(self, prepared: Tuple[np.ndarray, Geometry], outputs: Dict[str, np.ndarray]) -> Dict[str, Any]:
        scores = next(iter(outputs.values()))
        return {"top": top_k(scores[0], self.k, self.labels)}
