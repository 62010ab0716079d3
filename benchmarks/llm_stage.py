"""The LLM stage against its server's limit: the README's local flat example, timed from an empty folder.

    .venv/bin/python benchmarks/llm_stage.py [--src DIR] [--workdir DIR]
    .venv/bin/python benchmarks/llm_stage.py --interpret_only RUN_DIR --latents 0 [--src DIR]

Runs `python -m autointerp embedded:SmolLM2-135M-Instruct ... --serve_gguf embedded --structured
--name local` (the README's second flat example) in an empty folder, with the autointerp source at
`--src` (default this checkout; pass an export of an older commit to time the code before a change).
The managed llama.cpp server runs verbose, so its log holds its own timings of every request: the
prompt tokens it actually evaluated (a prefix reused from the previous request is not evaluated
again) and the seconds it spent evaluating them, the tokens it generated and the seconds spent
generating. From them:

    prefill rate = evaluated prompt tokens / prefill seconds, decode rate = generated tokens / decode seconds
    limit        = evaluated prompt tokens / prefill rate + completion tokens answered / decode rate
    efficiency   = limit / the interpret stage's wall time      (goal >= 0.9)
    server busy  = (prefill seconds + decode seconds) / wall    (includes work for abandoned requests)

(the issue's formula, with the rates of the same server measured during the same run: on a machine
shared with other work a separate calibration would measure another load). It also prints the
prompt tokens sent (the usage the server reports) beside those it evaluated, the timed-out or
retried requests (from the run's log) and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README_EXAMPLE = [
    "embedded:SmolLM2-135M-Instruct", "autointerp/assets/smollm2-135m-instruct-topk", "--hookpoints", "layers.15",
    "--dataset_repo", "embedded:gensim", "--dataset_split", "train[90%:]", "--n_tokens", "100000",
    "--max_latents", "10", "--min_examples", "20", "--explainer_provider", "llamacpp", "--serve_gguf", "embedded",
    "--structured", "--name", "local",
]

# Run inside the child: keep the managed server verbose and its log, whatever the code under test does
# (older code ran it quiet and deleted the log on stop). Only the server's logging is touched.
SHIM = """
import os, runpy, shutil, sys
from autointerp.clients import llamacpp_server as m
_command, _stop = m.LlamaCppServer.command, m.LlamaCppServer.stop
def command(self):
    line = _command(self)
    line[line.index("--verbose") + 1] = "True"
    return line
def stop(self):
    if self.process is not None and self.log_path.exists():
        shutil.copy(self.log_path, os.environ["BENCH_SERVER_LOG"])
    _stop(self)
m.LlamaCppServer.command, m.LlamaCppServer.stop = command, stop
sys.argv = ["autointerp", *sys.argv[1:]]
runpy.run_module("autointerp", run_name="__main__", alter_sys=True)
"""


def run_example(src: Path, workdir: Path) -> dict:
    """Run the README example in `workdir` (empty) with the code at `src`; return the figures."""
    workdir.mkdir(parents=True, exist_ok=True)
    assert not any(workdir.iterdir()), f"{workdir} is not empty"
    (workdir / "autointerp").symlink_to(src / "autointerp")  # the example names the shipped SAE by a relative path
    server_log = workdir / "server-timings.log"
    env = os.environ | {"PYTHONPATH": str(src), "BENCH_SERVER_LOG": str(server_log), "PYTHONUNBUFFERED": "1",
                        "XDG_CACHE_HOME": str(workdir / "user-cache")}  # a new user's empty caches
    load_before = os.getloadavg()
    start = time.perf_counter()
    with open(workdir / "run.log", "wb") as log:
        proc = subprocess.run([sys.executable, "-c", SHIM, *README_EXAMPLE], cwd=workdir, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    total = time.perf_counter() - start
    summary = json.loads(next(workdir.rglob("local/summary.json")).read_text())
    return {"returncode": proc.returncode, "total_s": total, "load_before": load_before, "load_after": os.getloadavg(),
            **figures(summary, server_log, (workdir / "run.log").read_text(errors="replace"))}


def run_interpret(src: Path, workdir: Path, cache_run: Path, latents: list[int]) -> dict:
    """The interpret stage alone, on a copy of a finished run's cache, with that run's interpret
    settings (the flat example's) for the given latents only: the same work for any two commits."""
    import shutil

    run_dir = workdir / "results" / "stage"
    run_dir.mkdir(parents=True)
    for part in ("latents", "tokenizer"):
        shutil.copytree(cache_run / part, run_dir / part)
    interpret = json.loads((cache_run / "run_config.json").read_text())["interpret"]
    interpret.update(latents={"layers.15": latents}, max_latents=None, mlflow=False, report=False)
    (workdir / "stage.yaml").write_text(json.dumps({"interpret": interpret}))
    command = ["interpret", "--config", str(workdir / "stage.yaml"), "--name", "stage", "--results_dir",
               str(workdir / "results")]
    server_log = workdir / "server-timings.log"
    env = os.environ | {"PYTHONPATH": str(src), "BENCH_SERVER_LOG": str(server_log), "PYTHONUNBUFFERED": "1"}
    load_before = os.getloadavg()
    with open(workdir / "run.log", "wb") as log:
        proc = subprocess.run([sys.executable, "-c", SHIM, *command], cwd=workdir, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    summary = json.loads((run_dir / "summary.json").read_text())
    return {"returncode": proc.returncode, "load_before": load_before, "load_after": os.getloadavg(),
            **figures(summary, server_log, (workdir / "run.log").read_text(errors="replace"))}


def figures(summary: dict, server_log: Path, run_log: str) -> dict:
    """The efficiency figure and what goes into it."""
    sys.path.insert(0, str(ROOT))
    from autointerp.clients.llamacpp_server import server_timings

    work = server_timings(server_log)
    usage = summary["usage_total"]
    prefill_rate = work["prompt_tokens_evaluated"] / work["prompt_eval_s"]
    decode_rate = work["tokens_generated"] / work["generation_s"]
    # the formula: prompt tokens the server evaluated, and the completion tokens of the answers
    # the stage got (not those generated for requests that had already timed out on our side)
    limit = work["prompt_tokens_evaluated"] / prefill_rate + usage["completion_tokens"] / decode_rate
    wall = summary["timing_s"]["interpret"]
    return {
        "interpret_s": wall, "predict_s": summary["timing_s"].get("predict"), "calls": usage["calls"],
        "prompt_tokens_sent": usage["prompt_tokens"], "completion_tokens": usage["completion_tokens"],
        "server": work, "prefill_tok_s": prefill_rate, "decode_tok_s": decode_rate, "limit_s": limit,
        "efficiency": limit / wall, "server_busy": (work["prompt_eval_s"] + work["generation_s"]) / wall,
        "abandoned_requests_served": work["requests"] - usage["calls"], "retries": len(re.findall(r"attempt \d+ failed", run_log)),
        "timeouts": len(re.findall(r"attempt \d+ failed \(timeout", run_log)),
        "explainer_model": summary.get("explainer_model"), "counts": summary.get("counts"),
    }


def main() -> None:
    """Run once and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, default=ROOT, help="the autointerp checkout to time")
    parser.add_argument("--workdir", type=Path, help="an empty folder to run in (default: a new temporary one)")
    parser.add_argument("--interpret_only", type=Path, metavar="RUN_DIR",
                        help="time only the interpret stage on a copy of this finished run's cache and settings")
    parser.add_argument("--latents", type=int, nargs="+", default=[0], help="latents of layers.15 (--interpret_only)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="llm-stage-"))
    if args.interpret_only:
        workdir.mkdir(parents=True, exist_ok=True)
        result = run_interpret(args.src.resolve(), workdir, args.interpret_only.resolve(), args.latents)
    else:
        result = run_example(args.src.resolve(), workdir)
    print(json.dumps({"src": str(args.src), "workdir": str(workdir), **result}, indent=1))


if __name__ == "__main__":
    main()
