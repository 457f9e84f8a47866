"""Checkpoints: weights and config in plain types, read back with ``weights_only=True``.

A file that is not one of this project's checkpoints (a bare state_dict, a whole pickled
model, a TorchScript archive, an image...) raises :class:`NotACheckpoint`, which says what
the file is. Finding that out never executes a pickle: :func:`describe_file` reads magic
bytes, zip member names and pickle opcodes, and loads data only through
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
import pickletools
import struct
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import torch

from ..utils.errors import UserError
from ..utils.io import atomic_write_bytes
from .classifier import Classifier, ModelConfig

CHECKPOINT_FORMAT = 1

_HEAD_BYTES = 4096  # magic bytes and text sniffing look at no more than this
_PICKLE_CAP = 16 * 2**20  # bytes of a pickle scanned for the classes it needs
_MAX_OPCODES = 1_000_000  # opcodes scanned at most (a pickled model needs a few thousand)
_REASON_CHARS = 200

# what torch.load(weights_only=True) raises on files it cannot or will not read
_LOAD_ERRORS: tuple[type[BaseException], ...] = (
    pickle.UnpicklingError,
    RuntimeError,
    EOFError,
    OSError,
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    IndexError,
    NotImplementedError,
    struct.error,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
)
_ZIP_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    OSError,
    EOFError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    KeyError,
)

# globals a plain torch.save of tensors needs: not the class of a pickled model
_HELPER_MODULES = frozenset(
    {
        "torch",
        "torch._utils",
        "torch._tensor",
        "torch.serialization",
        "torch.storage",
        "collections",
        "copyreg",
        "_codecs",
    }
)
_STRING_OPS = frozenset(
    {
        "SHORT_BINUNICODE",
        "BINUNICODE",
        "BINUNICODE8",
        "UNICODE",
        "SHORT_BINSTRING",
        "BINSTRING",
        "STRING",
    }
)
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_NEUTRAL_OPS = frozenset({"FRAME", "PROTO"})  # leave the stack as it is

_TORCHSCRIPT = (
    "a TorchScript archive (torch.jit.save); this tool loads state_dict "
    "checkpoints, not scripted models"
)
_A_CHECKPOINT = f"a ModelRobustness checkpoint (format {CHECKPOINT_FORMAT})"


class NotACheckpoint(UserError, ValueError):
    """A file that is not a checkpoint of this project: ``what`` says what it is instead."""

    def __init__(self, path: str | os.PathLike, what: str) -> None:
        super().__init__(
            f"{path} is {what}; expected a ModelRobustness checkpoint (written by "
            f"the train stages: format {CHECKPOINT_FORMAT}, a model config and "
            "its state_dict)"
        )
        self.path = Path(path)
        self.what = what

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.path, self.what)


def save_checkpoint(
    path: str | os.PathLike, model: Classifier, extra: dict[str, Any] | None = None
) -> None:
    """Save weights and config (plain types only, so ``weights_only=True`` can read it)."""
    config = asdict(model.config)
    config["mean"] = [float(v) for v in config["mean"]]
    config["std"] = [float(v) for v in config["std"]]
    config["class_names"] = list(config["class_names"])
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": dict(extra or {}),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)``; :class:`NotACheckpoint`
    (a ``ValueError``) says what the file is when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model checkpoint {path} not found: run `dvc repro` first")
    try:
        payload = _weights_only_load(path)
    except _LOAD_ERRORS:
        # (torch's own message suggests weights_only=False: not advice to pass on)
        raise NotACheckpoint(path, describe_file(path)) from None
    problem = _payload_problem(payload)
    if problem is not None:
        raise NotACheckpoint(path, problem)
    return payload


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> Classifier:
    """Rebuild a saved classifier in eval mode: float [0, 1] N x C x H x W in, logits out."""
    return read_model(path, device)[0]


def read_model(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[Classifier, dict[str, Any]]:
    """:func:`load_model` and the checkpoint's ``extra`` (what the pipeline recorded beside
    the weights: the role, the training data's profile), from one read."""
    payload = load_checkpoint(path)
    try:
        model = Classifier(ModelConfig(**payload["config"]))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise _does_not_build(path, f"config: {_first_line(exc)}") from exc
    state = payload["state_dict"]
    problem = _state_dict_problem(model.state_dict(), state)
    if problem is not None:
        raise _does_not_build(path, f"state_dict: {problem}")
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError, AttributeError) as exc:
        raise _does_not_build(path, f"state_dict: {_first_line(exc)}") from exc
    extra = payload.get("extra")
    return model.to(device).eval(), dict(extra) if isinstance(extra, Mapping) else {}


def describe_file(path: str | os.PathLike) -> str:
    """What the file at ``path`` is, for a message about a file that is not a checkpoint
    (e.g. ``"a PNG image"``, ``"a bare state_dict (...)"``). Never raises, never executes a
    pickle: it reads magic bytes, zip member names and pickle opcodes, and loads a PyTorch
    file only with ``torch.load(weights_only=True)``."""
    path = Path(path)
    try:
        if path.is_dir():
            return "a directory"
        with path.open("rb") as file:
            head = file.read(_HEAD_BYTES)
    except OSError as exc:
        return f"not a readable file ({exc.strerror or type(exc).__name__})"
    if not head:
        return "an empty file"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _describe_zip(path)
    if head[:1] == b"\x80":
        return _describe_legacy_pickle(path)
    return _describe_head(head)


# --- what a loaded payload is --------------------------------------------------------------


def _payload_problem(payload: Any) -> str | None:
    """What ``payload`` (from torch.load) is when it is not a checkpoint; None when it is."""
    if isinstance(payload, torch.jit.ScriptModule):
        return _TORCHSCRIPT
    if isinstance(payload, torch.nn.Module):
        return _whole_model(f"{type(payload).__module__}.{type(payload).__qualname__}")
    if isinstance(payload, torch.Tensor):
        return f"a single tensor (shape {tuple(payload.shape)}), not a checkpoint"
    if not isinstance(payload, Mapping):
        size = f" of {len(payload)} items" if isinstance(payload, (list, tuple)) else ""
        return f"a {type(payload).__name__}{size}, not a checkpoint"
    if "format" in payload:
        fmt = payload["format"]
        if not (type(fmt) is int and fmt == CHECKPOINT_FORMAT):
            return (
                f"a checkpoint of format {_short_repr(fmt)}; this version reads format "
                f"{CHECKPOINT_FORMAT}"
            )
        missing = [
            key for key in ("config", "state_dict") if not isinstance(payload.get(key), Mapping)
        ]
        if missing:
            return f"a checkpoint of format {CHECKPOINT_FORMAT} without a {' or '.join(missing)}"
        return None
    if not payload:
        return "an empty dict, not a checkpoint"
    if all(isinstance(value, torch.Tensor) for value in payload.values()):
        names = ", ".join(str(key) for key in list(payload)[:2])
        return (
            f"a bare state_dict ({_count(len(payload), 'tensor')}, e.g. {names}): it has "
            "no model config"
        )
    keys = [_short_repr(key) for key in list(payload)[:5]]
    more = f" and {len(payload) - len(keys)} more" if len(payload) > len(keys) else ""
    return f"a dict of {', '.join(keys)}{more}, not a checkpoint"


def _state_dict_problem(
    expected: Mapping[str, torch.Tensor], given: Mapping[Any, Any]
) -> str | None:
    """Why ``given`` does not fit a model whose own state_dict is ``expected``, or None."""
    missing = [key for key in expected if key not in given]
    unexpected = [key for key in given if key not in expected]
    if missing or unexpected:
        parts = [
            f"{_count(len(keys), f'{kind} key')}, e.g. {keys[0]}"
            for kind, keys in (("missing", missing), ("unexpected", unexpected))
            if keys
        ]
        return "; ".join(parts)
    for key, tensor in expected.items():
        value = given[key]
        if not isinstance(value, torch.Tensor):
            return f"{key} is a {type(value).__name__}, not a tensor"
        if value.shape != tensor.shape:
            return f"{key} has shape {tuple(value.shape)}; the model needs {tuple(tensor.shape)}"
    return None


def _does_not_build(path: str | os.PathLike, reason: str) -> NotACheckpoint:
    return NotACheckpoint(
        path, f"a ModelRobustness checkpoint whose model does not build ({reason})"
    )


def _whole_model(class_name: str) -> str:
    return (
        f"a whole pickled model ({class_name}, saved with torch.save(model)); save its "
        "state_dict with this project's train stages instead"
    )


def _weights_only_load(path: Path, *, mmap: bool = False) -> Any:
    """``torch.load(weights_only=True)`` on the CPU, without the warnings of refused files."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)


# --- what a file is, without loading it -------------------------------------------------------


@dataclass(frozen=True)
class _PickleScan:
    """The globals a pickle needs (``module.name``, in order, those torch.save needs for
    plain tensors left out) and whether it pickles an nn.Module's state (``_modules``)."""

    globals: tuple[str, ...]
    module_state: bool

    @property
    def model_class(self) -> str | None:
        """The class of a pickled nn.Module, if that is what the pickle holds."""
        if self.globals and (self.module_state or self.globals[0].startswith("torch.nn.")):
            return self.globals[0]
        return None

    def needs(self) -> str:
        names = ", ".join(self.globals[:3])
        return names + (f" and {len(self.globals) - 3} more" if len(self.globals) > 3 else "")


def _scan_pickle(stream: IO[bytes], max_pickles: int = 1) -> _PickleScan:
    """Read (never run) up to ``max_pickles`` consecutive pickles of ``stream`` with
    :func:`pickletools.genops`: GLOBAL / INST name their class, STACK_GLOBAL takes module
    and name from the two pushes before it (strings, or memo gets of earlier strings).
    Stops quietly at the first opcode it cannot parse."""
    found: list[str] = []
    module_state = False
    opcodes = 0
    for _ in range(max_pickles):
        memo: dict[Any, Any] = {}
        pushed: list[Any] = [None, None]  # the last values pushed (None: not a string)
        try:
            for opcode, arg, _pos in pickletools.genops(stream):
                opcodes += 1
                if opcodes > _MAX_OPCODES:
                    return _PickleScan(tuple(found), module_state)
                name = opcode.name
                if name in _NEUTRAL_OPS:
                    continue
                if name in _PUT_OPS:
                    memo[arg] = pushed[-1]
                    continue
                if name == "MEMOIZE":
                    memo[len(memo)] = pushed[-1]
                    continue
                value = None
                if name in _STRING_OPS:
                    value = arg if isinstance(arg, str) else None
                    module_state = module_state or value == "_modules"
                elif name in _GET_OPS:
                    value = memo.get(arg)
                elif name in ("GLOBAL", "INST") and isinstance(arg, str):
                    _add_global(found, *arg.partition(" ")[::2])
                elif name == "STACK_GLOBAL":
                    module, qualname = pushed[-2], pushed[-1]
                    if isinstance(module, str) and isinstance(qualname, str):
                        _add_global(found, module, qualname)
                pushed = [pushed[-1], value]
        except Exception:  # odd bytes end the scan, whatever genops raises
            break
    return _PickleScan(tuple(found), module_state)


def _add_global(found: list[str], module: str, qualname: str) -> None:
    full = f"{module}.{qualname}"
    if module not in _HELPER_MODULES and full not in found:
        found.append(full)


def _describe_zip(path: Path) -> str:
    """A zip: TorchScript, torch.save (pickled model, state_dict...) or another zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = {info.filename for info in infos}
            prefixes = sorted({name.split("/", 1)[0] for name in names if "/" in name})
            for prefix in prefixes:
                if f"{prefix}/constants.pkl" in names and any(
                    name.startswith(f"{prefix}/code/") for name in names
                ):
                    return _TORCHSCRIPT
            data = next(
                (info for info in infos if info.filename.split("/")[1:] == ["data.pkl"]), None
            )
            if data is None:
                return "a zip archive, not a PyTorch file"
            with archive.open(data) as member:
                pickled = member.read(_PICKLE_CAP)
    except _ZIP_ERRORS:
        return "a damaged or truncated zip archive"
    scan = _scan_pickle(io.BytesIO(pickled))
    if scan.model_class:
        return _whole_model(scan.model_class)
    try:
        payload = _weights_only_load(path, mmap=True)
    except _LOAD_ERRORS as exc:
        if scan.globals:
            return (
                f"a PyTorch file that pickles {scan.needs()}, which "
                "torch.load(weights_only=True) refuses"
            )
        return (
            f"a PyTorch file that torch.load(weights_only=True) cannot read "
            f"({type(exc).__name__}: damaged?)"
        )
    return _payload_problem(payload) or _A_CHECKPOINT


def _describe_legacy_pickle(path: Path) -> str:
    """A pickle stream: torch.save's legacy (non-zip) format, or a plain pickle."""
    try:
        with path.open("rb") as file:
            pickled = file.read(_PICKLE_CAP)
    except OSError as exc:
        return f"not a readable file ({exc.strerror or type(exc).__name__})"
    # legacy torch.save: a magic number, a protocol version, system info, then the data
    scan = _scan_pickle(io.BytesIO(pickled), max_pickles=4)
    if scan.model_class:
        return _whole_model(scan.model_class)
    try:
        payload = _weights_only_load(path)
    except _LOAD_ERRORS:
        needs = f" (it pickles {scan.needs()})" if scan.globals else ""
        return f"a pickle file that torch.load(weights_only=True) refuses{needs}"
    return _payload_problem(payload) or _A_CHECKPOINT


def _describe_head(head: bytes) -> str:
    """A file that is neither a zip nor a pickle, by its first bytes."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "a PNG image"
    if head.startswith(b"\xff\xd8\xff"):
        return "a JPEG image"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "a GIF image"
    if head.startswith(b"BM") and len(head) >= 26 and head[6:10] == b"\0\0\0\0":
        return "a BMP image"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "a WEBP image"
    if len(head) > 10 and head[8:10] == b'{"' and int.from_bytes(head[:8], "little") > 1:
        return "a safetensors file, not a torch.save checkpoint"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "an HDF5 file (a Keras model?)"
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy .npy array"
    text = _as_text(head)
    if text is None:
        return "not a PyTorch file"
    if text.startswith("version https://git-lfs.github.com/spec/"):
        return "a Git LFS pointer, not the file itself (run `git lfs pull`)"
    if text.lstrip().lower().startswith(("<!doctype html", "<html")):
        return "an HTML page (a failed download?)"
    return "a text file"


def _as_text(head: bytes) -> str | None:
    """``head`` as text if it decodes as UTF-8 (a character cut at the end is fine)."""
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _first_line(exc: BaseException) -> str:
    """The gist of an exception's message: its first line that says something."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Error(s) in loading state_dict"):
        lines = lines[1:]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 3] + "..."


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
