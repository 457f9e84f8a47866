"""Stage `evaluate`: every stage's metrics into metrics/evaluate.json and reports/."""

import time

from modelrobustness.data import load_class_names, load_split
from modelrobustness.device import resolve_device
from modelrobustness.files import atomic_write_json
from modelrobustness.lipschitz import lipschitz_estimates
from modelrobustness.models import load_model
from modelrobustness.params import load_params
from modelrobustness.report_writer import write_report
from modelrobustness.summary import ATTACKED_MODELS, build_summary, read_stage_metrics


def main() -> None:
    params = load_params()
    device = resolve_device(params.get("device", "auto"))
    start = time.perf_counter()
    x, y = load_split("data/prepared", "test")
    lipschitz = {m: lipschitz_estimates(load_model(f"models/{m}.pt", device=device),
                                        x.to(device), y.to(device))
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
