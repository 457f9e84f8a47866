"""ModelRobustness: train an image classifier and measure its adversarial robustness.

The library is usable without DVC. By layer, each importing only the layers below it:
``utils``; ``data``, ``models``, ``attacks``, ``defenses``; ``evaluation``, ``training``,
``reporting``; ``pipeline`` (the DVC stages: the only package that knows ``params.yaml``);
``cli`` (the command line).
"""

__version__ = "0.1.0"
