"""Data: sources, safe decoding, the split and the prepared format. Import the modules
themselves (``data.download``, ``data.split``, ``data.images``); this package only re-exports
the reader of the prepared splits, so importing it does not import every source."""

from .prepared import load_class_names, load_split

__all__ = ["load_class_names", "load_split"]
