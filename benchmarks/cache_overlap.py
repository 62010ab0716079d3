"""Writer overlap: predict throughput with the shard writer (on its thread) against no writer, same run.

    .venv/bin/python benchmarks/cache_overlap.py [--rows 48] [--batch 8] [--ctx 256] [--flush 16384] [--repeats 2]

The embedded SmolLM2-135M-Instruct at layers.15 with the shipped SAE (or a random TopK SAE of its
shape), over the same rows of the embedded corpus, three ways, interleaved `--repeats` times:
  none     Trainer.predict with no callbacks: the forward and the encode only (the ceiling);
  thread   the shipped LatentShardWriter: host copies handed to its writer thread (bounded queue);
  inline   the same writer doing each batch's numpy work on the loop's thread (the old behaviour).
Prints tokens/s (median over repeats, first batch excluded) and the ratios thread/none and
inline/none. On a GPU the forward runs on the device and the loop's thread is free while it
does; on this CPU the forward uses `--threads` torch threads, leaving a core to the writer thread.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
# `python benchmarks/x.py` puts benchmarks/ first on sys.path: take it off (no file here may stand in for
# an installed package) and load benchmarks/cache.py by its path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "benchmarks"]
sys.path.insert(0, str(REPO))
_spec = importlib.util.spec_from_file_location("benchmark_cache", REPO / "benchmarks" / "cache.py")
_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bench)
HOOKPOINT, MODEL, datamodule, sparse_model_dir = _bench.HOOKPOINT, _bench.MODEL, _bench.datamodule, _bench.sparse_model_dir


def writer_classes():
    """(threaded writer class, inline writer class)."""
    from callbacks.shard_writer import LatentShardWriter

    class InlineWriter(LatentShardWriter):
        """The writer without its thread: each batch's numpy work on the loop's thread."""

        def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx=0):
            self.sink.add(*prediction["host"].numpy())

    return LatentShardWriter, InlineWriter


def timed_predict(module, loader, callbacks) -> float:
    """Seconds from the start of batch 1 to the end of teardown (last flush and manifest included)."""
    from lightning.pytorch import Callback, Trainer

    class Timer(Callback):
        def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
            if batch_idx == 1:
                self.start = time.perf_counter()

        def teardown(self, trainer, pl_module, stage):
            self.end = time.perf_counter()

    timer = Timer()
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, callbacks=[*callbacks, timer])
    trainer.predict(module, loader, return_predictions=False)
    return timer.end - timer.start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=48)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--ctx", type=int, default=256)
    parser.add_argument("--flush", type=int, default=2**14, help="flush_tokens of the writer")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the forward pass")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from torch.utils.data import DataLoader

    from autointerp.models.cache_module import LatentCacheModule

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sae, sae_note = sparse_model_dir(tmp)
        data = datamodule(args.rows * args.ctx, args.batch, args.ctx)
        data.setup("predict")
        items = [{"input_ids": ids.long(), "row": torch.tensor(i)} for i, ids in enumerate(data.tokens)]
        loader = DataLoader(items, batch_size=args.batch)
        module = LatentCacheModule(MODEL, sae, [HOOKPOINT])
        threaded, inline = writer_classes()
        ways = {"none": lambda: [], "thread": lambda: [threaded(str(tmp / "t"), flush_tokens=args.flush)],
                "inline": lambda: [inline(str(tmp / "i"), flush_tokens=args.flush)]}
        seconds: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(args.repeats):
            for name, callbacks in ways.items():
                module.release()  # each run loads afresh in configure_model, as a real run does
                seconds[name].append(timed_predict(module, loader, callbacks()))
    tokens = (len(items) - args.batch) * args.ctx  # batch 0 is not timed
    tps = {name: tokens / statistics.median(s) for name, s in seconds.items()}
    print(f"{MODEL} {HOOKPOINT}, {sae_note}; {len(items)} rows x {args.ctx}, batch {args.batch}, "
          f"flush {args.flush}, torch threads {args.threads}, repeats {args.repeats}")
    for name, value in tps.items():
        print(f"  {name:7s} {value:8.0f} tokens/s   (runs: {', '.join(f'{s:.2f}s' for s in seconds[name])})")
    print(f"  thread/none {tps['thread'] / tps['none']:.3f}   inline/none {tps['inline'] / tps['none']:.3f}")


if __name__ == "__main__":
    main()
