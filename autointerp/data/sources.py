"""Open a text dataset split from a hub name, a local folder, local files or `embedded:gensim`."""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)

# File suffix -> the `datasets` builder that reads it.
BUILDERS = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".txt": "text", ".csv": "csv"}


def _builder_for(path: Path) -> str:
    """The datasets builder for one local file, from its suffix."""
    suffix = path.suffix.lower()
    if suffix not in BUILDERS:
        raise ValueError(f"dataset_repo: cannot read {path}: suffix {suffix!r} is not one of {sorted(BUILDERS)}")
    return BUILDERS[suffix]


def _local_files(repo: str) -> list[Path] | None:
    """Local data files named by `repo` (comma-separated, globs allowed), or None when it is not local."""
    paths: list[Path] = []
    for part in (p.strip() for p in repo.split(",")):
        path = Path(part).expanduser()
        if any(ch in part for ch in "*?["):
            matches = sorted(path.parent.glob(path.name))
            if not matches:
                raise ValueError(f"dataset_repo: {part!r} matches no file")
            paths.extend(matches)
        elif path.is_file():
            paths.append(path)
        else:
            return None
    return paths


def resolve_dataset_repo(repo: str) -> str:
    """`embedded:gensim` -> the written corpus file; anything else unchanged."""
    from autointerp.data.embedded import EMBEDDED_DATASET, default_cache_dir, write_embedded_corpus

    if repo == EMBEDDED_DATASET:
        return str(write_embedded_corpus(default_cache_dir()))
    if repo.startswith("embedded:"):
        raise ValueError(f"dataset_repo: unknown embedded dataset {repo!r}; known: {EMBEDDED_DATASET}")
    return repo


def load_text_split(repo: str, name: str = "", split: str = "train"):
    """A `datasets.Dataset` for one split (slices such as `train[:1%]` work for local files too)."""
    import datasets

    if not repo:
        raise ValueError("dataset_repo: empty")
    repo = resolve_dataset_repo(repo)
    files = _local_files(repo)
    try:
        if files is not None:
            if all(p.stat().st_size == 0 for p in files):
                raise ValueError(f"dataset_split: {split!r} of {repo!r} is empty (the files hold no bytes)")
            builders = {_builder_for(p) for p in files}
            if len(builders) > 1:
                raise ValueError(f"dataset_repo: mixed file kinds {sorted(builders)} in {repo!r}")
            # All local files form the "train" split, so slices such as train[90%:] apply to them.
            return datasets.load_dataset(builders.pop(), data_files={"train": [str(p) for p in files]}, split=split)
        return datasets.load_dataset(repo, name or None, split=split)
    except ValueError as err:
        if str(err).startswith("dataset_repo"):
            raise
        raise ValueError(f"dataset_split / dataset_name: cannot load {split!r} of {repo!r}: {err}") from err
    except FileNotFoundError as err:
        raise ValueError(f"dataset_repo: cannot find {repo!r} (a hub name, a local folder or files): {err}") from err
    except Exception as err:  # datasets raises many kinds (even StopIteration); name the settings
        raise ValueError(f"dataset_repo / dataset_split: cannot load {split!r} of {repo!r}: {err!r}") from err
