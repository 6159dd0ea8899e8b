"""``mtrec demo --quick --smoke`` end to end on tiny sizes, then ``mtrec align`` on its outputs."""

from __future__ import annotations

import json

import pytest

from mtrec_ray.cli import main


@pytest.mark.timeout(300)
def test_demo_smoke(ray_session, tmp_path) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--smoke", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["mode"] == "smoke"
    assert -1.0 <= m["recovery"]["spearman"] <= 1.0
    ab = m["ab"]
    for key in ("viewing_time_lift", "viewing_time_lift_ci95", "satisfaction_lift", "satisfaction_diff"):
        assert key in ab
    assert ab["twin"] == {"mtrec-sasrec": "sasrec", "ppo-mental": "ppo-click"}[ab["arm"]]
    assert {"ndcg10_sasrec", "ndcg10_mtrec_sasrec"} <= set(m["offline"])
    assert set(m["stages_s"]) == {"world", "simulator", "irl", "seqrec", "rl", "ab", "report"}
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 5
    assert (out / "ab" / "ab.json").exists() and (out / "seqrec" / "mtrec-sasrec" / "seqrec.pt").exists()

    # ``mtrec align`` on the demo's world and reward (sequential arms + A/B; no PPO, no Ray Train).
    aligned = tmp_path / "align"
    assert main(["align", "--data", str(out / "world"), "--model", str(out / "irl" / "model"),
                 "--out", str(aligned), "--smoke"]) == 0
    summary = json.loads((aligned / "align.json").read_text())
    assert [r["arm"] for r in summary["offline"]] == ["sasrec", "mtrec-sasrec", "mtrec-cvar-sasrec"]
    assert {(p["arm"], p["vs"]) for p in summary["ab"]["pairs"]} == {
        ("mtrec-sasrec", "sasrec"), ("mtrec-cvar-sasrec", "sasrec"),
    }
    assert summary["arms"]["sasrec"].startswith("seqrec:") and (aligned / "report.html").exists()
