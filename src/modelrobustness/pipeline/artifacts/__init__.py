"""A reader next to each writer of the artifacts stages pass to each other: ``metrics``
(the stage metrics files), ``models`` (checkpoints by role), ``adversarial`` (the attack
stages' adversarial sets, curves and example grids). One module per kind, so a stage
imports only the kinds it touches."""
