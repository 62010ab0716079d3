"""TokenizedTextDataModule: rows, global indices, slices of local files, bad settings."""

import numpy as np
import pandas as pd
import pytest
import torch

from autointerp.data import TokenizedTextDataModule
from autointerp.data.sampler import RowSampler

MODEL = "embedded:SmolLM2-135M-Instruct"


def hand_rows(docs, tokenizer, ctx_len, max_rows):
    """The expected rows: BOS + each document's ids, concatenated, cut, tail dropped."""
    stream = []
    for doc in docs:
        stream += [tokenizer.bos_token_id] + tokenizer(doc)["input_ids"]
    n = min(max_rows, len(stream) // ctx_len)
    return np.array(stream[: n * ctx_len]).reshape(n, ctx_len)


def module(path, **kwargs):
    settings = dict(dataset_repo=str(path), dataset_split="train", dataset_column="body", cache_ctx_len=16,
                    n_tokens=10_000, batch_size=4)
    settings.update(kwargs)
    return TokenizedTextDataModule(MODEL, **settings)


def test_rows_and_global_indices(jsonl_file, tokenizer):
    path, docs = jsonl_file
    dm = module(path, n_tokens=16 * 20 + 5)
    dm.setup("predict")
    expected = hand_rows(docs, tokenizer, 16, 20)
    assert dm.n_rows == 20 and np.array_equal(dm.tokens.numpy(), expected)
    assert dm.bos_token_id == tokenizer.bos_token_id == 1
    batches = list(dm.predict_dataloader())
    rows = torch.cat([b["row"] for b in batches])
    assert rows.tolist() == list(range(20))
    for batch in batches:
        assert batch["input_ids"].dtype == torch.int64 and batch["input_ids"].shape[1] == 16
        assert np.array_equal(batch["input_ids"].numpy(), expected[batch["row"].numpy()])


def test_all_rows_when_data_runs_out(jsonl_file, tokenizer):
    path, docs = jsonl_file
    dm = module(path, n_tokens=10**7)
    dm.setup()
    expected = hand_rows(docs, tokenizer, 16, 10**9)
    assert dm.n_rows == len(expected) and np.array_equal(dm.tokens.numpy(), expected)


@pytest.mark.parametrize("kind", ["jsonl", "parquet", "txt"])
def test_slices_on_local_files(tmp_path, jsonl_file, tokenizer, kind):
    _, docs = jsonl_file
    if kind == "parquet":
        path, column = tmp_path / "docs.parquet", "body"
        pd.DataFrame({"body": docs}).to_parquet(path)
    elif kind == "txt":
        path, column = tmp_path / "docs.txt", "text"
        path.write_text("\n".join(docs) + "\n")
    else:
        path, column = jsonl_file[0], "body"
    head = module(path, dataset_split="train[:75%]", dataset_column=column)
    tail = module(path, dataset_split="train[75%:]", dataset_column=column)
    head.setup(), tail.setup()
    assert np.array_equal(head.tokens.numpy(), hand_rows(docs[:30], tokenizer, 16, 10**9))
    assert np.array_equal(tail.tokens.numpy(), hand_rows(docs[30:], tokenizer, 16, 10**9))
    first = module(path, dataset_split="train[:5]", dataset_column=column)
    first.setup()
    assert np.array_equal(first.tokens.numpy(), hand_rows(docs[:5], tokenizer, 16, 10**9))


def test_shuffle_is_a_seeded_sample_of_rows(jsonl_file, tokenizer):
    path, docs = jsonl_file
    all_rows = hand_rows(docs, tokenizer, 16, 10**9)
    picks = []
    for seed in (1, 1, 2):
        dm = module(path, shuffle=True, seed=seed, n_tokens=16 * 10)
        dm.setup()
        picks.append(dm.tokens.numpy())
    assert np.array_equal(picks[0], picks[1]) and not np.array_equal(picks[0], picks[2])
    as_set = {tuple(r) for r in all_rows}
    assert len(picks[0]) == 10 and all(tuple(r) in as_set for r in picks[0])
    assert not np.array_equal(picks[0], all_rows[:10])


def test_loaders_split_rows_across_ranks(jsonl_file, monkeypatch):
    dm = module(jsonl_file[0], n_tokens=16 * 11)
    dm.setup()
    seen = []
    for rank in range(3):
        monkeypatch.setattr(dm, "_rank_and_world", lambda rank=rank: (rank, 3))
        loader = dm.predict_dataloader()
        assert isinstance(loader.sampler, RowSampler)
        seen += [r for b in loader for r in b["row"].tolist()]
    assert sorted(seen) == list(range(11))
    train_rows = []
    for rank in range(3):
        monkeypatch.setattr(dm, "_rank_and_world", lambda rank=rank: (rank, 3))
        train_rows.append([r for b in dm.train_dataloader() for r in b["row"].tolist()])
    assert [len(r) for r in train_rows] == [3, 3, 3] and len(set(sum(train_rows, []))) == 9


def test_lightning_predict_keeps_our_sampler(jsonl_file):
    import lightning.pytorch as pl

    class Rows(pl.LightningModule):
        def predict_step(self, batch):
            return batch["row"]

    dm = module(jsonl_file[0], n_tokens=16 * 9)
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         enable_checkpointing=False, enable_model_summary=False)
    out = trainer.predict(Rows(), datamodule=dm)
    assert torch.cat(out).tolist() == list(range(9))
    # For predict Lightning rebuilds the loader around a wrapped BatchSampler; ours must be inside.
    batch_sampler = trainer.predict_dataloaders.batch_sampler
    assert isinstance(batch_sampler._batch_sampler.sampler, RowSampler)


# ---- bad settings: clear errors naming the setting ----

def test_missing_column_lists_columns(jsonl_file):
    dm = module(jsonl_file[0], dataset_column="text")
    with pytest.raises(ValueError, match=r"dataset_column: 'text' is not a column .*columns: \['id', 'body'\]"):
        dm.setup()


def test_n_tokens_below_one_row():
    with pytest.raises(ValueError, match=r"n_tokens must be at least one row: n_tokens=100 < cache_ctx_len=256"):
        TokenizedTextDataModule(MODEL, n_tokens=100)


def test_empty_dataset(jsonl_file, tmp_path):
    with pytest.raises(ValueError, match=r"dataset_split.*'train\[:0\]'.*no data"):
        module(jsonl_file[0], dataset_split="train[:0]").setup()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ValueError, match=r"dataset_split: 'train' of .*empty.jsonl' is empty"):
        module(empty).setup()
    blank = tmp_path / "blank.jsonl"
    blank.write_text('{"body": ""}\n{"body": "  "}\n')
    with pytest.raises(ValueError, match="fewer tokens than one row of cache_ctx_len=16"):
        module(blank).setup()


def test_bad_files_and_other_settings(tmp_path, jsonl_file):
    odd = tmp_path / "docs.xml"
    odd.write_text("<a/>")
    with pytest.raises(ValueError, match=r"dataset_repo: cannot read .*docs.xml"):
        module(odd).setup()
    with pytest.raises(ValueError, match="dataset_repo: unknown embedded dataset"):
        module("embedded:nope").setup()
    with pytest.raises(ValueError, match="batch_size must be positive"):
        module(jsonl_file[0], batch_size=0)
    with pytest.raises(ValueError, match="dataset_split"):
        module(jsonl_file[0], dataset_split="validation").setup()


def test_local_folder_and_glob(tmp_path, tokenizer):
    docs = [f"Folder document {i} with some words." for i in range(12)]
    folder = tmp_path / "corpus"
    folder.mkdir()
    for part in range(2):
        lines = "".join('{"body": "%s"}\n' % d for d in docs[part * 6:(part + 1) * 6])
        (folder / f"part-{part}.jsonl").write_text(lines)
    for repo in (str(folder), str(folder / "part-*.jsonl")):
        dm = module(repo)
        dm.setup()
        assert np.array_equal(dm.tokens.numpy(), hand_rows(docs, tokenizer, 16, 10**9)), repo


def test_a_node_tokenizes_once_and_its_ranks_map_the_rows(jsonl_file, tmp_path, monkeypatch):
    # prepare_data runs on one rank per node; the other ranks' setup must not tokenize again.
    import lightning.pytorch as pl

    import autointerp.data.tokenize as tokenize_module

    monkeypatch.setenv("AUTOINTERP_CACHE", str(tmp_path / "cache"))
    path, _ = jsonl_file
    settings = dict(tokenizer=MODEL, dataset_repo=str(path), dataset_split="train", dataset_column="body",
                    cache_ctx_len=16, n_tokens=160, batch_size=4)
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False)
    first = TokenizedTextDataModule(**settings)
    first.trainer = trainer
    first.prepare_data()
    assert first.rows_file().is_file()
    plain = TokenizedTextDataModule(**settings)
    plain.setup()  # no Trainer: tokenizes itself
    monkeypatch.setattr(tokenize_module, "tokenize_rows", lambda *a, **k: (_ for _ in ()).throw(AssertionError("tokenized twice")))
    other_rank = TokenizedTextDataModule(**settings)
    other_rank.trainer = trainer
    other_rank.setup("predict")
    assert torch.equal(other_rank.tokens, plain.tokens) and other_rank.n_rows == 10
    assert TokenizedTextDataModule(**{**settings, "n_tokens": 320}).rows_file() != first.rows_file()
