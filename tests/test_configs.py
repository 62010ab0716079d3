"""Every YAML in configs/ parses against the real signatures; the presets are the spec's flat commands."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from autointerp.cli.flat import build_config, parser
from autointerp.pipeline.config import InterpretConfig

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").rglob("*.yaml"))


def parse_only(path: Path):
    """Parse a config with the real AutoInterpCLI parser (class signatures checked), instantiating nothing."""
    from autointerp.cli.predict import AutoInterpCLI, use_attribute_docstrings

    class ParseOnly(AutoInterpCLI):
        def before_instantiate_classes(self) -> None:
            pass

        def instantiate_classes(self) -> None:
            pass

    use_attribute_docstrings()
    return ParseOnly(args=["--config", str(path)], run=False).config


def test_there_are_configs_to_check():
    names = {p.relative_to(p.parents[1] if p.parent.name == "presets" else p.parent).as_posix() for p in CONFIGS}
    assert {"quickstart.yaml", "research.yaml"} <= names
    assert {f"presets/{n}.yaml" for n in ("ultra-fast-dev", "fast-production", "full-quality-research", "custom-finance-dataset")} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_parses_against_the_real_signatures(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written, but keep the repo clean if it were
    config = parse_only(path)
    assert config.model.class_path.count(".") >= 2
    raw = yaml.safe_load(path.read_text())
    if "interpret" in raw:  # the interpret section builds a validated InterpretConfig with real components
        interpret = instantiate_interpret(path)
        assert [_path(s) for s in interpret.scorers] == [s["class_path"] for s in raw["interpret"]["scorers"]]
        assert _path(interpret.client) == raw["interpret"]["client"]["class_path"]
        assert [s.class_path for s in config.interpret.scorers] == [s["class_path"] for s in raw["interpret"]["scorers"]]


def instantiate_interpret(path: Path) -> InterpretConfig:
    """The interpret section of a config file, built by `autointerp interpret`'s parser."""
    from autointerp.cli.interpret import interpret_parser

    parser = interpret_parser()
    return parser.instantiate_classes(parser.parse_args(["--config", str(path), "--name", "x"])).interpret


def _path(component) -> str:
    """`autointerp.scorers.DetectionScorer` for a DetectionScorer (the package exports every class)."""
    return f"{type(component).__module__.rsplit('.', 1)[0]}.{type(component).__name__}"


SPEC_COMMANDS = {
    "ultra-fast-dev": "--n_tokens 50000 --max_latents 20 --hookpoints layers.16 --scorers detection --filter_bos --name ultra-fast-dev",
    "fast-production": "--n_tokens 2000000 --max_latents 200 --hookpoints layers.16 --scorers detection recall --filter_bos --name fast-production",
    "full-quality-research": "--n_tokens 10000000 --max_latents 1000 --hookpoints layers.16 --scorers detection recall fuzz simulation --filter_bos --name full-quality-research",
    "custom-finance-dataset": "--n_tokens 1000000 --max_latents 100 --hookpoints layers.16 --dataset_repo jyanimaulik/yahoo_finance_stockmarket_news "
    "--dataset_split train[:1000] --scorers detection recall --filter_bos --name custom-finance-dataset",
}


@pytest.mark.parametrize("name", sorted(SPEC_COMMANDS))
def test_each_preset_is_its_spec_command(name):
    """The README's sample commands, with `autointerp` for `autointerp_full`, give exactly the preset."""
    argv = ["meta-llama/Llama-2-7b-hf", "/path/to/sae", *shlex.split(SPEC_COMMANDS[name])]
    flat = build_config(parser().parse_args(argv))
    preset = yaml.safe_load((Path(__file__).resolve().parent.parent / "configs" / "presets" / f"{name}.yaml").read_text())
    flat.pop("trainer"), preset.pop("trainer")  # presets use every visible GPU; the flat command counts them
    assert preset == flat


def test_quickstart_interprets_offline_with_the_embedded_llm():
    path = Path(__file__).resolve().parent.parent / "configs" / "quickstart.yaml"
    raw = yaml.safe_load(path.read_text())
    interpret = instantiate_interpret(path)
    assert interpret.serve_gguf == "embedded" and type(interpret.client).__name__ == "LlamaCppClient"
    assert interpret.explainer.structured and all(s.structured for s in interpret.scorers)
    assert raw["model"]["init_args"]["model"] == "embedded:SmolLM2-135M-Instruct"


@pytest.mark.parametrize(("section", "key"), [("model", "bogus_setting"), ("interpret", "bogus_setting")])
def test_a_wrong_key_is_refused(tmp_path, monkeypatch, section, key):
    """The parse above is a real check: an unknown setting fails it."""
    monkeypatch.chdir(tmp_path)
    raw = yaml.safe_load((Path(__file__).resolve().parent.parent / "configs" / "quickstart.yaml").read_text())
    target = raw["model"]["init_args"] if section == "model" else raw["interpret"]
    target[key] = 1
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(SystemExit):
        parse_only(tmp_path / "bad.yaml")


def test_fitting_the_shipped_recipe_never_overwrites_the_shipped_sae():
    root = Path(__file__).resolve().parent.parent
    raw = yaml.safe_load((root / "configs" / "train-sae.yaml").read_text())
    save_dir = (root / raw["model"]["init_args"]["save_dir"]).resolve()
    assets = (root / "autointerp" / "assets").resolve()
    assert assets not in save_dir.parents and save_dir != assets


def _scorer_classes():
    from autointerp.scorers import DetectionScorer, FuzzScorer, IntruderScorer, RecallScorer

    return {"detection": DetectionScorer, "fuzz": FuzzScorer, "recall": RecallScorer, "intruder": IntruderScorer}


@pytest.mark.parametrize("scorer", ["detection", "fuzz", "recall", "intruder"])
def test_scorers_that_compare_classes_refuse_zero_negatives(scorer):
    SCORER_CLASSES = _scorer_classes()
    from autointerp.examples.config import ExamplesConfig
    from autointerp.pipeline.config import InterpretConfig

    with pytest.raises(ValueError, match="n_non_activating is 0"):
        InterpretConfig(scorers=[SCORER_CLASSES[scorer]()], examples=ExamplesConfig(n_non_activating=0))
    from autointerp.scorers import SimulationScorer

    InterpretConfig(scorers=[SimulationScorer()], examples=ExamplesConfig(n_non_activating=0))  # one class is fine there


def test_research_chooses_explanations_on_a_select_split():
    interpret = instantiate_interpret(Path(__file__).resolve().parent.parent / "configs" / "research.yaml")
    assert (interpret.selection.k, interpret.selection.rounds, interpret.selection.scorer) == (5, 2, "detection")
    assert interpret.examples.n_examples_select == 30 and interpret.examples.n_select_negatives == 30
