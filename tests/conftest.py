"""Suite-wide settings: everything runs offline, on the CPU, from packages that ship their data."""

import os

# Nothing in the tests may reach a hub; fail fast instead of hanging on the closed network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_report_header(config):
    """The versions that matter most, so a CI log says what the suite ran against (all of them: constraints.txt)."""
    import importlib.metadata

    names = ["torch", "lightning", "transformers", "sentence-transformers", "jsonargparse", "openai", "mlflow",
             "llama-cpp-python", "numpy"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} missing")
    return "versions: " + ", ".join(found)
