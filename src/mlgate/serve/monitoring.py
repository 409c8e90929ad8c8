"""The server's monitoring parts in one place: drift gauges (drift.py) and /feedback
(feedback.py), built from the bundle and fed by every prediction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlgate.serve.drift import LiveDrift
from mlgate.serve.feedback import Feedback, FeedbackLog
from mlgate.store.bundle import PROFILE_FILE
from mlgate.store.files import read_profile, read_reference

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from mlgate.serve.settings import ServeSettings
    from mlgate.serve.validate import Batch
    from mlgate.store.bundle import Bundle


@dataclass
class Monitoring:
    """What a worker keeps to export drift and score feedback."""

    live: LiveDrift
    feedback: Feedback

    @classmethod
    def for_bundle(
        cls, bundle: Bundle, settings: ServeSettings, version: str, registry: CollectorRegistry
    ) -> Monitoring:
        """Read the bundle's reference profile and monitoring reference; set up both parts."""

        profile = read_profile(bundle.path / PROFILE_FILE)
        reference = read_reference(bundle.path)
        live = LiveDrift(
            bundle.schema.features,
            profile,
            reference.predictions if reference is not None else None,
            window=settings.drift_window,
            registry=registry,
        )
        log = None
        if settings.log_dir is not None:
            log = FeedbackLog(
                settings.log_dir, max_bytes=settings.log_max_bytes, keep=settings.log_keep
            )
        classes = bundle.meta.classes if bundle.meta.task != "regression" else None
        feedback = Feedback(
            model=bundle.meta.name,
            version=version,
            classes=list(classes) if classes else None,
            registry=registry,
            log=log,
            memory_rows=settings.feedback_memory,
        )
        return cls(live, feedback)

    def observe(self, request_id: str, batch: Batch, predictions: list[Any]) -> None:
        """Called for every answered prediction."""
        self.live.observe(batch, predictions)
        self.feedback.remember(request_id, predictions)

    def close(self) -> None:
        """Close the feedback log."""
        if self.feedback.log is not None:
            self.feedback.log.close()
