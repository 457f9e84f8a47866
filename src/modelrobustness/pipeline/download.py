"""Stage ``download``: fetch the configured data source into ``data/raw/<class>/``."""

from __future__ import annotations

from ..data.download import download, write_skipped_csv
from ..data.images import DEFAULT_MAX_PIXELS
from ..data.sources.tally import DownloadError
from ..utils.checks import InvalidValue, check_int
from .artifacts.metrics import write_metrics
from .params import checked, get, load_params, params_error
from .paths import ProjectPaths


def main() -> None:
    params, paths = load_params(), ProjectPaths()
    source, path = get(params, "data.source"), get(params, "data.path")
    classes = get(params, "data.classes")
    try:
        report, class_names = download(
            source, paths.raw, path=path, classes=classes,
            max_pixels=checked(params, "data.max_pixels", check_int, allow_none=True)
            or DEFAULT_MAX_PIXELS)  # null: Pillow's own limit
    except InvalidValue as exc:  # the library names its argument: name the key
        raise params_error(f"data.{exc.name}", exc) from None
    except DownloadError as exc:  # the library speaks of its arguments: name the keys
        raise DownloadError(f"{exc} (params.yaml: data.source {source!r}, data.path "
                            f"{path!r}, data.classes {classes!r})") from None
    write_skipped_csv(report, paths.download_skipped)
    metrics = report.metrics(class_names)
    write_metrics(paths, "download", metrics)
    print(f"download: {metrics['images']} images in {metrics['classes']} classes, "
          f"{metrics['skipped']} skipped {metrics['skipped_by_reason']}")
