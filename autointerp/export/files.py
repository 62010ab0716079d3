"""Writing an export: JSONL and gzipped JSONL batches into a staging folder that replaces `--out` in one rename."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

GZIP_LEVEL = 5
"""As Neuronpedia's exporter compresses its batches."""


def check_out(out: Path, overwrite: bool) -> None:
    """ValueError naming `out` when it is a file, or a folder with something in it and `overwrite` is off."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"out: {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ValueError(f"out: {out} exists and is not empty; pass --overwrite to replace it")


@contextlib.contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A fresh folder beside `out`; when the block ends without error it replaces `out` (nothing half-written lands)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
    try:
        yield tmp
        old = None
        if out.exists():
            old = out.parent / f".{out.name}.replaced-{os.getpid()}"
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _lines(rows: list[dict[str, Any]]) -> bytes:
    """One JSON object per line; NaN is refused (not JSON, and Postgres would not take it)."""
    return "".join(json.dumps(row, allow_nan=False) + "\n" for row in rows).encode()


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """A plain `.jsonl` file (the per-source metadata files and the config tables)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_lines(rows))


def write_batch(folder: Path, batch: int, rows: list[dict[str, Any]]) -> int:
    """`folder/batch-<batch>.jsonl.gz` with `rows`; nothing when there are none (an empty file breaks the importer)."""
    if not rows:
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"batch-{batch}.jsonl.gz").write_bytes(gzip.compress(_lines(rows), compresslevel=GZIP_LEVEL))
    return len(rows)

