"""Evaluation protocols: run attacks and defenses on models and score them. Import the
modules themselves (``harness``, ``pgd``, ``ddn``, ``detection``, ``checks``,
``lipschitz``); this package re-exports nothing, so a stage imports only what it uses."""
