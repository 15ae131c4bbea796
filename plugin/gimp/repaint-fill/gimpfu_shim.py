"""A small gimpfu-style layer of our own over the GIMP 3 GObject API (GIMP 3.0 and later).

Plug-ins declare their procedure the classic gimpfu way and write a plain function::

    register("plug-in-foo", "blurb", "help", "author", "copyright", "2026", "Foo...",
             "RGB*, GRAY*", [(PF_INT, "size", "Size", 3, (1, 10))], [], foo,
             menu="<Image>/Filters/Misc")
    main()

``foo(image, drawables, size)`` gets the image, the selected drawables and the argument values in
declaration order. Interactive runs show GIMP's procedure dialog (GIMP remembers the last values);
non-interactive runs use the given arguments. Raising ``PluginError`` (or any exception) returns
an execution error with its message. ``progress_*`` drive GIMP's progress bar.

This is not GIMP 2.10's gimpfu (Python 2 only) and not a dependency: it is a few dozen lines
that keep plug-in bodies readable. Differences from gimpfu: the function receives the list of
selected drawables (GIMP 3 allows several), and PF_CHOICE passes the chosen name, not an index.
"""

import sys
import traceback
from typing import Any, Callable, List, NamedTuple, Optional, Sequence, Tuple

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, GLib, GObject  # noqa: E402

PF_INT = "int"
PF_SPINNER = "int"  # gimpfu spelling; GIMP 3 shows every int as a spin scale
PF_FLOAT = "float"
PF_BOOL = "bool"
PF_TOGGLE = "bool"
PF_STRING = "string"
PF_CHOICE = "choice"  # extra: [(name, label), ...]; the function gets the chosen name

INT_LIMIT = 2**31 - 1


class PluginError(Exception):
    """An error to show to the user; the procedure returns EXECUTION_ERROR with this message."""


class Param(NamedTuple):
    """One gimpfu-style argument declaration: (type, name, label, default, extra)."""

    kind: str
    name: str
    label: str
    default: Any
    extra: Any = None


class Declaration(NamedTuple):
    """Everything ``register`` was told about the procedure."""

    proc_name: str
    blurb: str
    help_text: str
    author: str
    copyright: str
    date: str
    label: str
    image_types: str
    params: Tuple[Param, ...]
    function: Callable[..., None]
    menu: Optional[str]


_declarations = []  # type: List[Declaration]


def register(
    proc_name: str,
    blurb: str,
    help_text: str,
    author: str,
    copyright: str,  # noqa: A002 - gimpfu's parameter name
    date: str,
    label: str,
    image_types: str,
    params: Sequence[tuple],
    results: Sequence[tuple],
    function: Callable[..., None],
    menu: Optional[str] = None,
) -> None:
    """Declare an image procedure, gimpfu style (results are not supported: pass [])."""
    if results:
        raise ValueError("gimpfu_shim: return values are not supported")
    declared = tuple(Param(*param) for param in params)
    _declarations.append(
        Declaration(
            proc_name,
            blurb,
            help_text,
            author,
            copyright,
            date,
            label,
            image_types,
            declared,
            function,
            menu,
        )
    )


def _add_argument(procedure: Gimp.Procedure, param: Param) -> None:
    # The label is the dialog's text (with an "_" mnemonic); the blurb is it without the "_".
    flags = GObject.ParamFlags.READWRITE
    text = (param.name, param.label, param.label.replace("_", ""))
    if param.kind == PF_INT:
        low, high = param.extra or (-INT_LIMIT, INT_LIMIT)
        procedure.add_int_argument(*text, low, high, param.default, flags)
    elif param.kind == PF_FLOAT:
        low, high = param.extra or (-1e12, 1e12)
        procedure.add_double_argument(*text, low, high, param.default, flags)
    elif param.kind == PF_BOOL:
        procedure.add_boolean_argument(*text, param.default, flags)
    elif param.kind == PF_STRING:
        procedure.add_string_argument(*text, param.default, flags)
    elif param.kind == PF_CHOICE:
        choice = Gimp.Choice.new()
        for index, (name, label) in enumerate(param.extra):
            choice.add(name, index, label, "")
        procedure.add_choice_argument(*text, choice, param.default, flags)
    else:
        raise ValueError("gimpfu_shim: unknown parameter type {!r}".format(param.kind))


def _argument_values(declaration: Declaration, config: Gimp.ProcedureConfig) -> List[Any]:
    values = []
    for param in declaration.params:
        value = config.get_property(param.name)
        if param.kind == PF_STRING and value is None:
            value = ""  # GIMP hands an empty string back as None
        values.append(value)
    return values


def _error_values(procedure: Gimp.Procedure, message: str):
    error = GLib.Error.new_literal(Gimp.PlugIn.error_quark(), message, 0)
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, error)


def _show_dialog(declaration: Declaration, procedure: Gimp.Procedure, config) -> bool:
    gi.require_version("GimpUi", "3.0")
    from gi.repository import GimpUi

    GimpUi.init(declaration.proc_name)
    dialog = GimpUi.ProcedureDialog.new(procedure, config, declaration.label.rstrip("."))
    dialog.fill(None)
    accepted = dialog.run()
    dialog.destroy()
    return bool(accepted)


def _make_runner(declaration: Declaration) -> Callable[..., Any]:
    def run(procedure, run_mode, image, drawables, config, _data):
        interactive = run_mode == Gimp.RunMode.INTERACTIVE and declaration.params
        if interactive and not _show_dialog(declaration, procedure, config):
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, None)
        try:
            declaration.function(
                image, list(drawables or []), *_argument_values(declaration, config)
            )
        except PluginError as exc:
            return _error_values(procedure, str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug must still end as a PDB error, not a hang
            traceback.print_exc(file=sys.stderr)
            return _error_values(
                procedure, "{}: internal error: {}".format(declaration.label.rstrip("."), exc)
            )
        finally:
            progress_end()
        return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, None)

    return run


def _create_procedure(plugin: Gimp.PlugIn, declaration: Declaration) -> Gimp.Procedure:
    procedure = Gimp.ImageProcedure.new(
        plugin, declaration.proc_name, Gimp.PDBProcType.PLUGIN, _make_runner(declaration), None
    )
    procedure.set_image_types(declaration.image_types)
    procedure.set_sensitivity_mask(
        Gimp.ProcedureSensitivityMask.DRAWABLE | Gimp.ProcedureSensitivityMask.DRAWABLES
    )
    procedure.set_menu_label(declaration.label)
    if declaration.menu:
        procedure.add_menu_path(declaration.menu)
    procedure.set_documentation(declaration.blurb, declaration.help_text, declaration.proc_name)
    procedure.set_attribution(declaration.author, declaration.copyright, declaration.date)
    for param in declaration.params:
        _add_argument(procedure, param)
    return procedure


def main() -> None:
    """Run the plug-in: hand the registered procedures to GIMP (call once, at the end)."""
    declarations = {declaration.proc_name: declaration for declaration in _declarations}

    class ShimPlugIn(Gimp.PlugIn):
        def do_query_procedures(self):
            return list(declarations)

        def do_set_i18n(self, _name):
            return False

        def do_create_procedure(self, name):
            return _create_procedure(self, declarations[name])

    Gimp.main(ShimPlugIn.__gtype__, sys.argv)


# --- progress helpers (gimpfu had gimp.progress_init / gimp.progress_update) -----------------


def progress_start(text: str) -> None:
    """Show GIMP's progress bar with ``text``."""
    Gimp.progress_init(text)


def progress_update(fraction: float, text: Optional[str] = None) -> None:
    """Move the progress bar to ``fraction`` (0..1), optionally with a new text."""
    if text is not None:
        Gimp.progress_set_text(text)
    Gimp.progress_update(min(1.0, max(0.0, fraction)))


def progress_pulse(text: Optional[str] = None) -> None:
    """Show activity without a known fraction (e.g. while waiting for a server to start)."""
    if text is not None:
        Gimp.progress_set_text(text)
    Gimp.progress_pulse()


def progress_end() -> None:
    """Hide the progress bar (safe to call when it is not shown)."""
    Gimp.progress_end()
