"""Krita side of a fill: read the selection and pixels, write result layers (UI thread only).

Pixels leave and enter Krita as 8-bit sRGB RGBA. 8-bit RGBA documents are used directly (Krita
keeps them as B,G,R,A in memory); other depths and colour models (16-bit and float documents,
whose default profile is linear; gray, CMYK, Lab) go through a temporary document that Krita
converts, so its colour management does the maths both ways.
"""

from typing import Any, List, Optional, Tuple

from krita import Krita

from .qt_compat import to_bytes, to_qbytearray
from .repaint_fill_core.errors import UnsupportedImage
from .repaint_fill_core.fill import FillLayer, group_name
from .repaint_fill_core.geometry import CanvasRect

SRGB_8BIT = ("RGBA", "U8", "sRGB-elle-V2-srgbtrc.icc")
CONVERTIBLE_MODELS = ("RGBA", "GRAYA", "CMYKA", "LABA", "XYZA", "YCbCrA")
MASK_TYPES = ("selectionmask", "transparencymask", "filtermask", "transformmask", "colorizemask")
ColourSpace = Tuple[str, str, str]


def swap_red_blue(pixels: bytes) -> bytes:
    """B,G,R,A <-> R,G,B,A (the same swap both ways)."""
    swapped = bytearray(pixels)
    swapped[0::4] = pixels[2::4]
    swapped[2::4] = pixels[0::4]
    return bytes(swapped)


def colour_space(document: Any) -> ColourSpace:
    """(model, depth, profile) of a document."""
    return (document.colorModel(), document.colorDepth(), document.colorProfile())


def needs_conversion(document: Any) -> bool:
    """False for 8-bit RGBA documents, whose pixels are sent as they are."""
    model, depth, _profile = colour_space(document)
    if model not in CONVERTIBLE_MODELS:
        raise UnsupportedImage(
            "RePaint Fill cannot work on {} images. Convert the image to RGB/Alpha "
            "(Image > Convert Image Color Space) and try again.".format(model)
        )
    return (model, depth) != ("RGBA", "U8")


def convert_pixels(
    pixels: bytes, width: int, height: int, source: ColourSpace, target: ColourSpace
) -> bytes:
    """Convert raw pixels between colour spaces with Krita (through a temporary document)."""
    app = Krita.instance()
    scratch = app.createDocument(
        width, height, "RePaint Fill conversion", source[0], source[1], source[2], 72.0
    )
    if scratch is None:
        raise UnsupportedImage("Krita could not convert from {} {} ({}).".format(*source))
    try:
        node = scratch.createNode("pixels", "paintlayer")
        scratch.rootNode().addChildNode(node, None)
        node.setPixelData(to_qbytearray(pixels), 0, 0, width, height)
        if not scratch.setColorSpace(target[0], target[1], target[2]):
            raise UnsupportedImage(
                "Krita could not convert {} {} ({}) to {} {} ({}).".format(*(source + target))
            )
        scratch.waitForDone()
        return to_bytes(node.pixelData(0, 0, width, height))
    finally:
        scratch.close()


def canvas_rect(document: Any) -> CanvasRect:
    """The canvas in document coordinates."""
    return CanvasRect(0, 0, document.width(), document.height())


def read_selection(document: Any, feather: int) -> Optional[Any]:
    """A copy of the global selection (feathered by ``feather`` px), or None when empty."""
    selection = document.selection()
    if selection is None or selection.width() <= 0 or selection.height() <= 0:
        return None
    # selection() shares its pixels with the document in 5.1.5: feather a real copy.
    selection = selection.duplicate()
    if feather > 0:
        selection.feather(feather)
    return selection


def selection_bbox(selection: Any) -> CanvasRect:
    """The selection's bounding box."""
    return CanvasRect(selection.x(), selection.y(), selection.width(), selection.height())


def read_coverage(selection: Any, crop: CanvasRect) -> bytes:
    """Selection coverage of the crop, one byte a pixel (0..255)."""
    coverage = to_bytes(selection.pixelData(crop.x, crop.y, crop.width, crop.height))
    if len(coverage) != crop.width * crop.height:
        raise UnsupportedImage("Krita returned an unexpected selection buffer.")
    return coverage


def read_crop_rgba(document: Any, crop: CanvasRect) -> bytes:
    """The visible image inside ``crop`` as 8-bit sRGB R,G,B,A."""
    document.waitForDone()
    pixels = to_bytes(document.pixelData(crop.x, crop.y, crop.width, crop.height))
    if needs_conversion(document):
        pixels = convert_pixels(pixels, crop.width, crop.height, colour_space(document), SRGB_8BIT)
    if len(pixels) != crop.width * crop.height * 4:
        raise UnsupportedImage("Krita returned an unexpected pixel buffer.")
    return swap_red_blue(pixels)


def insertion_point(document: Any, active: Optional[Any]) -> Tuple[Any, Optional[Any]]:
    """(parent, node to insert above) for a new layer above the active layer."""
    node = active
    while node is not None and node.type() in MASK_TYPES:
        node = node.parentNode()  # masks live inside layers: go to their layer
    parent = node.parentNode() if node is not None else None
    if node is None or parent is None:
        root = document.rootNode()
        children = [child for child in root.childNodes() if child.type() not in MASK_TYPES]
        return root, children[-1] if children else None
    return parent, node


def _paint_layer(document: Any, layer: FillLayer, target: Optional[ColourSpace]) -> Any:
    pixels = swap_red_blue(layer.rgba)
    rect = layer.rect
    if target is not None:
        pixels = convert_pixels(pixels, rect.width, rect.height, SRGB_8BIT, target)
    node = document.createNode(layer.name, "paintlayer")
    node.setPixelData(to_qbytearray(pixels), rect.x, rect.y, rect.width, rect.height)
    return node


def insert_layers(document: Any, active: Optional[Any], layers: List[FillLayer]) -> List[str]:
    """Add the result above ``active``: one paint layer, or a group with one layer per variation
    (all but the first hidden). Pixels are set before the node joins the image, so the whole
    insertion is one undo step. Returns the names of the new top-level node(s)."""
    target = colour_space(document) if needs_conversion(document) else None
    nodes = [_paint_layer(document, layer, target) for layer in layers]
    if len(nodes) == 1:
        new_node = nodes[0]
    else:
        new_node = document.createGroupLayer(group_name(len(nodes)))
        for index, node in enumerate(nodes):
            node.setVisible(index == 0)
        # First variation on top: children are given bottom to top.
        new_node.setChildNodes(list(reversed(nodes)))
    parent, above = insertion_point(document, active)
    parent.addChildNode(new_node, above)
    document.refreshProjection()
    return [new_node.name()]
