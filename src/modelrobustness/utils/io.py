"""Writing outputs: atomically (an interrupted stage never leaves a half-written artifact),
and the serializers they need (tensor dicts to bytes, CSV tables)."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def _umask() -> int:
    """The process umask, read without changing it (Linux /proc; else the usual 022)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def _naming(path: Path, exc: OSError) -> OSError:
    """``exc`` with ``path`` as its file name (a failed write() names no file)."""
    return type(exc)(exc.errno, exc.strerror or str(exc), str(path))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling file and ``os.replace``.

    On any failure (a full disk, a read-only folder, an interrupt) the temporary file is
    removed and ``path`` keeps its previous content; an ``OSError`` names ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _naming(path, exc) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            # mkstemp makes 0600: give the output an ordinary file's mode
            os.fchmod(handle.fileno(), 0o666 & ~_umask())
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise _naming(path, exc) from exc
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def json_text(obj: Any) -> str:
    """``obj`` as indented, key-sorted JSON text (stable bytes for equal content; no NaN)."""
    return json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as :func:`json_text`, atomically."""
    atomic_write_text(path, json_text(obj))


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary sibling of ``target``; on success it replaces ``target``.

    On an exception the temporary folder is removed and ``target`` is left as it was. The
    temporary folders a killed run (SIGKILL) left beside ``target`` are removed first: a
    stage is the only writer of its outputs.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in [
        *target.parent.glob(f".{target.name}.*.tmp"),
        *target.parent.glob(f".{target.name}.old-*"),
    ]:
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes 0700
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def tensors_to_bytes(tensors: Mapping[str, torch.Tensor]) -> bytes:
    """``torch.save`` of a dict of CPU tensors (readable with ``weights_only=True``)."""
    import torch  # here, so that writing text and JSON does not import torch

    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, buffer)
    return buffer.getvalue()


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (hex), read in blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def csv_text(rows: Iterable[Sequence[object]]) -> str:
    """``rows`` as CSV text, one ``\\n``-ended line per row, that the csv module and pandas
    read back field for field. A field holding a carriage return or a line feed (a file name
    may) is quoted: the csv writer quotes only the characters of its own line terminator, so
    with ``\\n`` alone a bare ``\\r`` would end the row early for every reader."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    lines = []
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        lines.append(buffer.getvalue()[:-2] + "\n")
    return "".join(lines)


def table_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Rows as CSV text with a header line (:func:`csv_text`); floats written with repr
    precision, missing keys as empty fields, other keys left out."""
    return csv_text([list(columns), *([row.get(c, "") for c in columns] for row in rows)])
