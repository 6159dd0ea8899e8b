"""Search-space YAML convention: validation names the key; translation to Tune."""

from __future__ import annotations

import pytest

from mtrec_ray.errors import ConfigError
from mtrec_ray.irl.config import IRLConfig
from mtrec_ray.tune.spaces import flatten, to_tune, validate_space


def test_valid_space_translates_to_nested_tune_domains():
    from ray.tune.search.sample import Categorical, Float, Integer

    space = {
        "lr": {"loguniform": [1e-4, 1e-2]},
        "gamma": {"uniform": [0.5, 0.95]},
        "model.encoder": {"choice": ["mean", "gru", "transformer"]},
        "n_depth": {"randint": [4, 12]},
        "model.n_quantiles": {"grid": [1, 8]},
        "kappa": 1.0,
    }
    validate_space(space, IRLConfig)
    tuned = to_tune(space)
    assert isinstance(tuned["lr"], Float) and isinstance(tuned["gamma"], Float)
    assert isinstance(tuned["model"]["encoder"], Categorical)
    assert isinstance(tuned["n_depth"], Integer)
    assert tuned["model"]["n_quantiles"] == {"grid_search": [1, 8]}
    assert tuned["kappa"] == 1.0
    assert flatten({"model": {"dim": 8}, "lr": 1}) == {"model.dim": 8, "lr": 1}


@pytest.mark.parametrize(
    ("space", "needle"),
    [
        ({"learning_rate": {"uniform": [0, 1]}}, "learning_rate"),
        ({"model.width": {"choice": [1]}}, "model.width"),
        ({"lr": {"normal": [0, 1]}}, "unknown distribution 'normal'"),
        ({"lr": {"uniform": [1]}}, "[low, high]"),
        ({"lr": {"loguniform": [0, 1]}}, "low > 0"),
        ({"lr": {"uniform": [2, 1]}}, "low < high"),
        ({"lr": {"choice": []}}, "non-empty list"),
        ({"lr": {"choice": [1], "grid": [2]}}, "exactly one"),
        ({"model.encoder": {"choice": ["lstm"]}}, "model.encoder"),
        ({"model": {"choice": [1]}}, "is a section"),
        ({"n_depth": {"randint": [1.5, 4]}}, "integers"),
    ],
)
def test_malformed_space_is_refused_naming_the_key(space, needle):
    with pytest.raises(ConfigError) as exc:
        validate_space(space, IRLConfig)
    assert needle in str(exc.value)
