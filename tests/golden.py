"""Golden files: compare a value with a stored JSON file; AUTOINTERP_REGEN_GOLDEN=1 rewrites it."""

import json
import os
from pathlib import Path


def check_golden(path: Path, value) -> None:
    """Assert `value` equals the JSON stored at `path`, or store it when regenerating."""
    text = json.dumps(value, indent=1, ensure_ascii=False) + "\n"
    if os.environ.get("AUTOINTERP_REGEN_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"{path} is missing; run with AUTOINTERP_REGEN_GOLDEN=1 to create it"
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(text), f"prompt changed: {path}"
