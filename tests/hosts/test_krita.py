"""RePaint Fill inside real Krita 5 under Xvfb (marker ``krita``).

One Krita run does every case (tests/hosts/krita_scenarios.py runs inside Krita); the tests
below check its outputs from outside Krita: the saved .kra (layer stack in maindoc.xml), the new
layer exported as PNG, the user's layer before/after, and the .kra after one undo.
"""

import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import krita_harness
import pytest
from helpers_server import free_port
from PIL import Image

HERE = Path(__file__).resolve().parent

W, H = 96, 64
TWO_REGIONS = [[40, 30, 120, 80], [1340, 890, 120, 80]]  # [x, y, w, h], top-left, bottom-right
FEW_STEPS = 10  # with the "fast" preset: a few seconds a fill on CPU
DOCKER_STEPS = 40  # long enough (several seconds) for previews to show during the job
CASES = [
    {"name": "rect", "rect": [30, 20, 24, 16], "interactive": True},
    {"name": "ellipse_offset", "ellipse": [48, 32, 20, 14, 4], "offset_layer": [25, 18]},
    {"name": "variations", "rect": [8, 8, 16, 16], "variations": 2},
    {"name": "backend_down", "rect": [30, 20, 24, 16], "backend_down": True},
    {"name": "no_selection"},
    {"name": "feather_setting", "rect": [30, 20, 24, 16], "feather": 3},
    {"name": "float32", "rect": [30, 20, 24, 16], "colour_space": ["RGBA", "F32", ""]},
    {"name": "gray16", "ellipse": [48, 32, 20, 14, 4], "colour_space": ["GRAYA", "U16", ""]},
    {"name": "cmyk", "rect": [30, 20, 24, 16], "colour_space": ["CMYKA", "U8", ""]},
    {"name": "closed_during_run", "rect": [30, 20, 24, 16], "interrupt": "close"},
    {"name": "cancelled", "rect": [30, 20, 24, 16], "interrupt": "cancel"},
    {"name": "time_budget", "rect": [30, 20, 24, 16], "time_budget": 7},
    # A photo-sized document with two small selected parts far apart: two regions to the backend.
    {"name": "two_regions", "size": [1500, 1000], "rects": TWO_REGIONS},
]


@pytest.fixture(scope="module")
def krita_run(tmp_path_factory: pytest.TempPathFactory, backend) -> dict:
    url, token_file = backend.url, backend.token_file
    # The installer puts the plug-in in place and writes plugin.json (backend URL, token file).
    home = krita_harness.prepare_home(tmp_path_factory.mktemp("krita-home"), url, token_file)
    out = tmp_path_factory.mktemp("krita-out")
    config_path = home / ".config" / "repaint-fill" / "plugin.json"
    installed_config = json.loads(config_path.read_text())
    # Test-only values on top of the installer's (its backend_url and token_file stay).
    config_path.write_text(
        json.dumps(
            {
                **installed_config,
                # Unstartable on purpose: the backend_down case must fail clearly, not hang.
                "start_command": [str(home / "no-such-dir" / "repaint-fill"), "serve"],
                "context_margin": 8,
                "startup_timeout": 5,
            }
        )
    )
    spec = {
        "out_dir": str(out),
        "cases": CASES,
        "backend_url": url,
        "down_url": f"http://127.0.0.1:{free_port()}",
        "steps": FEW_STEPS,
        "docker_steps": DOCKER_STEPS,
        "docker_model": backend_model(backend),
    }
    spec_path = out / "spec.json"
    spec_path.write_text(json.dumps(spec))
    env = {  # no REPAINT_FILL_URL / _TOKEN_FILE: the plug-in reads them from plugin.json
        "REPAINT_FILL_TEST_SPEC": str(spec_path),
        "REPAINT_FILL_KRITA_LOG": str(out / "events.jsonl"),
    }
    with krita_harness.xvfb_display() as display:
        result = krita_harness.run_krita(
            home, display, HERE / "krita_scenarios.py", env, timeout=400
        )
    result["out"] = out
    result["home"] = home
    result["installed_config"] = installed_config
    assert result["errors"] == [], "\n".join(result["errors"])
    assert result["finished"]
    return result


def backend_model(server) -> str:
    """The model the backend has loaded, by the name GET /v1/models gives it."""

    with server.client() as client:
        return client.get("/v1/models").json()["loaded"]


def _kra_layers(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("maindoc.xml").decode()
    return re.findall(r'<layer\b[^>]*?\sname="([^"]*)"', xml)  # top to bottom


def _rgba(path: Path) -> Image.Image:
    return Image.open(path).convert("RGBA")


def _coverage(out: Path, name: str) -> bytes:
    return (out / f"{name}-coverage.gray").read_bytes()


@pytest.mark.parametrize("name", ["rect", "ellipse_offset"])
def test_one_new_layer_inside_the_selection(krita_run: dict, name: str) -> None:
    case, out = krita_run["cases"][name], krita_run["out"]
    assert case["outcome"]["event"] == "done", case["outcome"]
    before = [entry[0] for entry in case["stack_before"]]
    after = [entry[0] for entry in case["stack_after"]]
    assert len(after) == len(before) + 1
    new = [n for n in after if n not in before]
    assert len(new) == 1 and re.fullmatch(r"RePaint Fill \([^,]+, seed \d+\)", new[0])
    # above the active (the user's last) layer
    assert after.index(new[0]) == len(before)
    # the saved file has the same stack plus the new layer on top of the user's layers
    assert _kra_layers(out / f"{name}.kra") == new + _kra_layers(out / f"{name}-undone.kra")
    alpha = _rgba(out / f"{name}-layer.png").getchannel("A").tobytes()
    coverage = _coverage(out, name)
    assert any(alpha)
    assert all(c > 0 for a, c in zip(alpha, coverage, strict=True) if a > 0)  # only inside
    assert alpha == coverage  # soft selections stay soft


def test_time_budget_setting_lets_the_backend_pick_the_schedule(krita_run: dict, backend) -> None:
    case = krita_run["cases"]["time_budget"]
    assert case["outcome"]["event"] == "done", case["outcome"]
    new = [n for n, *_ in case["stack_after"] if n not in {b[0] for b in case["stack_before"]}]
    assert len(new) == 1 and new[0].startswith("RePaint Fill")
    # The job went out with the budget (not the preset and steps) and the backend chose for it.
    assert "preset=budget=7s" in backend.log()


def test_feathered_selection_gives_soft_alpha(krita_run: dict) -> None:
    coverage = _coverage(krita_run["out"], "ellipse_offset")
    assert any(0 < value < 255 for value in coverage)


def test_two_far_apart_regions_on_a_large_document_fill_as_one_layer(krita_run: dict) -> None:
    case, out = krita_run["cases"]["two_regions"], krita_run["out"]
    print(f"two regions on 1500x1000: fill {case['seconds']:.1f} s")
    assert case["outcome"]["event"] == "done", case["outcome"]
    before = [entry[0] for entry in case["stack_before"]]
    after = [entry[0] for entry in case["stack_after"]]
    new = [n for n in after if n not in before]
    assert len(new) == 1 and new[0].startswith("RePaint Fill"), after
    assert [n for n in after if n != new[0]] == before  # nothing else added, removed or moved
    assert case["original_unchanged"] and case["selection_unchanged"]
    layer = _rgba(out / "two_regions-layer.png")
    assert layer.size == (1500, 1000)
    coverage = _coverage(out, "two_regions")
    expected = bytearray(1500 * 1000)
    for x, y, w, h in TWO_REGIONS:
        for row in range(y, y + h):
            expected[row * 1500 + x : row * 1500 + x + w] = b"\xff" * w
    assert coverage == bytes(expected)  # the selection Krita holds is the two rectangles
    assert layer.getchannel("A").tobytes() == coverage  # 255 inside both, 0 everywhere else
    assert case["stack_undone"] == case["stack_before"]


@pytest.mark.parametrize(
    "name", ["rect", "ellipse_offset", "variations", "backend_down", "two_regions"]
)
def test_original_layer_unchanged(krita_run: dict, name: str) -> None:
    out = krita_run["out"]
    before = _rgba(out / f"{name}-original-before.png").tobytes()
    assert _rgba(out / f"{name}-original-after.png").tobytes() == before
    assert krita_run["cases"][name]["original_unchanged"]  # raw pixels, inside Krita


@pytest.mark.parametrize("name", ["rect", "ellipse_offset", "variations"])
def test_one_undo_removes_the_fill(krita_run: dict, name: str) -> None:
    case, out = krita_run["cases"][name], krita_run["out"]
    assert case["stack_undone"] == case["stack_before"]
    assert not any(n.startswith("RePaint Fill") for n in _kra_layers(out / f"{name}-undone.kra"))


def test_offset_layer_keeps_its_offset(krita_run: dict) -> None:
    assert krita_run["cases"]["ellipse_offset"]["original_offset"] == [25, 18]


def test_variations_make_a_group_with_all_but_first_hidden(krita_run: dict) -> None:
    case = krita_run["cases"]["variations"]
    assert case["outcome"]["event"] == "done", case["outcome"]
    group = [entry for entry in case["stack_after"] if entry[0].startswith("RePaint Fill")]
    assert group and group[0][1] == "grouplayer" and group[0][0] == "RePaint Fill (2 variations)"
    visible = [child_visible for _name, child_visible in case["children"]]
    assert sorted(visible) == [False, True]
    # children are listed bottom to top: the first variation (visible) is on top
    assert visible[-1] is True


@pytest.mark.parametrize(
    ("name", "kind", "words"),
    [
        ("backend_down", "BackendUnavailable", "Could not start the RePaint Fill backend"),
        ("no_selection", "NoSelection", "Nothing is selected"),
    ],
)
def test_errors_are_recorded_and_add_no_layer(
    krita_run: dict, name: str, kind: str, words: str
) -> None:
    case = krita_run["cases"][name]
    assert case["outcome"]["event"] == "error"
    assert case["outcome"]["kind"] == kind
    assert words in case["outcome"]["message"]
    assert case["stack_after"] == case["stack_before"]


@pytest.mark.parametrize(
    ("name", "model"),
    [("float32", ["RGBA", "F32"]), ("gray16", ["GRAYA", "U16"]), ("cmyk", ["CMYKA", "U8"])],
)
def test_other_colour_models_are_converted_both_ways(
    krita_run: dict, name: str, model: list
) -> None:
    case, out = krita_run["cases"][name], krita_run["out"]
    assert case["outcome"]["event"] == "done", case["outcome"]
    assert case["colour_space"] == model and case["new_colour_space"] == model
    assert case["original_unchanged"]
    assert len(case["stack_after"]) == len(case["stack_before"]) + 1
    assert case["stack_undone"] == case["stack_before"]
    alpha = _rgba(out / f"{name}-layer.png").getchannel("A").tobytes()
    coverage = _coverage(out, name)
    assert any(alpha)
    assert all(c > 0 for a, c in zip(alpha, coverage, strict=True) if a > 0)
    assert max(abs(a - c) for a, c in zip(alpha, coverage, strict=True)) <= 2


def test_closing_the_document_during_a_fill_discards_the_result(krita_run: dict) -> None:
    case = krita_run["cases"]["closed_during_run"]
    assert case["job_started"]
    assert case["events"][-1] == "discarded"
    # no crash: Krita went on to run the next case in the same process
    assert krita_run["cases"]["cancelled"]["job_started"]


def test_cancel_adds_no_layer(krita_run: dict) -> None:
    case = krita_run["cases"]["cancelled"]
    assert case["job_started"] and case["events"][-1] == "cancelled"
    assert case["stack_after"] == case["stack_before"]


def test_settings_dialog_is_remembered(krita_run: dict) -> None:
    seen = krita_run["settings_dialog"]
    assert seen["title"] == "RePaint Fill Settings"
    assert seen["stored_variations"] == "3"  # written through Krita's writeSetting
    kritarc = (krita_run["home"] / ".config" / "kritarc").read_text()
    assert "[RePaintFill]" in kritarc  # persisted for the next Krita run


def test_feather_setting_softens_the_fill_not_the_users_selection(krita_run: dict) -> None:
    case, out = krita_run["cases"]["feather_setting"], krita_run["out"]
    assert case["outcome"]["event"] == "done", case["outcome"]
    assert case["selection_unchanged"]
    coverage = _coverage(out, "feather_setting")
    assert set(coverage) == {0, 255}  # the user's selection is hard-edged
    alpha = _rgba(out / "feather_setting-layer.png").getchannel("A").tobytes()
    assert any(0 < value < 255 for value in alpha)  # the fill's edge is soft
    assert max(alpha) == 255


def test_fills_leave_the_users_selection_alone(krita_run: dict) -> None:
    for name in ("rect", "ellipse_offset", "float32", "gray16"):
        assert krita_run["cases"][name]["selection_unchanged"], name


def test_progress_dialog_shows_steps_and_closes(krita_run: dict) -> None:
    seen = krita_run["cases"]["rect"]["interactive"]
    assert seen["visible"] and not seen["visible_after"]
    assert seen["message_boxes"] == []
    assert any(label.startswith("Step ") for label in seen["labels"]), seen["labels"]


def test_plugin_installed_by_the_installer_reads_its_config(krita_run: dict, backend) -> None:
    url, token_file = backend.url, backend.token_file
    home = krita_run["home"]
    installed = krita_run["installed_config"]
    assert installed["backend_url"] == url
    assert installed["token_file"] == str(token_file)
    assert installed["start_command"] is None  # --skip-backend
    # Krita loaded the copy the installer put into $XDG_DATA_HOME/krita/pykrita (enabled by it)
    pykrita = home / ".local" / "share" / "krita" / "pykrita"
    seen = krita_run["plugin_config"]
    assert Path(seen["plugin_file"]).parent == pykrita / "repaint_fill"
    assert "enable_repaint_fill=true" in (home / ".config" / "kritarc").read_text()
    # ... and read the backend URL and token file from the installer's plugin.json
    assert seen["config_file"] == str(home / ".config" / "repaint-fill" / "plugin.json")
    assert seen["env_overrides"] == []
    assert (seen["backend_url"], seen["token_file"]) == (url, str(token_file))
    # the fills ran with no environment override: the token from plugin.json was accepted
    rect = krita_run["cases"]["rect"]
    assert rect["env_overrides"] == {}
    assert rect["outcome"]["event"] == "done", rect["outcome"]


def test_docker_lists_the_backends_models_and_says_how_to_get_a_missing_one(krita_run, backend):
    docker = krita_run["docker"]
    assert docker["found"], docker
    assert "repaint" in docker["object_name"] and docker["title"] == "RePaint Fill"
    with backend.client() as client:
        listing = client.get("/v1/models").json()["models"]
    listed = [(m["name"], m["present"]) for m in listing]
    assert [tuple(model) for model in docker["models"]] == listed
    missing = docker["missing"]
    how = next(m["get_it"] for m in listing if m["name"] == missing["name"])
    assert not missing["started"]
    assert how and how in missing["status"] and how in missing["info"]


def test_docker_fill_sends_the_chosen_model_and_makes_one_layer(krita_run, backend):
    docker = krita_run["docker"]
    assert docker["outcome"]["event"] == "done", docker["outcome"]
    assert docker["params"]["model"] == docker["chosen"] == backend_model(backend)
    before = [name for name, _type, _visible in docker["stack_before"]]
    after = [name for name, _type, _visible in docker["stack_after"]]
    new = [name for name in after if name not in before]
    assert len(after) == len(before) + 1 and len(new) == 1
    assert new[0].startswith("RePaint Fill (") and f"seed {docker['params']['seed']}" in new[0]


def test_docker_preview_shows_during_the_job_and_leaves_no_layer_or_undo_step(krita_run):
    docker = krita_run["docker"]
    assert docker["previews_during_job"] >= 1
    before = [name for name, _type, _visible in docker["stack_before"]]
    # While the job ran the document only ever had the user's layers, then the result.
    for stack in docker["stacks_seen"]:
        assert [n for n in stack if n not in before and not n.startswith("RePaint Fill (")] == []
        assert len(stack) <= len(before) + 1
    # One undo removes the result; a second finds nothing of ours (no preview step) to undo.
    assert docker["stack_undone"] == docker["stack_before"]
    assert docker["stack_undone_twice"] == docker["stack_before"]
    assert (krita_run["out"] / "docker.png").is_file()
    keep = os.environ.get("REPAINT_FILL_SCREENSHOTS")  # a folder: refresh the docs' copy
    if keep:
        shutil.copy(krita_run["out"] / "docker.png", Path(keep) / "krita_docker.png")
