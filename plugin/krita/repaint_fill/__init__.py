"""RePaint Fill for Krita: fill the selection with RePaint diffusion inpainting, as a new layer."""

from krita import Krita

from .extension import RepaintFillExtension

Krita.instance().addExtension(RepaintFillExtension(Krita.instance()))
