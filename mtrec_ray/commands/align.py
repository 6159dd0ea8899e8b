"""``mtrec align``: reward-guided recommenders (MTRec SASRec / GRU4Rec, PPO) vs their twins.

How to run::

    mtrec align --data runs/world --model runs/irl/model --sim runs/sim --out runs/align
    mtrec align --data runs/ml100k --model runs/irl_ml/model --out runs/align_ml \\
        --set 'models=[sasrec,gru4rec]' --set use_ray=true

What you should see: one line per trained arm (test NDCG@10 / HR@10, time), one per PPO
arm (with ``--sim``), one per A/B arm (world data only), then ``OUT/align.json``
(offline table, A/B arms, paired lifts over the click-trained twins and the watch-time
arm, the headline), ``OUT/report.html``, and every arm saved (``seqrec:OUT/seqrec/NAME``,
``policy:OUT/rl/NAME``). Config keys: ``mtrec_ray.align.pipeline.AlignConfig``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mtrec_ray.cli import _common, _print_json, command
from mtrec_ray.progress import console_print
from mtrec_ray.storage import local_input, output_dir


def _align_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="prepared dataset (world logs or MovieLens)")
    p.add_argument("--model", default="", help="mental reward model (mtrec irl's OUT/model); needed by MTRec arms")
    p.add_argument("--sim", default="", help="log-fitted simulator (mtrec fit-sim) for the PPO arms; omit: no PPO")
    p.add_argument("--no-ab", action="store_true", help="skip the A/B test (it needs world data)")
    _common(p, out_default=None)


@command(
    "align",
    "Train SASRec / GRU4Rec plain and MTRec (mean, CVaR) and PPO arms (click, mental, watch time), "
    "evaluate offline and A/B them in the ground-truth world with lifts over click-trained twins.",
    _align_args,
)
def cmd_align(args: argparse.Namespace) -> int:
    from mtrec_ray.align.pipeline import (
        AlignConfig,
        ab_rows,
        offline_rows,
        pair_rows,
        plot_learning_curves,
        run_arms_ab,
        train_rl_arms,
        train_seqrec_arms,
    )
    from mtrec_ray.align.report import Section, write_report
    from mtrec_ray.config import load_config
    from mtrec_ray.seqrec.train import SeqRecConfig

    cfg = load_config(AlignConfig, args.config, args.set)
    if args.smoke:
        cfg.seqrec = SeqRecConfig.smoke(max_epochs=2, patience=2, reward=cfg.seqrec.reward)
        cfg.ab.n_users, cfg.ab.horizon_days, cfg.ab.n_bootstrap = 20, 1.0, 200
    cfg.validate()
    data = local_input(args.data)
    model = local_input(args.model) if args.model else None
    world = (Path(data) / "ground_truth").exists()
    if cfg.use_ray or (args.sim and cfg.rl.rewards):
        from mtrec_ray.align.pipeline import start_local_ray
        from mtrec_ray.ray_utils import init_ray

        start_local_ray(args.address)
        init_ray(args.address)
    with output_dir(args.out) as out:
        out = Path(out)
        console_print("[bold]sequential arms[/]")
        seq_arms = train_seqrec_arms(data, out / "seqrec", cfg, reward_model=model, log=console_print)
        rl_arms = {}
        if args.sim and cfg.rl.rewards:
            console_print("[bold]PPO arms[/]")
            rl_arms = train_rl_arms(local_input(args.sim), out / "rl", cfg.rl, reward_model=model,
                                    address=args.address, seed=args.seed, smoke=args.smoke, log=console_print)
        summary: dict = {"offline": offline_rows(seq_arms),
                         "arms": {n: f"seqrec:{a.directory}" for n, a in seq_arms.items()}}
        summary["arms"].update({n: f"policy:{a.run_dir}" for n, a in rl_arms.items()})
        sections = [Section("Offline ranking (leave-one-out, full catalogue, test split)",
                            tables=[("arms", summary["offline"])])]
        if world and not args.no_ab:
            console_print("[bold]A/B in the ground-truth world[/]")
            arms = [a.recommender() for a in seq_arms.values()] + [a.recommender() for a in rl_arms.values()]
            ab = run_arms_ab(arms, data, cfg.ab, out_dir=out / "ab", log=console_print)
            summary["ab"] = {"headline": ab["headline"], "arms": ab_rows(ab), "pairs": pair_rows(ab["pairs"])}
            sections.append(Section("A/B test in the ground-truth world",
                                    tables=[("arms", ab_rows(ab)), ("pairs", pair_rows(ab["pairs"]))],
                                    images=[("arms", out / "ab" / "ab.png"), ("pairs", out / "ab" / "ab_lifts.png")]))
        elif not world:
            console_print("no ground_truth/ in --data: A/B skipped (it needs the world)")
        plot_learning_curves(seq_arms, rl_arms, out / "learning_curves_arms.png")
        sections.append(Section("Learning curves", images=[("arms", out / "learning_curves_arms.png")]))
        write_report(out / "report.html", title="mtrec align", sections=sections)
        (out / "align.json").write_text(json.dumps(summary, indent=2, default=float))
    _print_json(summary.get("ab", {}).get("headline") or summary["offline"])
    return 0
