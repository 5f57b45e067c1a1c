"""A tiny inference API: `predict` scores features with a fixed model, `server` serves it."""

from .model import predict

__all__ = ["predict"]
