"""Build and install llama-cpp-python for a portable x86-64 baseline, once per version and flags.

    python -m autointerp.clients.llamacpp_build            # what `make install` runs
    LLAMA_CMAKE_ARGS="-DGGML_NATIVE=ON" python -m autointerp.clients.llamacpp_build   # native speed

Why not a plain `pip install llama-cpp-python`: its default build is `-march=native`. On an Intel
Xeon that lists AMX but whose virtual machine forbids it, that build dies with a general protection
fault on the first request; and pip's wheel cache is keyed by the source, not the build flags, so
the broken wheel is then reused by every later install on that machine. Here the wheel is built
without pip's cache into `$AUTOINTERP_CACHE/wheels/<version>-<key>/`, where the key hashes the
version, the CMake flags and the Python ABI: a wheel built with other flags is never picked up.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from autointerp.models.gguf_cache import user_cache_dir

logger = logging.getLogger(__name__)

VERSION = "0.3.36"
PORTABLE_CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON "
    "-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
)
"""Haswell-level x86-64 (2013+ Intel, 2015+ AMD): AVX2, FMA, F16C, BMI2; no AVX-512, no AMX."""


def build_key(version: str, cmake_args: str) -> str:
    """A short hash of everything that makes two builds differ: version, flags, Python ABI, machine."""
    ident = "|".join([version, " ".join(cmake_args.split()), sys.implementation.cache_tag, platform.machine()])
    return hashlib.sha256(ident.encode()).hexdigest()[:16]


def wheel_dir(version: str, cmake_args: str) -> Path:
    """The folder that holds the one wheel of this version built with these flags."""
    return user_cache_dir() / "wheels" / f"llama-cpp-python-{version}-{build_key(version, cmake_args)}"


def built_wheel(version: str, cmake_args: str) -> Path | None:
    """The wheel built earlier with exactly these flags, if any."""
    wheels = sorted(wheel_dir(version, cmake_args).glob("llama_cpp_python-*.whl"))
    return wheels[0] if wheels else None


def build(version: str, cmake_args: str) -> Path:
    """Compile the wheel (minutes) into its keyed folder; the folder appears only once it is complete."""
    target = wheel_dir(version, cmake_args)
    target.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CMAKE_ARGS": cmake_args, "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 1)}
    env.pop("PIP_FIND_LINKS", None)  # the source comes from the registry, never a prebuilt wheel
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".building-"))
    try:
        logger.warning("compiling llama-cpp-python %s with CMAKE_ARGS=%r (several minutes)", version, cmake_args)
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-cache-dir", "--no-binary",
             "llama-cpp-python", "-w", str(tmp), f"llama-cpp-python=={version}"],
            env=env, check=True,
        )
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    wheel = built_wheel(version, cmake_args)
    if wheel is None:
        raise RuntimeError(f"pip wheel produced no llama_cpp_python wheel in {target}")
    return wheel


def install(wheel: Path, version: str, constraints: str | None) -> None:
    """Install that very wheel (not pip's cached one), then the server's extra dependencies."""
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-warn-conflicts"]
    subprocess.run([*pip, "--no-deps", "--force-reinstall", "--no-cache-dir", str(wheel)], check=True)
    extra = ["-c", constraints] if constraints else []
    subprocess.run([*pip, *extra, f"llama-cpp-python[server]=={version}"], check=True)


def main(argv: list[str] | None = None) -> int:
    """Build (when this version and these flags have no wheel yet) and install llama-cpp-python[server]."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default=VERSION)
    parser.add_argument("--cmake-args", default=os.environ.get("LLAMA_CMAKE_ARGS") or PORTABLE_CMAKE_ARGS,
                        help="CMake flags of the build (default: $LLAMA_CMAKE_ARGS, else the portable baseline)")
    parser.add_argument("--constraints", default=None, help="a pip constraints file for the server's dependencies")
    parser.add_argument("--print-wheel-dir", action="store_true", help="print the keyed wheel folder and exit")
    args = parser.parse_args(argv)
    if args.print_wheel_dir:
        print(wheel_dir(args.version, args.cmake_args))
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    wheel = built_wheel(args.version, args.cmake_args) or build(args.version, args.cmake_args)
    install(wheel, args.version, args.constraints)
    print(f"installed {wheel.name} from {wheel.parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
