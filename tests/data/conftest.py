"""Shared fixtures for the data tests: the real SmolLM2 tokenizer and small local text files."""

import json

import pytest

MODEL = "embedded:SmolLM2-135M-Instruct"


@pytest.fixture(scope="session")
def tokenizer():
    """The embedded SmolLM2 tokenizer (loaded once per process)."""
    from autointerp.models.subject import load_tokenizer

    return load_tokenizer(MODEL)


def make_documents(n: int = 40) -> list[str]:
    """Distinct documents of varied length."""
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
    return [f"Document {i}: " + " ".join(words[(i + j) % len(words)] for j in range(5 + 3 * (i % 7))) + "."
            for i in range(n)]


@pytest.fixture()
def jsonl_file(tmp_path):
    """A jsonl file with a `body` column and an `id` column, and its documents."""
    docs = make_documents()
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"id": i, "body": d}) + "\n" for i, d in enumerate(docs)))
    return path, docs
