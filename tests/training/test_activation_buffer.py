"""The shuffle buffer mixes rows; it loses and duplicates no token."""

from __future__ import annotations

import torch

from autointerp.training.activation_buffer import ShuffleBuffer


def test_buffer_mixes_rows_and_keeps_every_token_once():
    rows, ctx_len = 40, 32
    buffer = ShuffleBuffer(capacity=256, batch_size=32, seed=0)
    batches = []
    for row in range(rows):  # one row (document) at a time, like the subject model yields them
        tokens = torch.stack([torch.full((ctx_len,), float(row)), torch.arange(ctx_len, dtype=torch.float)], 1)
        buffer.push(tokens)
        batches.extend(x for x, _ in buffer.ready())
    batches.extend(x for x, _ in buffer.drain())
    seen = torch.cat(batches)
    assert sorted(map(tuple, seen.tolist())) == sorted(
        (float(r), float(p)) for r in range(rows) for p in range(ctx_len))
    full = [b for b in batches if len(b) == 32]
    distinct_rows = [len(set(b[:, 0].tolist())) for b in full]
    # 32 tokens drawn from >= 8 rows held in the buffer: an unshuffled stream would give 1 row per batch.
    assert min(distinct_rows) >= 4 and sum(distinct_rows) / len(distinct_rows) >= 5
    # A row's tokens are spread over several minibatches rather than arriving together.
    spread = [sum(1 for b in full if (b[:, 0] == r).any()) for r in range(rows - 8)]
    assert min(spread) >= 4


def test_targets_stay_paired_with_inputs():
    buffer = ShuffleBuffer(capacity=64, batch_size=16, seed=1)
    out = []
    for start in range(0, 200, 20):
        x = torch.arange(start, start + 20, dtype=torch.float).unsqueeze(1)
        buffer.push(x, -2 * x)
        out.extend(buffer.ready())
    out.extend(buffer.drain())
    for x, y in out:
        torch.testing.assert_close(y, -2 * x)
    assert sum(len(x) for x, _ in out) == 200
