"""The user response model: step building, torch/numpy parity, artifacts, fitting."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from envs.user_session import (
    META_FILE,
    WEIGHTS_FILE,
    SimulatorFitConfig,
    UserModel,
    UserResponseNet,
    build_steps,
    fit_user_model,
    history_stats,
    load_interactions,
)
from mtrec_ray.errors import ArtifactError, ConfigError, DataError
from mtrec_ray.recommenders import Histories
from tests.sim_helpers import tiny_sim, tiny_world


def _log() -> pd.DataFrame:
    # user 0: session 0 = slates 0 (click pos 1), 1 (no click); session 1 = slate 2 (click pos 0)
    # user 1: session 2 = slate 3 (click pos 0)
    rows = [
        (0, 10, 100, 0, 0, 0, 0, 0.0), (0, 11, 101, 0, 0, 1, 1, 0.5),
        (0, 12, 110, 0, 1, 0, 0, 0.0), (0, 13, 111, 0, 1, 1, 0, 0.0),
        (0, 14, 900, 1, 2, 0, 1, 0.9), (0, 15, 901, 1, 2, 1, 0, 0.0),
        (1, 16, 50, 2, 3, 0, 1, 0.2), (1, 17, 51, 2, 3, 1, 0, 0.0),
    ]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "session_id", "slate_id",
                                       "position", "click", "watch_ratio"])


def test_build_steps_slates_choices_leaves_and_histories():
    s = build_steps(_log(), n_items=20, history_len=3, negatives=4, seed=0)
    assert s.slate.tolist() == [[10, 11], [12, 13], [14, 15], [16, 17]]
    assert s.chosen.tolist() == [1, 2, 0, 0]  # 2 = no click (K)
    assert s.leave.tolist() == [False, True, True, True]
    assert s.session_step.tolist() == [0, 1, 0, 0]
    assert s.session_clicks.tolist() == [0, 1, 0, 0]
    assert s.hist_items.tolist() == [[-1, -1, -1], [-1, -1, 11], [-1, -1, 11], [-1, -1, -1]]
    np.testing.assert_allclose(s.hist_wr[2], [0, 0, 0.5])
    np.testing.assert_allclose(s.watch_ratio, [0.5, 0.0, 0.9, 0.2])


def test_build_steps_without_exposures_adds_negatives():
    df = pd.DataFrame({"user_id": [0, 0, 0], "item_id": [3, 4, 5], "timestamp": [1, 2, 3],
                       "session_id": [0, 0, 0]})
    s = build_steps(df, n_items=50, history_len=2, negatives=4, seed=1)
    assert s.slate.shape == (3, 5)
    assert s.slate[np.arange(3), s.chosen].tolist() == [3, 4, 5]
    assert s.hist_items[2].tolist() == [3, 4]
    with pytest.raises(DataError, match="dense"):
        build_steps(df.assign(item_id=[3, 4, 99]), n_items=50, history_len=2, negatives=0, seed=0)


def _arrays(net: UserResponseNet, n_items: int) -> dict[str, np.ndarray]:
    arrays = {k: v.detach().numpy() for k, v in net.state_dict().items() if k != "recency"}
    arrays.update(item_duration=np.ones(n_items, np.float32), item_clicks=np.ones(n_items),
                  start_items=np.full((2, net.config.history_len), -1), start_wr=np.zeros((2, net.config.history_len)),
                  start_users=np.zeros(2, np.int64))
    return arrays


def test_numpy_inference_matches_torch():
    torch.manual_seed(0)
    cfg = SimulatorFitConfig(embed_dim=6, hidden=8, history_len=5, n_watch_bins=7)
    net = UserResponseNet(n_items=30, config=cfg)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
        net.ldur.copy_(torch.randn(30))
    model = UserModel(arrays=_arrays(net, 30), config=cfg)
    rng = np.random.default_rng(0)
    items = rng.integers(-1, 30, size=(6, 5))
    h = Histories(items=items, watch_ratio=rng.random((6, 5)) * 2.5, session_step=rng.integers(0, 9, 6),
                  session_clicks=rng.integers(0, 3, 6))
    stats = history_stats(h, max_watch_ratio=cfg.max_watch_ratio)
    state_np, _ = model.observer.encode(h)
    with torch.no_grad():
        state_t = net.encode(torch.from_numpy(h.items), torch.from_numpy(h.watch_ratio), torch.from_numpy(stats))
        slate = torch.from_numpy(rng.integers(0, 30, size=(6, 4)))
        click_t = torch.softmax(net.click_logits(state_t, slate), 1).numpy()
        item = torch.from_numpy(rng.integers(0, 30, size=6))
        watch_t = torch.softmax(net.watch_logits(state_t, item), 1).numpy()
        click = torch.tensor([True, False, True, True, False, True])
        wr = torch.rand(6)
        leave_t = torch.sigmoid(net.leave_logit(state_t, torch.from_numpy(stats), item, click, wr)).numpy()
    np.testing.assert_allclose(state_np, state_t.numpy(), atol=1e-5)
    np.testing.assert_allclose(model.click_probs(state_np, slate.numpy()), click_t, atol=1e-5)
    np.testing.assert_allclose(model.watch_bin_probs(state_np, item.numpy()), watch_t, atol=1e-5)
    np.testing.assert_allclose(model.leave_prob(state_np, stats, item.numpy(), click.numpy(), wr.numpy()),
                               leave_t, atol=1e-5)


@pytest.fixture(scope="module")
def world_and_sim(tmp_path_factory):
    root = tmp_path_factory.mktemp("us")
    world = tiny_world(root)
    return world, tiny_sim(root, world)


def test_fit_learns_the_logged_click_rate_and_keeps_holdout(world_and_sim):
    world, sim = world_and_sim
    model = UserModel.load(sim)
    held = model.meta["dataset"]["holdout_users"]
    assert len(held) == 60  # 20% of 300 users
    data = load_interactions(world)
    assert model.fingerprint == data.fingerprint
    ev = data.events[~data.events["user_id"].isin(held)]
    s = build_steps(ev, n_items=model.n_items, history_len=model.config.history_len, negatives=0, seed=0)
    state, _ = model.observer.encode(s.histories())
    p_any = 1 - model.click_probs(state, s.slate)[:, -1]
    observed = (s.chosen < s.slate.shape[1]).mean()
    assert abs(p_any.mean() - observed) / observed < 0.1
    assert model.meta["fit"]["history"][-1]["valid_loss"] < model.meta["fit"]["history"][0]["train_loss"]


def test_artifact_round_trip_and_refusals(world_and_sim, tmp_path):
    _, sim = world_and_sim
    model = UserModel.load(sim, expect_fingerprint=UserModel.load(sim).fingerprint)
    copy = model.save(tmp_path / "copy")
    again = UserModel.load(copy)
    for k, v in model.arrays.items():
        np.testing.assert_array_equal(v, again.arrays[k])
    with pytest.raises(ArtifactError, match="fitted on data set .* refit"):
        UserModel.load(copy, expect_fingerprint="sha256:other")
    with pytest.raises(ArtifactError, match="not a user-session simulator artifact"):
        UserModel.load(tmp_path / "missing")
    meta = json.loads((copy / META_FILE).read_text())
    (copy / META_FILE).write_text(json.dumps({**meta, "format_version": 999}))
    with pytest.raises(ArtifactError, match="format version 999"):
        UserModel.load(copy)
    (copy / META_FILE).write_text(json.dumps({**meta, "n_items": 7}))
    with pytest.raises(ArtifactError, match="item embeddings have shape"):
        UserModel.load(copy)
    (copy / META_FILE).write_text(json.dumps(meta))
    weights = torch.load(copy / WEIGHTS_FILE, weights_only=True)
    del weights["leave2.bias"]
    torch.save(weights, copy / WEIGHTS_FILE)
    with pytest.raises(ArtifactError, match="missing weight.*leave2.bias"):
        UserModel.load(copy)


def test_prepared_dataset_fingerprint_is_the_data_layers(world_and_sim, tmp_path):
    from mtrec_ray.data.dataset import ingest

    world, _ = world_and_sim
    ds = ingest("world", world, tmp_path / "ds")
    data = load_interactions(tmp_path / "ds")
    assert data.fingerprint == ds.metadata["fingerprint"]
    assert data.n_items == ds.n_items and data.item_ids is None
    assert not any(c.startswith("label_") or c.startswith("split") for c in data.events.columns)
    with pytest.raises(DataError, match="not a prepared data set"):
        load_interactions(tmp_path)


def test_config_validation():
    with pytest.raises(ConfigError, match="holdout_fraction"):
        SimulatorFitConfig(holdout_fraction=1.5).validate()
    with pytest.raises(ConfigError, match="max_watch_ratio"):
        SimulatorFitConfig(max_watch_ratio=0).validate()
    df = pd.DataFrame({"user_id": [0], "item_id": [0], "timestamp": [0], "session_id": [0]}).iloc[:0]
    with pytest.raises(DataError, match="empty"):
        fit_user_model(df, n_items=3)
