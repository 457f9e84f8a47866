"""The ``folder`` source: a local Animals-10 ``raw-img`` folder or the Kaggle ``.zip``.

Class folders named in Italian are translated to English; English names are accepted as
they are. Any other folder is an error unless ``classes`` lists the classes to use (generic
image-folder use). Every file is decoded before it is copied; bad files are skipped and
counted by reason, and so are symbolic links in a folder (never followed: one may point
outside the source or in a loop) and files whose path is not valid UTF-8 (no output could
name them). Zip members are read in place, never more than their
declared size (at most ``MAX_FILE_BYTES``), and an archive with a member that would land
outside the target folder is refused whole.
"""

from __future__ import annotations

import functools
import lzma
import os
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from ..images import (
    DEFAULT_MAX_PIXELS,
    MAX_FILE_BYTES,
    ImageRejected,
    decode_image,
    read_limited,
    too_large,
)
from .classes import ANIMALS10_CLASSES, ITALIAN_TO_ENGLISH, english_class_name
from .tally import DownloadError, DownloadReport

# A file of the source: its path relative to the image root and a reader for its bytes.
Entry = tuple[PurePosixPath, Callable[[], bytes]]


def _unsafe_member_reason(info: zipfile.ZipInfo) -> str | None:
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if ".." in path.parts:
        return "parent-directory component"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "symbolic link"
    return None


def check_zip_members(archive: zipfile.ZipFile, source: Path) -> None:
    """Refuse an archive any of whose members would land outside the target folder."""
    for info in archive.infolist():
        reason = _unsafe_member_reason(info)
        if reason is not None:
            raise DownloadError(
                f"{source}: refusing zip member {info.filename!r} ({reason}): it would land "
                "outside the target folder; nothing was extracted"
            )


def _image_root(parts_list: Sequence[tuple[str, ...]]) -> tuple[str, ...]:
    """The folder holding the class folders: the first ``raw-img`` folder, else the top."""
    for parts in sorted(parts_list):
        if "raw-img" in parts[:-1]:
            return parts[: parts.index("raw-img") + 1]
    return ()


# Zip compression methods read: zipfile bounds their output by the declared size as it
# decompresses; it decompresses bzip2 and LZMA input without an output bound, which a
# member lying about its size turns into a memory bomb.
ZIP_METHODS: dict[int, str] = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
# What zipfile raises for a damaged member: bad CRC (also a member longer than it declares),
# bad compressed data, an encrypted member, an unknown compression method.
_ZIP_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    RuntimeError,
    NotImplementedError,
)


# The detail of a file skipped (as not_image) for its name, unread.
NAME_NOT_UTF8 = "the file name is not valid UTF-8"


def _is_utf8(name: str) -> bool:
    """Whether ``name`` encodes as UTF-8: a file name that is not valid UTF-8 reaches Python
    as a str with surrogate escapes (b"caf\\xe9" as "caf\\udce9"), which no UTF-8 output can
    hold."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable_name(name: str) -> str:
    """``name`` as valid UTF-8 text: each byte that is not valid UTF-8 as ``\\xNN``."""
    try:
        raw = os.fsencode(name)
    except UnicodeEncodeError:  # a surrogate that is no escaped byte (not from the OS)
        return name.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def _read_file(path: Path) -> bytes:
    """The bytes of a file of the source folder; a symbolic link is refused unread."""
    if path.is_symlink():
        raise ImageRejected("not_image", "a symbolic link (links are not followed)")
    return read_limited(path, MAX_FILE_BYTES)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The bytes of a zip member, never more than its declared size: a larger declared size
    is refused unread, a member longer than it declares fails its CRC check (corrupt)."""
    if info.file_size > MAX_FILE_BYTES:
        raise too_large(info.file_size, MAX_FILE_BYTES)
    if info.compress_type not in ZIP_METHODS:
        raise ImageRejected(
            "corrupt",
            f"zip compression method {info.compress_type} is not "
            f"read; expected {' or '.join(ZIP_METHODS.values())}",
        )
    try:
        with archive.open(info) as handle:
            return handle.read(info.file_size)
    except _ZIP_READ_ERRORS as exc:
        raise ImageRejected("corrupt", f"unreadable zip member: {exc}") from exc


def _entries_from_dir(root: Path) -> Iterator[Entry]:
    # symbolic links are listed (and refused when read); rglob never descends into one
    for path in sorted(p for p in root.rglob("*") if p.is_symlink() or p.is_file()):
        rel = PurePosixPath(path.relative_to(root).as_posix())
        yield rel, functools.partial(_read_file, path)


def _entries_from_zip(archive: zipfile.ZipFile) -> Iterator[Entry]:
    for info in sorted(archive.infolist(), key=lambda i: i.filename):
        if info.is_dir():
            continue
        yield (
            PurePosixPath(info.filename.replace("\\", "/")),
            functools.partial(_read_member, archive, info),
        )


def resolve_class_map(folders: Sequence[str], classes: Sequence[str] | None) -> dict[str, str]:
    """Map class-folder names to class names, or raise listing the expected names."""
    if classes is not None:
        wanted = {str(c) for c in classes}
        mapping = {}
        for folder in folders:
            if folder in wanted:
                mapping[folder] = folder
            elif english_class_name(folder) in wanted:
                mapping[folder] = english_class_name(folder)
        missing = wanted - set(mapping.values())
        if missing:
            raise DownloadError(
                f"classes lists {sorted(missing)} but no such folder exists; "
                f"found folders: {sorted(folders)}"
            )
        return mapping
    mapping = {}
    unknown = []
    for folder in folders:
        english = english_class_name(folder)
        if english is None:
            unknown.append(folder)
        else:
            mapping[folder] = english
    if unknown:
        expected = ", ".join(f"{it} ({en})" for it, en in sorted(ITALIAN_TO_ENGLISH.items()))
        raise DownloadError(
            f"unexpected class folder(s) {sorted(unknown)}: expected Animals-10 folders "
            f"{expected}, or English names {', '.join(ANIMALS10_CLASSES)}. For other image "
            "folders give classes: the list of class folders to use."
        )
    return mapping


def collect_images(
    entries: Sequence[Entry],
    out_dir: Path,
    *,
    classes: Sequence[str] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> DownloadReport:
    """Decode each entry and copy the good ones to ``out_dir/<class>/``; count the rest."""
    root = _image_root([tuple(rel.parts) for rel, _ in entries])
    report = DownloadReport()
    by_folder: dict[str, list[tuple[PurePosixPath, Callable[[], bytes]]]] = {}
    for rel, read in entries:
        parts = rel.parts
        if parts[: len(root)] != root or len(parts) < len(root) + 2:
            report.ignored.append(printable_name(str(rel)))  # e.g. translate.py by raw-img
            continue
        if not _is_utf8(parts[len(root)]):  # a class folder no class name can match
            report.skip(printable_name(str(rel)), "not_image", NAME_NOT_UTF8)
            continue
        by_folder.setdefault(parts[len(root)], []).append((rel, read))
    if not by_folder:
        raise DownloadError("no class folders with files found (expected <class>/<image> files)")
    class_map = resolve_class_map(sorted(by_folder), classes)
    for folder in sorted(set(by_folder) - set(class_map)):
        report.ignored.extend(printable_name(str(rel)) for rel, _ in by_folder[folder])
    work = [(class_map[f], rel, read) for f in sorted(class_map) for rel, read in by_folder[f]]
    used_names: set[tuple[str, str]] = set()
    for class_name, rel, read in tqdm(work, desc="decode", unit="img", disable=None):
        if not _is_utf8(str(rel)):  # skipped unread: its name could not be written anywhere
            report.skip(printable_name(str(rel)), "not_image", NAME_NOT_UTF8)
            continue
        try:
            data = read()
            decode_image(data, max_pixels=max_pixels)
        except ImageRejected as exc:
            report.skip(str(rel), exc.reason, exc.detail)
            continue
        inner = rel.parts[len(root) + 1 :]
        name = "__".join(inner)
        if (class_name, name) in used_names:  # two folders mapping to one class
            name = "__".join(rel.parts[len(root) :])
        used_names.add((class_name, name))
        target = out_dir / class_name / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        report.keep(class_name)
    for class_name in class_map.values():
        report.per_class.setdefault(class_name, 0)
    return report


def download_folder(
    path: str | Path | None,
    out_dir: Path,
    *,
    classes: Sequence[str] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> DownloadReport:
    """Collect images from a folder or a ``.zip`` at ``path`` into ``out_dir``."""
    if path is None or str(path).strip() == "":
        raise DownloadError(
            "the folder source needs a path (a raw-img folder or the Kaggle "
            "animals10 .zip); none is set"
        )
    source = Path(path).expanduser()
    if not source.exists():
        raise DownloadError(f"path {source} does not exist")
    if source.is_dir():
        entries = list(_entries_from_dir(source))
        return collect_images(entries, out_dir, classes=classes, max_pixels=max_pixels)
    if not zipfile.is_zipfile(source):
        raise DownloadError(f"path {source} is neither a folder nor a .zip archive")
    try:
        archive = zipfile.ZipFile(source)
    except UnicodeDecodeError as exc:  # zipfile reads every member name first
        raise DownloadError(
            f"{source}: a member name is marked UTF-8 but is not valid UTF-8 "
            f"({exc.reason} at byte {exc.start}); nothing was extracted"
        ) from None
    with archive:
        check_zip_members(archive, source)
        entries = list(_entries_from_zip(archive))
        return collect_images(entries, out_dir, classes=classes, max_pixels=max_pixels)
