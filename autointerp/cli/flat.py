"""`python -m autointerp MODEL SAE [flags]`: the spec's flat command line, with every parameter of its reference.

The flags become the same config dict a YAML file gives `autointerp predict` (trainer, data, model,
interpret sections), which then runs through the same LightningCLI; there is one code path, not two.
The spec's names (providers, explainers, scorers) become `class_path` dicts in `spec_names`.
`--hf_token` goes to the hub client through the environment (HF_TOKEN) and is never written anywhere.
"""

from __future__ import annotations

import argparse
import math
import os
from typing import Any

from autointerp.cli.common import setup_logging
from autointerp.cli.flat_flags import EXTRA_FLAGS, FLAGS
from autointerp.cli.spec_names import client_spec, examples_spec, explainer_spec, scorer_specs

CACHE_MODULE = "autointerp.models.cache_module.LatentCacheModule"


def parser() -> argparse.ArgumentParser:
    """The flat command's parser: positional MODEL and SAE, then every flag of the spec's reference."""
    p = argparse.ArgumentParser(
        prog="python -m autointerp",
        description="Cache a model's sparse-coder latents, then explain and score them with an LLM "
        "(the spec's flat command; `autointerp predict --config FILE` is the YAML route to the same run).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("model", help="Subject model: a hub id, a local folder, a .gguf file or embedded:SmolLM2-135M-Instruct.")
    p.add_argument("sparse_model", help="Folder or hub id of the SAEs/transcoders, one per hookpoint.")
    for flag in (*FLAGS, *EXTRA_FLAGS):
        flag.add_to(p)
    return p


def cuda_devices() -> int:
    """CUDA devices visible here (0 without torch's CUDA build)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def trainer_section(args: argparse.Namespace, available_gpus: int) -> dict[str, Any]:
    """Accelerator and devices from --num_gpus; asking for GPUs that are not here is an error."""
    if args.num_gpus is None:  # the spec's default (8) means "all GPUs, up to 8"; a CPU machine runs on CPU
        gpus = min(8, available_gpus)
    else:
        gpus = args.num_gpus
        if gpus < 0:
            raise SystemExit(f"--num_gpus must be >= 0, got {gpus}")
        if gpus > available_gpus:
            raise SystemExit(f"--num_gpus {gpus}: only {available_gpus} CUDA device(s) here; use --num_gpus {available_gpus}")
    trainer: dict[str, Any] = {"accelerator": "gpu", "devices": gpus} if gpus else {"accelerator": "cpu", "devices": 1}
    if gpus > 1:
        trainer["strategy"] = "ddp"
    trainer["enable_progress_bar"] = bool(args.verbose)
    return trainer


def build_config(args: argparse.Namespace, available_gpus: int = 0) -> dict[str, Any]:
    """The config dict the flags stand for: the same keys and objects as a YAML config."""
    if args.load_in_8bit and available_gpus == 0:
        raise SystemExit("--load_in_8bit needs a CUDA device (bitsandbytes 8-bit loading does not run on a CPU)")
    trainer = trainer_section(args, available_gpus)
    devices = trainer["devices"] if trainer["accelerator"] == "gpu" else 1
    config: dict[str, Any] = {
        "name": args.name, "seed_everything": args.seed, "trainer": trainer,
        "model": {"class_path": CACHE_MODULE, "init_args": {}}, "data": {}, "interpret": {},
    }
    for flag in (*FLAGS, *EXTRA_FLAGS):
        value = getattr(args, flag.dest)
        if flag.target and (value is not None or flag.keep_none):
            _put(config, flag.target, value)
    config["model"]["init_args"].update(model=args.model, sparse_model=args.sparse_model)
    # n_splits shards over the whole run: each rank flushes every n_tokens / (n_splits * devices) tokens.
    config["flush_tokens"] = max(1, math.ceil(args.n_tokens / (args.n_splits * devices)))
    interpret = config["interpret"]
    interpret.update(enabled=bool(args.interpret), seed=args.seed, client=client_spec(args),
                     explainer=explainer_spec(args), scorers=scorer_specs(args))
    interpret["examples"].update(examples_spec(args))  # examples.seed None: the run's seed, interpret.seed
    if args.serve_gguf:
        interpret["serve_context_length"] = args.explainer_model_max_len
    return config


def _put(config: dict[str, Any], target: str, value: Any) -> None:
    """Set config[a][b][c] = value for target "a.b.c"."""
    *parents, leaf = target.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def main(argv: list[str]) -> int:
    """Parse the flat flags, then run the same predict + interpret route as `autointerp predict --config`."""
    args = parser().parse_args(argv)
    setup_logging(args.verbose)
    if args.hf_token:
        os.environ["HF_TOKEN"] = args.hf_token  # read by huggingface_hub; never part of the config
    config = build_config(args, cuda_devices())  # the default (8) uses every visible GPU up to 8
    from autointerp.cli.predict import run_config

    return run_config(config)
