"""The results file the collapse benches share (bench/collapse_runs.py): a run's identity, and
what a table says about the runs behind a row."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from collapse_runs import Heartbeat, Provenance, Results, mean_sd  # noqa: E402


def _rec(cpu, params=None):
    facts = {"seconds": 1.0} if params is None else {"seconds": 1.0, "params": params}
    return {"cpu": cpu, "facts": facts}


def test_machine_keys_are_not_in_a_runs_identity():
    a = {"dataset": "ring8", "config": {"seed": 0, "threads": 1, "out": "x", "unroll": 0}, "samples": 2500}
    b = {"dataset": "ring8", "config": {"seed": 0, "threads": 2, "out": "y", "unroll": 0}, "samples": 2500}
    assert Results.identity(json.dumps(a)) == Results.identity(json.dumps(b))
    c = dict(a, config=dict(a["config"], seed=1))
    assert Results.identity(json.dumps(a)) != Results.identity(json.dumps(c))


def test_unroll_real_is_in_the_identity_only_where_it_acts():
    off = {"dataset": "ring8", "config": {"unroll": 0}}
    assert Results.identity(json.dumps(off)) == Results.identity(
        json.dumps({"dataset": "ring8", "config": {"unroll": 0, "unroll_real": True}}))
    old = {"dataset": "ring8", "config": {"unroll": 5}}  # a line from before the key: fake term only
    assert Results.identity(json.dumps(old)) == Results.identity(
        json.dumps({"dataset": "ring8", "config": {"unroll": 5, "unroll_real": False}}))
    assert Results.identity(json.dumps(old)) != Results.identity(
        json.dumps({"dataset": "ring8", "config": {"unroll": 5, "unroll_real": True}}))


def test_auto_images_is_in_the_identity_only_where_it_sets_the_budget():
    def ident(**cfg):
        return Results.identity(json.dumps({"dataset": "ring8", "config": cfg}))

    assert ident(max_steps=20000, auto_images=300_000) == ident(max_steps=20000, auto_images=1_280_000)
    assert ident(epochs=3, auto_images=300_000) == ident(epochs=3, auto_images=1_280_000)
    assert ident(max_steps=None, auto_images=300_000) != ident(max_steps=None, auto_images=1_280_000)


def test_results_file_skips_a_cut_line_and_shards_split_the_jobs(tmp_path):
    path = tmp_path / "r.jsonl"
    results = Results(str(path), "1/2")
    key = Results._canonical({"dataset": "d", "config": {"seed": 0}})
    results.add(key, {"modes": 8}, {"seconds": 1.0}, "cpu")
    with open(path, "a") as f:
        f.write('{"key": "cut')
    assert list(results.load()) == [key]
    assert [i for i in range(5) if results.mine(i)] == [1, 3]
    with pytest.raises(SystemExit):
        Results(str(path), "2/2")


def test_provenance_letters_the_cpus_and_warns_of_mixed_network_sizes():
    origin = Provenance()
    assert origin.mark("gan", [_rec("intel"), _rec("intel")]) == "A"
    assert origin.mark("wgan-gp", [_rec("amd", {"G": 5, "D": 3}), _rec("intel", {"G": 5, "D": 3})]) == "A+B"
    assert origin.warnings == []
    origin.mark("unrolled", [_rec("amd", {"G": 5, "D": 3}), _rec("amd", {"G": 5, "D": 4}), _rec("amd")])
    legend = origin.legend().splitlines()
    assert legend[:2] == ["cpu A: intel", "cpu B: amd"]
    assert len(legend) == 3 and legend[2].startswith("warning: unrolled: its runs trained networks of 2 sizes")


def test_mean_sd_counts_infinite_values_apart():
    assert mean_sd([1.0, 3.0]) == "2.0 +- 1.4"
    assert mean_sd([2.0, float("inf")]) == "2.0 (1 inf)"
    assert mean_sd([float("inf")]) == "inf"
    assert mean_sd([]) == "-"


def test_claims_keep_two_processes_off_each_others_runs(tmp_path):
    path = tmp_path / "r.jsonl"
    a, b = Results(str(path)), Results(str(path))
    keys = [Results._canonical({"dataset": "d", "config": {"seed": s}}) for s in range(3)]
    assert a.claim(keys[0])
    assert not b.claim(keys[0])  # a live process (this one) holds it
    jobs = [(seed, key) for seed, key in enumerate(keys)]  # a bench's jobs end with their run's key
    ran = []
    for seed, key in b.claimed(jobs):  # b passes over a's run and takes the others
        ran.append(seed)
        b.add(key, {"modes": 8}, {"seconds": 1.0}, "cpu")
    assert ran == [1, 2]
    assert sorted(p.name for p in a.claims.iterdir()) == [a._claim_file(keys[0]).name]  # b released its own
    a.add(keys[0], {"modes": 8}, {"seconds": 1.0}, "cpu")
    a.release(keys[0])
    assert list(a.claimed(jobs)) == []  # all finished: claimed anew, found in the file, passed over
    assert list(a.claims.iterdir()) == []


def test_a_claim_held_by_a_killed_process_is_free_again(tmp_path):
    import signal
    import subprocess

    results = Results(str(tmp_path / "r.jsonl"))
    key = Results._canonical({"dataset": "d", "config": {"seed": 0}})
    bench = Path(__file__).resolve().parents[1] / "bench"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); from collapse_runs import Results; "
         "r = Results(sys.argv[2]); print(r.claim(sys.argv[3]), flush=True); sys.stdin.read()",
         str(bench), str(results.path), key], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "True"
        assert not results.claim(key)  # held by the other process
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert results.claim(key)  # the kernel dropped the dead process's lock


def test_a_job_stops_holding_its_claim_when_the_caller_fails(tmp_path):
    results = Results(str(tmp_path / "r.jsonl"))
    key = Results._canonical({"dataset": "d", "config": {"seed": 0}})
    with pytest.raises(RuntimeError):
        for _ in results.claimed([(0, key)]):
            raise RuntimeError("a run failed")
    assert list(results.claims.iterdir()) == []


def test_provenance_warns_of_a_row_scored_by_two_classifiers():
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))  # 0-d buffers too
    judge = Provenance.judge(net)
    assert judge == Provenance.judge(net) and len(judge) == 12
    with torch.no_grad():
        net[0].bias[0] += 1e-3
    other = Provenance.judge(net)
    assert other != judge
    origin = Provenance()
    same = [{"cpu": "intel", "facts": {"judge": judge}}, {"cpu": "intel", "facts": {}}]  # older lines: no judge
    origin.mark("dcgan", same)
    assert origin.warnings == []
    origin.mark("pack2", same + [{"cpu": "intel", "facts": {"judge": other}}])
    assert len(origin.warnings) == 1 and origin.warnings[0].startswith("pack2: its runs were scored by 2")


def test_sigterm_ends_a_bench_with_its_temporary_run_folder_and_claim_gone(tmp_path):
    """A bench stopped by SIGTERM mid-run (a lane killed at the end of a session) removes the
    temporary run folder it trained in and drops its claim, and says so in one line."""
    import os
    import signal
    import subprocess
    import time

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    results = tmp_path / "r.jsonl"
    bench = Path(__file__).resolve().parents[1] / "bench" / "mixtures.py"
    proc = subprocess.Popen(
        [sys.executable, str(bench), "--datasets", "ring8", "--rows", "gan", "--seeds", "1", "--steps", "100000",
         "--samples", "100", "--results", str(results)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=dict(os.environ, TMPDIR=str(tmp)))
    deadline = time.monotonic() + 60
    while not list(tmp.glob("gankit-bench-*/run/metrics.jsonl")):  # training has logged a row
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the bench started no run"
        time.sleep(0.05)
    assert list(Path(str(results) + ".claims").iterdir())  # held while the run trains
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and err.strip().endswith("mixtures.py: interrupted"), err  # 128 + SIGTERM
    assert list(tmp.glob("gankit-bench-*")) == [] and list(Path(str(results) + ".claims").iterdir()) == []
    assert not results.exists()  # no line for the run it did not finish


def test_table3_only_plans_the_smaller_discriminators_alone():
    from stacked_mnist import plan_rows

    rows = ["dcgan", "unrolled5", "pack2"]  # dcgan has no Table 3 row
    full = [("dcgan", 1.0), ("unrolled5", 1.0), ("pack2", 1.0)]
    small = [("unrolled5", 0.25), ("unrolled5", 0.5), ("pack2", 0.25), ("pack2", 0.5)]
    assert plan_rows(rows, table3=False) == full
    assert plan_rows(rows, table3=True) == full + small  # full-size rows first
    assert plan_rows(rows, table3=False, table3_only=True) == small
    assert plan_rows(["dcgan"], table3=True, table3_only=True) == []


def test_rows_trained_in_another_precision_can_be_printed_but_not_trained(tmp_path):
    import subprocess
    from types import SimpleNamespace

    from collapse_runs import run_config, run_precision

    data = SimpleNamespace(name="stacked-mnist", kind="image", shape=(3, 28, 28))
    cfg = run_config("dcgan", data, "paper", {"unroll": 5}, 2000, 0)
    here = run_precision(cfg, data)
    assert Results.key(data, cfg, samples=26000) == Results.key(data, cfg, here, samples=26000)
    assert Results.key(data, cfg, "bf16", samples=26000) != Results.key(data, cfg, "fp32", samples=26000)
    assert json.loads(Results.key(data, cfg, "bf16"))["precision"] == "bf16"
    bench = Path(__file__).resolve().parents[1] / "bench" / "stacked_mnist.py"
    proc = subprocess.run([sys.executable, str(bench), "--trained-in", "bf16", "--results", str(tmp_path / "r.jsonl")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "give it with --table-only" in proc.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "r.jsonl").exists()


def test_heartbeat_passes_one_progress_line_a_minute_with_the_time_left():
    import io

    now = [100.0]
    out = io.StringIO()
    beat = Heartbeat(2000, every=60, clock=lambda: now[0], out=out)
    for step, t in [(100, 30.0), (200, 61.0), (300, 90.0), (400, 125.0)]:
        now[0] = 100.0 + t
        beat.write(f"step {step} d_loss=1.000 g_loss=2.000 120 img/s epoch 0.21 (441.4 s/epoch)\n")
    beat.write("warming up\n")
    assert out.getvalue().splitlines() == ["    step 200 of 2000, 61 s, about 549 s left",
                                           "    step 400 of 2000, 125 s, about 500 s left"]
    now[0] = 400.0  # a budget in epochs or minutes: no total, no estimate
    quiet = Heartbeat(None, every=60, clock=lambda: now[0], out=(out := io.StringIO()))
    now[0] = 470.0
    quiet.write("step 50 x\n")
    assert out.getvalue() == "    step 50, 70 s\n"
