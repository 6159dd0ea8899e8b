"""The ``mtrec`` CLI end to end (the one place tests use a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mtrec_ray.cli import main
from tests.conftest import REPO_ROOT as REPO


def _mtrec(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mtrec_ray", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_help_explains_every_command():
    res = _mtrec("--help")
    assert res.returncode == 0
    for name in ("generate", "ingest", "inspect"):
        assert name in res.stdout
    res = _mtrec("ingest", "--help")
    assert "--on-bad-rows" in res.stdout and "--format" in res.stdout


def test_generate_then_inspect_end_to_end(tmp_path):
    out = tmp_path / "world"
    res = _mtrec("generate", "--preset", "default", "--users", "30", "--items", "80", "--out", str(out))
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["preset"] == "default" and report["rows"] > 0
    assert (out / "metadata.json").exists() and (out / "ground_truth" / "world.json").exists()
    res = _mtrec("inspect", str(out), "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["users"] == 30
    assert 0.0 < summary["ctr"] < 1.0


def test_ingest_csv_and_bad_input_exit_code(tmp_path, capsys):
    good = tmp_path / "log.csv"
    good.write_text("uid,vid,ts\n1,10,100\n1,11,200\n1,12,300\n2,10,150\n2,12,160\n2,13,170\n")
    out = tmp_path / "ds"
    code = main(["ingest", "--format", "csv", "--path", str(good), "--map", "user=uid",
                 "--map", "item=vid", "--map", "timestamp=ts", "--out", str(out)])
    assert code == 0
    assert json.loads((out / "metadata.json").read_text())["counts"]["events"] == 6

    bad = tmp_path / "bad.csv"
    bad.write_text("uid,vid,ts\n1,10,100\n1,x,200\n")
    code = main(["ingest", "--format", "csv", "--path", str(bad), "--map", "user=uid",
                 "--map", "item=vid", "--map", "timestamp=ts", "--out", str(tmp_path / "ds2")])
    assert code == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and "row 2" in err and "vid" in err


@pytest.mark.parametrize("fmt", ["nope"])
def test_unknown_format_is_a_clear_error(tmp_path, capsys, fmt):
    (tmp_path / "x.csv").write_text("a\n1\n")
    code = main(["ingest", "--format", fmt, "--path", str(tmp_path / "x.csv"), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "known formats" in capsys.readouterr().err




def test_fit_sim_rl_ab_chain(ray_session, tmp_path):
    world = tmp_path / "world"
    assert main(["generate", "--users", "50", "--items", "80", "--out", str(world)]) == 0
    assert main(["fit-sim", "--data", str(world), "--out", str(tmp_path / "sim"), "--smoke"]) == 0
    assert (tmp_path / "sim" / "simulator.json").exists()
    config = REPO / "rl_configs" / "ppo_user_session_click.yaml"
    assert main(["rl", "--config", str(config), "--set", f"env.kwargs.artifact={tmp_path / 'sim'}",
                 "--out", str(tmp_path / "ppo"), "--smoke"]) == 0
    assert main(["ab", "--arms", f"random,popularity,ppo=policy:{tmp_path / 'ppo'}",
                 "--world", str(world), "--smoke", "--out", str(tmp_path / "ab")]) == 0
    report = json.loads((tmp_path / "ab" / "ab.json").read_text())
    assert set(report["arms"]) == {"random", "popularity", "ppo"}
    assert (tmp_path / "ab" / "ab.png").exists()
