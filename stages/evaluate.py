"""Stage `evaluate`: every stage's metrics into metrics/evaluate.json and reports/."""

import time

from modelrobustness.data import load_class_names, load_split
from modelrobustness.files import atomic_write_json
from modelrobustness.lipschitz import lipschitz_estimates
from modelrobustness.models import load_model
from modelrobustness.report_writer import write_report
from modelrobustness.summary import ATTACKED_MODELS, build_summary, read_stage_metrics


def main() -> None:
    start = time.perf_counter()
    x, y = load_split("data/prepared", "test")
    # on the CPU whatever `device` says: cheap, and CUDA's backward is not deterministic
    lipschitz = {m: lipschitz_estimates(load_model(f"models/{m}.pt"), x, y)
                 for m in ATTACKED_MODELS}
    summary = build_summary(read_stage_metrics("metrics"), lipschitz)
    write_report(summary, plots_dir="plots", out_dir="reports",
                 class_names=load_class_names("data/prepared"))
    atomic_write_json("metrics/evaluate.json",
                      {**summary, "seconds": round(time.perf_counter() - start, 3)})
    print("evaluate: wrote metrics/evaluate.json and reports/robustness.md; Lipschitz "
          + ", ".join(f"{m} bound {v['lipschitz_upper_bound']:.3g} local "
                      f"{v['local_lipschitz']:.3g}" for m, v in lipschitz.items()))


if __name__ == "__main__":
    main()
