"""Latent cache benchmark: predict throughput against bare forwards, peak RSS at two sizes, bytes per nonzero.

    .venv/bin/python benchmarks/cache.py [--rows 24] [--sizes 50000 400000] [--batch 8] [--ctx 256]

One run prints, for the embedded SmolLM2-135M-Instruct at layers.15 (the shipped SAE when present,
else a random TopK SAE of the same shape: d_sae 4608, k 32):
  1. tokens/s over the same rows of: a bare transformers forward of the whole model, a bare forward
     stopped at the hookpoint (a hook that raises), and the full predict loop (Trainer + LatentCacheModule
     + LatentShardWriter + LatentStatistics, final flush and manifest included), as ratios;
  2. peak RSS of a complete predict run (fresh subprocess each) at two n_tokens, and the growth;
  3. bytes on disk per nonzero (whole cache folder, and shards only).
The first batch of each timed method is a warm-up and is not counted.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MODEL = "embedded:SmolLM2-135M-Instruct"
HOOKPOINT = "layers.15"
SHIPPED = REPO / "autointerp" / "assets" / "smollm2-135m-instruct-topk"


def sparse_model_dir(tmp: Path) -> tuple[str, str]:
    """The shipped SAE, or a random sparsify-layout TopK SAE (576 -> 4608, k 32) written to `tmp`."""
    if (SHIPPED / HOOKPOINT / "cfg.json").is_file():
        return str(SHIPPED), "shipped SAE"
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    d_in, d_sae = 576, 4608
    folder = tmp / "sae" / HOOKPOINT
    folder.mkdir(parents=True)
    save_file({"encoder.weight": torch.randn(d_sae, d_in, generator=g) / d_in**0.5, "encoder.bias": torch.zeros(d_sae),
               "W_dec": torch.randn(d_sae, d_in, generator=g) / d_sae**0.5, "b_dec": torch.zeros(d_in)},
              str(folder / "sae.safetensors"))
    (folder / "cfg.json").write_text(json.dumps({"k": 32, "num_latents": d_sae, "d_in": d_in}))
    return str(tmp / "sae"), "random TopK SAE (576 -> 4608, k 32; no shipped SAE yet)"


def datamodule(n_tokens: int, batch: int, ctx: int):
    """The quickstart's data: the embedded corpus (whole train split, so 400k tokens fit)."""
    from autointerp.data import TokenizedTextDataModule

    return TokenizedTextDataModule(MODEL, "embedded:gensim", dataset_split="train", dataset_column="text",
                                   cache_ctx_len=ctx, n_tokens=n_tokens, batch_size=batch)


def clocks() -> tuple[float, float]:
    """(wall, CPU) seconds: CPU time of this process (all threads) is steady on a shared machine, wall is not."""
    return time.perf_counter(), time.process_time()


def time_batches(fn, batches: list[torch.Tensor]) -> tuple[float, float]:
    """(wall, CPU) seconds of fn over batches[1:] (batch 0 warms up)."""
    fn(batches[0])
    wall, cpu = clocks()
    for ids in batches[1:]:
        fn(ids)
    return time.perf_counter() - wall, time.process_time() - cpu


class _StopAtHookpoint(Exception):
    pass


def bare_forwards(model, batches: list[torch.Tensor]) -> tuple[tuple[float, float], tuple[float, float]]:
    """(wall, CPU) seconds of the whole model, and of a forward stopped at the hookpoint by a raising hook."""

    def whole(ids):
        with torch.no_grad():
            model(input_ids=ids, use_cache=False)

    def to_hookpoint(ids):
        try:
            with torch.no_grad():
                model(input_ids=ids, use_cache=False)
        except _StopAtHookpoint:
            pass

    def stop(module, args, output):
        raise _StopAtHookpoint

    whole_tps = time_batches(whole, batches)
    handle = model.model.layers[int(HOOKPOINT.split(".")[1])].register_forward_hook(stop)
    hook_tps = time_batches(to_hookpoint, batches)
    handle.remove()
    return whole_tps, hook_tps


def predict(sae: str, out: Path, loader_or_data, timer=None) -> dict:
    """A complete predict run (Trainer, module, writer, statistics); returns the manifest."""
    from lightning.pytorch import Trainer

    from autointerp.models.cache_module import LatentCacheModule
    from callbacks.latent_statistics import LatentStatistics
    from callbacks.shard_writer import LatentShardWriter

    callbacks = [LatentShardWriter(str(out)), LatentStatistics()] + ([timer] if timer else [])
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, callbacks=callbacks)
    module = LatentCacheModule(MODEL, sae, [HOOKPOINT])
    if isinstance(loader_or_data, torch.utils.data.DataLoader):
        trainer.predict(module, loader_or_data, return_predictions=False)
    else:
        trainer.predict(module, datamodule=loader_or_data, return_predictions=False)
    from autointerp.latents.manifest import Manifest

    return Manifest.read(out).to_dict()


def predict_times(sae: str, batches: list[torch.Tensor], out: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of the predict loop from the start of batch 1 to the manifest being written."""
    from lightning.pytorch import Callback
    from torch.utils.data import DataLoader

    class Timer(Callback):
        def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
            if batch_idx == 1:
                self.start = clocks()

        def teardown(self, trainer, pl_module, stage):
            self.end = clocks()  # runs after the writer's teardown (callback order): last flush and manifest included

    rows = torch.cat(batches)
    items = [{"input_ids": ids, "row": torch.tensor(i)} for i, ids in enumerate(rows)]
    timer = Timer()
    predict(sae, out, DataLoader(items, batch_size=len(batches[0])), timer)
    return timer.end[0] - timer.start[0], timer.end[1] - timer.start[1]


def _vm_hwm_mib() -> float:
    """This process's peak RSS since the last reset (Linux VmHWM), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(n_tokens: int, sae: str, out: str, batch: int, ctx: int) -> None:
    """One complete predict run at n_tokens; prints its peak RSS (MiB), whole run and predict loop only, as JSON.

    The whole-run peak is usually set while the GGUF is dequantized at load time; the predict-loop
    peak (VmHWM reset when the loop starts) is what could grow with n_tokens.
    """
    from lightning.pytorch import Callback

    class LoopPeak(Callback):
        def on_predict_start(self, trainer, pl_module):
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS

        def on_predict_end(self, trainer, pl_module):
            self.peak = _vm_hwm_mib()

    start = time.perf_counter()
    peak = LoopPeak()
    manifest = predict(sae, Path(out), datamodule(n_tokens, batch, ctx), peak)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rss_mib": rss_mib, "loop_rss_mib": peak.peak, "wall_s": time.perf_counter() - start,
                      "manifest": manifest}))


def disk_figures(folder: Path, manifest: dict) -> dict:
    """Bytes per nonzero, whole folder and shards only."""
    nnz = sum(h["nnz"] for h in manifest["per_hookpoint"].values())
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    shards = sum((folder / s).stat().st_size for h in manifest["per_hookpoint"].values() for s in h["shards"])
    return {"nnz": nnz, "bytes_per_nnz_all": total / nnz, "bytes_per_nnz_shards": shards / nnz, "total_mib": total / 2**20}


def main() -> None:
    """Run all three measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=40, help="rows per method and round (the first batch warms up)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of the three throughput methods")
    parser.add_argument("--parts", nargs="+", default=["throughput", "rss"], choices=["throughput", "rss"])
    parser.add_argument("--sizes", type=int, nargs=2, default=[50_000, 400_000], help="n_tokens of the two RSS runs")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--ctx", type=int, default=256)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sae", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.sae, args.out, args.batch, args.ctx)

    tmp = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    sae, sae_note = sparse_model_dir(tmp)
    print(f"model {MODEL} at {HOOKPOINT}, {sae_note}; batch {args.batch} x ctx {args.ctx}; torch threads {torch.get_num_threads()}")

    if "throughput" in args.parts:
        throughput(args, sae, tmp)
    if "rss" in args.parts:
        rss_and_disk(args, sae, tmp)


def throughput(args, sae: str, tmp: Path) -> None:
    """Alternate the three methods for `rounds` rounds over the same rows; print tokens/s and ratios."""
    data = datamodule(args.rows * args.ctx, args.batch, args.ctx)
    data.setup("predict")
    batches = list(data.tokens.long().split(args.batch))
    timed = sum(b.numel() for b in batches[1:]) * args.rounds
    totals = {"whole": [0.0, 0.0], "hook": [0.0, 0.0], "predict": [0.0, 0.0]}
    from autointerp.models.subject import load_subject

    model, _ = load_subject(MODEL)
    for r in range(args.rounds):
        whole, hook = bare_forwards(model, batches)
        pred = predict_times(sae, batches, tmp / f"throughput-{r}")
        for key, (wall, cpu) in zip(totals, (whole, hook, pred)):
            totals[key][0] += wall
            totals[key][1] += cpu
    tps = {key: (timed / wall, timed / cpu) for key, (wall, cpu) in totals.items()}
    print(f"\n1. throughput, {args.rounds} alternating rounds x {len(batches) - 1} timed batches ({timed:,} tokens per method)")
    print("                                        wall tokens/s   CPU-time tokens/s")
    for key, label in (("whole", "bare forward, whole model"), ("hook", f"bare forward, stopped at {HOOKPOINT}"),
                       ("predict", "predict loop (module+writer+stats)")):
        print(f"   {label:36s} {tps[key][0]:10.0f}   {tps[key][1]:12.0f}")
    for i, clock in enumerate(("wall", "CPU-time")):
        print(f"   {clock}: predict / to-hookpoint = {tps['predict'][i] / tps['hook'][i]:.2f}x, "
              f"predict / whole = {tps['predict'][i] / tps['whole'][i]:.2f}x, "
              f"to-hookpoint / whole = {tps['hook'][i] / tps['whole'][i]:.2f}x")


def rss_and_disk(args, sae: str, tmp: Path) -> None:
    """Peak RSS of complete predict runs at two sizes (fresh subprocesses), then bytes per nonzero."""
    rss = {}
    for n in args.sizes:
        out = tmp / f"rss-{n}"
        cmd = [sys.executable, __file__, "--child", str(n), "--sae", sae, "--out", str(out), "--batch", str(args.batch),
               "--ctx", str(args.ctx)]
        result = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
        rss[n] = ((result["rss_mib"], result["loop_rss_mib"]), result["manifest"], out)
        print(f"   (n_tokens {n:,}: run took {result['wall_s']:.0f} s wall, model load included)", flush=True)
    (small, _, _), (large, manifest, folder) = rss[args.sizes[0]], rss[args.sizes[1]]
    print("\n2. peak RSS of a complete predict run (fresh process each)   whole run   predict loop only")
    for n, ((whole, loop), m, _) in rss.items():
        print(f"   n_tokens {n:>8,} ({m['n_tokens']:,} cached):        {whole:8.1f} MiB   {loop:8.1f} MiB")
    print(f"   growth: whole run {100 * (large[0] / small[0] - 1):+.1f}%, predict loop {100 * (large[1] / small[1] - 1):+.1f}%")

    disk = disk_figures(folder, manifest)
    print(f"\n3. disk ({args.sizes[1]:,} tokens, {disk['nnz']:,} nonzeros, {disk['total_mib']:.1f} MiB)")
    print(f"   bytes per nonzero: {disk['bytes_per_nnz_all']:.3f} (whole folder), {disk['bytes_per_nnz_shards']:.3f} (shards only)")


if __name__ == "__main__":
    main()
