"""History encoders, the mental reward model, its scoring API and artifacts."""

from __future__ import annotations

import json

import pytest
import torch

from mtrec_ray.errors import ArtifactError
from mtrec_ray.models import (
    HistoryEncoder,
    MentalRewardModel,
    RewardModelConfig,
    catalogue_fingerprint,
)

N_ITEMS = 30


def _history(batch: int, length: int, n_features: int = 2):
    g = torch.Generator().manual_seed(0)
    items = torch.randint(0, N_ITEMS, (batch, length), generator=g)
    feats = torch.rand(batch, length, n_features, generator=g)
    lengths = torch.tensor([0, 1, length // 2, length])[:batch]
    for b, n in enumerate(lengths.tolist()):
        items[b, : length - n] = N_ITEMS
        feats[b, : length - n] = 0.0
    return items, feats


@pytest.mark.parametrize("kind", ["mean", "gru", "transformer"])
def test_encoder_shapes_empty_and_padding_invariance(kind):
    torch.manual_seed(0)
    enc = HistoryEncoder(kind=kind, n_items=N_ITEMS, dim=8, n_features=2, max_len=12).eval()
    items, feats = _history(4, 6)
    out = enc(items, feats)
    assert out.shape == (4, 8) and torch.isfinite(out).all()
    assert torch.allclose(out[0], enc.empty)  # empty history -> learned empty vector
    # Extra left padding does not change the encoding.
    pad_items = torch.cat([torch.full((4, 3), N_ITEMS), items], dim=1)
    pad_feats = torch.cat([torch.zeros(4, 3, 2), feats], dim=1)
    assert torch.allclose(enc(pad_items, pad_feats), out, atol=1e-5)


@pytest.mark.parametrize("kind", ["mean", "gru", "transformer"])
@pytest.mark.parametrize("n", [1, 8])
def test_reward_model_scoring_api(kind, n):
    torch.manual_seed(0)
    cfg = RewardModelConfig(encoder=kind, dim=8, n_quantiles=n, max_history=6)
    model = MentalRewardModel(n_items=N_ITEMS, n_history_features=2, config=cfg)
    items, feats = _history(4, 6)
    single = model(items, feats, torch.arange(4))
    assert single.shape == (4, n)
    cands = torch.randint(0, N_ITEMS, (4, 5))
    s = model.score(items, feats, cands, alpha=0.2)
    assert s.quantiles.shape == (4, 5, n)
    assert s.mean.shape == s.std.shape == s.cvar.shape == (4, 5)
    assert torch.all(s.quantiles[..., 1:] >= s.quantiles[..., :-1])
    assert torch.all(s.cvar <= s.mean + 1e-5)
    # Scoring a candidate set agrees with scoring the items one by one.
    one = model(items, feats, cands[:, 2])
    assert torch.allclose(s.quantiles[:, 2], one, atol=1e-5)


def test_reward_model_moves_to_device():
    model = MentalRewardModel(n_items=N_ITEMS, n_history_features=2, config=RewardModelConfig(dim=8))
    model = model.to("cpu")
    items, feats = _history(2, 4)
    assert model(items, feats, torch.tensor([1, 2])).device.type == "cpu"


def test_save_load_round_trip_and_refusals(tmp_path):
    torch.manual_seed(0)
    fp = catalogue_fingerprint(f"raw{i}" for i in range(N_ITEMS))
    cfg = RewardModelConfig(encoder="gru", dim=8, n_quantiles=4, max_history=6)
    model = MentalRewardModel(
        n_items=N_ITEMS, n_history_features=2, config=cfg, item_fingerprint=fp, metadata={"gamma": 0.9}
    )
    model.save(tmp_path / "m")
    loaded = MentalRewardModel.load(tmp_path / "m", expected_fingerprint=fp)
    items, feats = _history(4, 6)
    cands = torch.randint(0, N_ITEMS, (4, 3))
    model.eval()
    loaded.eval()
    assert torch.allclose(model(items, feats, cands), loaded(items, feats, cands))
    assert loaded.metadata == {"gamma": 0.9} and loaded.config == cfg

    with pytest.raises(ArtifactError, match="catalogue"):
        MentalRewardModel.load(tmp_path / "m", expected_fingerprint=catalogue_fingerprint(range(5)))
    meta_path = tmp_path / "m" / "reward_model.json"
    meta = json.loads(meta_path.read_text())
    meta["format_version"] = 999
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="format version"):
        MentalRewardModel.load(tmp_path / "m")
    with pytest.raises(ArtifactError, match="not a mental reward model"):
        MentalRewardModel.load(tmp_path / "missing")


def test_weights_file_refuses_pickled_objects(tmp_path):
    model = MentalRewardModel(n_items=N_ITEMS, n_history_features=2, config=RewardModelConfig(dim=8))
    model.save(tmp_path / "m")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "m" / "weights.pt")
    with pytest.raises(Exception):  # noqa: B017 - weights_only loading rejects the global
        MentalRewardModel.load(tmp_path / "m")


def test_fingerprint_depends_on_order_and_content():
    assert catalogue_fingerprint([1, 2, 3]) != catalogue_fingerprint([1, 3, 2])
    assert catalogue_fingerprint(range(3)) == catalogue_fingerprint([0, 1, 2])
