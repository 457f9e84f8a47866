"""The lowest layer: stdlib, numpy and torch only; no params keys, no domain knowledge."""
