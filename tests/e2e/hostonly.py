"""A model wrapper that exists only on the test host, never in the image.

A bundle whose model file holds this class (trusted with `--trust-type`) loads and predicts
here, verifies (its SHA256SUMS are resealed), and cannot be loaded inside the image, which has
no `tests` package: the classic "works on my machine" model, which is what a smoke test is
there to catch.
"""

from __future__ import annotations

from typing import Any


class HostOnlyModel:
    """Delegates to the wrapped scikit-learn Pipeline."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.steps = inner.steps

    def predict(self, frame: Any) -> Any:
        """The wrapped model's predictions."""
        return self.inner.predict(frame)

    def predict_proba(self, frame: Any) -> Any:
        """The wrapped model's class probabilities."""
        return self.inner.predict_proba(frame)
