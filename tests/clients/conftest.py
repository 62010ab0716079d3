"""Fixtures for the client tests: a fault-injecting server and a real llama.cpp server, both on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fault_server import FaultServer  # noqa: E402


@pytest.fixture(autouse=True)
def _private_user_cache(tmp_path, monkeypatch):
    """No test writes a response cache to the real user cache folder (tests that use the default
    location clear AUTOINTERP_CACHE themselves; it also holds the GGUF conversion cache)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture(scope="session")
def fault_server():
    """One scripted server for the session; each test starts from zeroed counts."""
    server = FaultServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def faults(fault_server):
    """The scripted server with its counts reset."""
    fault_server.reset()
    return fault_server


@pytest.fixture(scope="session")
def llamacpp_server(tmp_path_factory):
    """A real llama_cpp.server serving the embedded SmolLM2 GGUF, started once per session."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.fail("llama-cpp-python[server] is not installed (pip install 'autointerp[server]')")
    from autointerp.clients.llamacpp_server import LlamaCppServer, embedded_gguf_path

    server = LlamaCppServer(embedded_gguf_path(), n_threads=1, log_path=tmp_path_factory.mktemp("llamacpp") / "server.log")
    server.start()
    yield server
    server.stop()
