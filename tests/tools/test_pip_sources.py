"""tools/pip_sources.py: uv is told exactly where pip is configured to find packages."""

from __future__ import annotations

from pip_sources import uv_options

LISTED = """\
:env:.default-timeout='180'
:env:.find-links='/opt/wheels'
global.cert='/etc/ssl/certs/ca-certificates.crt'
global.constraint='/etc/xdg/pip/constraints.txt'
global.extra-index-url='file:///opt/pypi/simple file:///opt/pypi-more/simple'
global.find-links='/opt/wheels'
user.index-url='https://mirror.example/simple'
"""


def test_every_source_and_the_cap_become_uv_options_once() -> None:
    assert uv_options(LISTED) == [
        "--find-links",
        "/opt/wheels",
        "--constraint",
        "/etc/xdg/pip/constraints.txt",
        "--extra-index-url",
        "file:///opt/pypi/simple",
        "--extra-index-url",
        "file:///opt/pypi-more/simple",
        "--index-url",
        "https://mirror.example/simple",
        "--index-strategy",
        "unsafe-best-match",
    ]


def test_no_configuration_leaves_pypi_with_pips_version_choice() -> None:
    assert uv_options("") == ["--index-strategy", "unsafe-best-match"]
    assert uv_options("global.timeout='60'\nnot a setting\n") == [
        "--index-strategy",
        "unsafe-best-match",
    ]
