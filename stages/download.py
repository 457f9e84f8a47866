"""Stage `download`: fetch the configured data source into data/raw/<class>/."""

from modelrobustness.data import download, write_skipped_csv
from modelrobustness.data.images import DEFAULT_MAX_PIXELS
from modelrobustness.files import atomic_write_json
from modelrobustness.params import load_params


def main() -> None:
    data = load_params()["data"]
    report, class_names = download(
        data["source"], "data/raw", path=data.get("path"), classes=data.get("classes"),
        max_pixels=int(data.get("max_pixels") or DEFAULT_MAX_PIXELS),
    )
    write_skipped_csv(report, "metrics/download_skipped.csv")
    metrics = report.metrics(class_names)
    atomic_write_json("metrics/download.json", metrics)
    print(f"download: {metrics['images']} images in {metrics['classes']} classes, "
          f"{metrics['skipped']} skipped {metrics['skipped_by_reason']}")


if __name__ == "__main__":
    main()
