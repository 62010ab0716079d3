"""The LlamaCppServer helper's own behaviour (the served model is tested in test_llamacpp.py)."""

from __future__ import annotations

import sys

import pytest

from autointerp.clients.llamacpp_server import LlamaCppServer, embedded_gguf_path


def test_missing_gguf_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="gguf"):
        LlamaCppServer(tmp_path / "nope.gguf")


def test_a_dying_server_reports_its_log(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file")
    server = LlamaCppServer(bad, startup_timeout=60, log_path=tmp_path / "log.txt")
    with pytest.raises(RuntimeError, match="exited"):
        server.start()
    assert server.process.poll() is not None


def test_command_serves_on_loopback_with_the_model_alias():
    server = LlamaCppServer(embedded_gguf_path(), model="smollm2", port=12345, n_threads=1)
    command = server.command()
    assert command[:3] == [sys.executable, "-m", "llama_cpp.server"]
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--model_alias") + 1] == "smollm2"
    assert server.base_url == "http://127.0.0.1:12345/v1"
