"""SIGTERM to the `autointerp` command runs its cleanup: a child it started (like the llama.cpp server
of `serve_gguf`, stopped in a `with` block) does not outlive it as an orphan."""

import os
import signal
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import subprocess, sys
    from autointerp.cli import exit_on_sigterm
    exit_on_sigterm()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        print(child.pid, flush=True)
        child.wait()
    finally:
        child.terminate()
        child.wait(10)
""")


def _alive(pid: int) -> bool:
    """Whether a process with this id exists (a reaped child does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigterm_exits_143_and_stops_the_child():
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True)
    child = int(proc.stdout.readline())
    assert _alive(child)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 143
    assert not _alive(child)  # without the handler the child is orphaned and keeps running
