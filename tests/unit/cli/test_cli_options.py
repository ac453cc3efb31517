"""Every command line: help and default on each option, one dtype spelling, checks before torch, the cut-prompt warning."""
from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from faceclip_core import cli
from faceclip_core.cli.options import DTYPE_NAMES, HelpFormatter
from faceclip_core.idea.__main__ import build_parser as idea_parser
from faceclip_core.train.__main__ import build_parser as train_parser

ROOT = Path(__file__).resolve().parents[3]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _all_subcommands() -> dict[str, argparse.ArgumentParser]:
    return {f"{prog} {name}": sub for prog, parser in (("faceclip", cli.build_parser()), ("idea", idea_parser()),
                                                       ("train", train_parser()))
            for name, sub in _subcommands(parser).items()
            if not (prog == "faceclip" and name in cli.GROUPS)}  # the groups: their own parsers, listed here already


def test_every_command_is_there():
    assert set(_all_subcommands()) == {"faceclip encode", "faceclip convert", "faceclip download", "faceclip detect", "faceclip compare-t5",
                                       "idea train", "train prepare", "train stage1", "train stage2", "train validate"}


@pytest.mark.parametrize("command", sorted(_all_subcommands()))
def test_every_option_has_help_and_shows_its_default(command):
    parser = _all_subcommands()[command]
    formatter = HelpFormatter(parser.prog)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{command} {action.dest} has no help"
        meaningful = action.default is not None and action.default is not False and not action.required
        if meaningful:
            assert "default" in formatter._get_help_string(action) % {"default": action.default}, (command, action.dest)


def test_dtypes_are_spelled_one_way_and_take_torchs_names_too():
    import torch

    from faceclip_core.files.dtypes import torch_dtype

    assert [torch_dtype(name) for name in DTYPE_NAMES] == [torch.float16, torch.bfloat16, torch.float32]
    encode = _all_subcommands()["faceclip encode"]
    base = ["--weights", "w", "--prompt", "p", "--out", "o"]
    for given, expected in (("fp16", "fp16"), ("float16", "fp16"), ("bfloat16", "bf16"), ("FLOAT32", "fp32")):
        assert encode.parse_args(base + ["--dtype", given]).dtype == expected
    idea = _all_subcommands()["idea train"]
    idea_base = ["--images", "i", "--sdxl", "s", "--face-models", "f", "--name", "n"]
    assert idea.parse_args(idea_base).dtype == "auto"
    assert idea.parse_args(idea_base + ["--dtype", "bfloat16"]).dtype == "bf16"
    assert _all_subcommands()["faceclip convert"].parse_args(["a", "b", "--dtype", "float16"]).dtype == "fp16"
    for parser in (encode, idea):
        assert "--dtype {" + ",".join(DTYPE_NAMES) in parser.format_help().replace("auto,", "")


def test_unknown_dtype_is_refused_naming_the_choices(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["encode", "--weights", "w", "--prompt", "p", "--out", "o", "--dtype", "fp8"])
    assert exit_info.value.code == 2
    assert "invalid dtype 'fp8': choose from fp16, bf16, fp32" in capsys.readouterr().err


# (arguments, exit code, text on stderr): help, and mistakes a check finds before anything slow is imported
LIGHT_RUNS = [
    (["faceclip_core", "--help"], 0, ""),
    *[(["faceclip_core", name, "--help"], 0, "") for name in ("encode", "convert", "download", "detect")],
    (["faceclip_core.idea", "train", "--help"], 0, ""),
    *[(["faceclip_core.train", name, "--help"], 0, "") for name in ("prepare", "stage1", "stage2")],
    (["faceclip_core", "encode", "--weights", "/nowhere/w.pt", "--no-face", "--prompt", "p", "--out", "o"], 2,
     "--weights /nowhere/w.pt does not exist"),
    (["faceclip_core", "convert", "/nowhere/in.pt", "out.safetensors"], 2, "IN.pt /nowhere/in.pt does not exist"),
    (["faceclip_core.idea", "train", "--images", "/nowhere", "--sdxl", "s", "--face-models", "f", "--name", "n"], 2,
     "--images /nowhere is not a folder"),
    (["faceclip_core.idea", "train", "--images", ".", "--sdxl", "s", "--face-models", "f", "--name", "n",
      "--resolution", "100"], 2, "--resolution must be a multiple of 64"),
    (["faceclip_core.train", "prepare", "--images", "/nowhere", "--out", "d"], 2, "--images /nowhere is not a folder"),
]


def test_help_and_early_mistakes_answer_without_importing_torch(tmp_path):
    """All runs in one fresh interpreter (each command's main, as `python -m` runs it): torch must still be absent."""
    script = (
        "import contextlib, importlib, io, sys\n"
        f"runs = {LIGHT_RUNS!r}\n"
        "for argv, _, _ in runs:\n"
        "    main = importlib.import_module(argv[0] + ('.cli' if argv[0] == 'faceclip_core' else '.__main__')).main\n"
        "    err = io.StringIO()\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):\n"
        "        try:\n"
        "            code = main(argv[1:])\n"
        "        except SystemExit as exc:\n"
        "            code = exc.code\n"
        "    print(code, err.getvalue().replace(chr(10), ' '))\n"
        "print(sorted(m for m in ('torch', 'onnxruntime', 'diffusers', 'safetensors') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert result.returncode == 0, result.stderr
    *lines, imported = result.stdout.splitlines()
    for (argv, expected_code, expected_text), line in zip(LIGHT_RUNS, lines, strict=True):
        code, _, err = line.partition(" ")
        assert int(code) == expected_code and expected_text in err, (argv, line)
    assert imported == "[]"


def test_dropped_tokens_counts_what_the_tokenizer_cuts():
    from faceclip_core.encoders.tokenizer import default_tokenizer

    tokenizer = default_tokenizer()
    assert tokenizer.dropped_tokens("a photo of a person") == 0
    assert tokenizer.dropped_tokens(" ".join(["word"] * 75)) == 0  # 75 + start + end = 77: fits exactly
    assert tokenizer.dropped_tokens(" ".join(["word"] * 76)) == 1
    long = " ".join(["word"] * 2000)
    assert tokenizer.dropped_tokens(long) == 2000 - 75
    assert tokenizer(long)[0, -1] == tokenizer.end_id


def test_an_over_long_prompt_logs_one_warning_with_the_count(caplog):
    from tiny_faceclip import make_tiny_encoder, random_faces

    encoder = make_tiny_encoder()
    prompts = ["short", " ".join(["word"] * 100), " ".join(["word"] * 80)]
    prefix = len(encoder.tokenizer.encode(encoder.config.id_prefix))
    with caplog.at_level(logging.WARNING, logger="faceclip_core"):
        encoder.encode(random_faces(1), prompts, face_index=[0, 0, None])
    [record] = caplog.records
    assert record.getMessage() == (f"FaceCLIP reads 77 tokens per prompt (start and end included); "
                                   f"prompt 2 lost its last {100 + prefix - 75} tokens, prompt 3 lost its last 5 tokens.")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="faceclip_core"):
        encoder.encode(None, ["short"])
    assert caplog.records == []


def test_encode_command_prints_the_warning_once(tmp_path):
    from tiny_faceclip import make_tiny_encoder, write_safetensors

    weights = write_safetensors(make_tiny_encoder(), tmp_path / "tiny.safetensors")
    result = subprocess.run(
        [sys.executable, "-m", "faceclip_core", "encode", "--weights", str(weights), "--no-face", "--device", "cpu",
         "--prompt", " ".join(["word"] * 2000), "--out", str(tmp_path / "c.safetensors")],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: FaceCLIP reads 77 tokens per prompt (start and end included); "
                        "prompt 1 lost its last 1925 tokens."]


def test_a_python_without_torch_gets_one_line_saying_to_install_it(tmp_path):
    (tmp_path / "w.pt").write_bytes(b"weights")
    script = ("import sys; sys.modules['torch'] = None  # import torch -> ModuleNotFoundError, as without torch\n"
              "from faceclip_core.cli import main\n"
              f"sys.exit(main(['encode', '--weights', {str(tmp_path / 'w.pt')!r}, '--no-face', '--prompt', 'p', '--out', 'o']))")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert result.returncode == 2
    assert result.stderr.startswith("error: this command needs PyTorch") and "Traceback" not in result.stderr


def test_one_command_reaches_the_id_ea_and_training_commands(capsys):
    """`faceclip idea ...` and `faceclip train ...` are the same parsers as `python -m faceclip_core.idea|train`."""
    from faceclip_core import cli

    for argv, expected in ((["idea", "train", "--help"], "--face-models"), (["train", "stage1", "--help"], "--config")):
        with pytest.raises(SystemExit) as exc:
            cli.main(argv)
        assert exc.value.code == 0 and expected in capsys.readouterr().out
    assert cli.main(["idea", "train", "--images", "/nowhere", "--sdxl", "/nowhere", "--face-models", "/nowhere",
                     "--name", "jane"]) == 2
    assert "--images /nowhere is not a folder" in capsys.readouterr().err
