"""Training SASRec / GRU4Rec (plain or MTRec reward-weighted), in-process or on Ray Train.

The loop, identical in both modes (``_fit``):

1. build the model from ``SeqRecConfig`` (seeded), Adam (betas 0.9, 0.98 as in SASRec);
2. each epoch: shuffle the training windows (seed + epoch), shard them over workers,
   and minimise the **cross-entropy over the full catalogue** at every non-padding
   position; the MTRec variant multiplies each target's cross-entropy by its reward
   weight (``mtrec_ray.seqrec.weighting``, mean 1), nothing else changes;
   ``loss = sum_t w_t * CE_t / #targets``;
3. after each epoch: full-ranking validation NDCG@10 / HR@10 on the second-last event
   (users sharded over workers, sums all-reduced, so every worker takes the same
   decision); keep the best weights; stop after ``patience`` epochs without improvement;
4. report the epoch (Ray Train: ``mtrec_ray.training.report_epoch`` checkpoints the full
   state every epoch; a restarted worker group resumes from it).

``train_seqrec(config, data, reward_fn=..., use_ray=...)`` is the entry point; the best
weights come back as a ``TrainedSeqRec`` (scoring, ``Recommender`` adapter, save/load).
"""

from __future__ import annotations

import copy
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from torch import Tensor, nn

from mtrec_ray.config import from_dict, to_dict
from mtrec_ray.errors import ArtifactError, ConfigError
from mtrec_ray.eval.ranking import metrics_from_ranks, target_ranks
from mtrec_ray.models.gru4rec import GRU4Rec, GRU4RecConfig
from mtrec_ray.models.sasrec import SASRec, SASRecConfig
from mtrec_ray.progress import ProgressFn
from mtrec_ray.seqrec.data import SeqData, build_sequences
from mtrec_ray.seqrec.weighting import RewardFn, RewardScores, RewardWeightConfig, target_weights
from mtrec_ray.training import ScalingOptions

FORMAT_VERSION = 1
ARTIFACT_FILE = "seqrec.pt"
CONFIG_FILE = "seqrec.yaml"


@dataclass
class SeqRecConfig:
    """Training of a sequential recommender (SASRec or GRU4Rec, plain or MTRec-weighted)."""

    model: Literal["sasrec", "gru4rec"] = "sasrec"
    """Which network: sasrec or gru4rec."""
    max_len: int = 50
    """Longest history the model reads (and training window length)."""
    batch_size: int = 128
    """Training windows per step (per worker under Ray Train)."""
    lr: float = 1e-3
    """Adam learning rate."""
    weight_decay: float = 0.0
    """Adam L2 weight decay."""
    max_epochs: int = 200
    """Upper bound on epochs (early stopping usually ends sooner)."""
    patience: int = 10
    """Stop after this many epochs without a better validation NDCG@10."""
    eval_batch_size: int = 1024
    """Users per validation scoring batch."""
    seed: int = 0
    """Seed of initialisation and shuffling."""
    device: str = "auto"
    """Plain loop only: auto (cuda when available), cpu or cuda[:i]; Ray Train assigns its own."""
    sasrec: SASRecConfig = field(default_factory=SASRecConfig)
    """SASRec architecture (used when model is sasrec)."""
    gru4rec: GRU4RecConfig = field(default_factory=GRU4RecConfig)
    """GRU4Rec architecture (used when model is gru4rec)."""
    reward: RewardWeightConfig = field(default_factory=RewardWeightConfig)
    """MTRec reward weighting of the loss; signal none is the plain model."""

    def validate(self) -> None:
        """Check ranges; messages say how to fix the value."""
        if self.model not in ("sasrec", "gru4rec"):
            raise ConfigError(f"seqrec.model must be sasrec or gru4rec, got {self.model!r}")
        for name in ("max_len", "batch_size", "max_epochs", "patience", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"seqrec.{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ConfigError("seqrec.lr must be > 0 (try 1e-3)")
        if self.weight_decay < 0:
            raise ConfigError("seqrec.weight_decay must be >= 0")
        if not (self.device in ("auto", "cpu") or self.device.startswith("cuda")):
            raise ConfigError(f"seqrec.device must be auto, cpu or cuda[:i], got {self.device!r}")
        self.sasrec.validate()
        self.gru4rec.validate()
        self.reward.validate()

    @classmethod
    def smoke(cls, **overrides: Any) -> SeqRecConfig:
        """A tiny configuration for tests (seconds on one CPU core)."""
        cfg = cls(
            max_len=10, batch_size=32, max_epochs=3, patience=3,
            sasrec=SASRecConfig(dim=16, num_blocks=1, num_heads=1, dropout=0.1),
            gru4rec=GRU4RecConfig(dim=16, hidden=16, dropout=0.1),
        )
        for key, value in overrides.items():
            setattr(cfg, key, value)
        cfg.validate()
        return cfg


def build_model(config: SeqRecConfig, n_items: int) -> nn.Module:
    """The network named by ``config.model``."""
    if config.model == "sasrec":
        return SASRec(n_items=n_items, max_len=config.max_len, config=config.sasrec)
    return GRU4Rec(n_items=n_items, max_len=config.max_len, config=config.gru4rec)


@dataclass
class TrainedSeqRec:
    """A trained sequential recommender: best-validation weights and the training record."""

    model: nn.Module
    """The network (eval mode)."""
    config: SeqRecConfig
    """The configuration it was trained with."""
    history: list[dict[str, float]] = field(default_factory=list)
    """One record per epoch: loss, valid metrics, train_seconds, train_seqs_per_s."""
    best_epoch: int = -1
    """Epoch of the kept weights."""
    best_valid_ndcg10: float = float("nan")
    """Validation NDCG@10 of the kept weights."""

    @property
    def n_items(self) -> int:
        """Catalogue size."""
        return int(self.model.n_items)

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> TrainedSeqRec:
        """Move the weights (in place) and return self."""
        self.model.to(device)
        return self

    @torch.no_grad()
    def score_histories(self, items: Tensor) -> Tensor:
        """Scores ``(B, n_items)`` for right-aligned histories ``(B, L)`` padded with ``n_items``."""
        self.model.eval()
        items = items.to(self.device, dtype=torch.long)[:, -self.config.max_len :]
        return self.model(items)

    def recommender(self, *, name: str | None = None, exclude_history: bool = True) -> Any:
        """This model behind the ``Recommender`` interface (``SeqRecRecommender``)."""
        from mtrec_ray.seqrec.recommender import SeqRecRecommender

        return SeqRecRecommender(trained=self, name=name, exclude_history=exclude_history)

    def save(self, directory: str | Path) -> Path:
        """Write ``seqrec.pt`` (weights + metadata, loads with ``weights_only``) and ``seqrec.yaml``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "format_version": FORMAT_VERSION,
                "n_items": self.n_items,
                "config": to_dict(self.config),
                "model_state": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                "history": self.history,
                "best_epoch": self.best_epoch,
                "best_valid_ndcg10": self.best_valid_ndcg10,
            },
            out / ARTIFACT_FILE,
        )
        (out / CONFIG_FILE).write_text(yaml.safe_dump(to_dict(self.config), sort_keys=False))
        return out

    @classmethod
    def load(cls, directory: str | Path, *, map_location: str | torch.device = "cpu") -> TrainedSeqRec:
        """Load an artifact written by ``save`` (never unpickles arbitrary objects).

        Raises:
            ArtifactError: missing file or another format version.
        """
        path = Path(directory) / ARTIFACT_FILE
        if not path.exists():
            raise ArtifactError(f"{directory} is not a sequential recommender artifact (needs {ARTIFACT_FILE})")
        blob = torch.load(path, map_location=map_location, weights_only=True)
        if blob.get("format_version") != FORMAT_VERSION:
            raise ArtifactError(
                f"{path}: format version {blob.get('format_version')} is not supported "
                f"(expects {FORMAT_VERSION}); retrain with this version of mtrec-ray"
            )
        return trained_from_state(
            {
                "best_state": blob["model_state"],
                "config": blob["config"],
                "n_items": blob["n_items"],
                "history": blob["history"],
                "best_epoch": blob["best_epoch"],
                "best_metric": blob["best_valid_ndcg10"],
            }
        ).to(map_location)


def trained_from_state(state: dict[str, Any]) -> TrainedSeqRec:
    """A ``TrainedSeqRec`` from a training state (the loop's final state or a checkpoint)."""
    config = from_dict(SeqRecConfig, state["config"])
    model = build_model(config, int(state["n_items"]))
    model.load_state_dict(state["best_state"] if state.get("best_state") is not None else state["model"])
    model.eval()
    return TrainedSeqRec(
        model=model,
        config=config,
        history=list(state.get("history", [])),
        best_epoch=int(state.get("best_epoch", -1)),
        best_valid_ndcg10=float(state.get("best_metric", float("nan"))),
    )


# ---------------------------------------------------------------- the training loop


def make_loop_config(
    config: SeqRecConfig,
    data: SeqData,
    *,
    weights: np.ndarray | None = None,
) -> dict[str, Any]:
    """Everything ``_fit`` needs, as plain values and arrays (what Ray ships to workers).

    Args:
        config: training configuration.
        data: sequences (``max_len`` must equal ``config.max_len``).
        weights: per-training-target loss weights in ``data.train_states()`` order, or None.
    """
    if data.max_len != config.max_len:
        raise ConfigError(f"data were built with max_len={data.max_len}, config has {config.max_len}")
    windows = data.train_windows()
    if len(windows.inputs) == 0:
        raise ConfigError("no training targets: every user needs at least 2 training events")
    window_weights = None
    if weights is not None:
        weights = np.asarray(weights, np.float32)
        idx = windows.target_index
        window_weights = np.where(idx >= 0, weights[np.maximum(idx, 0)], 0.0).astype(np.float32)
    valid = data.split("valid")
    return {
        "config": to_dict(config),
        "n_items": data.n_items,
        "inputs": windows.inputs,
        "targets": windows.targets,
        "weights": window_weights,
        "valid_histories": valid.histories,
        "valid_targets": valid.targets,
    }


def _all_reduce_sum(t: Tensor) -> Tensor:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t)
    return t


def _unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)


def _fit(
    loop: dict[str, Any],
    *,
    device: torch.device,
    rank: int = 0,
    world: int = 1,
    restore: dict[str, Any] | None = None,
    report: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
    wrap: Callable[[nn.Module], nn.Module] | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """The training loop shared by the plain and the Ray Train paths; returns the final state."""
    cfg = from_dict(SeqRecConfig, loop["config"])
    n_items = int(loop["n_items"])
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, n_items).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98), weight_decay=cfg.weight_decay)
    start, best, best_epoch, bad = 0, -math.inf, -1, 0
    best_state: dict[str, Tensor] | None = None
    history: list[dict[str, float]] = []
    resumed: list[int] = []
    if restore is not None:
        model.load_state_dict(restore["model"])
        opt.load_state_dict(restore["optimizer"])
        start = int(restore["epoch"]) + 1
        best, best_epoch, bad = float(restore["best_metric"]), int(restore["best_epoch"]), int(restore["bad_epochs"])
        best_state = restore["best_state"]
        history = list(restore["history"])
        resumed = list(restore.get("resumed", [])) + [start]
    net = wrap(model) if wrap is not None else model
    torch.manual_seed(cfg.seed + 7919 * rank)  # same init everywhere, own dropout noise per worker

    def tensor(a: np.ndarray) -> Tensor:  # copy: arrays Ray ships to workers are read-only
        return torch.from_numpy(np.array(a, copy=True)).to(device)

    inputs, targets = tensor(loop["inputs"]), tensor(loop["targets"])
    weights = None if loop["weights"] is None else tensor(loop["weights"])
    v_hist, v_targets = tensor(loop["valid_histories"]), tensor(loop["valid_targets"])
    n_windows = len(inputs)
    per_rank = math.ceil(n_windows / world)

    def state(epoch: int) -> dict[str, Any]:
        return {
            "model": {k: v.detach().cpu() for k, v in _unwrap(net).state_dict().items()},
            "optimizer": opt.state_dict(),
            "epoch": epoch,
            "best_state": best_state,
            "best_metric": best,
            "best_epoch": best_epoch,
            "bad_epochs": bad,
            "history": history,
            "resumed": resumed,
            "config": loop["config"],
            "n_items": n_items,
        }

    last = start - 1
    for epoch in range(start, cfg.max_epochs if bad < cfg.patience else start):
        perm = np.random.default_rng(cfg.seed * 100_003 + epoch).permutation(n_windows)
        mine = torch.as_tensor(np.resize(perm, per_rank * world)[rank::world], device=device)
        net.train()
        t0 = time.perf_counter()
        loss_sum, steps = 0.0, 0
        for b in range(0, per_rank, cfg.batch_size):
            idx = mine[b : b + cfg.batch_size]
            x, y = inputs[idx], targets[idx]
            mask = y != n_items
            ce = F.cross_entropy(net(x, mask), y[mask], reduction="none")
            if weights is not None:
                ce = ce * weights[idx][mask]
            loss = ce.sum() / mask.sum().clamp(min=1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach())
            steps += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_seconds = time.perf_counter() - t0

        model.eval()
        sums = torch.zeros(3, dtype=torch.float64, device=device)
        with torch.no_grad():
            users = torch.arange(rank, len(v_targets), world, device=device)
            for b in range(0, len(users), cfg.eval_batch_size):
                u = users[b : b + cfg.eval_batch_size]
                ranks = target_ranks(model(v_hist[u]), v_targets[u])
                m = metrics_from_ranks(ranks, ks=(10,), mrr_ks=())
                sums += torch.stack([m["ndcg@10"].sum(), m["hr@10"].sum(), torch.tensor(float(len(u)), dtype=torch.float64, device=device)])
        _all_reduce_sum(sums)
        ndcg, hr = (sums[0] / sums[2].clamp(min=1)).item(), (sums[1] / sums[2].clamp(min=1)).item()
        if ndcg > best:
            best, best_epoch, bad = ndcg, epoch, 0
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        else:
            bad += 1
        record = {
            "epoch": epoch,
            "loss": loss_sum / max(steps, 1),
            "valid_ndcg@10": ndcg,
            "valid_hr@10": hr,
            "best_valid_ndcg@10": best,
            "best_epoch": best_epoch,
            "train_seconds": train_seconds,
            "train_seqs_per_s": per_rank * world / max(train_seconds, 1e-9),
            "world_size": world,
        }
        history.append(record)
        if report is not None:
            report(record, state(epoch))
        if progress is not None:
            progress(epoch + 1, cfg.max_epochs, f"{cfg.model} epoch {epoch} ndcg@10={ndcg:.4f}")
        last = epoch
        if bad >= cfg.patience:
            break
    return state(last)


def seqrec_train_loop(loop: dict[str, Any]) -> None:
    """Ray Train ``train_loop_per_worker``: ``_fit`` with the shared machinery's helpers."""
    import ray.train
    import ray.train.torch

    from mtrec_ray.training import device, report_epoch, restore_state

    ctx = ray.train.get_context()
    _fit(
        loop,
        device=device(),
        rank=ctx.get_world_rank(),
        world=ctx.get_world_size(),
        restore=restore_state(),
        report=report_epoch,
        wrap=ray.train.torch.prepare_model,
    )


def _plain_device(config: SeqRecConfig) -> torch.device:
    if config.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(config.device)


def train_seqrec(
    config: SeqRecConfig,
    data: SeqData | Any,
    *,
    reward_fn: RewardFn | RewardScores | np.ndarray | None = None,
    use_ray: bool = False,
    scaling: ScalingOptions | None = None,
    name: str = "seqrec",
    storage_path: str | None = None,
    in_tune: bool = False,
    progress: ProgressFn | None = None,
) -> TrainedSeqRec:
    """Train SASRec / GRU4Rec with early stopping on validation NDCG@10.

    Args:
        config: training configuration; ``config.reward.signal != "none"`` makes it the
            MTRec variant and then needs ``reward_fn``.
        data: ``SeqData``, or canonical events / a loaded dataset (built with
            ``build_sequences(max_len=config.max_len)``).
        reward_fn: ``reward_fn(histories, targets) -> (mean, cvar, quantiles)``, or
            precomputed ``RewardScores`` / arrays in ``data.train_states()`` order.
        use_ray: train through Ray Train (``mtrec_ray.training.run_trainer``); Ray must be
            initialised or initialisable by the caller.
        scaling: workers / GPU / fault tolerance for Ray Train (default: 1 CPU worker).
        name: Ray Train run name (re-running the same name and storage resumes it).
        storage_path: Ray Train storage (default: a new temporary folder).
        in_tune: forward every epoch's metrics to a surrounding Ray Tune trial.
        progress: callback ``(done_epochs, max_epochs, description)`` (plain loop).

    Returns:
        The best-validation model with its per-epoch history.
    """
    config.validate()
    seq = data if isinstance(data, SeqData) else build_sequences(data, max_len=config.max_len)
    weights = None
    if config.reward.enabled:
        if reward_fn is None:
            raise ConfigError(
                f"reward.signal={config.reward.signal} needs a reward (reward_fn=...); "
                "set reward.signal=none for the plain model"
            )
        weights = target_weights(reward_fn, seq.train_states(), config.reward, padding_id=seq.padding_id)
    loop = make_loop_config(config, seq, weights=weights)
    if not use_ray:
        return trained_from_state(_fit(loop, device=_plain_device(config), progress=progress))
    from mtrec_ray.training import load_result_state, run_trainer

    result = run_trainer(
        seqrec_train_loop,
        loop,
        scaling=scaling or ScalingOptions(),
        name=name,
        storage_path=storage_path or tempfile.mkdtemp(prefix="mtrec_seqrec_"),
        in_tune=in_tune,
    )
    return trained_from_state(load_result_state(result))
