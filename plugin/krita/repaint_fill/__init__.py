"""RePaint Fill for Krita: fill the selection with RePaint diffusion inpainting, as a new layer."""

try:
    from krita import DockWidgetFactory, DockWidgetFactoryBase, Krita
except ImportError:  # imported outside Krita (tests, tools): only the Qt and core modules are used
    Krita = None

if Krita is not None:
    from .docker import DOCKER_ID, RepaintFillDocker
    from .extension import RepaintFillExtension

    Krita.instance().addExtension(RepaintFillExtension(Krita.instance()))
    Krita.instance().addDockWidgetFactory(
        DockWidgetFactory(DOCKER_ID, DockWidgetFactoryBase.DockRight, RepaintFillDocker)
    )
