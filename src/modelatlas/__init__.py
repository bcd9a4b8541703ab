"""modelatlas: independent analysis of AI models and the endpoints that serve them."""

__version__ = "0.1.0"
