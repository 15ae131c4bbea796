"""RePaint Fill for Krita: fill the selection with RePaint diffusion inpainting, as a new layer."""

try:
    from krita import Krita
except ImportError:  # imported outside Krita (tests, tools): only the Qt and core modules are used
    Krita = None

if Krita is not None:
    from .extension import RepaintFillExtension

    Krita.instance().addExtension(RepaintFillExtension(Krita.instance()))
