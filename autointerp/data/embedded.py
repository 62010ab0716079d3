"""The embedded default corpus: Wikipedia and news articles shipped in the `gensim` wheel.

`write_embedded_corpus(out_dir)` writes `gensim-corpus.jsonl` (fields `text`, `source`, `title`):
- 107 English Wikipedia articles from
  `gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2`
  (main namespace, redirects and near-empty pages dropped), markup stripped with gensim's
  `filter_wiki` and a little cleanup, keeping case and punctuation; the title starts each text;
- the 300 news articles of `gensim/test/test_data/lee_background.cor` (one per line).
Documents are interleaved in a fixed pseudo-random order (seed 0), so that any slice such as
`train[:90%]` / `train[90%:]` mixes both sources and is the same on every machine.
The config string `dataset_repo: embedded:gensim` resolves to this file, written once into the
user cache folder (`$AUTOINTERP_CACHE`, else `~/.cache/autointerp`).
"""

from __future__ import annotations

import bz2
import importlib.util
import json
import random
import re
from pathlib import Path

EMBEDDED_DATASET = "embedded:gensim"
FILE_NAME = "gensim-corpus.jsonl"
WIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
NEWS_FILE = "lee_background.cor"
MIN_WIKI_CHARS = 200
CORPUS_VERSION = 1


def gensim_test_data() -> Path:
    """The `gensim/test/test_data` folder of the installed gensim wheel (gensim is not imported)."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"dataset_repo: {EMBEDDED_DATASET} needs the gensim package (pip install gensim)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "test" / "test_data"
    for name in (WIKI_FILE, NEWS_FILE):
        if not (folder / name).is_file():
            raise ValueError(f"dataset_repo: {folder / name} is missing from the gensim package")
    return folder


def _clean_wiki(title: str, raw: str) -> str:
    """Wiki markup -> plain text: gensim strips links/templates/tables; we drop bold/italic quotes,
    turn `==Heading==` into its words and collapse blank lines."""
    from gensim.corpora.wikicorpus import filter_wiki

    text = filter_wiki(raw)
    text = re.sub(r"'{2,}", "", text)
    text = re.sub(r"^\s*=+\s*(.*?)\s*=+\s*$", r"\1", text, flags=re.MULTILINE)
    lines = [line.strip() for line in text.splitlines()]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return f"{title}\n\n{text}"


def wikipedia_articles(folder: Path) -> list[dict[str, str]]:
    """The main-namespace, non-redirect articles of the shortened enwiki dump, cleaned."""
    from gensim.corpora.wikicorpus import extract_pages

    documents = []
    with bz2.open(folder / WIKI_FILE, "rt", encoding="utf-8") as stream:
        for title, raw, _page_id in extract_pages(stream, filter_namespaces=("0",)):
            if raw.lstrip().lower().startswith("#redirect"):
                continue
            text = _clean_wiki(title, raw)
            if len(text) - len(title) >= MIN_WIKI_CHARS:
                documents.append({"text": text, "source": "wikipedia", "title": title})
    return documents


def news_articles(folder: Path) -> list[dict[str, str]]:
    """The Lee news corpus: one article per non-empty line."""
    lines = (folder / NEWS_FILE).read_text(encoding="utf-8").splitlines()
    return [{"text": line.strip(), "source": "news", "title": f"lee-{i}"} for i, line in enumerate(lines) if line.strip()]


def build_documents() -> list[dict[str, str]]:
    """All documents, interleaved in a fixed order."""
    folder = gensim_test_data()
    documents = wikipedia_articles(folder) + news_articles(folder)
    random.Random(0).shuffle(documents)
    return documents


def write_embedded_corpus(out_dir: str | Path) -> Path:
    """Write the corpus as `out_dir/gensim-corpus.jsonl` once (atomically) and return its path."""
    from autointerp.io import atomic_write_bytes, write_json

    out_dir = Path(out_dir)
    path, stamp = out_dir / FILE_NAME, out_dir / (FILE_NAME + ".done.json")
    if path.is_file() and stamp.is_file() and json.loads(stamp.read_text()).get("version") == CORPUS_VERSION:
        return path
    out_dir.mkdir(parents=True, exist_ok=True)
    documents = build_documents()
    payload = "".join(json.dumps(doc, ensure_ascii=False) + "\n" for doc in documents).encode("utf-8")
    atomic_write_bytes(path, lambda tmp: Path(tmp).write_bytes(payload))
    write_json(stamp, {"version": CORPUS_VERSION, "documents": len(documents), "bytes": len(payload)})
    return path


def default_cache_dir() -> Path:
    """Where `embedded:gensim` is written: `$AUTOINTERP_CACHE` or `~/.cache/autointerp`."""
    from autointerp.models.subject import user_cache_dir

    return user_cache_dir() / "embedded-gensim"
