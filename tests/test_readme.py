"""Every command and every YAML block of the README, read from the README itself, works as written.

Commands are taken from its ```bash blocks (continuation lines joined). Each `autointerp` command
goes through the real parser of its route, on the embedded default where it names a model:
`predict`/`fit` through AutoInterpCLI's parser (signatures, links, `--name` checks; nothing is
loaded or trained), `interpret` through its parser with every component instantiated, the flat
command through its flags into that same predict parser, `report` and every `--help` for real.
Each YAML block is parsed as the `interpret:` section of a config by `autointerp interpret`'s parser.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
NOT_OURS = ("make ", "mlflow ui ", "rm -f .venv/")
"""Commands of other tools the README shows (the Makefile is tested by running it, mlflow by MLflow)."""


def blocks(lang: str) -> list[str]:
    return [body for kind, body in re.findall(r"```(\w*)\n(.*?)```", README, re.S) if kind == lang]


def commands() -> list[str]:
    out = []
    for body in blocks("bash"):
        for line in body.replace("\\\n", " ").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            line = re.sub(r"\s+#\s.*$", "", line)  # trailing comments
            out.append(line)
    return out


def autointerp_args(command: str) -> list[str] | None:
    """The arguments after `autointerp` (or `python -m autointerp`, also under torchrun/srun); None for other tools."""
    tokens = shlex.split(command.replace("$NODE_RANK", "0"))
    for i, token in enumerate(tokens):
        if token.endswith("autointerp") and (i == 0 or tokens[i - 1] in ("-m", "srun") or token.endswith("/autointerp")):
            return tokens[i + 1 :]
    return None


COMMANDS = commands()


def test_the_readme_has_the_commands_this_test_expects():
    routes = {(autointerp_args(c) or ["other"])[0] for c in COMMANDS}
    assert {"predict", "interpret", "calibrate", "report", "export", "meta-llama/Llama-2-7b-hf", "embedded:SmolLM2-135M-Instruct"} <= routes
    assert all(autointerp_args(c) is not None or c.startswith(NOT_OURS) for c in COMMANDS), COMMANDS


def parse_predict(args: list[str]):
    """The predict route's full parse, instantiating nothing (as `--print_config` does)."""
    from autointerp.cli.common import interpret_switch
    from autointerp.cli.predict import AutoInterpCLI, use_attribute_docstrings

    class ParseOnly(AutoInterpCLI):
        def before_instantiate_classes(self) -> None:
            super().before_instantiate_classes()  # the --name check and the data.filter_bos move

        def instantiate_classes(self) -> None:
            pass

    use_attribute_docstrings()
    args = [a for a in interpret_switch(args) if a != "--print_config"]
    return ParseOnly(args=args, run=False).config


@pytest.mark.parametrize("command", [c for c in COMMANDS if (autointerp_args(c) or [""])[0] in ("predict", "fit")])
def test_predict_commands_parse(command, monkeypatch):
    monkeypatch.chdir(REPO)
    args = autointerp_args(command)[1:]
    if "--help" in args:
        with pytest.raises(SystemExit) as stop, contextlib.redirect_stdout(io.StringIO()) as out:
            parse_predict(args)
        assert stop.value.code == 0 and "--interpret" in out.getvalue()
        return
    config = parse_predict(args)
    assert config.model.class_path.startswith("autointerp.")
    if "--interpret" in args and args[args.index("--interpret") + 1] == "false":
        assert config.interpret.enabled is False


@pytest.mark.parametrize("command", [c for c in COMMANDS if (autointerp_args(c) or [""])[0] == "interpret"])
def test_interpret_commands_build_their_components(command, monkeypatch):
    from autointerp.cli.interpret import interpret_parser

    monkeypatch.chdir(REPO)
    args = autointerp_args(command)[1:]
    parser = interpret_parser()
    if "--help" in args:
        with pytest.raises(SystemExit) as stop, contextlib.redirect_stdout(io.StringIO()) as out:
            parser.parse_args(args)
        assert stop.value.code == 0 and "--interpret.scorers" in out.getvalue()
        return
    config = parser.instantiate_classes(parser.parse_args(args)).interpret
    assert config.client is not None and config.scorers


@pytest.mark.parametrize("command", [c for c in COMMANDS if (autointerp_args(c) or [""])[0] == "calibrate"])
def test_calibrate_commands_build_their_components(command, monkeypatch):
    from autointerp.cli.calibrate import calibrate_parser

    monkeypatch.chdir(REPO)
    cfg = calibrate_parser().parse_args(autointerp_args(command)[1:])
    config = calibrate_parser().instantiate_classes(cfg).interpret
    assert config.client is not None and config.scorers
    assert cfg.n in (None, 12) and config.calibration == 4  # the quickstart's; --n applies when the command runs


def test_the_interpret_commands_mean_what_the_readme_says(monkeypatch):
    from autointerp.cli.interpret import interpret_parser

    monkeypatch.chdir(REPO)
    parser = interpret_parser()
    built = {}
    for command in COMMANDS:
        args = autointerp_args(command) or [""]
        if args[0] == "interpret" and "--help" not in args:
            built[command] = parser.instantiate_classes(parser.parse_args(args[1:])).interpret
    appended = next(v for k, v in built.items() if "scorers+" in k)
    assert [s.name for s in appended.scorers] == ["detection", "fuzz", "recall"]
    assert all(s.structured for s in appended.scorers[:2])  # the config's settings stay
    cot = next(v for k, v in built.items() if "ChainOfThoughtExplainer" in k)
    assert cot.explainer.name == "chain-of-thought" and cot.explainer.show_activations is True


@pytest.mark.parametrize("command", [c for c in COMMANDS if (autointerp_args(c) or [""])[0] == "report"])
def test_report_commands_write_the_report(command, tmp_path, monkeypatch):
    from report.runs import RunSpec, make_run

    from autointerp.cli import main

    args = autointerp_args(command)
    name = args[args.index("--name") + 1]
    make_run(tmp_path / "results" / name, RunSpec(hookpoints=("layers.15",), latents_per_hookpoint=3))
    monkeypatch.chdir(tmp_path)
    assert main(args) == 0
    assert (tmp_path / "results" / name / "report.html").is_file()


@pytest.mark.parametrize("command", [c for c in COMMANDS if (autointerp_args(c) or [""])[0] == "export"])
def test_export_commands_write_the_export(command, tmp_path, monkeypatch):
    from report.runs import RunSpec, make_run

    from autointerp.cli import main

    args = autointerp_args(command)
    if "--help" in args:
        assert main(args) == 0
        return
    name, out = args[args.index("--name") + 1], args[args.index("--out") + 1]
    make_run(tmp_path / "results" / name, RunSpec(hookpoints=("layers.15",), latents_per_hookpoint=3))
    monkeypatch.chdir(tmp_path)
    assert main(args) == 0
    (source,) = (tmp_path / out).glob("*/*/source.jsonl")
    assert source.parent.name.startswith("15-") and (source.parent / "explanations" / "batch-0.jsonl.gz").is_file()


FLAT = [c for c in COMMANDS if (autointerp_args(c) or ["predict"])[0] not in ("predict", "fit", "interpret", "calibrate", "report", "export")]


@pytest.mark.parametrize("command", FLAT)
def test_flat_commands_build_a_config_the_predict_route_accepts(command, monkeypatch, tmp_path):
    from autointerp.cli.flat import build_config, parser

    monkeypatch.chdir(REPO)
    args = autointerp_args(command)
    if "--help" in args:
        with pytest.raises(SystemExit) as stop, contextlib.redirect_stdout(io.StringIO()) as out:
            parser().parse_args(args)
        assert stop.value.code == 0 and "--explainer_provider" in out.getvalue()
        return
    config = build_config(parser().parse_args(args), available_gpus=0)
    (tmp_path / "flat.yaml").write_text(yaml.safe_dump(config))
    parsed = parse_predict(["--config", str(tmp_path / "flat.yaml")])
    assert parsed.model.init_args.model == args[0] and parsed.name == args[args.index("--name") + 1]


YAML_BLOCKS = blocks("yaml")


def test_the_readme_has_yaml_blocks():
    assert len(YAML_BLOCKS) >= 5


@pytest.mark.parametrize("index", range(len(YAML_BLOCKS)))
def test_every_yaml_block_parses_as_an_interpret_section(index, tmp_path, monkeypatch):
    from autointerp.cli.interpret import interpret_parser

    monkeypatch.chdir(tmp_path)
    for var in ("OPENROUTER_API_KEY", "OPENAI_API_KEY"):  # hosted clients refuse to start without a key
        monkeypatch.setenv(var, "sk-readme-test")
    block = yaml.safe_load(YAML_BLOCKS[index])
    assert set(block) == {"interpret"}, "each README YAML block is an interpret: section"
    (tmp_path / "block.yaml").write_text(YAML_BLOCKS[index])
    parser = interpret_parser()
    cfg = parser.parse_args(["--config", str(tmp_path / "block.yaml"), "--name", "x"])
    section = block["interpret"]
    for key in ("client", "explainer"):
        if key in section:  # the class it names is the class parsed
            named = section[key] if isinstance(section[key], str) else section[key]["class_path"]
            assert cfg.interpret[key].class_path.endswith(named.rsplit(".", 1)[-1])
    if "prompt_template" not in YAML_BLOCKS[index]:  # a template file the reader writes themselves
        parser.instantiate_classes(cfg)
