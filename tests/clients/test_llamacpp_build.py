"""The installed llama.cpp is the portable build from its keyed folder, and the install's smoke check
fails with a message a person can act on."""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autointerp.clients import llamacpp_build as build
from autointerp.clients import llamacpp_smoke as smoke

ROOT = Path(__file__).resolve().parents[2]
AMX = re.compile(r"\b(ldtilecfg|sttilecfg|tileloadd|tileloaddt1|tilestored|tilerelease|tilezero|tdpb[a-z0-9]+)\b")


def installed_libraries() -> list[Path]:
    """The ggml/llama shared libraries inside the installed llama_cpp package."""
    files = importlib.metadata.distribution("llama-cpp-python").files or []
    libs = [Path(f.locate()) for f in files if re.search(r"lib(ggml|llama)[^/]*\.so", str(f))]
    assert libs, "llama_cpp ships no libggml*/libllama* shared library"
    return libs


def test_installed_llama_cpp_has_no_amx_instruction():
    """objdump finds no AMX tile instruction (they fault where a VM lists AMX but forbids it)."""
    objdump = shutil.which("objdump")
    assert objdump, "objdump (binutils) is needed to inspect the build"
    for lib in installed_libraries():
        listing = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(lib)], capture_output=True, text=True, check=True).stdout
        assert listing.count("\n") > 1000, f"{lib.name}: objdump listed almost nothing"
        hits = sorted(set(AMX.findall(listing)))
        assert not hits, f"{lib.name} contains AMX instructions {hits}"


def test_installed_llama_cpp_is_the_wheel_of_the_pinned_version_and_flags():
    """The installed wheel came from the folder keyed by version and flags, not from pip's cache."""
    dist = importlib.metadata.distribution("llama-cpp-python")
    assert dist.version == build.VERSION
    origin = json.loads(dist.read_text("direct_url.json") or "{}").get("url", "")
    flags = __import__("os").environ.get("LLAMA_CMAKE_ARGS") or build.PORTABLE_CMAKE_ARGS
    assert origin.startswith(build.wheel_dir(build.VERSION, flags).as_uri() + "/"), origin


def test_lock_pins_the_version_the_build_compiles():
    lock = (ROOT / "constraints.txt").read_text()
    assert f"llama-cpp-python=={build.VERSION}\n" in lock


def test_a_wheel_built_with_other_flags_is_not_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOINTERP_CACHE", str(tmp_path))
    native = "-DGGML_NATIVE=ON"
    folder = build.wheel_dir(build.VERSION, native)
    folder.mkdir(parents=True)
    (folder / f"llama_cpp_python-{build.VERSION}-cp311-cp311-linux_x86_64.whl").write_bytes(b"native build")
    assert build.built_wheel(build.VERSION, native) is not None
    assert build.wheel_dir(build.VERSION, build.PORTABLE_CMAKE_ARGS) != folder
    assert build.built_wheel(build.VERSION, build.PORTABLE_CMAKE_ARGS) is None
    # Whitespace does not make a new build; a changed flag or version does.
    assert build.build_key(build.VERSION, "  -DA=ON   -DB=OFF ") == build.build_key(build.VERSION, "-DA=ON -DB=OFF")
    assert build.build_key(build.VERSION, "-DA=ON -DB=ON") != build.build_key(build.VERSION, "-DA=ON -DB=OFF")
    assert build.build_key("0.3.35", "-DA=ON") != build.build_key(build.VERSION, "-DA=ON")


def test_portable_flags_name_no_native_or_amx_build():
    flags = dict(f.removeprefix("-D").split("=") for f in build.PORTABLE_CMAKE_ARGS.split())
    assert flags["GGML_NATIVE"] == "OFF" and flags["GGML_AVX2"] == "ON"
    assert all(flags[k] == "OFF" for k in ("GGML_AVX512", "GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16"))


def test_smoke_check_fails_clearly_on_a_gguf_that_is_not_a_model(tmp_path):
    bad = tmp_path / "not-a-model.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    done = subprocess.run([sys.executable, "-m", "autointerp.clients.llamacpp_smoke", "--gguf", str(bad), "--timeout", "60"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "llama.cpp smoke check FAILED: the llama.cpp server could not start on" in done.stderr
    assert "exited with code" in done.stderr and str(bad) in done.stderr


CRASHING_SERVER = """
import http.server, json, os, signal, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # /v1/models answers, so the server counts as started
        body = json.dumps({"data": []}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def do_POST(self):  # the first request kills it the way a bad build does
        sys.stderr.write("about to run the first matmul\\n"); sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGSEGV)
    def log_message(self, *args): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def test_smoke_check_names_a_crash_on_the_first_request(tmp_path, monkeypatch):
    """Fault injection: a stand-in server that answers /v1/models, then dies of SIGSEGV on the first chat."""
    script = tmp_path / "crash.py"
    script.write_text(CRASHING_SERVER)
    monkeypatch.setattr(smoke.LlamaCppServer, "command", lambda self: [sys.executable, str(script), str(self.port)])
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(RuntimeError) as err:
        smoke.check(gguf, timeout=30)
    message = str(err.value)
    assert "crashed on its first request (exited with signal 11 (SIGSEGV))" in message
    assert "rebuild it for a portable baseline" in message and "about to run the first matmul" in message


def test_smoke_check_passes_on_the_embedded_model():
    answer = smoke.check(smoke.embedded_gguf_path(), timeout=120)
    assert isinstance(answer, str) and answer.strip()
