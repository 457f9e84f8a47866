"""The pipeline: the only package that knows ``params.yaml`` keys, artifact paths, DVC and
DVCLive. One module per stage (``download``, ``split``, ``train``, ``distill`` for
``train_teacher`` and ``train_student``, ``attack`` for ``attack@<model>`` with one module
per attack (``attack_pgd``, ``attack_autoattack``, ``attack_ddn``), ``detect`` for
``squeeze_detect``, ``evaluate``), whose entry points the ``stages/`` scripts call; ``params``
turns the YAML into the library's configs, ``paths`` names every artifact, ``artifacts``
reads and writes them. This package re-exports nothing, so a stage imports only its own."""
