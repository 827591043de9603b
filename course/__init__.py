"""Generative Images from Scratch: the helper package the lessons build and then import."""

__version__ = "0.2.0"
