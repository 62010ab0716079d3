"""What the portable llama.cpp build costs: prompt and generation throughput, portable against native.

    .venv/bin/python benchmarks/llamacpp_builds.py [--rounds 3] [--prompt 512] [--generate 128]

Both wheels come from `autointerp.clients.llamacpp_build` (the native one is compiled here on first
use, several minutes, with `-DGGML_NATIVE=ON`; run this only on a CPU where a native build works).
Each wheel is unpacked to a temporary folder and timed in its own child process on the embedded
SmolLM2 GGUF: prefill of a `--prompt`-token prompt, then `--generate` greedy tokens, alternating
portable and native for `--rounds` rounds (the machine is shared: the ratio within a round is the
figure to trust). Prints tokens/s per build and native/portable ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from autointerp.clients import llamacpp_build as build
from autointerp.clients.llamacpp_server import embedded_gguf_path

NATIVE = "-DGGML_NATIVE=ON"

CHILD = r"""
import json, sys, time
from llama_cpp import Llama
gguf, n_prompt, n_gen, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
llm = Llama(model_path=gguf, n_ctx=n_prompt + n_gen + 8, n_threads=threads, n_threads_batch=threads,
            n_batch=n_prompt, verbose=False)
text = "The river runs through the old town, past the market and the stone bridge. " * 64
tokens = llm.tokenize(text.encode())[:n_prompt]
llm.eval(tokens[:8]); llm.reset()  # warm-up
t0 = time.perf_counter(); llm.eval(tokens); prefill = time.perf_counter() - t0
t0 = time.perf_counter()
for _ in range(n_gen):
    llm.eval([llm.sample(temp=0.0)])
decode = time.perf_counter() - t0
print(json.dumps({"prefill_tok_s": len(tokens) / prefill, "decode_tok_s": n_gen / decode}))
"""


def unpack(wheel: Path, into: Path) -> Path:
    """The wheel's files in a folder a child process can put first on its path."""
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(into)
    return into


def measure(site: Path, gguf: Path, args: argparse.Namespace) -> dict[str, float]:
    """One timing in a child process that imports llama_cpp from `site`."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(gguf), str(args.prompt), str(args.generate), str(args.threads)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prompt", type=int, default=512)
    parser.add_argument("--generate", type=int, default=128)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    wheels = {
        "portable": build.built_wheel(build.VERSION, build.PORTABLE_CMAKE_ARGS) or build.build(build.VERSION, build.PORTABLE_CMAKE_ARGS),
        "native": build.built_wheel(build.VERSION, NATIVE) or build.build(build.VERSION, NATIVE),
    }
    gguf = embedded_gguf_path()
    results: dict[str, list[dict[str, float]]] = {name: [] for name in wheels}
    with tempfile.TemporaryDirectory() as tmp:
        sites = {name: unpack(wheel, Path(tmp) / name) for name, wheel in wheels.items()}
        for r in range(args.rounds):
            for name, site in sites.items():
                results[name].append(measure(site, gguf, args))
            p, n = results["portable"][-1], results["native"][-1]
            print(f"round {r + 1}: prefill portable {p['prefill_tok_s']:.0f} native {n['prefill_tok_s']:.0f} tok/s; "
                  f"decode portable {p['decode_tok_s']:.1f} native {n['decode_tok_s']:.1f} tok/s")
    for metric in ("prefill_tok_s", "decode_tok_s"):
        ratios = [n[metric] / p[metric] for p, n in zip(results["portable"], results["native"])]
        med = {name: statistics.median(x[metric] for x in rows) for name, rows in results.items()}
        print(f"{metric}: portable {med['portable']:.1f}, native {med['native']:.1f} (medians); "
              f"native/portable per round {', '.join(f'{x:.2f}' for x in ratios)}, median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
