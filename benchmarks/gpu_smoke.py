"""GPU smoke check of the caching path: one command, under five minutes, no network, one JSON out.

    python benchmarks/gpu_smoke.py --out gpu_smoke.json            # on a machine with a CUDA GPU
    python benchmarks/gpu_smoke.py --dry --out smoke.json          # tiny shapes on the CPU (the test suite runs this)

Needs torch, lightning, transformers, numpy and safetensors only (no jsonargparse, datasets, mlflow,
bitsandbytes or vllm). Random models are built in memory; nothing is downloaded. Sections (each
records its figures, or its error, and the next one still runs):
  predict     one-device predict of a tiny random Llama + TopK coder: every weight and batch on the
              device in the expected dtype during the loop (asserted in a callback), cache written;
  agreement   the same model on the device against its float32 CPU cache, in float32, as a bfloat16
              model with float32 coders, and in bfloat16 (shared (token, latent) pairs, largest
              value difference);
  release     device memory allocated before loading, while loaded and after predict (the module
              frees its weights in on_predict_end);
  two_nodes   two processes as two simulated nodes (num_nodes=2, one device each, gloo), both on
              this device: global vs local rank, both ranks' shards in one manifest;
  throughput  Llama-3-8B shapes (layers up to the hookpoint, 4096 -> 131072 TopK k=192, bfloat16,
              batches of 32 x 256): tokens/s with the writer and without, and their ratio (goal >= 0.9);
  offline     the offline transformers client on the device: dtype, tokens/s of batched generation.
`--dry` runs every section on the CPU with tiny shapes, so the script cannot rot unnoticed.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# `python benchmarks/x.py` puts benchmarks/ first on sys.path: take it off, so no file here can stand
# in for an installed package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "benchmarks"]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

HOOKPOINT = "layers.1"
TINY = {"vocab": 64, "hidden": 32, "layers": 3, "heads": 4, "kv": 2, "ffn": 64, "d_sae": 96, "k": 8}
LLAMA3_8B = {"vocab": 128256, "hidden": 4096, "layers": 17, "heads": 32, "kv": 8, "ffn": 14336, "d_sae": 131072, "k": 192}
"""Layers up to layers.16 (the module drops the rest anyway); the EleutherAI 32x TopK coder's shape."""


def build_parts(shape: dict[str, int], device: str, dtype: torch.dtype, seed: int = 0, hookpoint: str = HOOKPOINT):
    """(random Llama, {hookpoint: TopKCoder}) of `shape`, built directly on `device` in `dtype`."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from autointerp.models.sparse_coders import TopKCoder

    config = LlamaConfig(vocab_size=shape["vocab"], hidden_size=shape["hidden"], intermediate_size=shape["ffn"],
                         num_hidden_layers=shape["layers"], num_attention_heads=shape["heads"],
                         num_key_value_heads=shape["kv"], max_position_embeddings=512, bos_token_id=1, eos_token_id=2)
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config).eval()
            d, n = shape["hidden"], shape["d_sae"]
            g = torch.Generator(device=device).manual_seed(seed + 1)
            coder = TopKCoder(torch.randn(n, d, generator=g) / d**0.5, torch.zeros(n), torch.randn(n, d, generator=g) / n**0.5,
                              torch.zeros(d), k=shape["k"], hookpoint=hookpoint)
    finally:
        torch.set_default_dtype(previous)
    return model, {hookpoint: coder}


def cache_module(parts, hookpoint: str = HOOKPOINT):
    """A LatentCacheModule around already built parts."""
    from autointerp.models.cache_module import LatentCacheModule

    module = LatentCacheModule("random-llama", "random-topk", [hookpoint], activation_dtype="float32")
    module.attach(parts[0], parts[1], bos_token_id=1)
    return module


def loader(n_rows: int, ctx: int, vocab: int, batch: int, seed: int = 5):
    """Batches shaped like the datamodule's: {"input_ids": [B, T], "row": [B]}."""
    from torch.utils.data import DataLoader

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (n_rows, ctx), generator=g)
    ids[:, 0] = 1  # BOS
    return DataLoader([{"input_ids": ids[i], "row": torch.tensor(i)} for i in range(n_rows)], batch_size=batch)


def placement_checker(device: str, dtype: torch.dtype):
    """A callback asserting, at every batch, that every weight and the batch sit on `device` in `dtype`."""
    from lightning.pytorch import Callback

    class Placement(Callback):
        batches = 0

        def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
            for name, p in pl_module.named_parameters():
                assert p.device.type == torch.device(device).type, f"{name} on {p.device}, not {device}"
                assert p.dtype == dtype, f"{name} is {p.dtype}, not {dtype}"
            assert batch["input_ids"].device.type == torch.device(device).type
            self.batches += 1

    return Placement()


def run_predict(module, data, out: Path | None, device: str, callbacks=(), flush_tokens: int = 2**20,
                **trainer_kwargs) -> float:
    """Seconds of trainer.predict, with the shard writer to `out` (None: no writer)."""
    from lightning.pytorch import Trainer

    from callbacks.shard_writer import LatentShardWriter

    writers = [LatentShardWriter(str(out), flush_tokens=flush_tokens)] if out is not None else []
    kwargs = {"accelerator": "gpu" if device.startswith("cuda") else "cpu", "devices": 1, **trainer_kwargs}
    trainer = Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                      enable_checkpointing=False, callbacks=[*writers, *callbacks], **kwargs)
    start = time.perf_counter()
    trainer.predict(module, data, return_predictions=False)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start


def nonzeros(folder: Path) -> dict[tuple[int, int], float]:
    """{(token_index, latent): value} of a cache's one hookpoint."""
    from autointerp.latents import CacheReader

    reader = CacheReader(folder)
    out = {}
    for j in range(reader.d_sae(HOOKPOINT)):
        acts = reader.latent(HOOKPOINT, j)
        out.update({(int(t), j): float(v) for t, v in zip(acts.token_index, acts.activations)})
    return out


def section_predict(device: str, tmp: Path, shape: dict) -> dict[str, Any]:
    """One-device predict with device and dtype asserted at every batch."""
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    module = cache_module(build_parts(shape, device, dtype))
    check = placement_checker(device, dtype)
    seconds = run_predict(module, loader(12, 64, shape["vocab"], 4), tmp / "predict", device, [check])
    from autointerp.latents import CacheReader

    manifest = CacheReader(tmp / "predict").manifest
    assert manifest.n_rows == 12 and check.batches == 3
    return {"dtype": str(dtype), "batches_checked": check.batches, "seconds": seconds,
            "nnz": manifest.per_hookpoint[HOOKPOINT].nnz}


def _compare(a: dict, b: dict) -> dict[str, float]:
    """Shared fraction of (token, latent) pairs and the largest value difference on the shared ones."""
    shared = a.keys() & b.keys()
    return {"pairs": len(a), "pairs_reference": len(b), "shared_fraction": len(shared) / max(len(a | b), 1),
            "max_abs_diff": max((abs(a[k] - b[k]) for k in shared), default=0.0)}


def section_agreement(device: str, tmp: Path, shape: dict) -> dict[str, Any]:
    """Caches of one model against its float32 CPU cache: float32 on `device`; bfloat16 model with
    float32 coders; bfloat16 throughout (the GPU default)."""
    variants = {"fp32_cpu": ("cpu", torch.float32, torch.float32), "fp32": (device, torch.float32, torch.float32),
                "bf16_model_fp32_coder": (device, torch.bfloat16, torch.float32),
                "bf16": (device, torch.bfloat16, torch.bfloat16)}
    caches = {}
    for name, (where, model_dtype, coder_dtype) in variants.items():
        subject, coders = build_parts(shape, "cpu", torch.float32)
        subject.to(model_dtype)
        for coder in coders.values():
            coder.to(coder_dtype)
        run_predict(cache_module((subject, coders)).to(where), loader(12, 64, shape["vocab"], 4), tmp / name, where)
        caches[name] = nonzeros(tmp / name)
    return {name: _compare(caches[name], caches["fp32_cpu"]) for name in ("fp32", "bf16_model_fp32_coder", "bf16")}


def section_release(device: str, tmp: Path, shape: dict) -> dict[str, Any]:
    """Device memory before loading, while loaded, and after predict (weights freed in on_predict_end)."""
    if not device.startswith("cuda"):
        module = cache_module(build_parts(shape, device, torch.float32))
        run_predict(module, loader(4, 32, shape["vocab"], 4), None, device)
        return {"parameters_left": sum(p.numel() for p in module.parameters()), "note": "CPU: no device memory to read"}
    torch.cuda.empty_cache()
    before = torch.cuda.memory_allocated()
    module = cache_module(build_parts(shape, device, torch.bfloat16))
    loaded = torch.cuda.memory_allocated()
    run_predict(module, loader(8, 64, shape["vocab"], 4), None, device)
    after = torch.cuda.memory_allocated()
    return {"allocated_before_gib": before / 2**30, "allocated_loaded_gib": loaded / 2**30,
            "allocated_after_release_gib": after / 2**30, "parameters_left": sum(p.numel() for p in module.parameters())}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_worker(node_rank: int, device: str, out: Path) -> None:
    """One simulated node of two (one process, one device): predict into `out`, report its ranks."""
    from lightning.pytorch.strategies import DDPStrategy

    shape = TINY
    module = cache_module(build_parts(shape, device, torch.float32))
    run_predict(module, loader(10, 32, shape["vocab"], 2), out / "latents", device,
                num_nodes=2, strategy=DDPStrategy(process_group_backend="gloo"))
    trainer = module.trainer
    ranks = {"node_rank": trainer.node_rank, "local_rank": trainer.local_rank, "global_rank": trainer.global_rank,
             "world_size": trainer.world_size}
    (out / f"ranks-node{node_rank}.json").write_text(json.dumps(ranks))


def section_two_nodes(device: str, tmp: Path, shape: dict) -> dict[str, Any]:
    """Two processes with NODE_RANK 0 and 1 (LOCAL_RANK 0 each) on this one device."""
    from autointerp.latents import CacheReader

    out = tmp / "two-nodes"
    out.mkdir()
    port = str(_free_port())
    procs = []
    for node in (0, 1):
        env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "NODE_RANK": str(node),
               "LOCAL_RANK": "0", "WORLD_SIZE": "2", "PYTHONPATH": str(REPO)}
        procs.append(subprocess.Popen([sys.executable, __file__, "--node-worker", str(node), "--device", device,
                                       "--out", str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    logs = [p.communicate(timeout=240)[0] for p in procs]
    if any(p.returncode for p in procs):
        raise RuntimeError("a node failed:\n" + "\n".join(log[-2000:] for log in logs))
    ranks = [json.loads((out / f"ranks-node{n}.json").read_text()) for n in (0, 1)]
    manifest = CacheReader(out / "latents").manifest
    assert [r["global_rank"] for r in ranks] == [0, 1] and [r["local_rank"] for r in ranks] == [0, 0]
    assert manifest.n_rows == 10 and len(manifest.token_files) == 2
    return {"ranks": ranks, "token_files": manifest.token_files, "n_rows": manifest.n_rows}


def section_throughput(device: str, tmp: Path, shape: dict, batches: int) -> dict[str, Any]:
    """tokens/s of predict at `shape` with the writer (its thread) and without; the same module and rows."""
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    hookpoint = f"layers.{shape['layers'] - 1}"
    parts = build_parts(shape, device, dtype, hookpoint=hookpoint)
    batch, ctx = (32, 256) if device.startswith("cuda") else (4, 32)
    data = loader(batch * (batches + 1), ctx, shape["vocab"], batch)
    seconds = {}
    for name in ("without_writer", "with_writer", "without_writer_again"):
        module = cache_module(parts, hookpoint)
        run_predict(module, loader(batch, ctx, shape["vocab"], batch), None, device)  # warm-up: kernels, allocator
        module = cache_module(parts, hookpoint)
        out = tmp / f"throughput-{name}" if name == "with_writer" else None
        seconds[name] = run_predict(module, data, out, device, flush_tokens=4 * batch * ctx)  # shards written during the run
    tokens = batch * (batches + 1) * ctx
    without = tokens / min(seconds["without_writer"], seconds["without_writer_again"])
    with_writer = tokens / seconds["with_writer"]
    return {"shape": shape, "batch": [batch, ctx], "tokens": tokens, "seconds": seconds,
            "tokens_per_s_without_writer": without, "tokens_per_s_with_writer": with_writer,
            "ratio_with_over_without": with_writer / without}


def section_offline(device: str, tmp: Path, shape: dict) -> dict[str, Any]:
    """The offline transformers client's engine on `device`: its dtype and batched generation speed."""
    sys.path.insert(0, str(REPO / "tests"))
    from cache_helpers import make_tiny_model

    from autointerp.clients.managed import Settings
    from autointerp.clients.offline_transformers import TransformersEngine

    folder = make_tiny_model(tmp / "chat-model")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["chat_template"] = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    engine = TransformersEngine(str(folder), device=device)
    dtype = next(engine.model.parameters()).dtype
    prompt = engine.prompt_ids([{"role": "user", "content": "the city of the world"}])
    items = [(prompt, Settings(max_tokens=32, temperature=t, logprobs=False, top_logprobs=0, response_format=None, sample=0), seed)
             for seed, t in enumerate([0.0, 0.7] * 4)]
    start = time.perf_counter()
    responses = engine.run(items)
    seconds = time.perf_counter() - start
    generated = sum(r.completion_tokens for r in responses)
    return {"dtype": str(dtype), "device": str(next(engine.model.parameters()).device), "rows": len(items),
            "generated_tokens": generated, "tokens_per_s": generated / seconds}


def run_all(device: str, dry: bool, batches: int) -> dict[str, Any]:
    """Every section in order; each records its figures or its error."""
    results: dict[str, Any] = {"device": device, "dry": dry, "torch": torch.__version__,
                               "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None}
    big = TINY if dry else LLAMA3_8B
    sections = {
        "predict": lambda tmp: section_predict(device, tmp, TINY),
        "agreement": lambda tmp: section_agreement(device, tmp, TINY),
        "release": lambda tmp: section_release(device, tmp, big),
        "two_nodes": lambda tmp: section_two_nodes(device, tmp, TINY),
        "throughput": lambda tmp: section_throughput(device, tmp, big, batches),
        "offline": lambda tmp: section_offline(device, tmp, TINY),
    }
    for name, fn in sections.items():
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            try:
                results[name] = {"ok": True, **fn(Path(tmp))}
            except Exception as exc:  # record and go on: one call should tell as much as it can
                results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-3000:]}
        results[name]["wall_s"] = time.perf_counter() - start
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="the JSON of results (a folder for --node-worker)")
    parser.add_argument("--dry", action="store_true", help="tiny shapes on the CPU")
    parser.add_argument("--device", default=None, help="default: cuda, or cpu with --dry")
    parser.add_argument("--batches", type=int, default=12, help="timed batches of the throughput section")
    parser.add_argument("--node-worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    device = args.device or ("cpu" if args.dry else "cuda")
    if args.node_worker is not None:
        node_worker(args.node_worker, device, args.out)
        return 0
    if device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("no CUDA device: use --dry for the CPU run")
    results = run_all(device, args.dry, 2 if args.dry else args.batches)
    args.out.write_text(json.dumps(results, indent=1))
    failed = [name for name, r in results.items() if isinstance(r, dict) and not r.get("ok", True)]
    print(json.dumps({k: v for k, v in results.items()}, indent=1, default=str)[:6000])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
