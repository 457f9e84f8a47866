"""Build ``templates/plots_offline.html``: DVC's plots page with vega inlined.

`dvc plots show` / `dvc plots diff` write a page whose <script> tags load vega, vega-lite
and vega-embed from a CDN, so offline it is blank. This script fetches the same versions
DVC's renderer asks for from the npm registry (`npm pack`, which checks each tarball's
integrity), and writes a template (set as `plots.html_template` in `.dvc/config`) with the
three minified builds inlined. The template has no `{scripts}` placeholder, so DVC's CDN
tags are never inserted. Run it again only to change versions:

    python tools/build_plots_template.py
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path

# The versions dvc_render (vega.py) loads from its CDN: its specs are written for them.
PACKAGES = {
    "vega": ("5.20.2", "package/build/vega.min.js"),
    "vega-lite": ("5.2.0", "package/build/vega-lite.min.js"),
    "vega-embed": ("6.18.2", "package/build/vega-embed.min.js"),
}
ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "templates" / "plots_offline.html"
LICENSES = ROOT / "templates" / "LICENSES"

PAGE = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {{refresh_tag}}
    <title>DVC Plot (offline)</title>
<!-- {provenance} -->
{scripts}
    <style>
        table {{
            border-spacing: 15px;
        }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def _member(tarball: Path, name: str) -> bytes:
    """One named regular file from an npm tarball (nothing is extracted to disk)."""
    with tarfile.open(tarball, "r:gz") as archive:
        info = archive.getmember(name)
        if not info.isfile():
            raise ValueError(f"{tarball.name}: {name} is not a regular file")
        handle = archive.extractfile(info)
        assert handle is not None
        return handle.read()


def _inline(js: bytes, package: str) -> str:
    text = js.decode("utf-8")
    text = re.sub(r"\n?//# sourceMappingURL=\S+\s*$", "\n", text)
    if "</script" in text.lower():
        raise ValueError(f"{package}: the build contains '</script' and cannot be inlined")
    for placeholder in ("{scripts}", "{plot_divs}", "{refresh_tag}"):
        if placeholder in text:
            raise ValueError(f"{package}: the build contains DVC's placeholder {placeholder}")
    return f'<script type="text/javascript">\n{text}</script>'


def build(workdir: Path) -> str:
    scripts, provenance = [], []
    for package, (version, member) in PACKAGES.items():
        spec = f"{package}@{version}"
        out = subprocess.run(
            ["npm", "pack", spec, "--pack-destination", str(workdir)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        tarball = workdir / out.strip().splitlines()[-1]
        js = _member(tarball, member)
        (LICENSES / f"{package}.LICENSE").write_bytes(_member(tarball, "package/LICENSE"))
        provenance.append(
            f"{spec} {member.removeprefix('package/')} sha256 {hashlib.sha256(js).hexdigest()}"
        )
        scripts.append(_inline(js, package))
    return PAGE.format(provenance="; ".join(provenance), scripts="\n".join(scripts))


def main() -> None:
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    LICENSES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        page = build(Path(tmp))
    TEMPLATE.write_text(page, encoding="utf-8")
    print(f"wrote {TEMPLATE.relative_to(ROOT)} ({len(page.encode()) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
