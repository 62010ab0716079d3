"""The real embedded LLM (SmolLM2-135M on llama.cpp's server, 127.0.0.1): structured replies parse,
and logprobs align with the server's real token stream. Quality is not asserted: a 135M model's
verdicts prove the machinery, not the explanation."""

import asyncio

import pytest

from interp_fixtures import make_record
from autointerp.records import Explanation
from autointerp.scorers import DetectionScorer

pytest.importorskip("llama_cpp")


async def score_and_close(scorer, record, explanation, client):
    """Score, then close the client's connections inside the same event loop."""
    try:
        return await scorer.score(record, explanation, client)
    finally:
        await client.close()


def test_structured_detection_with_logprobs_on_the_real_server(tmp_path):
    from autointerp.clients import LlamaCppServer, OpenAICompatibleClient, embedded_gguf_path

    record = make_record()
    record.test, record.negatives = record.test[:3], record.negatives[:2]  # one prompt of 5
    explanation = Explanation(latent=record.latent, text="the word cat", explainer="fixed")
    with LlamaCppServer(embedded_gguf_path(), n_threads=2, n_ctx=1024, log_path=tmp_path / "server.log") as server:
        # llama.cpp's server applies repeat_penalty 1.1 by default, which penalizes repeated verdicts
        # ("1, 1, 1") and makes temperature 0 non-greedy; scoring wants it off
        client = OpenAICompatibleClient(server.model, server.base_url, api_key_env=None, cache=False,
                                        json_schema_as="json_object", extra_body={"repeat_penalty": 1.0})
        scorer = DetectionScorer(structured=True, log_probs=True, max_tokens=32)
        result = asyncio.run(score_and_close(scorer, record, explanation, client))
    assert result.error is None and result.n_unparseable == 0
    assert len(result.samples) == 5 and all(s.prediction is not None for s in result.samples)
    for s in result.samples:  # P(yes) read at the verdict tokens agrees with the greedy verdict
        assert s.probability is not None and 0.0 <= s.probability <= 1.0
        assert (s.probability >= 0.5) == s.prediction
    assert result.prompt_tokens > 0 and result.completion_tokens > 0
