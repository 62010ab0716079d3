"""The environment holds exactly the versions of the lock (constraints.txt), which `make install` uses."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock() -> dict[str, str]:
    """{distribution: version} pinned in constraints.txt."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonical(name)] = version.strip()
    return pins


def installed() -> dict[str, str]:
    return {canonical(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}


def test_every_locked_package_is_installed_at_its_locked_version():
    have = installed()
    wrong = {name: (have.get(name), version) for name, version in lock().items() if have.get(name) != version}
    assert not wrong, f"installed vs locked: {wrong}"


def test_the_lock_covers_what_is_installed():
    """Nothing the install brought in is unpinned (but torch, pinned by the Makefile, and this project)."""
    unpinned = set(installed()) - set(lock()) - {"torch", "autointerp"}
    unpinned -= {name for name in unpinned if name.startswith("nvidia-") or name == "triton"}  # a CUDA torch's own
    assert not unpinned, f"installed but not in constraints.txt: {sorted(unpinned)}"


def test_torch_is_the_makefile_pin_unless_the_user_brought_their_own():
    if (Path(sys.prefix) / ".torch-ok").exists():
        return  # a CUDA user's torch, installed by hand as the README says
    makefile = (ROOT / "Makefile").read_text()
    pin = re.search(r"torch==([\w.]+)", makefile).group(1)
    assert importlib.metadata.version("torch").split("+")[0] == pin
