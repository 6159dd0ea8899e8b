"""The shared Ray Train machinery: checkpoints every epoch, resume after a worker crash."""

from __future__ import annotations

from pathlib import Path

from mtrec_ray.training import ScalingOptions, load_result_state, run_trainer


def _loop(config: dict) -> None:
    import torch

    from mtrec_ray.training import report_epoch, restore_state, unwrap, world_rank

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    start, history, resumed = 0, [], []
    state = restore_state()
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start, history = state["epoch"] + 1, list(state["history"])
        resumed = list(state["resumed"]) + [start]
    x = torch.randn(256, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    for epoch in range(start, config["epochs"]):
        marker = Path(config["marker"])
        if epoch == config["crash_at"] and not marker.exists() and world_rank() == 0:
            marker.write_text("crashed once")
            raise RuntimeError("injected worker failure")
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(float(loss))
        report_epoch(
            {"epoch": epoch, "loss": float(loss)},
            {
                "model": unwrap(model).state_dict(),
                "optimizer": opt.state_dict(),
                "epoch": epoch,
                "history": history,
                "resumed": resumed,
            },
        )


def test_trainer_checkpoints_and_resumes_after_worker_crash(ray_session, tmp_path):
    result = run_trainer(
        _loop,
        {"epochs": 4, "crash_at": 2, "marker": str(tmp_path / "marker")},
        scaling=ScalingOptions(num_workers=1, max_failures=1),
        name="crash_once",
        storage_path=str(tmp_path / "ray_results"),
    )
    assert (tmp_path / "marker").exists(), "the injected failure did not happen"
    state = load_result_state(result)
    assert state["epoch"] == 3
    assert len(state["history"]) == 4  # every epoch trained exactly once
    assert state["resumed"] == [2]  # restarted from the epoch-1 checkpoint
    assert state["history"][-1] < state["history"][0]
    assert result.metrics["epoch"] == 3
