"""SASRec through the shared Ray Train machinery: one fit, a worker crash, resume."""

from __future__ import annotations

from pathlib import Path

import torch

from mtrec_ray.eval.ranking import evaluate_ranking
from mtrec_ray.seqrec import (
    SeqRecConfig,
    build_sequences,
    make_loop_config,
    seqrec_train_loop,
    trained_from_state,
)
from mtrec_ray.seqrec.train import _fit
from mtrec_ray.training import ScalingOptions, load_result_state, run_trainer, world_rank
from tests.test_seqrec_train import N_ITEMS, pattern_events


def _crash_after_two_epochs(loop: dict) -> None:
    """First attempt: train and checkpoint epochs 0-1, then fail; the restart resumes."""
    marker = Path(loop["marker"])
    if not marker.exists():
        seqrec_train_loop({**loop, "config": {**loop["config"], "max_epochs": 2}})
        if world_rank() == 0:
            marker.write_text("crashed once")
            raise RuntimeError("injected worker failure")
    seqrec_train_loop(loop)


def test_ray_train_checkpoints_and_resumes_like_the_plain_loop(ray_session, tmp_path):
    data = build_sequences(pattern_events(n_users=30), max_len=10, n_items=N_ITEMS)
    cfg = SeqRecConfig.smoke(max_epochs=4, patience=10)
    loop = make_loop_config(cfg, data)
    result = run_trainer(
        _crash_after_two_epochs,
        {**loop, "marker": str(tmp_path / "marker")},
        scaling=ScalingOptions(num_workers=1, max_failures=1),
        name="seqrec_crash_once",
        storage_path=str(tmp_path / "ray_results"),
    )
    assert (tmp_path / "marker").exists(), "the injected failure did not happen"
    state = load_result_state(result)
    assert [h["epoch"] for h in state["history"]] == [0, 1, 2, 3]  # each epoch trained once
    assert state["resumed"] == [2]
    # before the crash, Ray Train (1 worker) trains exactly like the plain loop
    plain = _fit({**loop, "config": {**loop["config"], "max_epochs": 2}}, device=torch.device("cpu"))
    for ray_h, plain_h in zip(state["history"][:2], plain["history"], strict=True):
        assert abs(ray_h["loss"] - plain_h["loss"]) < 1e-5
    trained = trained_from_state(state)
    assert trained.best_epoch == max(range(4), key=lambda e: (state["history"][e]["valid_ndcg@10"], -e))
    metrics = evaluate_ranking(trained, data, "test")
    assert 0.0 <= metrics["hr@10"] <= 1.0 and metrics["n_users"] == 30
