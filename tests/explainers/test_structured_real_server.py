"""Structured explanations on the real embedded LLM (SmolLM2-135M on llama.cpp's server, 127.0.0.1).

SmolLM2 asked for a JSON explanation used to keep writing inside the string until max_tokens cut
the JSON off; the schema's maxLength makes llama.cpp's grammar close the string and the object in
time (tests/scorers/test_schemas.py checks that the grammar llama-cpp-python builds is bounded).
"""

import asyncio
import json

import pytest

from interp_fixtures import make_record
from autointerp.explainers import DefaultExplainer
from autointerp.prompting import EXPLANATION_MAX_CHARS

pytest.importorskip("llama_cpp")


async def explain_and_close(explainer, record, client):
    """The explainer's explanation of the record, then close the client in the same event loop."""
    try:
        return await explainer.explain(record, client)
    finally:
        await client.close()


def test_structured_explainer_replies_whole_json_on_the_real_server(tmp_path):
    from autointerp.clients import LlamaCppServer, OpenAICompatibleClient, embedded_gguf_path

    with LlamaCppServer(embedded_gguf_path(), n_threads=2, n_ctx=1024, log_path=tmp_path / "server.log") as server:
        client = OpenAICompatibleClient(server.model, server.base_url, api_key_env=None, cache=False,
                                        json_schema_as="json_object")  # as the llamacpp provider sends it
        explanation = asyncio.run(explain_and_close(DefaultExplainer(structured=True), make_record(), client))
    value = json.loads(explanation.raw_response)  # whole JSON: not cut off at max_tokens
    assert len(value["explanation"]) <= EXPLANATION_MAX_CHARS
    assert explanation.text and explanation.completion_tokens < 256
