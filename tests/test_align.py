"""Arm pairing, paired lifts and the headline of the alignment pipeline (no Ray)."""

from __future__ import annotations

import numpy as np
import pytest

from mtrec_ray.align.pipeline import (
    arm_pairs,
    click_twin,
    headline,
    is_mtrec_arm,
    pair_lifts,
    pair_rows,
    seqrec_arm_name,
)
from mtrec_ray.align.report import Section, write_report


def test_arm_names_and_twins() -> None:
    assert [seqrec_arm_name("sasrec", v) for v in ("plain", "mean", "cvar")] == [
        "sasrec", "mtrec-sasrec", "mtrec-cvar-sasrec",
    ]
    assert click_twin("mtrec-sasrec") == "sasrec"
    assert click_twin("mtrec-cvar-gru4rec") == "gru4rec"
    assert click_twin("ppo-mental") == "ppo-click"
    assert click_twin("sasrec") is None and click_twin("ppo-watch_time") is None
    assert is_mtrec_arm("ppo-mental") and not is_mtrec_arm("ppo-click") and not is_mtrec_arm("popularity")


def test_arm_pairs_twins_and_watch_time() -> None:
    names = ["random", "popularity", "sasrec", "mtrec-sasrec", "mtrec-cvar-sasrec",
             "ppo-click", "ppo-mental", "ppo-watch_time"]
    got = {(p.arm, p.reference, p.kind) for p in arm_pairs(names)}
    assert got == {
        ("mtrec-sasrec", "sasrec", "click_twin"),
        ("mtrec-cvar-sasrec", "sasrec", "click_twin"),
        ("ppo-mental", "ppo-click", "click_twin"),
        ("mtrec-sasrec", "ppo-watch_time", "watch_time"),
        ("mtrec-cvar-sasrec", "ppo-watch_time", "watch_time"),
        ("ppo-mental", "ppo-watch_time", "watch_time"),
    }
    # A twin that was not trained gives no pair.
    assert arm_pairs(["mtrec-gru4rec", "sasrec"]) == []


def _per_user(scale: float, sat_shift: float, n: int = 400, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.gamma(2.0, 10.0, size=n)
    return {
        "viewing_time": base * scale,
        "satisfaction": rng.normal(-0.2, 0.1, size=n) + sat_shift,
        "session_length": np.full(n, 5.0),
        "ctr": np.full(n, 0.5),
        "return_rate": np.full(n, 0.8),
        "sessions": np.full(n, 3.0),
    }


def test_pair_lifts_and_headline() -> None:
    per_user = {
        "sasrec": _per_user(1.0, 0.0),
        "mtrec-sasrec": _per_user(1.2, 0.05),  # +20% viewing time for the same users
        "ppo-click": _per_user(1.0, 0.0),
        "ppo-mental": _per_user(1.05, -0.3),  # +5%, and much less satisfied
    }
    rows = pair_lifts(per_user, arm_pairs(list(per_user)), n_bootstrap=200)
    by_arm = {r["arm"]: r for r in rows}
    vt = by_arm["mtrec-sasrec"]["viewing_time"]
    assert vt["lift"] == pytest.approx(0.2)
    assert vt["lift_ci95"][0] == pytest.approx(0.2) and vt["lift_ci95"][1] == pytest.approx(0.2)
    # Satisfaction is negative: no lift, the difference is given instead.
    assert by_arm["mtrec-sasrec"]["satisfaction"]["lift"] is None
    assert by_arm["mtrec-sasrec"]["satisfaction"]["diff"] == pytest.approx(0.05)
    h = headline(rows)
    assert h["arm"] == "mtrec-sasrec" and h["twin"] == "sasrec"
    assert h["viewing_time_lift"] == pytest.approx(0.2)
    assert h["satisfaction_lift"] is None and "satisfaction_lift_undefined_read_diff" in h
    assert h["satisfaction_not_lower"] and h["target_met"]
    # Lifting viewing time while lowering satisfaction does not meet the target.
    h2 = headline([by_arm["ppo-mental"]])
    assert not h2["satisfaction_not_lower"] and not h2["target_met"]
    assert headline([]) == {}
    table = pair_rows(rows)
    assert table[0]["viewing_time_lift"].startswith("+20.0%")


def test_report_is_self_contained(tmp_path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png = tmp_path / "p.png"
    plt.plot([0, 1], [0, 1])
    plt.savefig(png)
    plt.close()
    out = write_report(tmp_path / "report.html", title="t", sections=[
        Section("s", paragraphs=["<b>escaped</b>"], tables=[("rows", [{"arm": "a", "x": 0.5}])],
                images=[("plot", png), ("absent", tmp_path / "missing.png")]),
    ])
    text = out.read_text()
    assert "data:image/png;base64," in text and "&lt;b&gt;escaped" in text
    assert "missing.png" in text and "src='missing" not in text
    assert "http" not in text.replace("http-equiv", "")


def test_seqrec_spec(tmp_path) -> None:
    import torch

    from mtrec_ray.recommenders import Histories, make_recommender
    from mtrec_ray.seqrec import SeqRecConfig, train_seqrec

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    import pandas as pd

    rows = [(u, int(i), t) for u in range(12) for t, i in enumerate(rng.integers(0, 15, size=6))]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    trained = train_seqrec(SeqRecConfig.smoke(max_epochs=1, patience=1, device="cpu"), events)
    trained.save(tmp_path / "m")
    rec = make_recommender(f"s1=seqrec:{tmp_path / 'm'}", n_items=trained.n_items)
    assert rec.name == "s1"
    slate = rec.recommend(Histories.from_sequences([[1, 2], []], length=5), 3)
    assert slate.shape == (2, 3) and len(set(slate[0])) == 3
