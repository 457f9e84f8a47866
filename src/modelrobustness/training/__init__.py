"""Training: the one fit loop (``fit``), augmentation (``augment``) and building, fitting
and scoring one classifier on the prepared splits (``train_classifier``)."""
