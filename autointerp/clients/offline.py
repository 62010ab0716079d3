"""`OfflineClient`: in-process generation that batches concurrent requests.

Requests arriving within `batch_wait_ms` of each other (up to `max_batch_size`) run as one batch
in a worker thread, so the event loop stays free; while a batch runs, the next one gathers.
Every request keeps its own sampling settings inside the batch.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Literal

from autointerp.clients.accounting import Accounting
from autointerp.clients.base import LLMError, Message, Response
from autointerp.clients.managed import ManagedClient, Settings
from autointerp.clients.offline_transformers import row_seed

logger = logging.getLogger(__name__)

EMBEDDED_MODEL = "embedded:SmolLM2-135M-Instruct"


class _Pending:
    """One queued request and the future its caller awaits."""

    def __init__(self, prompt: list[int], settings: Settings, seed: int, future: asyncio.Future) -> None:
        self.prompt, self.settings, self.seed, self.future = prompt, settings, seed, future


def _resolve_auto(backend: str, device: str) -> tuple[str, str]:
    """"auto" backend and device: vLLM on a GPU when it is installed, else transformers; cuda when present."""
    if backend != "auto" and device != "auto":
        return backend, device
    import importlib.util

    import torch

    cuda = torch.cuda.is_available()
    if backend == "auto":
        backend = "vllm" if cuda and importlib.util.find_spec("vllm") is not None else "transformers"
    if device == "auto":
        device = "cuda" if cuda else "cpu"
    return backend, device


class OfflineClient(ManagedClient):
    """An LLM run inside this process: transformers (CPU or GPU) or vLLM (GPU), batched."""

    def __init__(
        self,
        model: str = EMBEDDED_MODEL,
        *,
        backend: Literal["auto", "transformers", "vllm"] = "auto",
        device: str = "auto",
        dtype: str | None = None,
        max_model_len: int | None = None,
        max_batch_size: int = 8,
        batch_wait_ms: float = 5.0,
        seed: int = 0,
        vllm_kwargs: dict[str, Any] | None = None,
        cache: bool = True,
        cache_path: str | None = None,
        accounting: Accounting | None = None,
    ) -> None:
        """model: a hub id, a local folder, a .gguf file or `embedded:SmolLM2-135M-Instruct`;
        backend: "transformers" (any device), "vllm" (CUDA) or "auto" (vLLM on a GPU when installed,
        else transformers); device ("auto": cuda when there is one, else cpu), dtype: transformers only;
        max_model_len: context limit (default the model's); max_batch_size: requests per batch;
        batch_wait_ms: how long a batch waits for company; seed: base of the per-request seeds;
        vllm_kwargs: extra `vllm.LLM` arguments. The model loads on the first call."""
        super().__init__(model, cache=cache, cache_path=cache_path, accounting=accounting)
        if backend not in ("auto", "transformers", "vllm"):
            raise ValueError(f"backend must be 'auto', 'transformers' or 'vllm', got {backend!r}")
        backend, device = _resolve_auto(backend, device)
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if batch_wait_ms < 0:
            raise ValueError(f"batch_wait_ms must be >= 0, got {batch_wait_ms}")
        self.backend = backend
        self.device, self.dtype, self.max_model_len = device, dtype, max_model_len
        self.max_batch_size, self.batch_wait_ms, self.seed = max_batch_size, batch_wait_ms, seed
        self.vllm_kwargs = dict(vllm_kwargs or {})
        self._engine: Any = None
        self._engine_lock = threading.Lock()  # concurrent first calls load the model once
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._warned_format = False

    @property
    def engine(self) -> Any:
        """The loaded engine (loaded on first use)."""
        with self._engine_lock:
            return self._load_engine()

    def _load_engine(self) -> Any:
        if self._engine is None:
            if self.backend == "vllm":
                from autointerp.clients.offline_vllm import VLLMEngine

                self._engine = VLLMEngine(self.model, max_model_len=self.max_model_len, seed=self.seed,
                                          vllm_kwargs=self.vllm_kwargs)
            else:
                from autointerp.clients.offline_transformers import TransformersEngine

                self._engine = TransformersEngine(self.model, device=self.device, dtype=self.dtype,
                                                  max_model_len=self.max_model_len, seed=self.seed)
        return self._engine

    def _key_extras(self) -> dict[str, Any]:
        """The base seed decides sampled tokens, so a non-default seed is part of the cache key."""
        return {"seed": self.seed} if self.seed else {}

    async def _complete(self, messages: list[Message], settings: Settings) -> Response:
        """Queue the request for the next batch and wait for its answer."""
        if settings.response_format is not None and self.backend == "transformers" and not self._warned_format:
            self._warned_format = True
            logger.warning("OfflineClient(backend='transformers') does not constrain output to response_format; "
                           "replies may not follow the schema (vLLM and llama.cpp servers do)")
        engine = await asyncio.to_thread(lambda: self.engine)  # the first call loads the model off the loop
        prompt = engine.prompt_ids(messages)
        engine.check(prompt, settings)
        future = asyncio.get_running_loop().create_future()
        self._ensure_worker().put_nowait(_Pending(prompt, settings, row_seed(self.seed, messages, settings), future))
        return await future

    def _ensure_worker(self) -> asyncio.Queue[_Pending]:
        """The queue and batching task of the running event loop (rebuilt when the loop changes)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._worker is None or self._worker.done():
            self._loop = loop
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._batch_forever(self._queue))
        assert self._queue is not None
        return self._queue

    async def _batch_forever(self, queue: asyncio.Queue[_Pending]) -> None:
        while True:
            batch = await self._gather(queue)
            batch = [p for p in batch if not p.future.cancelled()]
            if not batch:
                continue
            items = [(p.prompt, p.settings, p.seed) for p in batch]
            try:
                responses = await asyncio.to_thread(self.engine.run, items)
            except Exception as err:  # a failed batch fails its requests, never the worker
                logger.exception("offline generation of a batch of %d failed", len(batch))
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(LLMError(f"offline generation failed: {err!r}"))
                continue
            for pending, response in zip(batch, responses):
                if not pending.future.done():
                    pending.future.set_result(response)

    async def _gather(self, queue: asyncio.Queue[_Pending]) -> list[_Pending]:
        """One request, then whatever else arrives within batch_wait_ms, up to max_batch_size."""
        batch = [await queue.get()]
        deadline = asyncio.get_running_loop().time() + self.batch_wait_ms / 1000
        while len(batch) < self.max_batch_size:
            if not queue.empty():
                batch.append(queue.get_nowait())
                continue
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return batch

    async def close(self) -> None:
        """Stop the batching task and close the response cache (the model stays loaded)."""
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
        self._worker = None
        await super().close()
