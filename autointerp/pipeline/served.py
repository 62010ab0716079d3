"""The LLM server of a run and the model on record: the model that answered, not a flag's default.

With `serve_gguf` the stage starts llama_cpp.server itself, so it knows the served file (its name
and SHA-256) and how many requests the server works on at once (its slots). With a URL, the model
on record is the one the server's replies name.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autointerp.pipeline.config import InterpretConfig

logger = logging.getLogger(__name__)

SPEC_DEFAULT_EXPLAINER_MODEL = "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4"
"""The spec's default `--explainer_model`: a flag left at it names no model, so a served GGUF's own
name goes on record instead."""

MANAGED_TIMEOUT = 3600.0
"""Seconds one request to a managed server may take. It runs one request at a time, so a request's
time is its own work; the stage watches the process for death, so a long timeout loses nothing,
while a timeout throws away work the server goes on to finish (llama_cpp.server completes an
abandoned request). Measured: on 2 cores shared with other work (load average 15), one 1,800-token
explanation prompt took 623 s of llama.cpp compute (339 s prefill, 284 s for 50 tokens), past the
600 s this was before; at load 5-10 the same prompt took 99 s."""


@dataclass
class Served:
    """Where the stage's requests go and what is known about the server behind it."""

    base_url: str | None
    model: str | None
    """The served name (None without a managed server: the client's own model then)."""
    server: Any = None
    """The managed `LlamaCppServer`, or None for a URL (or an offline model)."""

    @property
    def slots(self) -> int | None:
        """Requests the server works on at once, when known (a managed server)."""
        return getattr(self.server, "slots", None)

    @property
    def request_timeout(self) -> float | None:
        """Seconds per request for a managed server; None keeps the client's default (a URL)."""
        return MANAGED_TIMEOUT if self.server is not None else None

    @property
    def sha256(self) -> str | None:
        """The served file's hash, when the stage serves one."""
        return getattr(self.server, "sha256", None)


def served_name(config: InterpretConfig, gguf: Path) -> str:
    """The client's model when the user named one, else the served file's name."""
    named = getattr(config.client, "model", None)
    return named if named and named != SPEC_DEFAULT_EXPLAINER_MODEL else gguf.name


SERVER_LOG = "llamacpp.log"
"""The managed server's log in the run folder (this invocation's; it holds each request's timings)."""


@contextlib.contextmanager
def serve(config: InterpretConfig, run_dir: Path) -> Iterator[Served]:
    """Serve `serve_gguf` on 127.0.0.1 for the stage's duration, logging to the run folder; without
    one, the configured URL and model."""
    if not config.serve_gguf:
        yield Served(None, None)
        return
    from autointerp.clients.llamacpp_server import LlamaCppServer, embedded_gguf_path

    gguf = embedded_gguf_path() if config.serve_gguf == "embedded" else Path(config.serve_gguf)
    name = served_name(config, gguf)
    with LlamaCppServer(gguf, model=name, n_ctx=config.serve_context_length, log_path=Path(run_dir) / SERVER_LOG,
                        verbose=True) as server:
        logger.info("serving %s (sha256 %s) at %s, %d request(s) at a time", name, server.sha256[:12],
                    server.base_url, server.slots)
        yield Served(server.base_url, name, server)


def server_work(served: Served) -> dict[str, float]:
    """The managed server's own account of the invocation's work (prompt tokens it evaluated, seconds
    of prefill and generation); {} for a URL."""
    if served.server is None:
        return {}
    from autointerp.clients.llamacpp_server import server_timings

    return server_timings(served.server.log_path)


def model_on_record(served: Served, accounting: Any, client_model: str | None) -> dict[str, Any]:
    """The summary's model fields: the served file (and hash), else the model the replies named
    (most calls), keeping the requested name (the client's) beside it when they differ."""
    requested = served.model or client_model
    record: dict[str, Any] = {"explainer_model": requested}
    if served.sha256:
        record["explainer_model_sha256"] = served.sha256
        return record
    answered = getattr(accounting, "answered_by", None)
    if answered:
        model = answered.most_common(1)[0][0]
        if model != requested:
            record.update(explainer_model=model, explainer_model_requested=requested)
        if len(answered) > 1:
            record["explainer_models_answered"] = dict(answered)
    return record
