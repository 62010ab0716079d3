"""The subject model's tokenizer, saved once in the run folder so a rerun loads it in a fraction of a second.

Converting a GGUF tokenizer (the embedded SmolLM2) takes several seconds; `results/<name>/tokenizer/`
holds the converted files after the first load.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from autointerp.run_folder import RunPaths

logger = logging.getLogger(__name__)


def run_tokenizer(run_dir: str | Path, model: str) -> Any:
    """The tokenizer of `model`, from `run_dir/tokenizer` when saved there, else loaded and saved there."""
    from transformers import AutoTokenizer

    folder = RunPaths(run_dir).tokenizer
    if (folder / "tokenizer_config.json").is_file():
        return AutoTokenizer.from_pretrained(str(folder))
    from autointerp.models.subject import load_tokenizer

    tokenizer = load_tokenizer(model)
    save_tokenizer(tokenizer, folder)
    return tokenizer


def save_tokenizer(tokenizer: Any, folder: Path) -> None:
    """Save into a temp folder beside `folder`, then rename it into place (never a half-written folder)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        tokenizer.save_pretrained(str(tmp))
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except OSError as exc:  # a read-only run folder only costs speed
        logger.warning("could not save the tokenizer to %s: %s", folder, exc)
        shutil.rmtree(tmp, ignore_errors=True)
