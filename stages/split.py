"""Stage `split`: de-duplicate, split stratified and resize into data/prepared/."""

from modelrobustness.data import SplitConfig, prepare_split
from modelrobustness.files import atomic_write_json
from modelrobustness.params import load_params


def main() -> None:
    params = load_params()
    data, split = params["data"], params["split"]
    config = SplitConfig(
        val_fraction=split["val_fraction"], test_fraction=split["test_fraction"],
        max_per_class=split.get("max_per_class"), image_size=int(data["image_size"]),
        color=data["color"], aspect=data.get("aspect", "crop"), seed=int(params["seed"]),
    )
    metrics = prepare_split("data/raw", "data/prepared", config)
    atomic_write_json("metrics/split.json", metrics)
    print(f"split: train {metrics['train']}, val {metrics['val']}, test {metrics['test']}, "
          f"{metrics['duplicates_removed']} duplicates removed")


if __name__ == "__main__":
    main()
