"""OfflineClient: batched in-process generation where every request keeps its own settings."""

from __future__ import annotations

import asyncio
import importlib.util

import pytest
import torch

from autointerp.clients import LLMError, OfflineClient


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A 2-layer random Llama with SmolLM2's tokenizer and chat template, saved as a local folder."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from autointerp.models.subject import load_tokenizer

    tokenizer = load_tokenizer("embedded:SmolLM2-135M-Instruct")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         initializer_range=0.2,  # peaked logits: no near-ties for greedy decoding to flip on
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id)
    folder = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def chat(text):
    return [{"role": "user", "content": text}]


def run_all(client, requests):
    """requests: [(text, kwargs)] sent concurrently; returns responses or exceptions in order."""
    async def go():
        try:
            return await asyncio.gather(*(client.generate(chat(t), **kw) for t, kw in requests), return_exceptions=True)
        finally:
            await client.close()

    return asyncio.run(go())


def reference_greedy(client, text, max_tokens, top):
    """Greedy decoding by full forward passes, no padding, no KV cache: an independent computation."""
    engine = client.engine
    ids = engine.prompt_ids(chat(text))
    out = []
    with torch.inference_mode():
        for _ in range(max_tokens):
            logprobs = torch.log_softmax(engine.model(torch.tensor([ids])).logits[0, -1].float(), -1)
            token = int(logprobs.argmax())
            if token in engine.stop_ids:
                break
            alternatives = {engine.tokenizer.decode([int(i)]) for i in torch.topk(logprobs, top).indices}
            out.append((engine.tokenizer.decode([token]), float(logprobs[token]), alternatives))
            ids.append(token)
    return out


def test_concurrent_requests_run_as_one_batch_with_their_own_settings(tiny_model_dir):
    client = OfflineClient(tiny_model_dir, cache=False, batch_wait_ms=50)
    requests = [("alpha", dict(max_tokens=3)), ("beta gamma", dict(max_tokens=7)),
                ("delta", dict(max_tokens=5, temperature=1.0)), ("epsilon zeta eta", dict(max_tokens=2))]
    responses = run_all(client, requests)
    assert client.engine.batch_sizes == [4]
    assert [r.completion_tokens for r in responses] == [3, 7, 5, 2]  # a random model never says eos this soon
    solo = OfflineClient(tiny_model_dir, cache=False, max_batch_size=1)
    alone = run_all(solo, requests)
    assert solo.engine.batch_sizes == [1, 1, 1, 1]
    assert [r.text for r in responses] == [r.text for r in alone]  # left padding changes nothing


def test_logprobs_match_a_direct_forward_pass(tiny_model_dir):
    client = OfflineClient(tiny_model_dir, cache=False, batch_wait_ms=50)
    texts = ["a short one", "a somewhat longer prompt than the other"]
    responses = run_all(client, [(t, dict(max_tokens=6, logprobs=True, top_logprobs=3)) for t in texts])
    for text, response in zip(texts, responses):
        expected = reference_greedy(client, text, 6, 3)
        assert [t.token for t in response.logprobs] == [token for token, _, _ in expected]
        assert [t.logprob for t in response.logprobs] == pytest.approx([lp for _, lp, _ in expected], abs=1e-4)
        assert [set(t.top_logprobs) for t in response.logprobs] == [alts for _, _, alts in expected]


def test_samples_are_reproducible_and_distinct(tiny_model_dir):
    requests = [("same", dict(max_tokens=8, temperature=1.0, sample=s)) for s in (0, 1, 0)]
    first = run_all(OfflineClient(tiny_model_dir, cache=False, batch_wait_ms=50), requests)
    again = run_all(OfflineClient(tiny_model_dir, cache=False, max_batch_size=1), requests)
    assert first[0].text == first[2].text == again[0].text
    assert first[1].text == again[1].text and first[0].text != first[1].text


def test_a_prompt_too_long_fails_alone(tiny_model_dir):
    client = OfflineClient(tiny_model_dir, cache=False, batch_wait_ms=50)
    responses = run_all(client, [("fine", dict(max_tokens=3)), ("word " * 200, dict(max_tokens=3))])
    assert responses[0].completion_tokens == 3
    assert isinstance(responses[1], LLMError) and "context" in str(responses[1])


def test_a_rerun_is_served_from_the_cache(tiny_model_dir, tmp_path):
    path = str(tmp_path / "c.sqlite")
    first = run_all(OfflineClient(tiny_model_dir, cache_path=path), [("cache me", dict(max_tokens=4))])
    client = OfflineClient(tiny_model_dir, cache_path=path)
    second = run_all(client, [("cache me", dict(max_tokens=4))])
    assert second[0].cached and second[0].text == first[0].text and client._engine is None  # never loaded


def test_the_embedded_gguf_answers_a_chat():
    client = OfflineClient(cache=False)
    (response,) = run_all(client, [("Name a colour.", dict(max_tokens=3, logprobs=True))])
    assert response.text.strip() and 1 <= response.completion_tokens <= 3 and response.prompt_tokens > 5


def test_bad_settings_name_the_setting(tiny_model_dir):
    with pytest.raises(ValueError, match="backend"):
        OfflineClient(tiny_model_dir, backend="tgi")
    with pytest.raises(ValueError, match="max_batch_size"):
        OfflineClient(tiny_model_dir, max_batch_size=0)


@pytest.mark.gpu
@pytest.mark.skipif(importlib.util.find_spec("vllm") is None or not torch.cuda.is_available(),
                    reason="needs vllm and a CUDA device")
def test_vllm_keeps_per_request_sampling(tiny_model_dir):
    client = OfflineClient(tiny_model_dir, backend="vllm", cache=False, batch_wait_ms=50,
                           vllm_kwargs={"gpu_memory_utilization": 0.2, "enforce_eager": True})
    responses = run_all(client, [("alpha", dict(max_tokens=3)), ("beta", dict(max_tokens=6, logprobs=True, top_logprobs=2))])
    assert [r.completion_tokens for r in responses] == [3, 6] and len(responses[1].logprobs) == 6


def _settings(**kw):
    from autointerp.clients.managed import Settings

    base = dict(max_tokens=6, temperature=0.0, logprobs=True, top_logprobs=3, response_format=None, sample=0)
    return Settings(**{**base, **kw})


def test_greedy_rows_batched_equal_each_row_alone(tiny_model_dir):
    """Batched picking (one device computation per step for all rows) gives each row what it gets alone."""
    engine = OfflineClient(tiny_model_dir, cache=False).engine
    texts = ["one", "a much longer prompt with more words in it", "two words"]
    items = [(engine.prompt_ids(chat(t)), _settings(max_tokens=n, top_logprobs=k), 0)
             for t, n, k in zip(texts, (4, 7, 5), (0, 3, 2))]
    together = engine.run(items)
    alone = [engine.run([item])[0] for item in items]
    assert engine.batch_sizes == [3, 1, 1, 1]
    for got, want in zip(together, alone):
        assert got.text == want.text and got.completion_tokens == want.completion_tokens > 0
        assert [t.token for t in got.logprobs] == [t.token for t in want.logprobs]
        assert [t.logprob for t in got.logprobs] == pytest.approx([t.logprob for t in want.logprobs], abs=1e-4)
        assert [set(t.top_logprobs) for t in got.logprobs] == [set(t.top_logprobs) for t in want.logprobs]
    assert [len(t.top_logprobs) for t in together[0].logprobs] == [0] * 4  # its own top_logprobs, not the batch's


def test_pick_tokens_inverts_each_rows_scaled_cdf():
    """Against a direct computation: softmax(logits / T), cumulative sum, first index above u."""
    import numpy as np

    from autointerp.clients.offline_transformers import pick_tokens

    logits = torch.tensor([[2.0, 1.0, 0.5, -1.0], [0.0, 3.0, 1.0, 1.0], [1.0, 1.0, 4.0, 0.0]])
    temperatures = torch.tensor([0.0, 1.0, 2.0])
    uniforms = torch.tensor([0.99, 0.9, 0.05])
    picked = pick_tokens(logits, temperatures, uniforms, top=2)
    expected = [int(np.argmax(logits[0]))]
    for row, (t, u) in enumerate(zip([1.0, 2.0], [0.9, 0.05]), start=1):
        p = np.exp(logits[row].numpy() / t) / np.exp(logits[row].numpy() / t).sum()
        expected.append(int(np.searchsorted(np.cumsum(p), u * np.cumsum(p)[-1], side="right")))
    assert picked[:, 0].long().tolist() == expected == [0, 3, 0]
    logprobs = torch.log_softmax(logits, -1)
    assert picked[:, 1].tolist() == pytest.approx([float(logprobs[r, t]) for r, t in enumerate(expected)])
    assert picked[:, 4:].long().tolist() == logprobs.topk(2, -1).indices.tolist()
    greedy = pick_tokens(logits, torch.zeros(3), torch.rand(3), sampled=False)
    assert greedy.shape == (3, 2) and greedy[:, 0].long().tolist() == logits.argmax(-1).tolist()
