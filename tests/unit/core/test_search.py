"""`model.search`: the plan (grid expansion, seeded sampling, the winner) and the config's checks,
each naming the key."""

from __future__ import annotations

import itertools
import re

import pytest
from pydantic import ValidationError

from mlgate.core.modelconfig import ModelConfig, SearchConfig
from mlgate.core.search import grid_size, plan, point, summarize, winner

pytestmark = pytest.mark.unit

GRID: dict[str, list[object]] = {
    "max_depth": [3, 5, 8, 12],
    "min_samples_leaf": [1, 2, 5],
    "criterion": ["gini", "log"],
}


def test_a_grid_within_the_trials_is_tried_whole_in_product_order() -> None:
    product = [dict(zip(GRID, p, strict=True)) for p in itertools.product(*GRID.values())]
    trials = plan(GRID, trials=24, seed=0)
    assert grid_size(GRID) == 24
    assert [{k: GRID[k][j] for k, j in t.items()} for t in trials] == product
    assert plan(GRID, trials=100, seed=0) == trials


def test_a_larger_grid_is_sampled_distinct_seeded_and_in_grid_order() -> None:
    every = plan(GRID, trials=24, seed=0)
    sampled = plan(GRID, trials=12, seed=7)
    assert len(sampled) == 12
    assert len({tuple(t.values()) for t in sampled}) == 12  # no point twice
    assert sampled == sorted(sampled, key=every.index)  # grid order
    assert plan(GRID, trials=12, seed=7) == sampled  # the same seed, the same trials
    assert plan(GRID, trials=12, seed=8) != sampled


def test_a_huge_grid_is_sampled_without_building_it() -> None:
    huge = {f"p{i}": list(range(10)) for i in range(30)}  # 10**30 points
    trials = plan(huge, trials=3, seed=1)
    assert len(trials) == 3
    assert point(huge, 10**30 - 1) == dict.fromkeys(huge, 9)


def test_the_winner_follows_the_metric_direction_and_ties_go_first() -> None:
    means = [0.8, None, 0.9, 0.9, 0.7]
    assert winner(means, "roc_auc") == 2
    assert winner(means, "log_loss") == 4
    assert winner([None, None], "f1") is None


def test_a_fold_without_the_metric_leaves_the_trial_unscored() -> None:
    assert summarize([0.5, 0.7]) == pytest.approx((0.6, 0.1))
    assert summarize([0.5, None]) == (None, None)
    assert summarize([0.5, float("nan")]) == (None, None)


SEARCH = {"params": {"max_depth": [3, 5]}, "trials": 4}


@pytest.mark.parametrize(
    ("search", "needle"),
    [
        ({**SEARCH, "params": {"max_depth": []}}, "model.search.params.max_depth: give at least"),
        ({**SEARCH, "params": {"max_depth": [3, 3]}}, "model.search.params.max_depth: 3 is listed"),
        ({**SEARCH, "params": {"max_depth": 3}}, "params.max_depth"),
        ({**SEARCH, "params": {}}, "params"),
        ({**SEARCH, "trials": 0}, "trials"),
        ({**SEARCH, "metric": "auc"}, "metric"),
        ({**SEARCH, "folds": 1}, "folds"),
        ({**SEARCH, "n_jobs": 0}, "n_jobs"),
        ({**SEARCH, "trails": 4}, "trails"),
    ],
    ids=[
        "empty",
        "twice",
        "not-a-list",
        "no-params",
        "trials",
        "metric",
        "folds",
        "n_jobs",
        "typo",
    ],
)
def test_a_bad_search_names_the_key(search: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(needle)):
        ModelConfig(search=search)


def test_a_search_defaults_to_five_folds_one_job_and_the_gates_metric() -> None:
    config = SearchConfig.model_validate(SEARCH)
    assert (config.folds, config.n_jobs, config.metric) == (5, 1, None)


def test_a_command_and_a_search_are_refused_together() -> None:
    with pytest.raises(
        ValidationError, match=re.escape("model.command and model.search are both set")
    ):
        ModelConfig(command="python t.py {train} {target} {out}", search=SEARCH)


def test_a_key_the_search_sets_is_named_where_the_search_writes_it() -> None:
    config = ModelConfig(params={"n_estimators": 10}, search=SEARCH)
    assert config.written_at("max_depth") == "model.search.params.max_depth"
    assert config.written_at("n_estimators") == "model.params.n_estimators"
