"""A persistent response cache: sqlite (WAL) keyed by a hash of the model, the messages and every setting.

Only successful responses are stored, so a rerun repeats exactly the calls that failed before.
Several processes (ranks, resumed runs) may share one file: WAL lets readers and one writer overlap.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from autointerp.clients.base import Response, TokenLogprob

logger = logging.getLogger(__name__)

CACHE_FILE = "llm_cache.sqlite"
KEY_VERSION = 1  # bump when the key's recipe changes, so old entries stop matching


def default_cache_path() -> Path:
    """The user cache file: `$AUTOINTERP_CACHE`, else `$XDG_CACHE_HOME/autointerp`, else
    `~/.cache/autointerp`, then `llm_cache.sqlite`."""
    folder = os.environ.get("AUTOINTERP_CACHE")
    if not folder:
        root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(root, "autointerp")
    return Path(folder) / CACHE_FILE


def cache_key(model: str, messages: list[dict[str, str]], settings: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of (model, messages, settings); settings hold every sampling
    setting, the response format and the sample index, so any difference gives a different key."""
    payload = {"v": KEY_VERSION, "model": model, "messages": messages, "settings": settings}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _encode(response: Response) -> str:
    data = asdict(response)
    data.pop("cached")
    return json.dumps(data, ensure_ascii=False)


def _decode(blob: str) -> Response:
    data = json.loads(blob)
    logprobs = data.get("logprobs")
    if logprobs is not None:
        data["logprobs"] = [TokenLogprob(**item) for item in logprobs]
    return Response(**data, cached=True)


class ResponseCache:
    """Get and put responses by key in one sqlite file (created with its folder on first use)."""

    def __init__(self, path: str | Path) -> None:
        """Open (or create) the cache file at `path`."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT, response TEXT)")
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Response | None:
        """The stored response for `key` (marked cached), or None."""
        with self._lock:
            row = self._db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        try:
            response = _decode(row[0])
        except (ValueError, TypeError) as err:  # a damaged entry is a miss, never a crash
            logger.warning("ignoring an unreadable response cache entry %s: %s", key[:12], err)
            self.misses += 1
            return None
        self.hits += 1
        return response

    def put(self, key: str, model: str, response: Response) -> None:
        """Store a successful response (replacing any older one under the same key)."""
        blob = _encode(response)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", (key, model, blob))

    def __len__(self) -> int:
        """How many responses are stored."""
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        """Show the file, never the content."""
        return f"ResponseCache({str(self.path)!r})"
