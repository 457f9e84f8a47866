"""The pipeline: the only package that knows ``params.yaml`` keys, artifact paths, DVC and
DVCLive. One module per stage (``download``, ``split``, ``train``, ``distill``,
``attack_pgd``, ``attack_ddn``, ``detect``, ``evaluate``), each with a ``main``; ``params``
turns the YAML into the library's configs, ``paths`` names every artifact, ``artifacts``
reads and writes them. This package re-exports nothing, so a stage imports only its own."""
