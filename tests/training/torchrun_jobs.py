"""Run several gankit commands in each process that torchrun starts (test_distributed.py).

    python -m torch.distributed.run --nproc_per_node 2 tests/training/torchrun_jobs.py JOBS OUT

JOBS is a JSON list of {"argv": [...], "port": null or a free port}. A job without a port runs in
torchrun's own environment (its rendezvous store), exactly as `torchrun -m gankit ...` would; a
job with one gets a fresh store on that port, as a new torchrun would give it, so that one
launch (one import of torch per process) runs them all. Each rank writes OUT/rank<r>.json:
per job its exit code, stdout, stderr, pid and seconds.
"""

import io
import json
import os
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path


def main(jobs_file: str, out: str) -> None:
    import faulthandler

    from gankit import cli

    # torchrun's workers run in their own sessions: should a test time out and kill torchrun,
    # a hung worker still ends itself (with its stack on stderr)
    faulthandler.dump_traceback_later(150, exit=True)

    results = []
    for job in json.loads(Path(jobs_file).read_text()):
        if job["port"]:
            os.environ["MASTER_PORT"] = str(job["port"])
            os.environ.pop("TORCHELASTIC_USE_AGENT_STORE", None)
        stdout, stderr, code, t = io.StringIO(), io.StringIO(), 0, time.perf_counter()
        with redirect_stdout(stdout), redirect_stderr(stderr):
            try:
                cli.main(job["argv"])
            except SystemExit as e:
                code = e.code or 0
        results.append({"code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue(),
                        "pid": os.getpid(), "s": round(time.perf_counter() - t, 2)})
    Path(out, f"rank{os.environ['RANK']}.json").write_text(json.dumps(results))


if __name__ == "__main__":
    main(*sys.argv[1:])
