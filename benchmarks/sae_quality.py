"""Quality of the shipped SAE on held-out text: FVU, dead fraction and L0.

    .venv/bin/python benchmarks/sae_quality.py [--split 'train[90%:]'] [--n-tokens N] [--sae PATH]

Loads the SAE through `load_sparse_coders` (the same path `autointerp predict` uses), runs
SmolLM2-135M-Instruct to `layers.15` with `HookpointRunner` over the held-out split, and reports
- FVU = sum ||x - x_hat||^2 / sum ||x - mean(x)||^2 pooled over held-out tokens: over all of them,
  without each row's first position, and over the ordinary tokens (norm at most 10x the batch's
  median). SmolLM2's attention sinks (the first position of every row, ~135x the median norm, and a
  few later tokens) carry ~97% of all the variance, so the all-token FVU mostly measures them;
- dead fraction = latents that never fire on the held-out tokens;
- L0 = mean nonzero latents per token.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

MODEL = "embedded:SmolLM2-135M-Instruct"
HOOKPOINT = "layers.15"
SINK_RATIO = 10.0
SHIPPED = Path(__file__).resolve().parents[1] / "autointerp" / "assets" / "smollm2-135m-instruct-topk"


class Pooled:
    """Running sums (float64) for a pooled FVU over many batches."""

    def __init__(self) -> None:
        self.n, self.sum, self.sq, self.residual = 0, 0.0, 0.0, 0.0

    def add(self, x: torch.Tensor, x_hat: torch.Tensor) -> None:
        """x, x_hat: [N, d]."""
        x64 = x.double()
        self.n += x64.shape[0]
        self.sum = self.sum + x64.sum(0)
        self.sq += float(x64.pow(2).sum())
        self.residual += float((x64 - x_hat.double()).pow(2).sum())

    def fvu(self) -> float:
        """Residual over total variance around the pooled mean."""
        total = self.sq - float(self.sum.pow(2).sum()) / self.n
        return self.residual / total


def main() -> None:
    """Run the shipped SAE over held-out text and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sae", default=str(SHIPPED))
    parser.add_argument("--split", default="train[90%:]")
    parser.add_argument("--n-tokens", type=int, default=1_000_000, help="at most this many tokens")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--dtype", default="float32", help="subject model dtype (predict uses float32 on CPU)")
    args = parser.parse_args()
    torch.manual_seed(0)

    from autointerp.data import TokenizedTextDataModule
    from autointerp.models.hookpoints import HookpointRunner
    from autointerp.models.sparse_coders import load_sparse_coders
    from autointerp.models.subject import load_subject

    coder = load_sparse_coders(args.sae, [HOOKPOINT], device="cpu", dtype=torch.float32)[HOOKPOINT]
    subject, _ = load_subject(MODEL, dtype=args.dtype)
    runner = HookpointRunner(subject, [HOOKPOINT])
    data = TokenizedTextDataModule(MODEL, dataset_repo="embedded:gensim", dataset_split=args.split,
                                   n_tokens=args.n_tokens, batch_size=args.batch_size)
    data.prepare_data()
    data.setup()

    everything, later, ordinary = Pooled(), Pooled(), Pooled()
    fired = torch.zeros(coder.d_sae, dtype=torch.bool)
    nonzeros, start = 0, time.perf_counter()
    for batch in data.predict_dataloader():
        x = runner(batch["input_ids"])[HOOKPOINT].float()  # [B, T, d]
        b, t, d = x.shape
        flat = x.reshape(-1, d)
        with torch.no_grad():
            token, latent, value = coder.encode(flat)
            dense = torch.zeros(flat.shape[0], coder.d_sae)
            dense[token, latent] = value
            x_hat = coder.decode(dense)
        fired[latent] = True
        nonzeros += int((value > 0).sum())
        everything.add(flat, x_hat)
        later.add(x[:, 1:].reshape(-1, d), x_hat.reshape(b, t, d)[:, 1:].reshape(-1, d))
        norms = flat.norm(dim=1)
        keep = norms <= SINK_RATIO * norms.median()
        ordinary.add(flat[keep], x_hat[keep])
    seconds = time.perf_counter() - start

    print(f"sae: {args.sae} ({HOOKPOINT}, d_sae {coder.d_sae}, k {coder.k})")
    print(f"held-out text: embedded:gensim {args.split}, {everything.n} tokens ({data.n_rows} rows of 256)")
    print(f"FVU, ordinary tokens ({ordinary.n} with norm <= {SINK_RATIO:g}x median): {ordinary.fvu():.4f}")
    print(f"FVU, without each row's first position ({later.n}): {later.fvu():.4f}")
    print(f"FVU, all tokens (attention sinks dominate):   {everything.fvu():.4f}")
    print(f"dead fraction (never fired here): {1 - fired.float().mean().item():.4f}"
          f"  ({int((~fired).sum())} of {coder.d_sae})")
    print(f"L0 (nonzero latents per token):   {nonzeros / everything.n:.2f}")
    print(f"time: {seconds:.1f} s ({everything.n / seconds:.0f} tokens/s, forward to {HOOKPOINT} + encode/decode)")


if __name__ == "__main__":
    main()
