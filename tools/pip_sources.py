"""Print, as uv options, where pip is configured to find packages, so that `make install`
installs with uv from exactly the places pip would use.

pip reads its own configuration files and ``PIP_*`` variables; uv reads neither. On a
machine whose pip finds torch's CUDA build in a local index or wheel folder, uv without
these options would download the same 4 GB from PyPI instead. Read with
``pip config list`` (pip's documented command); printed, one shell word per option:

- ``index-url`` -> ``--index-url``, ``extra-index-url`` -> ``--extra-index-url``,
  ``find-links`` -> ``--find-links`` (each space-separated value is one more option),
- ``constraint`` -> ``--constraint`` (a cap the machine sets on pip, kept for uv),
- always ``--index-strategy unsafe-best-match``: the newest version from any index, as pip
  chooses (uv's default takes the first index that has the package at all).

    python tools/pip_sources.py            # the options for this venv's pip
"""

from __future__ import annotations

import ast
import shlex
import subprocess
import sys

# pip's option -> uv's
OPTIONS = {
    "index-url": "--index-url",
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
    "constraint": "--constraint",
}


def uv_options(config_list: str) -> list[str]:
    """``pip config list`` output (``scope.key='value'`` lines) -> uv's options, each value
    once, in the order pip lists them."""
    options: list[str] = []
    seen: set[tuple[str, str]] = set()
    for line in config_list.splitlines():
        name, sep, quoted = line.partition("=")
        key = name.rpartition(".")[2]
        if not sep or key not in OPTIONS:
            continue
        value = ast.literal_eval(quoted) if quoted[:1] in "'\"" else quoted
        for item in value.split():
            if (key, item) not in seen:
                seen.add((key, item))
                options += [OPTIONS[key], item]
    return [*options, "--index-strategy", "unsafe-best-match"]


def main() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    print(shlex.join(uv_options(listed)))


if __name__ == "__main__":
    main()
