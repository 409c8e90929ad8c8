"""What a registration records of a hyperparameter search (`model.search`): the trial table as
a JSON artifact of the run (`search/trials.json`) and two small tags; the winner's values are
already the run's `model.*` params (they are the bundle's params)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlgate.core.records.lineage import BundleMeta

TRIALS_ARTIFACT = "search/trials.json"


def search_documents(meta: BundleMeta) -> dict[str, Any]:
    """Artifact path -> JSON document to log with the run (none without a search)."""
    if meta.search is None:
        return {}
    return {TRIALS_ARTIFACT: meta.search.model_dump(mode="json")}


def search_tags(meta: BundleMeta) -> dict[str, str]:
    """Run tags that say a search chose the model, by which metric, and which trial won."""
    search = meta.search
    if search is None:
        return {}
    return {
        "mlgate.search.metric": search.metric,
        "mlgate.search.trials": str(len(search.trials)),
        "mlgate.search.winner": str(search.winner + 1),
    }
