"""Runs INSIDE real GIMP (python-fu-eval): build each test image, call plug-in-repaint-fill (or
the case's "procedure") by name, and export what happened (layers as PNG, pixel hashes, status,
canvas size) for checks outside GIMP.

Reads <work>/cases.json, writes <work>/out/<case>/manifest.json (+ PNGs); <work> comes from the
REPAINT_FILL_GIMP_TEST_DIR environment variable of the gimp-console command; the batch command
puts the installed plug-in's folder on sys.path first (tests/helpers_paths.py). A case's
plugin_json replaces plugin.json for that case; None means the plugin.json the installer wrote.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import traceback

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp  # noqa: E402
from repaint_fill_core.png import encode_png  # from the installed plug-in  # noqa: E402

WORK = os.environ["REPAINT_FILL_GIMP_TEST_DIR"]

BASES = {
    "rgb": Gimp.ImageBaseType.RGB,
    "gray": Gimp.ImageBaseType.GRAY,
    "indexed": Gimp.ImageBaseType.RGB,
}
PRECISIONS = {
    "u8": Gimp.Precision.U8_NON_LINEAR,
    "u16": Gimp.Precision.U16_NON_LINEAR,
    "float": Gimp.Precision.FLOAT_LINEAR,
}


def pattern(width, height, seed):
    """Deterministic opaque RGBA texture (different per layer)."""
    pixels = bytearray(width * height * 4)
    for y in range(height):
        for x in range(width):
            index = (y * width + x) * 4
            pixels[index : index + 4] = bytes(
                ((x * 7 + seed * 40) % 256, (y * 11 + seed) % 256, ((x ^ y) * 5) % 256, 255)
            )
    return bytes(pixels)


def region(x, y, width, height):
    return Gegl.Rectangle.new(x, y, width, height)


def add_layer(image, spec, gray, parent):
    if spec.get("group"):
        group = Gimp.GroupLayer.new(image, spec["name"])
        image.insert_layer(group, parent, 0)
        return group
    width, height = spec["size"]
    kind = Gimp.ImageType.GRAYA_IMAGE if gray else Gimp.ImageType.RGBA_IMAGE
    layer = Gimp.Layer.new(image, spec["name"], width, height, kind, 100.0, Gimp.LayerMode.NORMAL)
    image.insert_layer(layer, parent, 0)
    layer.set_offsets(*spec.get("offset", (0, 0)))
    buffer = layer.get_buffer()
    buffer.set(region(0, 0, width, height), "R'G'B'A u8", pattern(width, height, spec["seed"]))
    buffer.flush()
    return layer


def make_image(case):
    width, height = case["canvas"]
    image = Gimp.Image.new_with_precision(
        width, height, BASES[case["mode"]], PRECISIONS[case.get("precision", "u8")]
    )
    layers = {}
    for spec in case["layers"]:  # bottom to top; "parent" names a group added before
        parent = layers[spec["parent"]] if spec.get("parent") else None
        layers[spec["name"]] = add_layer(image, spec, case["mode"] == "gray", parent)
    if case["mode"] == "indexed":
        image.convert_indexed(
            Gimp.ConvertDitherType.NONE, Gimp.ConvertPaletteType.GENERATE, 16, False, False, ""
        )
    selection = case.get("selection")
    if selection is None:
        Gimp.Selection.none(image)
    elif selection["shape"] == "rect":
        image.select_rectangle(Gimp.ChannelOps.REPLACE, *selection["rect"])
    elif selection["shape"] == "rects":  # several separate rectangles
        Gimp.Selection.none(image)
        for rect in selection["rects"]:
            image.select_rectangle(Gimp.ChannelOps.ADD, *rect)
    else:
        image.select_ellipse(Gimp.ChannelOps.REPLACE, *selection["rect"])
    if selection and selection.get("feather"):
        Gimp.Selection.feather(image, selection["feather"])
    return image, layers[case["active"]]


def all_layers(parent_layers):
    for layer in parent_layers:
        yield layer
        if isinstance(layer, Gimp.GroupLayer):
            yield from all_layers(layer.get_children())


def describe(image, layer, folder, export):
    _ok, x, y = layer.get_offsets()
    width, height = layer.get_width(), layer.get_height()
    buffer = layer.get_buffer()
    exact = bytes(
        buffer.get(region(0, 0, width, height), 1.0, "R'G'B'A float", Gegl.AbyssPolicy.NONE)
    )
    info = {
        "id": layer.get_id(),
        "name": layer.get_name(),
        "offset": [x, y],
        "size": [width, height],
        "sha256": hashlib.sha256(exact).hexdigest(),
        "parent": layer.get_parent().get_name() if layer.get_parent() else None,
        "position": image.get_item_position(layer),
        "is_group": layer.is_group(),
        "type": layer.type().value_nick,
    }
    if export and not layer.is_group():
        rgba = bytes(
            buffer.get(region(0, 0, width, height), 1.0, "R'G'B'A u8", Gegl.AbyssPolicy.NONE)
        )
        info["png"] = f"layer-{layer.get_id()}.png"
        with open(os.path.join(folder, info["png"]), "wb") as handle:
            handle.write(encode_png(width, height, 4, rgba))
        info["alpha_u16"] = f"layer-{layer.get_id()}-alpha.u16"
        with open(os.path.join(folder, info["alpha_u16"]), "wb") as handle:
            handle.write(
                bytes(buffer.get(region(0, 0, width, height), 1.0, "A u16", Gegl.AbyssPolicy.NONE))
            )
    return info


def snapshot(image, folder, export_ids=()):
    return [
        describe(image, layer, folder, layer.get_id() in export_ids)
        for layer in all_layers(image.get_layers())
    ]


def export_selection(image, folder):
    width, height = image.get_width(), image.get_height()
    buffer = image.get_selection().get_buffer()
    coverage = bytes(buffer.get(region(0, 0, width, height), 1.0, "Y u8", Gegl.AbyssPolicy.NONE))
    with open(os.path.join(folder, "selection.png"), "wb") as handle:
        handle.write(encode_png(width, height, 1, coverage))
    with open(os.path.join(folder, "selection.u16"), "wb") as handle:
        handle.write(
            bytes(buffer.get(region(0, 0, width, height), 1.0, "Y u16", Gegl.AbyssPolicy.NONE))
        )


RUN_MODES = {
    "noninteractive": Gimp.RunMode.NONINTERACTIVE,
    "interactive": Gimp.RunMode.INTERACTIVE,
    "last": Gimp.RunMode.WITH_LAST_VALS,
}
# Waits for the plug-in's dialog on the X display, focuses it (there is no window manager, so it
# sits at 0,0) and runs an xdotool command chain on it ("key Escape" = Cancel, "key alt+o" = OK).
# Prints what it saw, for the checks outside GIMP.
DRIVE_DIALOG = """
for i in $(seq 120); do
  W=$(xdotool search --name '^RePaint Fill$' | head -1); [ -n "$W" ] && break; sleep 0.25
done
[ -n "$W" ] || { echo "DIALOG-NOT-SHOWN"; exit 1; }
echo "DIALOG-SHOWN $(xdotool getwindowname "$W")"
sleep 1
if [ -n "$2" ]; then  # a screenshot of the dialog, through GDK (no X tools in the chroot)
  eval "$(xdotool getwindowgeometry --shell "$W")"
  python3 -c "$SCREENSHOT" "$2" "$X" "$Y" "$WIDTH" "$HEIGHT" && echo "SCREENSHOT $2"
fi
xdotool windowfocus --sync "$W"; xdotool $1
for i in $(seq 60); do xdotool search --name '^RePaint Fill$' >/dev/null || exit 0; sleep 0.25; done
echo "DIALOG-STUCK"; xdotool windowfocus --sync "$W"; xdotool key Escape
"""


SCREENSHOT = """
import sys
import gi
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk
path, x, y, width, height = sys.argv[1], *map(int, sys.argv[2:])
root = Gdk.get_default_root_window()
Gdk.pixbuf_get_from_window(root, x, y, width, height).savev(path, "png", [], [])
"""


def drive_dialog(xdotool_chain, screenshot=""):
    return subprocess.Popen(
        ["sh", "-c", DRIVE_DIALOG, "press", xdotool_chain, screenshot],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "SCREENSHOT": SCREENSHOT},
    )


def call_fill(image, layer, args, run_mode="noninteractive", name="plug-in-repaint-fill"):
    pdb = Gimp.get_pdb()
    procedure = pdb.lookup_procedure(name)
    config = procedure.create_config()
    config.set_property("run-mode", RUN_MODES[run_mode])
    config.set_property("image", image)
    config.set_core_object_array("drawables", [layer])
    for name, value in args.items():
        config.set_property(name, value)
    result = procedure.run(config)
    status = result.index(0)
    return status.value_nick, pdb.get_last_error() if status != Gimp.PDBStatusType.SUCCESS else ""


def stop_started_backend(pid_file):
    """Stop a backend the plug-in started (it runs detached, and must not outlive the test)."""
    if pid_file and os.path.exists(pid_file):
        with open(pid_file) as handle:
            os.kill(int(handle.read().strip()), signal.SIGTERM)


def describe_procedure(folder, name="plug-in-repaint-fill"):
    """What GIMP registered: menu label and path, image types, arguments and their defaults."""
    procedure = Gimp.get_pdb().lookup_procedure(name)
    manifest = {"found": procedure is not None}
    if procedure is not None:
        manifest.update(
            label=procedure.get_menu_label(),
            menu_paths=list(procedure.get_menu_paths()),
            image_types=procedure.get_image_types(),
            arguments={
                spec.name: repr(spec.get_default_value()) for spec in procedure.get_arguments()
            },
        )
    with open(os.path.join(folder, "manifest.json"), "w") as handle:
        json.dump(manifest, handle, indent=1)


def time_decoders(folder):
    """The result in <work>/result.png (pixels in result.rgba) through the plug-in's decoder
    (GIMP's PNG loader) and the stdlib one, and the whole host side of a result: decode, the
    core's layer values, a new GIMP layer with them."""
    import struct
    import time

    import gimp_png
    from repaint_fill_core.fill import JobUpload, result_layer
    from repaint_fill_core.geometry import CanvasRect
    from repaint_fill_core.png import decode_png

    with open(os.path.join(WORK, "result.png"), "rb") as handle:
        png = handle.read()
    with open(os.path.join(WORK, "result.rgba"), "rb") as handle:
        rgba = handle.read()
    width, height = struct.unpack(">II", png[16:24])
    seconds = {}
    started = time.perf_counter()
    decoded = gimp_png.decode_png_gimp(png)
    seconds["gimp"] = time.perf_counter() - started
    started = time.perf_counter()
    reference = decode_png(png)
    seconds["stdlib"] = time.perf_counter() - started
    upload = JobUpload(CanvasRect(0, 0, width, height), b"", b"", rgba[3::4], {})  # alpha kept
    fills = {}
    for name, payload, decode in (
        ("result_to_layer", png, gimp_png.decode_png_gimp),  # a remote backend's PNG
        ("raw_to_layer", (width, height, 4, rgba), lambda pixels: pixels),  # loopback, raw
    ):
        image = Gimp.Image.new(width, height, Gimp.ImageBaseType.RGB)
        started = time.perf_counter()
        fill = result_layer(upload, payload, 1, decode)
        layer = Gimp.Layer.new(
            image,
            fill.name,
            width,
            height,
            Gimp.ImageType.RGBA_IMAGE,
            100.0,
            Gimp.LayerMode.NORMAL,
        )
        buffer = layer.get_buffer()
        buffer.set(Gegl.Rectangle.new(0, 0, width, height), "R'G'B'A u8", fill.rgba)
        buffer.flush()
        image.insert_layer(layer, None, 0)
        seconds[name] = time.perf_counter() - started
        fills[name] = fill.rgba
        image.delete()
    manifest = {
        "exact": decoded == reference == (width, height, 4, rgba)
        and fills["result_to_layer"] == fills["raw_to_layer"] == rgba,
        "seconds": seconds,
    }
    with open(os.path.join(folder, "manifest.json"), "w") as handle:
        json.dump(manifest, handle, indent=1)


def run_case(case, home, installed_config):
    folder = os.path.join(WORK, "out", case["name"])
    os.makedirs(folder, exist_ok=True)
    if case.get("kind") == "registration":
        describe_procedure(folder, case.get("procedure", "plug-in-repaint-fill"))
        return
    if case.get("kind") == "decoder":
        time_decoders(folder)
        return
    config_folder = os.path.join(home, ".config", "repaint-fill")
    os.makedirs(config_folder, exist_ok=True)
    config_text = (
        installed_config if case["plugin_json"] is None else json.dumps(case["plugin_json"])
    )
    with open(os.path.join(config_folder, "plugin.json"), "w") as handle:
        handle.write(config_text)
    image, layer = make_image(case)
    manifest = {
        "canvas": [image.get_width(), image.get_height()],
        "base_type": image.get_base_type().value_nick,
        "precision": image.get_precision().value_nick,
        "plugin_json": json.loads(config_text),
    }
    export_selection(image, folder)
    manifest["before"] = snapshot(image, folder)
    print("CASE-START {}".format(case["name"]), file=sys.stderr, flush=True)
    presser = None
    if case.get("dialog_input"):
        shot = os.path.join(folder, "dialog.png") if case.get("screenshot") else ""
        presser = drive_dialog(case["dialog_input"], shot)
    manifest["status"], manifest["error"] = call_fill(
        image,
        layer,
        case.get("args", {}),
        case.get("run_mode", "noninteractive"),
        case.get("procedure", "plug-in-repaint-fill"),
    )
    manifest["canvas_after"] = [image.get_width(), image.get_height()]
    if presser is not None:
        manifest["dialog"] = presser.communicate(timeout=60)[0]
    before_ids = {info["id"] for info in manifest["before"]}
    new_ids = [
        item.get_id() for item in all_layers(image.get_layers()) if item.get_id() not in before_ids
    ]
    manifest["after"] = snapshot(image, folder, export_ids=new_ids)
    manifest["base_type_after"] = image.get_base_type().value_nick
    manifest["precision_after"] = image.get_precision().value_nick
    image.delete()
    stop_started_backend(case.get("kill_pid_file"))
    with open(os.path.join(folder, "manifest.json"), "w") as handle:
        json.dump(manifest, handle, indent=1)
    print("CASE-END {} {}".format(case["name"], manifest["status"]), file=sys.stderr, flush=True)


def run_all():
    with open(os.path.join(WORK, "cases.json")) as handle:
        cases = json.load(handle)
    home = os.environ["HOME"]
    with open(os.path.join(home, ".config", "repaint-fill", "plugin.json")) as handle:
        installed_config = handle.read()  # as the installer wrote it
    for case in cases:
        try:
            run_case(case, home, installed_config)
        except Exception:  # noqa: BLE001 - record the failure and go on with the next case
            folder = os.path.join(WORK, "out", case["name"])
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "crash.txt"), "w") as handle:
                handle.write(traceback.format_exc())


run_all()
