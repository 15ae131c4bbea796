"""Krita side of an expand: grow the canvas and add the border layer (UI thread only).

Krita 5's scripting API cannot group commands, so an expansion is two commands on Krita's undo
stack (Resize Canvas, then the new layer). ``UndoLinks`` makes Edit > Undo and Edit > Redo
(menu, toolbar, shortcuts: they all trigger the same actions) step over both at once.
"""

from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from krita import Krita

from . import krita_io
from .repaint_fill_core.expand import ExpandPlan, expand_layer
from .repaint_fill_core.fill import FillLayer


class Expansion(NamedTuple):
    """One applied expansion: the document, its new layer and the grown canvas size."""

    document_id: str
    node_id: Any  # QUuid of the new layer
    grown: Tuple[int, int]


def _document_id(document: Any) -> str:
    return str(document.rootNode().uniqueId().toString())


def _node_ids(node: Any) -> Dict[str, Any]:
    """Every node below ``node`` by its unique id (as text)."""
    found = {}
    for child in node.childNodes():
        found[str(child.uniqueId().toString())] = child.uniqueId()
        found.update(_node_ids(child))
    return found


class UndoLinks:
    """After Edit > Undo removes an expansion's layer, undo its canvas resize too; after Edit >
    Redo brings the resize back, redo the layer too."""

    def __init__(self) -> None:
        self.applied: Dict[str, Expansion] = {}  # by node id: expansions currently in the image
        self.undone: Dict[str, Expansion] = {}  # expansions that undo took out as one step
        self._connected: List[Any] = []
        self._busy = False

    def watch(self, expansion: Expansion) -> None:
        """Link the two commands of ``expansion`` (just applied)."""
        self._connect()
        self.applied[str(expansion.node_id.toString())] = expansion

    def _connect(self) -> None:
        app = Krita.instance()
        for name, slot in (("edit_undo", self.after_undo), ("edit_redo", self.after_redo)):
            action = app.action(name)
            if action is not None and not any(action is seen for seen in self._connected):
                action.triggered.connect(slot)
                self._connected.append(action)

    def _matches(self, expansion: Expansion) -> Optional[Any]:
        """The active document when it shows ``expansion``'s grown canvas without its layer."""
        document = Krita.instance().activeDocument()
        if document is None or _document_id(document) != expansion.document_id:
            return None
        document.waitForDone()
        if (document.width(), document.height()) != expansion.grown:
            return None
        return document if document.nodeByUniqueID(expansion.node_id) is None else None

    def _step(self, action_name: str, source: Dict[str, Expansion], target: Dict[str, Expansion]):
        if self._busy:
            return
        for key, expansion in list(source.items()):
            document = self._matches(expansion)
            if document is None:
                continue
            self._busy = True
            try:
                Krita.instance().action(action_name).trigger()
                document.waitForDone()
            finally:
                self._busy = False
            target[key] = source.pop(key)
            return

    def after_undo(self, *_checked: Any) -> None:
        """The layer just went: take the canvas resize back as well."""
        self._step("edit_undo", self.applied, self.undone)

    def after_redo(self, *_checked: Any) -> None:
        """The canvas just grew again: bring the layer back as well."""
        self._step("edit_redo", self.undone, self.applied)


def grow_and_insert(
    document: Any, active: Any, layers: List[FillLayer], plan: ExpandPlan, links: UndoLinks
) -> List[str]:
    """Resize the canvas (layers keep their pixels and move by left/top), then add the border
    layer above ``active``. If adding the layer fails, the old canvas size comes back."""
    old_width, old_height = document.width(), document.height()
    left, top = plan.sides.left, plan.sides.top
    document.resizeImage(-left, -top, plan.canvas.width, plan.canvas.height)
    document.waitForDone()
    before = _node_ids(document.rootNode())
    try:
        names = krita_io.insert_layers(document, active, [expand_layer(layers[0])])
    except Exception:
        document.resizeImage(left, top, old_width, old_height)
        document.waitForDone()
        raise
    grown = (document.width(), document.height())
    for key, node_id in _node_ids(document.rootNode()).items():
        if key not in before:
            links.watch(Expansion(_document_id(document), node_id, grown))
    return names
