"""`python -m autointerp MODEL SAE [flags]`: every flag of the spec's reference, its default, and where it lands."""

from __future__ import annotations

import importlib
import json
import shlex

import pytest

from autointerp.cli.flat import build_config, parser

BASE = ["meta-llama/Llama-2-7b-hf", "/path/to/sae"]

# The spec's "Complete Parameter Reference" defaults (its table wins where the README disagrees).
SPEC_DEFAULTS = {
    "hookpoints": [], "max_latents": None,
    "explainer_model": "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4", "explainer_model_max_len": 5120,
    "explainer_provider": "offline", "explainer": "default",
    "scorers": ["fuzz", "detection"], "num_examples_per_scorer_prompt": 5,
    "dataset_repo": "EleutherAI/SmolLM2-135M-10B", "dataset_split": "train[:1%]", "dataset_name": "",
    "dataset_column": "text", "n_tokens": 10_000_000, "batch_size": 32, "cache_ctx_len": 256, "n_splits": 5,
    "min_examples": 200, "n_examples_train": 40, "n_examples_test": 50, "n_non_activating": 50,
    "example_ctx_len": 32, "center_examples": True, "non_activating_source": "random",
    "neighbours_type": "co-occurrence", "pipeline_num_proc": 120, "seed": 22, "verbose": True,
    "filter_bos": False, "log_probs": False, "load_in_8bit": False, "hf_token": None, "overwrite": [],
}

# flag arguments -> (config path, expected value)
LANDINGS = [
    ("--hookpoints layers.16 layers.20", "model.init_args.hookpoints", ["layers.16", "layers.20"]),
    ("--max_latents 20", "interpret.max_latents", 20),
    ("--explainer_model gpt-4o-mini", "interpret.client.init_args.model", "gpt-4o-mini"),
    ("--explainer_model_max_len 2048", "interpret.explainer.init_args.context_length", 2048),
    ("--explainer_provider openrouter", "interpret.client.class_path", "autointerp.clients.OpenRouter"),
    ("--explainer chain-of-thought", "interpret.explainer.class_path", "autointerp.explainers.ChainOfThoughtExplainer"),
    ("--scorers detection recall fuzz simulation", "interpret.scorers", [
        {"class_path": f"autointerp.scorers.{c}Scorer", "init_args": args} for c, args in [
            ("Detection", {"n_examples_per_prompt": 5, "log_probs": False, "structured": False}),
            ("Recall", {"n_examples_per_prompt": 5, "log_probs": False, "structured": False}),
            ("Fuzz", {"n_examples_per_prompt": 5, "log_probs": False, "structured": False}),
            ("Simulation", {"log_probs": False, "structured": False})]]),
    ("--num_examples_per_scorer_prompt 7", "interpret.scorers.0.init_args.n_examples_per_prompt", 7),
    ("--dataset_repo jyanimaulik/yahoo_finance_stockmarket_news", "data.dataset_repo", "jyanimaulik/yahoo_finance_stockmarket_news"),
    ("--dataset_split train[:1000]", "data.dataset_split", "train[:1000]"),
    ("--dataset_name en", "data.dataset_name", "en"),
    ("--dataset_column body", "data.dataset_column", "body"),
    ("--n_tokens 50000", "data.n_tokens", 50000),
    ("--batch_size 8", "data.batch_size", 8),
    ("--cache_ctx_len 128", "data.cache_ctx_len", 128),
    ("--n_tokens 1000 --n_splits 4", "flush_tokens", 250),
    ("--min_examples 10", "interpret.examples.min_examples", 10),
    ("--n_examples_train 12", "interpret.examples.n_examples_train", 12),
    ("--n_examples_test 13", "interpret.examples.n_examples_test", 13),
    ("--n_non_activating 14", "interpret.examples.n_non_activating", 14),
    ("--example_ctx_len 16", "interpret.examples.example_ctx_len", 16),
    ("--center_examples false", "interpret.examples.center_examples", False),
    ("--non_activating_source FAISS", "interpret.examples.non_activating.class_path", "autointerp.examples.FaissSource"),
    ("--non_activating_source FAISS", "interpret.explainer.class_path", "autointerp.explainers.ContrastiveExplainer"),
    ("--non_activating_source neighbours --neighbours_type decoder_similarity", "interpret.examples.non_activating",
     {"class_path": "autointerp.examples.NeighboursSource", "init_args": {"neighbours_type": "decoder_similarity"}}),
    ("--pipeline_num_proc 4", "interpret.pipeline_num_proc", 4),
    ("--num_gpus 0", "trainer.accelerator", "cpu"),
    ("--seed 7", "seed_everything", 7),
    ("--seed 7", "interpret.seed", 7),
    ("--verbose false", "trainer.enable_progress_bar", False),
    ("--filter_bos", "model.init_args.filter_bos", True),
    ("--log_probs", "interpret.scorers.0.init_args.log_probs", True),
    ("--overwrite explanations scores", "interpret.overwrite", ["explanations", "scores"]),
    ("--name finance", "name", "finance"),
]


def lookup(config: dict, path: str):
    for key in path.split("."):
        config = config[int(key)] if isinstance(config, list) else config[key]
    return config


def test_every_spec_flag_has_the_spec_default():
    args = parser().parse_args(BASE)
    assert {k: getattr(args, k) for k in SPEC_DEFAULTS} == SPEC_DEFAULTS


@pytest.mark.parametrize(("flags", "path", "expected"), LANDINGS, ids=[f"{f}->{p}" for f, p, _ in LANDINGS])
def test_each_flag_lands_in_the_config(flags, path, expected):
    config = build_config(parser().parse_args([*BASE, *shlex.split(flags)]))
    assert lookup(config, path) == expected


def test_the_top_tokens_explainer_takes_no_llm_settings():
    config = build_config(parser().parse_args([*BASE, "--explainer", "top-tokens"]))
    assert lookup(config, "interpret.explainer") == {"class_path": "autointerp.explainers.TopTokensExplainer",
                                                      "init_args": {}}


def test_every_spec_flag_is_covered_here():
    covered = {t[2:] for f, _, _ in LANDINGS for t in shlex.split(f) if t.startswith("--")}
    assert covered | {"load_in_8bit", "hf_token"} == set(SPEC_DEFAULTS) | {"num_gpus", "name"}


def test_num_gpus_defaults_to_eight_when_there_are_eight():
    """The spec's default 8 means: up to 8 visible GPUs; a CPU machine runs on its CPU."""
    assert build_config(parser().parse_args(BASE), available_gpus=16)["trainer"]["devices"] == 8
    assert build_config(parser().parse_args(BASE), available_gpus=2)["trainer"]["devices"] == 2
    assert build_config(parser().parse_args(BASE), available_gpus=0)["trainer"]["accelerator"] == "cpu"


def test_model_and_sparse_model_are_positional():
    config = build_config(parser().parse_args(BASE))
    assert config["model"]["init_args"]["model"] == BASE[0] and config["model"]["init_args"]["sparse_model"] == BASE[1]


def test_settings_that_cannot_work_here_are_clear_errors():
    with pytest.raises(SystemExit, match="--num_gpus 2: only 0 CUDA device"):
        build_config(parser().parse_args([*BASE, "--num_gpus", "2"]), available_gpus=0)
    with pytest.raises(SystemExit, match="--load_in_8bit needs a CUDA device"):
        build_config(parser().parse_args([*BASE, "--load_in_8bit"]), available_gpus=0)
    gpu = build_config(parser().parse_args([*BASE, "--num_gpus", "2"]), available_gpus=4)["trainer"]
    assert gpu == {"accelerator": "gpu", "devices": 2, "strategy": "ddp", "enable_progress_bar": True}
    assert build_config(parser().parse_args(BASE), available_gpus=0)["trainer"]["accelerator"] == "cpu"


def test_hf_token_goes_to_the_environment_never_into_the_config(monkeypatch):
    import autointerp.cli.predict as cli
    from autointerp.cli import flat as flat_cli

    seen = {}
    monkeypatch.setattr(cli, "run_config", lambda config: seen.setdefault("config", config) and 0)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    flat_cli.main([*BASE, "--hf_token", "hf_planted_secret_123", "--hookpoints", "layers.16"])
    import os

    assert os.environ["HF_TOKEN"] == "hf_planted_secret_123"
    assert "hf_planted_secret_123" not in json.dumps(seen["config"])


def test_the_flat_config_builds_the_same_objects_as_yaml(tmp_path, monkeypatch):
    """All flags at non-default values, through the real LightningCLI parser, reach the objects."""
    from autointerp.cli.predict import AutoInterpCLI, use_attribute_docstrings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-test")
    flags = " ".join(f for f, _, _ in LANDINGS if not f.startswith("--num_gpus") and "neighbours_type" not in f)
    config = build_config(parser().parse_args([*BASE, *shlex.split(flags.replace("--n_tokens 1000 --n_splits 4", ""))]))
    use_attribute_docstrings()
    cli = AutoInterpCLI(args=["--config", json.dumps(config)], run=False)
    assert cli.model.hookpoints == ["layers.16", "layers.20"] and cli.model.filter_bos is True
    assert cli.model.model_name == BASE[0] and cli.model.sparse_model == BASE[1]
    dm = cli.datamodule
    assert (dm.dataset_repo, dm.dataset_split, dm.dataset_name, dm.dataset_column) == (
        "jyanimaulik/yahoo_finance_stockmarket_news", "train[:1000]", "en", "body")
    assert (dm.n_tokens, dm.batch_size, dm.cache_ctx_len, dm.tokenizer_name) == (50000, 8, 128, BASE[0])
    assert "filter_bos" not in config["data"]  # one owner: the cache module
    interpret = cli.config_init["interpret"]
    assert [s.name for s in interpret.scorers] == ["detection", "recall", "fuzz", "simulation"] and interpret.max_latents == 20
    assert [s.n_examples_per_prompt for s in interpret.scorers[:3]] == [7, 7, 7] and interpret.scorers[0].log_probs is True
    assert interpret.explainer.name == "chain-of-thought" and interpret.explainer.context_length == 2048
    assert type(interpret.client).__name__ == "OpenRouter" and interpret.client.model == "gpt-4o-mini"
    assert type(interpret.examples.non_activating).__name__ == "FaissSource" and interpret.examples.center_examples is False
    assert (interpret.examples.min_examples, interpret.examples.seed, interpret.pipeline_num_proc) == (10, 7, 4)
    assert interpret.overwrite == ["explanations", "scores"] and interpret.seed == 7
    assert cli.config["name"] == "finance" and cli.config["seed_everything"] == 7
    assert "seed" not in config["interpret"]["examples"]  # the examples take the run's seed, set once


def test_interpret_false_switches_the_stage_off():
    from autointerp.cli import interpret_switch

    assert interpret_switch(["predict", "--interpret", "false", "--name", "x"]) == ["predict", "--interpret.enabled=false", "--name", "x"]
    assert interpret_switch(["predict", "--interpret=True"]) == ["predict", "--interpret.enabled=true"]
    assert interpret_switch(["predict", "--interpret", "extra.yaml"]) == ["predict", "--interpret", "extra.yaml"]


@pytest.mark.parametrize("argv", [["--help"], ["interpret", "--help"], ["calibrate", "--help"], ["report", "--help"], ["export", "--help"],
                                  ["model", "sae", "--help"]])
def test_help_answers_without_heavy_imports(argv):
    """What keeps help fast is that it imports none of the heavy packages (its time is not asserted:
    speed lives in benchmarks, and a loaded 2-core machine makes any wall-time bound flaky)."""
    import subprocess
    import sys

    code = ("import sys, autointerp.cli as c\ntry:\n    c.main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('lightning', 'torch', 'mlflow', 'sentence_transformers', 'transformers') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60)
    assert "usage" in out.stdout.lower() and "HEAVY []" in out.stdout, out.stdout[-500:] + out.stderr[-500:]


def test_the_interpret_route_never_imports_lightning():
    import subprocess
    import sys

    code = ("import sys\nfrom autointerp.cli.interpret import interpret_parser\nfrom autointerp.pipeline.run import interpret\n"
            "from autointerp.pipeline import components, tracking, tokenizer\n"
            "import autointerp.examples, autointerp.scorers, autointerp.explainers, autointerp.report, autointerp.models.subject\n"
            "interpret_parser()\nprint('LIGHTNING', 'lightning' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "LIGHTNING False" in out.stdout, out.stderr[-2000:]


def test_without_num_gpus_lightning_gets_every_visible_gpu(monkeypatch):
    """The sample commands omit --num_gpus: the run asks Lightning for every visible GPU (up to 8)."""
    import autointerp.cli.predict as cli
    from autointerp.cli import flat as flat_cli

    seen = {}
    monkeypatch.setattr(flat_cli, "cuda_devices", lambda: 4)
    monkeypatch.setattr(cli, "run_config", lambda config: seen.setdefault("config", config) and 0)
    flat_cli.main([*BASE, "--hookpoints", "layers.16"])
    assert seen["config"]["trainer"] == {"accelerator": "gpu", "devices": 4, "strategy": "ddp", "enable_progress_bar": True}
    seen.clear()
    monkeypatch.setattr(flat_cli, "cuda_devices", lambda: 0)
    flat_cli.main([*BASE, "--hookpoints", "layers.16"])
    assert seen["config"]["trainer"]["accelerator"] == "cpu"


def test_base_url_takes_one_url_or_replicas():
    vllm = [*BASE, "--explainer_provider", "vllm", "--explainer_base_url"]
    one = build_config(parser().parse_args([*vllm, "http://a:8000/v1"]))
    assert one["interpret"]["client"]["init_args"]["base_url"] == "http://a:8000/v1"
    two = build_config(parser().parse_args([*vllm, "http://a:8000/v1", "http://b:8000/v1"]))
    assert two["interpret"]["client"] == {"class_path": "autointerp.clients.OpenAICompatibleClient", "init_args": {
        "model": SPEC_DEFAULTS["explainer_model"], "cache": True, "max_concurrency": 32, "adaptive": True,
        "base_url": ["http://a:8000/v1", "http://b:8000/v1"], "api_key_env": "VLLM_API_KEY"}}
    from autointerp.clients import OpenAICompatibleClient

    assert OpenAICompatibleClient(**two["interpret"]["client"]["init_args"]).base_urls == ["http://a:8000/v1", "http://b:8000/v1"]


@pytest.mark.parametrize(("provider", "class_name", "extra"), [
    ("offline", "OfflineClient", {"max_model_len": 5120}),
    ("openrouter", "OpenRouter", {"max_concurrency": 32, "adaptive": True}),
    ("openai", "OpenAICompatibleClient", {"max_concurrency": 32, "adaptive": True}),
    ("vllm", "OpenAICompatibleClient", {"max_concurrency": 32, "adaptive": True, "base_url": "http://h:8000/v1",
                                        "api_key_env": "VLLM_API_KEY"}),
    ("llamacpp", "LlamaCppClient", {"max_concurrency": 32, "adaptive": True, "base_url": "http://h:8000/v1"}),
])
def test_each_provider_is_a_client_class(provider, class_name, extra):
    argv = [*BASE, "--explainer_provider", provider]
    if "base_url" in extra:
        argv += ["--explainer_base_url", extra["base_url"]]
    client = build_config(parser().parse_args(argv))["interpret"]["client"]
    assert client == {"class_path": f"autointerp.clients.{class_name}",
                      "init_args": {"model": SPEC_DEFAULTS["explainer_model"], "cache": True, **extra}}


@pytest.mark.parametrize("provider", ["vllm", "llamacpp"])
def test_adaptive_and_max_concurrency_flags_reach_the_http_client(provider):
    """`--adaptive false` keeps `--max_concurrency` fixed; by default the limit adapts below it."""
    from autointerp.clients.gate import AdaptiveLimit
    from autointerp.cli.spec_names import CLIENTS

    url = [*BASE, "--explainer_provider", provider, "--explainer_base_url", "http://h:8000/v1"]
    fixed = build_config(parser().parse_args([*url, "--adaptive", "false", "--max_concurrency", "8"]))["interpret"]["client"]
    adapting = build_config(parser().parse_args([*url, "--max_concurrency", "5"]))["interpret"]["client"]
    module, name = CLIENTS[provider].rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    fixed_client, adapting_client = cls(**fixed["init_args"]), cls(**adapting["init_args"])
    assert fixed_client.adaptive is None and fixed_client.in_flight_limit == 8
    assert isinstance(adapting_client.adaptive, AdaptiveLimit) and adapting_client.adaptive.maximum == 5


def test_spec_names_that_do_not_exist_or_miss_a_url_are_clear_errors():
    with pytest.raises(SystemExit, match="--explainer_provider must be one of"):
        build_config(parser().parse_args([*BASE, "--explainer_provider", "anthropic"]))
    with pytest.raises(SystemExit, match="needs --explainer_base_url"):
        build_config(parser().parse_args([*BASE, "--explainer_provider", "vllm"]))
    with pytest.raises(SystemExit, match="--scorers must be one of"):
        build_config(parser().parse_args([*BASE, "--scorers", "detect"]))
    with pytest.raises(SystemExit, match="--explainer must be one of"):
        build_config(parser().parse_args([*BASE, "--explainer", "fancy"]))


def test_batch_size_never_lands_on_a_scorer():
    """`--num_examples_per_scorer_prompt` reaches only the scorers whose prompts hold several examples."""
    scorers = build_config(parser().parse_args([*BASE, "--scorers", "detection", "surprisal", "embedding", "intruder",
                                                "--num_examples_per_scorer_prompt", "7"]))["interpret"]["scorers"]
    assert [s["init_args"] for s in scorers] == [
        {"n_examples_per_prompt": 7, "log_probs": False, "structured": False}, {}, {},
        {"n_examples_per_prompt": 7, "structured": False}]


def _real_default(flag):
    """The default of the setting a flag maps to, from the imported class (dataclass field or signature)."""
    import dataclasses
    import importlib
    import inspect

    module, cls, param = flag.source
    obj = getattr(importlib.import_module(module), cls)
    if dataclasses.is_dataclass(obj):
        field = {f.name: f for f in dataclasses.fields(obj)}[param]
        return field.default_factory() if field.default is dataclasses.MISSING else field.default
    return inspect.signature(obj.__init__).parameters[param].default


def test_derived_flags_take_default_and_help_from_the_signature_they_map_to():
    """Each mapped flag's default is its signature's, and the spec's; its help is the setting's docstring."""
    from autointerp.cli.flat_flags import EXTRA_FLAGS, FLAGS

    derived = [f for f in (*FLAGS, *EXTRA_FLAGS) if f.source is not None]
    assert len(derived) >= 20
    args = parser().parse_args(BASE)
    for flag in derived:
        default, text = flag.resolved()
        assert default == _real_default(flag), flag.name
        assert getattr(args, flag.dest) == default, flag.name
        assert len(text) > 10, flag.name
        if flag.name in SPEC_DEFAULTS:
            assert default == SPEC_DEFAULTS[flag.name], flag.name
    help_text = parser().format_help()
    assert "Latents with fewer activating windows" in help_text  # ExamplesConfig.min_examples' docstring
