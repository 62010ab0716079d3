"""Prompt tokens a prefix-caching server evaluates for the stage's requests: scorer prompts with the
instructions after the excerpts (before issue 20) against before them (now), on the same records.

    .venv/bin/python benchmarks/prefix_cache.py RUN_DIR [--old REV] [--latents 0 1 2]

RUN_DIR is a finished run of the README's local flat example (its cache and its interpret settings).
The interpret stage runs on a copy of its cache with a scripted client that answers at once (the
answers do not change any scorer prompt but the explanation's, which is the same in both variants),
twice: with the scorers' templates of REV (given as `prompt_template` files) and with today's. The
requests are put in the order the client's gate sends them to a one-slot server (waiting prompts
grouped by their head, groups in order of arrival), rendered with the model's chat template and
tokenized; like llama.cpp's slot, the server evaluates of each prompt what follows the prefix it
shares with the previous one:

    evaluated = sum over requests of (tokens - tokens in common with the previous request's prompt)

`benchmarks/llm_stage.py` reads the real server's count of evaluated tokens from its log for a run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
TEMPLATES = {"FuzzScorer": "FUZZ", "DetectionScorer": "DETECTION", "RecallScorer": "DETECTION",
             "IntruderScorer": "INTRUDER", "SimulationScorer": "SIMULATION"}


def old_templates(rev: str, folder: Path) -> dict[str, Path]:
    """The scorer templates of `rev`, each in a file (a scorer's `prompt_template`)."""
    source = subprocess.run(["git", "show", f"{rev}:autointerp/scorers/prompts.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    namespace: dict = {}
    exec(compile(source, "prompts.py", "exec"), namespace)  # our own file at that commit: string constants
    out = {}
    for name in set(TEMPLATES.values()):
        out[name] = folder / f"{name}.txt"
        out[name].write_text(namespace[name])
    return out


def requests(run_dir: Path, latents: list[int], templates: dict[str, Path] | None, tmp: Path) -> list[list[dict]]:
    """The chats the stage sends for these latents (scripted answers), in the order they were asked."""
    from quickstart_stage import ScriptedLLM

    from autointerp.cli.interpret import interpret_parser
    from autointerp.pipeline.run import Parts, interpret

    work = tmp / "run"
    for part in ("latents", "tokenizer"):
        shutil.copytree(run_dir / part, work / part)
    section = json.loads((run_dir / "run_config.json").read_text())["interpret"]
    section.update(serve_gguf=None, mlflow=False, report=False, output_tokens=False, max_latents=None,
                   latents={"layers.15": latents})
    for scorer in section["scorers"]:
        name = scorer["class_path"].rsplit(".", 1)[1]
        if templates is not None:
            scorer["init_args"]["prompt_template"] = str(templates[TEMPLATES[name]])
    (tmp / "interpret.yaml").write_text(yaml.safe_dump({"interpret": section}))
    parser = interpret_parser()
    config = parser.instantiate_classes(parser.parse_args(["--config", str(tmp / "interpret.yaml"), "--name", "x"])).interpret
    client = ScriptedLLM()
    interpret(work, config, None, Parts(client=client))
    shutil.rmtree(work)
    return [json.loads(r)["messages"] for r in client.requests]


def gate_order(chats: list[list[dict]]) -> list[list[dict]]:
    """The order a one-slot gate sends them in when all wait: by prefix group, groups first come first served."""
    from autointerp.clients.gate import prefix_group

    groups: dict[str, list] = {}
    for chat in chats:
        groups.setdefault(prefix_group(chat), []).append(chat)
    return [chat for group in groups.values() for chat in group]


def evaluated(chats: list[list[dict]], tokenizer) -> dict[str, int]:
    """Tokens sent, and tokens a one-slot prefix cache evaluates, in this order."""
    sent = done = 0
    previous: list[int] = []
    for chat in chats:
        text = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        common = 0
        for a, b in zip(previous, ids):
            if a != b:
                break
            common += 1
        sent, done, previous = sent + len(ids), done + len(ids) - common, ids
    return {"requests": len(chats), "prompt_tokens_sent": sent, "prompt_tokens_evaluated": done}


def main() -> None:
    """Both variants on the same records; print the counts as JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--old", default="3ee512c", help="the commit whose scorer templates are the baseline")
    parser.add_argument("--latents", type=int, nargs="+", default=list(range(10)))
    args = parser.parse_args()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(args.run_dir / "tokenizer"))
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        for name, templates in (("before", old_templates(args.old, tmp)), ("after", None)):
            (tmp / name).mkdir()
            asyncio.set_event_loop(asyncio.new_event_loop())
            chats = requests(args.run_dir.resolve(), args.latents, templates, tmp / name)
            out[name] = evaluated(gate_order(chats), tokenizer)
            out[name]["evaluated_fraction"] = out[name]["prompt_tokens_evaluated"] / out[name]["prompt_tokens_sent"]
    out["evaluated_after_over_before"] = out["after"]["prompt_tokens_evaluated"] / out["before"]["prompt_tokens_evaluated"]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
