"""`repaint-fill models` and `--help` answer without loading the model stack or the server.

Each case runs the real CLI in a fresh interpreter (a subprocess: this test process has torch
loaded already) and lists which heavy modules it imported.
"""

import json
import subprocess
import sys

import pytest
import torch
from repaint_fill_backend.cli import out_of_gpu_memory

HEAVY = ("torch", "diffusers", "fastapi", "uvicorn")
# Runs cli.main with the given arguments, then prints the heavy modules it loaded as JSON on
# stderr's last line (stdout is the command's own output).
WRAPPER = """
import json, sys
from repaint_fill_backend.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit_:
    code = exit_.code
loaded = [name for name in {heavy!r} if name in sys.modules]
print(json.dumps({{"code": code, "loaded": loaded}}), file=sys.stderr)
"""


# An installation without the developer tools (the installer's): their package cannot be imported.
WITHOUT_TOOLS = "import sys\nsys.modules['repaint_fill_tools'] = None\n"


def run_cli(*args: str, prelude: str = "") -> tuple[dict, str]:
    outcome, stdout, _ = run_cli_with_stderr(*args, prelude=prelude)
    return outcome, stdout


def run_cli_with_stderr(*args: str, prelude: str = "") -> tuple[dict, str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", prelude + WRAPPER.format(heavy=HEAVY), *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    lines = done.stderr.strip().splitlines()
    return json.loads(lines[-1]), done.stdout, lines[:-1]


@pytest.mark.parametrize("args", [["models"], ["models", "--markdown"], ["--help"]])
def test_light_commands_import_no_heavy_module(args):
    outcome, stdout = run_cli(*args)
    assert outcome == {"code": 0, "loaded": []}
    assert "embedded" in stdout or "serve" in stdout


def test_top_level_help_still_lists_the_optional_commands():
    outcome, stdout = run_cli("--help")
    assert outcome["code"] == 0
    for command in ("fill", "expand", "example", "models", "download", "serve", "train", "bench"):
        assert command in stdout


def test_a_chosen_optional_command_gets_its_own_arguments():
    outcome, stdout = run_cli("serve", "--help")
    assert outcome["code"] == 0
    assert "--queue-size" in stdout  # added by the server's module, imported for `serve` only
    assert "fastapi" in outcome["loaded"] or "uvicorn" in outcome["loaded"]


@pytest.mark.parametrize(
    "args", [["bench"], ["bench", "--quick"], ["bench", "--help"], ["train", "--out", "x"]]
)
def test_bench_and_train_without_the_tools_say_in_one_line_how_to_install_them(args):
    outcome, stdout, errors = run_cli_with_stderr(*args, prelude=WITHOUT_TOOLS)
    assert outcome == {"code": 2, "loaded": []} and stdout == ""
    (line,) = errors
    assert line.startswith(f"repaint-fill: error: `{args[0]}` is not available"), line
    assert "pip install -e ./tools" in line and "bash scripts/setup-dev.sh" in line


def test_the_top_level_help_lists_bench_and_train_without_the_tools():
    outcome, stdout = run_cli("--help", prelude=WITHOUT_TOOLS)
    assert outcome == {"code": 0, "loaded": []}
    assert "bench" in stdout and "train" in stdout


def test_bench_and_train_get_their_arguments_from_the_tools():
    for command, option in (("bench", "--quick"), ("train", "--init-from")):
        outcome, stdout = run_cli(command, "--help")
        assert outcome["code"] == 0 and option in stdout


def test_fill_help_lists_the_shared_choices_without_torch():
    outcome, stdout = run_cli("fill", "--help")
    assert outcome == {"code": 0, "loaded": []}
    for choice in ("fast", "balanced", "paper", "ddim", "coarse", "bf16", "mps"):
        assert choice in stdout


def test_out_of_gpu_memory_is_told_from_other_errors():
    assert out_of_gpu_memory(torch.OutOfMemoryError("CUDA out of memory"))
    assert not out_of_gpu_memory(RuntimeError("shape mismatch"))
