"""ModelRobustness: train an Animals-10 classifier and measure its adversarial robustness.

The library is usable without DVC: ``data`` reads and prepares images, ``models`` builds and
loads classifiers, ``training`` fits them, ``evaluation`` scores them.
"""

__version__ = "0.1.0"
