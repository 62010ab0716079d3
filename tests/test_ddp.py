"""Two CPU ranks under DDP (gloo) write the same cache as one process: no row twice, none missing.

Runs the CLI as a subprocess: `strategy="ddp"` relaunches the current command as rank 1, which
inside pytest would relaunch pytest. The single-process cache is made in this process with the
same datamodule rows and the programmatic `LatentCache`.
"""

from __future__ import annotations

import numpy as np
from cache_helpers import cached_nonzeros
from cli_helpers import make_run_folder, run_cli
from safetensors.numpy import load_file

from autointerp.latents import CacheReader, LatentCache

N_TOKENS, CTX = 1024, 16


def single_process_cache(root, out):
    """The same rows through the same model and coders, one process, no Trainer."""
    from autointerp.data import TokenizedTextDataModule
    from autointerp.models.sparse_coders import load_sparse_coders
    from autointerp.models.subject import load_subject

    data = TokenizedTextDataModule(str(root / "model"), str(root / "text.jsonl"), dataset_split="train",
                                   dataset_column="body", cache_ctx_len=CTX, n_tokens=N_TOKENS, batch_size=4)
    data.setup("predict")
    model, _ = load_subject(str(root / "model"))
    cache = LatentCache(model, load_sparse_coders(str(root / "sae"), ["layers.1", "layers.2"]), batch_size=4)
    cache.run(N_TOKENS, data.tokens)
    return CacheReader(cache.save(out).parent)


def test_two_ranks_equal_one_process(tmp_path):
    root = make_run_folder(tmp_path)
    run_cli(root, "predict", "--config", "predict.yaml", "--trainer.logger", "false", "--data.n_tokens", str(N_TOKENS),
            "--flush_tokens", "128", "--name", "ddp", "--trainer.devices", "2", "--trainer.strategy", "ddp")
    ddp = CacheReader(root / "results" / "ddp" / "latents")
    single = single_process_cache(root, tmp_path / "single")

    assert ddp.manifest.token_files == ["tokens-rank0.safetensors", "tokens-rank1.safetensors"]
    rank_rows = [load_file(str(ddp.dir / name))["rows"] for name in ddp.manifest.token_files]
    assert all(len(r) > 0 for r in rank_rows)  # both ranks did work
    all_rows = np.concatenate(rank_rows)
    assert len(all_rows) == len(set(all_rows.tolist())) == N_TOKENS // CTX  # no row twice
    assert sorted(all_rows.tolist()) == list(range(N_TOKENS // CTX))  # none missing
    assert ddp.manifest.n_rows == single.manifest.n_rows == N_TOKENS // CTX
    np.testing.assert_array_equal(ddp.tokens, single.tokens)
    for hp in ("layers.1", "layers.2"):
        shards = ddp.manifest.per_hookpoint[hp].shards
        assert {s.split("/")[1].split("-")[1] for s in shards} == {"r0", "r1"}  # each rank wrote its own
        assert ddp.manifest.per_hookpoint[hp].nnz == single.manifest.per_hookpoint[hp].nnz
        got, want = cached_nonzeros(ddp, hp), cached_nonzeros(single, hp)
        assert got.keys() == want.keys()
        np.testing.assert_allclose([got[k] for k in want], list(want.values()), rtol=2**-10)


def test_three_ranks_over_two_rows(tmp_path):
    # One rank gets no rows: Lightning refused that unless allowed, and then skips the rank's predict hooks,
    # so a collective there would leave the other two waiting; the writer's live in setup/teardown.
    root = make_run_folder(tmp_path)
    run_cli(root, "predict", "--config", "predict.yaml", "--trainer.logger", "false", "--data.n_tokens", str(2 * CTX),
            "--name", "three", "--trainer.devices", "3", "--trainer.strategy", "ddp", timeout=300)
    reader = CacheReader(root / "results" / "three" / "latents")
    files = reader.manifest.token_files
    assert len(files) == 2 and set(files) < {f"tokens-rank{r}.safetensors" for r in range(3)}  # the empty rank wrote none
    assert reader.manifest.n_rows == 2 and reader.manifest.n_tokens == 2 * CTX
    rows = [load_file(str(reader.dir / name))["rows"].tolist() for name in files]
    assert sorted(rows) == [[0], [1]]
    for hp in ("layers.1", "layers.2"):
        got = cached_nonzeros(reader, hp)
        assert reader.manifest.per_hookpoint[hp].nnz == len(got) > 0
        assert {row for row, _, _ in got} == {0, 1}
        writers = {s.split("/")[1].split("-")[1] for s in reader.manifest.per_hookpoint[hp].shards}
        assert writers == {f"r{name[len('tokens-rank')]}" for name in files}
