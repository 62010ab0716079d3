"""The embedded gensim corpus: content, cleanliness, determinism, idempotence, `embedded:gensim`."""

import json

import pytest

from autointerp.data import embedded
from autointerp.data.sources import resolve_dataset_repo


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    path = embedded.write_embedded_corpus(out)
    return path, [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_documents_from_both_sources(corpus):
    path, docs = corpus
    assert path.name == "gensim-corpus.jsonl"
    sources = [d["source"] for d in docs]
    assert sources.count("news") == 300 and sources.count("wikipedia") == 106
    lee = (embedded.gensim_test_data() / embedded.NEWS_FILE).read_text(encoding="utf-8").splitlines()
    assert {d["text"] for d in docs if d["source"] == "news"} == {line.strip() for line in lee}
    titles = {d["title"] for d in docs if d["source"] == "wikipedia"}
    assert {"Anarchism", "Autism"} <= titles


def test_wiki_markup_is_gone_but_case_and_punctuation_stay(corpus):
    wiki = [d["text"] for d in corpus[1] if d["source"] == "wikipedia"]
    joined = "\n".join(wiki)
    for markup in ("[[", "]]", "{{", "}}", "'''", "<ref", "#REDIRECT"):
        assert markup not in joined, markup
    assert all(len(text) > 200 for text in wiki)
    anarchism = next(t for t in wiki if t.startswith("Anarchism\n\n"))
    assert "political philosophy" in anarchism and "," in anarchism and "." in anarchism
    assert "\n\n\n" not in joined


def test_fixed_order_mixes_sources_and_is_idempotent(corpus):
    path, docs = corpus
    # A fixed seed over a fixed file order: the same documents in the same order on every machine.
    assert [d["title"] for d in docs[:6]] == ["lee-278", "lee-198", "lee-284", "Adobe", "Andre Agassi", "lee-165"]
    for part in (docs[: len(docs) * 9 // 10], docs[len(docs) * 9 // 10:]):
        assert {d["source"] for d in part} == {"news", "wikipedia"}
    before = path.stat().st_mtime_ns
    assert embedded.write_embedded_corpus(path.parent) == path and path.stat().st_mtime_ns == before


def test_config_string_resolves_into_the_user_cache(corpus, monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOINTERP_CACHE", str(tmp_path))
    (tmp_path / "embedded-gensim").mkdir()
    for name in (embedded.FILE_NAME, embedded.FILE_NAME + ".done.json"):  # reuse the module's file: fast
        (tmp_path / "embedded-gensim" / name).write_bytes((corpus[0].parent / name).read_bytes())
    resolved = resolve_dataset_repo("embedded:gensim")
    assert resolved == str(tmp_path / "embedded-gensim" / embedded.FILE_NAME)
    assert resolve_dataset_repo("/some/file.jsonl") == "/some/file.jsonl"
