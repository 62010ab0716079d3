"""Install-time smoke check: serve a GGUF with llama.cpp and ask it one chat completion.

    python -m autointerp.clients.llamacpp_smoke            # the embedded SmolLM2 GGUF
    python -m autointerp.clients.llamacpp_smoke --gguf PATH

Exit 0 when the server answered; otherwise exit 1 with what went wrong and what to do, so a build
that crashes on this CPU fails the install at once instead of a run six minutes later.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from autointerp.clients.llamacpp_server import LlamaCppServer, ServerExitedError, embedded_gguf_path

REBUILD_HINT = (
    "rebuild it for a portable baseline: `rm -rf .venv/.installed-server && make install` "
    "(autointerp.clients.llamacpp_build; LLAMA_CMAKE_ARGS overrides the CMake flags)"
)


def ask_once(server: LlamaCppServer, timeout: float) -> str:
    """One short chat completion; returns its text (raises OSError/ValueError when there is none)."""
    body = {"model": server.model, "max_tokens": 8, "temperature": 0.0,
            "messages": [{"role": "user", "content": "Say hello."}]}
    request = urllib.request.Request(
        f"{server.base_url}/chat/completions", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        data = json.loads(reply.read())
    text = data["choices"][0]["message"]["content"]
    if not isinstance(text, str):
        raise ValueError(f"the reply has no text: {data!r}")
    return text


def check(gguf: Path, timeout: float = 120.0) -> str:
    """Start the server on `gguf`, ask once, stop it; return the answer or raise RuntimeError saying why not."""
    server = LlamaCppServer(gguf, n_ctx=512, startup_timeout=timeout)
    try:
        server.start()
    except ServerExitedError as exc:
        raise RuntimeError(f"the llama.cpp server could not start on {gguf}: {exc}") from exc
    try:
        return ask_once(server, timeout)
    except (OSError, ValueError, KeyError) as exc:
        how = _ended(server)
        if how is not None:
            raise RuntimeError(
                f"the llama.cpp server crashed on its first request ({how}); "
                f"{REBUILD_HINT}\n{server.died_message()}"
            ) from exc
        raise RuntimeError(f"the llama.cpp server did not answer its first request: {exc}") from exc
    finally:
        server.stop()


def _ended(server: LlamaCppServer, grace: float = 5.0) -> str | None:
    """How the server ended, giving a process that just dropped our connection a moment to finish dying."""
    try:
        server.process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    return server.exit_description()


def main(argv: list[str] | None = None) -> int:
    """Run the check; print one line either way."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gguf", type=Path, default=None, help="the GGUF to serve (default: the embedded SmolLM2)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds for startup and for the request")
    args = parser.parse_args(argv)
    try:
        answer = check(args.gguf or embedded_gguf_path(), args.timeout)
    except (RuntimeError, FileNotFoundError, ImportError) as exc:
        print(f"llama.cpp smoke check FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"llama.cpp smoke check passed: the server answered {answer!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
