"""`TokenizedTextDataModule`: text -> rows of token ids with their global row index, for predict and training."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset

from autointerp.data.sampler import RowSampler

logger = logging.getLogger(__name__)


class RowDataset(Dataset):
    """Rows of a token table; item i is `{"input_ids": LongTensor[T], "row": i}`."""

    def __init__(self, tokens: torch.Tensor) -> None:
        """`tokens`: int [n_rows, ctx_len]."""
        self.tokens = tokens

    def __len__(self) -> int:
        """Number of rows."""
        return self.tokens.shape[0]

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One row and its global index."""
        return {"input_ids": self.tokens[index].long(), "row": torch.tensor(index, dtype=torch.long)}


class TokenizedTextDataModule(pl.LightningDataModule):
    """Tokenize a text dataset with the subject model's tokenizer into rows of `cache_ctx_len` tokens.

    Documents are concatenated in dataset order (separators as the tokenizer does it, see
    `autointerp.data.tokenize`) and cut into at most `n_tokens // cache_ctx_len` rows. Batches are
    `{"input_ids": LongTensor[B, T], "row": LongTensor[B]}`, `row` being each row's global index.
    Under DDP each rank gets a contiguous block of rows; every row is read exactly once (no padding).
    """

    def __init__(
        self,
        tokenizer: str,
        dataset_repo: str = "EleutherAI/SmolLM2-135M-10B",
        dataset_name: str = "",
        dataset_split: str = "train[:1%]",
        dataset_column: str = "text",
        cache_ctx_len: int = 256,
        n_tokens: int = 10_000_000,
        batch_size: int = 32,
        filter_bos: bool | None = None,
        seed: int = 22,
        num_workers: int = 0,
        shuffle: bool = False,
    ) -> None:
        """Settings (validated here, before any loading).

        Args:
            tokenizer: the subject model string (hub id, folder, .gguf file or `embedded:...`) whose tokenizer is used.
            dataset_repo: a hub dataset, a local folder, local files (parquet/json/jsonl/txt/csv; comma-separated,
                globs allowed) or `embedded:gensim` (the Wikipedia and news articles shipped in gensim).
            dataset_name: the hub dataset's configuration name ("" for the default).
            dataset_split: the split, with an optional slice: `train[:1%]`, `train[90%:]`, `train[:1000]`.
            dataset_column: the column holding the text.
            cache_ctx_len: tokens per row.
            n_tokens: tokens to process; at most `n_tokens // cache_ctx_len` rows are made.
            batch_size: rows per batch.
            filter_bos: deprecated spelling, leave unset: set `model.init_args.filter_bos`, the cache
                module's setting (it drops latents at BOS positions). `autointerp predict` moves a YAML
                `data.filter_bos` there with a warning; in Python it is refused.
            seed: seed of the row shuffle (`shuffle`) and of the training order.
            num_workers: DataLoader worker processes.
            shuffle: shuffle rows (with `seed`) before taking the first `n_tokens`, instead of reading
                the split from its start; tokenizes the whole split.
        """
        super().__init__()
        if filter_bos is not None:
            raise ValueError("filter_bos: moved to the cache module; set LatentCacheModule(filter_bos=...) "
                             "(model.init_args.filter_bos), not the data module")
        self._validate(dataset_repo, dataset_column, cache_ctx_len, n_tokens, batch_size, num_workers)
        self.tokenizer_name = tokenizer
        self.dataset_repo, self.dataset_name, self.dataset_split = dataset_repo, dataset_name, dataset_split
        self.dataset_column = dataset_column
        self.cache_ctx_len, self.n_tokens, self.batch_size = cache_ctx_len, n_tokens, batch_size
        self.seed, self.num_workers, self.shuffle = seed, num_workers, shuffle
        self.tokens: torch.Tensor | None = None  # int32 [n_rows, cache_ctx_len] after setup()
        self.allow_zero_length_dataloader_with_multiple_devices = True  # more ranks than rows is allowed

    @staticmethod
    def _validate(repo: str, column: str, ctx_len: int, n_tokens: int, batch_size: int, workers: int) -> None:
        """Cheap checks of the settings, each error naming its setting."""
        if not repo:
            raise ValueError("dataset_repo: empty")
        if not column:
            raise ValueError("dataset_column: empty")
        if ctx_len < 1:
            raise ValueError(f"cache_ctx_len must be positive, got {ctx_len}")
        if n_tokens < ctx_len:
            raise ValueError(f"n_tokens must be at least one row: n_tokens={n_tokens} < cache_ctx_len={ctx_len}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {workers}")

    @property
    def tokenizer(self):
        """The subject model's tokenizer (cached per process)."""
        from autointerp.models.subject import load_tokenizer

        return load_tokenizer(self.tokenizer_name)

    @property
    def bos_token_id(self) -> int | None:
        """The tokenizer's BOS id (the cache module's `filter_bos` drops latents at these positions)."""
        return self.tokenizer.bos_token_id

    @property
    def max_rows(self) -> int:
        """Rows asked for: `n_tokens // cache_ctx_len`."""
        return self.n_tokens // self.cache_ctx_len

    @property
    def n_rows(self) -> int:
        """Rows actually made (after setup)."""
        return 0 if self.tokens is None else self.tokens.shape[0]

    def prepare_data(self) -> None:
        """Once per node: write the embedded corpus when it is the dataset and, under a Trainer,
        tokenize into a file every rank of the node then memory-maps (instead of each rank
        downloading and tokenizing the whole split)."""
        from autointerp.data.sources import resolve_dataset_repo

        resolve_dataset_repo(self.dataset_repo)
        if self.trainer is not None:
            _save_rows(self.rows_file(), self._build_rows())

    def setup(self, stage: str | None = None) -> None:
        """Load, check and tokenize once; later calls reuse the rows. Under a Trainer the rows come
        from the file this node's `prepare_data` just wrote, shared by memory mapping."""
        if self.tokens is None:
            path = self.rows_file()
            if self.trainer is not None and path.is_file():
                import numpy as np

                # copy-on-write map: pages are shared by the node's ranks and never written back
                self.tokens = torch.from_numpy(np.load(path, mmap_mode="c"))
            else:
                self.tokens = self._build_rows()

    def rows_file(self) -> Path:
        """Where `prepare_data` keeps the token rows of these settings: `user_cache_dir()/rows/<hash>.npy`."""
        from autointerp.models.gguf_cache import user_cache_dir

        settings = [self.tokenizer_name, self.dataset_repo, self.dataset_name, self.dataset_split, self.dataset_column,
                    self.cache_ctx_len, self.n_tokens, self.shuffle, self.seed]
        digest = hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:24]
        return user_cache_dir() / "rows" / f"{digest}.npy"

    def _open_split(self):
        """The dataset split, checked for emptiness and the text column."""
        from autointerp.data.sources import load_text_split

        dataset = load_text_split(self.dataset_repo, self.dataset_name, self.dataset_split)
        if len(dataset) == 0:
            raise ValueError(f"dataset_split: {self.dataset_split!r} of {self.dataset_repo!r} is empty")
        if self.dataset_column not in dataset.column_names:
            raise ValueError(
                f"dataset_column: {self.dataset_column!r} is not a column of {self.dataset_repo!r}; "
                f"columns: {dataset.column_names}"
            )
        return dataset.select_columns([self.dataset_column])

    def _build_rows(self) -> torch.Tensor:
        """int32 [n_rows, cache_ctx_len]: the first rows of the split, or a seeded sample (shuffle)."""
        from autointerp.data.tokenize import tokenize_rows

        dataset, column = self._open_split(), self.dataset_column
        texts = (text for batch in dataset.iter(batch_size=256) for text in batch[column])
        tokens = tokenize_rows(texts, self.tokenizer, self.cache_ctx_len, None if self.shuffle else self.max_rows)
        if tokens.shape[0] == 0:
            raise ValueError(
                f"dataset_split: {self.dataset_split!r} of {self.dataset_repo!r} gives fewer tokens than "
                f"one row of cache_ctx_len={self.cache_ctx_len}"
            )
        if self.shuffle:
            order = torch.randperm(tokens.shape[0], generator=torch.Generator().manual_seed(self.seed))
            tokens = tokens[order[: self.max_rows]]
        if tokens.shape[0] < self.max_rows:
            logger.warning("the dataset gives %d rows, fewer than n_tokens asks (%d)", tokens.shape[0], self.max_rows)
        return tokens

    def _rank_and_world(self) -> tuple[int, int]:
        """This process's rank and the world size, from the Trainer, torch.distributed, or (0, 1)."""
        trainer = self.trainer
        if trainer is not None:
            return trainer.global_rank, trainer.world_size
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def _loader(self, shuffle: bool, even: bool) -> DataLoader:
        """A DataLoader over this rank's rows."""
        self.setup()
        rank, world = self._rank_and_world()
        sampler = RowSampler(self.n_rows, rank, world, shuffle=shuffle, seed=self.seed, even=even)
        return DataLoader(RowDataset(self.tokens), batch_size=self.batch_size, sampler=sampler,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def predict_dataloader(self) -> DataLoader:
        """Rows in order; under DDP each rank a contiguous block, every row exactly once."""
        return self._loader(shuffle=False, even=False)

    def train_dataloader(self) -> DataLoader:
        """Rows shuffled per epoch with `seed`; under DDP equal shares (up to world_size - 1 rows dropped)."""
        return self._loader(shuffle=True, even=True)


def _save_rows(path: Path, tokens: torch.Tensor) -> None:
    """Write int32 rows [n_rows, ctx_len] atomically (a rank of another run may be mapping the old file)."""
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, tokens.numpy())
    os.replace(tmp, path)
