"""RePaint Fill backend: the RePaint sampler, model loading, imaging, HTTP server and CLI."""

__version__ = "0.1.0"
