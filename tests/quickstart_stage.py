"""The quickstart's interpret stage, with a deterministic scripted LLM, as a fingerprint of what it does.

`fingerprint(tmp)` runs the interpret settings of `configs/quickstart.yaml` (explainer, scorers,
examples, seeds; the LLM replaced by a client whose answer is a hash of each request) on a fixed
synthetic cache, and returns a hash of every request sent (messages and settings) and of every
result written. Run on the code before the restructuring (issue 14; main at 52d5c29) it gave
`tests/quickstart_stage.json`; `tests/test_quickstart_unchanged.py` holds the code after it to
the same numbers. It reads the config through whichever route the checkout has, so the same file
ran on both: `PYTHONPATH=<old checkout>:<old checkout>/tests python tests/quickstart_stage.py`.

Regenerated on purpose in issue 15, when the quickstart gained its second explainer (the top-tokens
baseline, scored by the same scorers) and went from 20 to 10 latents: `PYTHONPATH=.:tests python
tests/quickstart_stage.py > tests/quickstart_stage.json`. The explanations, prompts and results of
the LLM explainer are unchanged by that (the fake cache has 6 latents, under both limits); the
golden now also holds the baseline's results and the summary's lift over it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from autointerp.clients.base import Client, Response

REPO_CONFIG = "configs/quickstart.yaml"


class HashTokenizer:
    """Token id -> ` w<id>`; a text's tokens are its whitespace-separated words."""

    def decode(self, ids: list[int]) -> str:
        return f" w{int(ids[0])}"

    def encode(self, text: str) -> list[str]:
        return text.split()


class ScriptedLLM(Client):
    """Answers each request with a reply derived from a hash of it, in the form its schema asks for."""

    model = "SmolLM2-135M-Instruct"

    def __init__(self) -> None:
        self.requests: list[str] = []

    async def generate(self, messages, **settings: Any) -> Response:
        request = json.dumps({"messages": messages, **settings}, sort_keys=True, default=str)
        self.requests.append(request)
        digest = hashlib.sha256(request.encode()).digest()
        return Response(text=self._reply(settings.get("response_format"), digest), prompt_tokens=len(request) // 4,
                        completion_tokens=8)

    @staticmethod
    def _reply(fmt: dict | None, digest: bytes) -> str:
        schema = ((fmt or {}).get("json_schema") or {}).get("schema") or {}
        props = schema.get("properties") or {}
        if "answers" in props:
            n = props["answers"]["minItems"]
            return json.dumps({"answers": [digest[i % len(digest)] % 2 for i in range(n)]})
        if "explanation" in props:
            return json.dumps({"explanation": f"tokens like w{digest[0]} and w{digest[1]}"})
        return "Explanation: tokens like w%d" % digest[0]


def _config(repo: Path, tmp: Path) -> Any:
    """The quickstart's interpret section as the checkout builds it, served model and MLflow off."""
    section = yaml.safe_load((repo / REPO_CONFIG).read_text())["interpret"]
    section.update(serve_gguf=None, mlflow=False, report=False, output_tokens=False)
    try:
        from autointerp.cli.interpret import interpret_parser  # the restructured route
    except ImportError:  # before issue 14: one flat dataclass, components by name
        from autointerp.pipeline.config import InterpretConfig

        section["explainer_base_url"] = "http://127.0.0.1:9/v1"  # never called: the scripted client answers
        return InterpretConfig(**section)
    (tmp / "interpret.yaml").write_text(yaml.safe_dump({"interpret": section}))
    parser = interpret_parser()
    return parser.instantiate_classes(parser.parse_args(["--config", str(tmp / "interpret.yaml"), "--name", "q"])).interpret


def fingerprint(tmp: Path, repo: Path) -> dict[str, Any]:
    """Run the stage; {requests, results}: sha256 of what was sent and of what was written."""
    from pipeline_fakes import make_cache

    from autointerp.pipeline.run import Parts, interpret

    run_dir = tmp / "quickstart"
    make_cache(run_dir, d_sae=6, n_rows=40, ctx_len=64, rates=np.array([0.02, 0.04, 0.06, 0.1, 0.2, 0.4]))
    client = ScriptedLLM()
    summary = interpret(run_dir, _config(repo, tmp), None, Parts(client=client, tokenizer=HashTokenizer()))
    results = []
    for path in sorted((run_dir / "explanations").rglob("*.json")) + sorted((run_dir / "scores").rglob("*.json")):
        data = json.loads(path.read_text())
        # token counts are the scripted client's; a fingerprint hashes how the settings are spelled, which
        # the restructuring changed (components by type) while the settings and the work stayed the same
        for key in ("prompt_tokens", "completion_tokens", "fingerprint"):
            data.pop(key, None)
        results.append([str(path.relative_to(run_dir)), data])
    calibration = []  # the known-answer latents (issue 18), apart from the real ones
    for path in sorted((run_dir / "calibration").rglob("*.json")):
        data = json.loads(path.read_text())
        for key in ("prompt_tokens", "completion_tokens", "fingerprint"):
            data.pop(key, None)
        calibration.append([str(path.relative_to(run_dir)), data])
    block = summary.get("calibration") or {}
    return {
        "n_requests": len(client.requests),
        "requests": hashlib.sha256("\n".join(sorted(client.requests)).encode()).hexdigest(),
        "results": hashlib.sha256(json.dumps(results, sort_keys=True).encode()).hexdigest(),
        "counts": summary["counts"],
        "per_hookpoint": summary["per_hookpoint"],
        "baseline_explainer": summary.get("baseline_explainer"),
        "calibration_results": hashlib.sha256(json.dumps(calibration, sort_keys=True).encode()).hexdigest(),
        "calibration_sets": [row["set"] for row in block.get("latents", [])],
        "calibration_verdict": block.get("verdict"),
    }


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        asyncio.set_event_loop(asyncio.new_event_loop())
        print(json.dumps(fingerprint(Path(folder), Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()), indent=1))
