"""IRLConfig: defaults, YAML/--set loading through the shared loader, fix-it errors."""

from __future__ import annotations

import pytest

from mtrec_ray.config import from_dict, load_config, save_config
from mtrec_ray.errors import ConfigError
from mtrec_ray.irl.config import IRLConfig


def test_defaults_validate_and_round_trip(tmp_path):
    cfg = IRLConfig()
    cfg.validate()
    save_config(cfg, tmp_path / "irl.yaml")
    assert load_config(IRLConfig, tmp_path / "irl.yaml") == cfg
    over = load_config(IRLConfig, tmp_path / "irl.yaml", ["gamma=0", "model.n_quantiles=1", "model.encoder=gru"])
    assert over.gamma == 0.0 and over.model.n_quantiles == 1 and over.model.encoder == "gru"
    assert IRLConfig.smoke().epochs < cfg.epochs


@pytest.mark.parametrize(
    "data, match",
    [
        ({"gamma": 1.0}, "gamma"),
        ({"evidence": "clicks"}, "evidence"),
        ({"model": {"n_quantiles": 0}}, "n_quantiles"),
        ({"model": {"encoder": "lstm"}}, "encoder"),
        ({"depth": "bins"}, "depth"),
        ({"lr": 0}, "lr"),
        ({"gama": 0.5}, "known keys"),
    ],
)
def test_bad_values_are_refused_with_a_hint(data, match):
    with pytest.raises(ConfigError, match=match):
        from_dict(IRLConfig, data)


def test_replace_validates():
    with pytest.raises(ConfigError):
        IRLConfig().replace(patience=0)
    assert IRLConfig().replace(gamma=0.0).gamma == 0.0
