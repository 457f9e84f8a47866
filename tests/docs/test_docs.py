"""The generated parts of the docs are current, and the rerun table follows dvc.yaml's
graph."""

from __future__ import annotations

from pathlib import Path

import yaml

from params_docs import PAGE, downstream, expanded_stages, key_comments, readers, render

ROOT = Path(__file__).resolve().parents[2]


def test_parameters_page_is_generated_from_params_schema_and_dvc_yaml():
    page = PAGE.read_text(encoding="utf-8")
    assert render(page) == page, "docs/parameters.md is stale: python tools/params_docs.py --write"


def test_every_key_has_a_meaning_in_params_yaml():
    text = (ROOT / "params.yaml").read_text(encoding="utf-8")
    comments = key_comments(text)
    from params_docs import leaves

    missing = [key for key in leaves(yaml.safe_load(text)) if key not in comments]
    assert not missing, f"params.yaml keys without a comment: {missing}"


def test_rerun_sets_follow_the_outputs():
    stages = expanded_stages(yaml.safe_load((ROOT / "dvc.yaml").read_text()))
    models = ("baseline", "student", "adversarial")
    # AutoAttack's budget and adversarial training's default to PGD's: they read the key too
    assert readers(stages, "attack.pgd.eps") == {
        *(f"attack@{m}" for m in models),
        "squeeze_detect",
        "train_adversarial",
    }
    assert readers(stages, "attack.pgd.steps") == {
        *(f"attack@{m}" for m in models),
        "squeeze_detect",
    }
    assert readers(stages, "train.augment.flip") == {
        "train_baseline",
        "train_teacher",
        "train_student",
        "train_adversarial",
    }
    # the student's branch only: the baseline's attacks and the detector stay
    assert downstream(stages, readers(stages, "distill.temperature")) == {
        "train_teacher",
        "train_student",
        "attack@student",
        "evaluate",
    }
    assert downstream(stages, readers(stages, "adversarial.method")) == {
        "train_adversarial",
        "attack@adversarial",
        "evaluate",
    }
    assert downstream(stages, {"download"}) == set(stages)
    assert downstream(stages, {"evaluate"}) == {"evaluate"}
