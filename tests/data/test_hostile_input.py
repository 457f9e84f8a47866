"""Issue point "Hostile and odd input": symbolic links in a source folder or zip, odd file and
class names, a 1x1 image, animated images, 16-bit images, zip bombs, a pickle in the
animal-mnist wheel that names ``os.system``, a tampered wheel, and the Kaggle key with a
failing client. What the data layer does with each is asserted here; the cases other tests
already cover (the restricted unpickler alone, full-range 16-bit PNG, members escaping the
target, oversized members) are not repeated."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import pickle
import shlex
import stat
import sys
import traceback
import tracemalloc
import types
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image, features

from modelrobustness.data.download import download, write_skipped_csv
from modelrobustness.data.images import decode_image, fit_image, source_facts
from modelrobustness.data.prepared import SPLITS, load_sources
from modelrobustness.data.sources import animal_mnist, folder
from modelrobustness.data.sources.tally import DownloadError
from modelrobustness.data.split import SplitConfig, prepare_split

from helpers.images import encode, good_image_bytes, write_class_folders

ROOT = Path(__file__).resolve().parents[2]
LINK_DETAIL = "a symbolic link (links are not followed)"


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


# --- 1. symbolic links ----------------------------------------------------------------------


def _split_config() -> SplitConfig:
    """A split of a few 8 px RGB images."""
    return SplitConfig(
        val_fraction=0.2,
        test_fraction=0.2,
        image_size=8,
        color="rgb",
        aspect="crop",
        max_per_class=None,
        seed=0,
    )


def test_folder_symlinks_are_counted_and_never_followed(tmp_path, monkeypatch):
    src, outside = tmp_path / "src", tmp_path / "outside"
    write_class_folders(src / "raw-img", {"cane": 2})
    write_class_folders(outside, {"x": 2}, seed=50)  # good images a link could reach
    cane = src / "raw-img" / "cane"
    (cane / "escape.png").symlink_to(outside / "x" / "img000.png")
    (cane / "loop_a.png").symlink_to("loop_b.png")
    (cane / "loop_b.png").symlink_to("loop_a.png")
    (cane / "self").symlink_to(".")  # a folder loop
    (cane / "elsewhere").symlink_to(outside / "x")  # a folder outside the source
    (cane / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    (src / "raw-img" / "gatto").symlink_to(outside / "x")  # a class folder that is a link
    (src / "beside.png").symlink_to(outside / "x" / "img001.png")
    read, real = [], folder.read_limited
    monkeypatch.setattr(
        folder, "read_limited", lambda path, limit: read.append(Path(path)) or real(path, limit)
    )
    report, classes = download("folder", tmp_path / "raw", path=src)
    links = ["dangling.png", "elsewhere", "escape.png", "loop_a.png", "loop_b.png", "self"]
    assert classes == ["dog"] and dict(report.per_class) == {"dog": 2}
    assert sorted(report.skipped) == [
        (f"raw-img/cane/{name}", "not_image", LINK_DETAIL) for name in links
    ]
    assert report.metrics(classes)["skipped_by_reason"]["not_image"] == len(links)
    assert sorted(report.ignored) == ["beside.png", "raw-img/gatto"]  # outside class folders
    assert sorted(path.name for path in read) == ["img000.png", "img001.png"]
    assert not any(path.is_symlink() for path in read)
    assert _files(tmp_path / "raw") == ["dog/img000.png", "dog/img001.png"]
    assert (tmp_path / "raw" / "dog" / "img000.png").read_bytes() == (
        cane / "img000.png"
    ).read_bytes()


def test_zip_with_a_symlink_member_is_refused_whole(tmp_path):
    archive = tmp_path / "links.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("raw-img/cane/ok.png", good_image_bytes(1))
        link = zipfile.ZipInfo("raw-img/cane/passwd.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(
        DownloadError,
        match=r"links\.zip: refusing zip member "
        r"'raw-img/cane/passwd\.png' \(symbolic link\).*nothing was extracted",
    ):
        download("folder", tmp_path / "raw", path=archive)
    assert _files(tmp_path) == ["links.zip"]


# --- 2. unicode, spaces and newlines in names -----------------------------------------------

ODD_NAMES = (
    "café ünïcode.png",
    "two  spaces .png",
    "new\nline.png",
    "carriage\rreturn.png",
    "crlf\r\nboth.png",
    "日本語 画像.png",
    'quote" and, comma.png',
)
ODD_CLASSES = ("chats, noirs", "ñandú 🐦")


def test_odd_names_are_read_and_every_csv_reads_back(tmp_path):
    src, raw, prepared = tmp_path / "src", tmp_path / "raw", tmp_path / "prepared"
    seed = 0
    for class_name in ODD_CLASSES:
        (src / class_name).mkdir(parents=True)
        for name in ODD_NAMES:
            (src / class_name / name).write_bytes(good_image_bytes(seed))
            (src / class_name / f"bad {name}").write_text("not an image\n")
            seed += 1
    report, classes = download("folder", raw, path=src, classes=list(ODD_CLASSES))
    assert classes == sorted(ODD_CLASSES)
    assert dict(report.per_class) == {name: len(ODD_NAMES) for name in ODD_CLASSES}
    for class_name in ODD_CLASSES:
        assert sorted(p.name for p in (raw / class_name).iterdir()) == sorted(ODD_NAMES)
    expected = sorted(
        (f"{c}/bad {n}", "not_image", "not a recognised image format")
        for c in ODD_CLASSES
        for n in ODD_NAMES
    )
    assert sorted(report.skipped) == expected
    skipped_csv = tmp_path / "skipped.csv"
    write_skipped_csv(report, skipped_csv)
    with skipped_csv.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["path", "reason", "detail"] and [tuple(r) for r in rows[1:]] == expected
    frame = pd.read_csv(skipped_csv, keep_default_na=False)
    assert list(frame.itertuples(index=False, name=None)) == expected
    metrics = prepare_split(
        raw,
        prepared,
        _split_config(),
    )
    index = pd.read_csv(prepared / "index.csv", keep_default_na=False)
    assert len(index) == 2 * len(ODD_NAMES)
    assert sorted(index["path"]) == _files(raw)
    assert sorted(set(index["class"])) == sorted(ODD_CLASSES)
    for split in SPLITS:  # the csv-module reader of index.csv sees the same rows
        assert len(load_sources(prepared, split)) == metrics[split]


# a name that is not valid UTF-8: Linux gives it as a str with a surrogate escape ('\udce9')
BAD_NAME_DETAIL = "the file name is not valid UTF-8"


def _write(path: bytes, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)


def test_names_not_valid_utf8_are_skipped_and_every_csv_is_utf8(tmp_path, monkeypatch):
    src, raw, prepared = tmp_path / "src", tmp_path / "raw", tmp_path / "prepared"
    write_class_folders(src / "raw-img", {"cane": 5, "gatto": 5})
    img_root, cane = os.fsencode(src / "raw-img"), os.fsencode(src / "raw-img" / "cane")
    _write(os.path.join(cane, b"caf\xe9.png"), good_image_bytes(10))  # a good image
    _write(os.path.join(cane, b"notes\xff.txt"), b"not an image\n")
    os.mkdir(os.path.join(cane, b"sub\xe9"))
    _write(os.path.join(cane, b"sub\xe9", b"ok.png"), good_image_bytes(11))
    os.mkdir(os.path.join(img_root, b"gatt\xe9"))  # an unknown class folder: an error if kept
    _write(os.path.join(img_root, b"gatt\xe9", b"img.png"), good_image_bytes(12))
    read, real = [], folder.read_limited
    monkeypatch.setattr(
        folder, "read_limited", lambda path, limit: read.append(Path(path)) or real(path, limit)
    )
    report, classes = download("folder", raw, path=src)
    assert classes == ["cat", "dog"] and dict(report.per_class) == {"cat": 5, "dog": 5}
    expected = [
        (f"raw-img/{name}", "not_image", BAD_NAME_DETAIL)
        for name in (
            "cane/caf\\xe9.png",
            "cane/notes\\xff.txt",
            "cane/sub\\xe9/ok.png",
            "gatt\\xe9/img.png",
        )
    ]
    assert sorted(report.skipped) == expected
    assert report.metrics(classes)["skipped_by_reason"]["not_image"] == len(expected)
    good = [f"{folder}/img{i:03d}.png" for folder in ("cane", "gatto") for i in range(5)]
    assert sorted(path.relative_to(src / "raw-img").as_posix() for path in read) == good
    assert _files(raw) == [f"{c}/img{i:03d}.png" for c in ("cat", "dog") for i in range(5)]
    skipped_csv = tmp_path / "skipped.csv"
    write_skipped_csv(report, skipped_csv)
    text = skipped_csv.read_bytes().decode("utf-8")  # strict: valid UTF-8
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [["path", "reason", "detail"], *(list(row) for row in expected)]
    prepare_split(
        raw,
        prepared,
        _split_config(),
    )
    index = (prepared / "index.csv").read_bytes().decode("utf-8")
    assert sorted(row["path"] for row in csv.DictReader(io.StringIO(index, newline=""))) == _files(
        raw
    )


def test_zip_member_name_marked_utf8_but_invalid_is_refused_whole(tmp_path):
    archive = tmp_path / "names.zip"
    with zipfile.ZipFile(archive, "w") as zf:  # a non-ASCII name sets the UTF-8 flag
        zf.writestr("raw-img/cane/ok.png", good_image_bytes(1))
        zf.writestr("raw-img/cane/caf\u00e9.png", good_image_bytes(2))
    data = archive.read_bytes()
    archive.write_bytes(data.replace("caf\u00e9".encode(), b"caf\xe9_"))  # same length
    with pytest.raises(
        DownloadError,
        match=r"names\.zip: a member name is marked UTF-8 but "
        r"is not valid UTF-8 .*nothing was extracted",
    ):
        download("folder", tmp_path / "raw", path=archive)
    assert _files(tmp_path) == ["names.zip"]


# --- 3. a 1x1 image ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image,fmt",
    [(Image.new("RGB", (1, 1), (200, 10, 30)), "PNG"), (Image.new("L", (1, 1), 90), "JPEG")],
)
@pytest.mark.parametrize("aspect", ["crop", "pad"])
def test_one_pixel_image_is_read_and_resized(image, fmt, aspect):
    decoded = decode_image(encode(image, fmt), draft_size=16)
    assert decoded.size == (1, 1) and decoded.mode == image.mode
    facts = source_facts(decoded)
    assert (facts.width, facts.height) == (1, 1)
    color = "rgb" if image.mode == "RGB" else "gray"
    out = fit_image(decoded, size=16, color=color, aspect=aspect)
    assert out.shape == (len(image.mode), 16, 16)
    want = np.array(image.getpixel((0, 0)) if image.mode == "RGB" else (90,))
    assert np.abs(out.reshape(len(want), -1).astype(int) - want[:, None]).max() <= 1


def test_one_pixel_image_is_kept_by_the_folder_source(tmp_path):
    write_class_folders(tmp_path / "src", {"cane": 1})
    dot = encode(Image.new("RGB", (1, 1), (200, 10, 30)), "PNG")
    (tmp_path / "src" / "cane" / "dot.png").write_bytes(dot)
    report, _ = download("folder", tmp_path / "raw", path=tmp_path / "src")
    assert dict(report.per_class) == {"dog": 2} and report.skipped == []
    assert (tmp_path / "raw" / "dog" / "dot.png").read_bytes() == dot


# --- 4. animated images -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt,options",
    [
        ("GIF", {}),
        ("PNG", {}),
        pytest.param(
            "WEBP",
            {"lossless": True},
            marks=pytest.mark.skipif(
                not features.check("webp"), reason="Pillow built without WebP"
            ),
        ),
    ],
)
def test_animated_image_gives_its_first_frame(fmt, options):
    frames = [Image.new("RGB", (8, 8), color) for color in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    data = encode(
        frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **options
    )
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 3  # animated indeed
    out = decode_image(data)
    assert out.mode == "RGB" and out.size == (8, 8)
    assert np.unique(np.asarray(out).reshape(-1, 3), axis=0).tolist() == [[255, 0, 0]]


# --- 5. 16-bit images -------------------------------------------------------------------------


def _pgm16(values: np.ndarray) -> bytes:
    height, width = values.shape
    return f"P5 {width} {height} 65535\n".encode() + values.astype(">u2").tobytes()


# a dark 16-bit image (at most 255 of 65535) stays dark whatever mode Pillow opens it in:
# PNG and TIFF as I;16, PGM as I (older Pillow opened 16-bit PNG as I too)
@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "PGM"])
def test_dark_sixteen_bit_image_is_scaled_not_stretched(fmt):
    values = np.array([[0, 100, 128, 255]], dtype=np.uint16)
    data = _pgm16(values) if fmt == "PGM" else encode(Image.fromarray(values), fmt)
    assert Image.open(io.BytesIO(data)).mode in ("I;16", "I;16B", "I")
    out = decode_image(data)
    assert out.mode == "L" and np.asarray(out).tolist() == [[0, 0, 0, 1]]


def test_full_range_sixteen_bit_pgm_matches_png():
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    png = np.asarray(decode_image(encode(Image.fromarray(values), "PNG")))
    assert np.asarray(decode_image(_pgm16(values))).tolist() == png.tolist() == [[0, 1, 128, 255]]


def test_thirty_two_bit_integers_are_scaled_by_their_peak():
    values = np.array([[0, 70_000, 140_000]], dtype=np.int32)  # beyond 16 bits
    data = encode(Image.fromarray(values), "TIFF")
    assert Image.open(io.BytesIO(data)).mode == "I"
    assert np.asarray(decode_image(data)).tolist() == [[0, 128, 255]]


# --- 6. zip bombs -----------------------------------------------------------------------------


def _declare_size(archive: Path, member: str, size: int) -> None:
    """Make the central directory of ``archive`` claim ``member`` is ``size`` bytes long."""
    data = bytearray(archive.read_bytes())
    name = member.encode()
    at = data.find(b"PK\x01\x02")
    while data[at + 46 : at + 46 + len(name)] != name:
        at = data.find(b"PK\x01\x02", at + 4)
        assert at >= 0, member
    data[at + 24 : at + 28] = size.to_bytes(4, "little")
    archive.write_bytes(bytes(data))


def test_zip_bombs_are_skipped_without_decompressing(tmp_path, monkeypatch):
    monkeypatch.setattr(folder, "MAX_FILE_BYTES", 1_000_000)
    zeros = bytes(20_000_000)  # deflates to about 20 kB
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("raw-img/cane/ok1.png", good_image_bytes(1))
        zf.writestr("raw-img/cane/ok2.png", good_image_bytes(2))
        zf.writestr("raw-img/cane/big.png", zeros)  # declares its 20 MB
        zf.writestr("raw-img/cane/liar.png", zeros)  # declares 1,000 bytes (below)
        zf.writestr(
            "raw-img/cane/bz.png", good_image_bytes(3), compress_type=zipfile.ZIP_BZIP2
        )  # bzip2 output is not bounded
    _declare_size(archive, "raw-img/cane/liar.png", 1000)
    tracemalloc.start()
    try:
        report, classes = download("folder", tmp_path / "raw", path=archive)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert classes == ["dog"] and dict(report.per_class) == {"dog": 2}
    skipped = {path: (reason, detail) for path, reason, detail in report.skipped}
    assert sorted(skipped) == [
        "raw-img/cane/big.png",
        "raw-img/cane/bz.png",
        "raw-img/cane/liar.png",
    ]
    assert skipped["raw-img/cane/big.png"] == (
        "decompression_bomb",
        "file of 20,000,000 bytes exceeds the 1,000,000-byte limit",
    )
    reason, detail = skipped["raw-img/cane/liar.png"]
    assert reason == "corrupt" and detail.startswith("unreadable zip member: Bad CRC-32")
    assert skipped["raw-img/cane/bz.png"] == (
        "corrupt",
        "zip compression method 12 is not read; expected stored or deflated",
    )
    assert peak < 5_000_000, peak  # neither 20 MB member was decompressed
    assert _files(tmp_path) == ["bomb.zip", "raw/dog/ok1.png", "raw/dog/ok2.png"]


# --- 7. a pickle in the wheel naming os.system ------------------------------------------------


class _Touch:
    """Unpickled, runs ``touch <path>`` through os.system."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.path))}",)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("member", [animal_mnist.DATA_MEMBER, animal_mnist.LABEL_MEMBER])
def test_wheel_pickle_naming_os_system_is_refused_unrun(tmp_path, monkeypatch, member):
    marker = tmp_path / "executed.marker"
    payload = pickle.dumps(_Touch(marker))
    arrays = {
        animal_mnist.DATA_MEMBER: pickle.dumps(np.zeros((2, 28, 28), np.uint8)),
        animal_mnist.LABEL_MEMBER: pickle.dumps(np.zeros(2, np.int64)),
        member: payload,
    }
    cache = tmp_path / "cache"
    cache.mkdir()
    wheel = cache / animal_mnist.WHEEL_NAME
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in arrays.items():
            zf.writestr(name, gzip.compress(data))
    monkeypatch.setattr(animal_mnist, "WHEEL_SHA256", _sha256(wheel))  # a trusted cache
    monkeypatch.setattr(animal_mnist.subprocess, "run", lambda *a, **k: pytest.fail("pip ran"))
    with pytest.raises(
        pickle.UnpicklingError, match=r"^refusing to unpickle global (posix|os)\.system$"
    ):
        download("animal-mnist", tmp_path / "raw", cache_dir=cache)
    assert not marker.exists() and not (tmp_path / "raw").exists()
    pickle.loads(payload)  # the payload is armed: a plain unpickler runs it
    assert marker.exists()


# --- 8. a wheel with the wrong sha256 ---------------------------------------------------------


def test_tampered_wheel_error_names_both_hashes(tmp_path, monkeypatch):
    cached = tmp_path / animal_mnist.WHEEL_NAME
    cached.write_bytes(b"stale")  # a cached wheel that fails the check is not used either
    runs = []

    def fake_pip(cmd, **kwargs):
        runs.append(cmd)
        (Path(cmd[cmd.index("-d") + 1]) / animal_mnist.WHEEL_NAME).write_bytes(b"tampered")
        return types.SimpleNamespace(returncode=0, stderr="")

    monkeypatch.setattr(animal_mnist.subprocess, "run", fake_pip)
    with pytest.raises(DownloadError) as info:
        download("animal-mnist", tmp_path / "raw", cache_dir=tmp_path)
    actual = hashlib.sha256(b"tampered").hexdigest()
    assert str(info.value) == (
        f"{animal_mnist.WHEEL_NAME} has sha256 {actual}, expected "
        f"{animal_mnist.WHEEL_SHA256}; refusing to use it"
    )
    assert len(runs) == 1 and cached.read_bytes() == b"stale"
    assert _files(tmp_path) == [animal_mnist.WHEEL_NAME]


# --- 9. the Kaggle key with a failing client --------------------------------------------------

MARKER = "MARKER-kaggle-secret-123"


def test_kaggle_key_appears_nowhere_when_the_client_fails(tmp_path, monkeypatch, capsys):
    from modelrobustness.pipeline import download as download_stage
    from modelrobustness.pipeline.entry import USER_ERROR_STATUS, run_stage

    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", MARKER)
    calls = []

    def dataset_download(handle, *args, **kwargs):  # a careless client echoes its request
        calls.append(handle)
        raise PermissionError(
            f"401 Unauthorized: GET /api/v1/datasets/download/{handle} "
            f"as someone:{os.environ['KAGGLE_KEY']}"
        )

    kagglehub = types.ModuleType("kagglehub")
    kagglehub.dataset_download = dataset_download
    monkeypatch.setitem(sys.modules, "kagglehub", kagglehub)
    with pytest.raises(DownloadError) as info:
        download("kaggle", tmp_path / "raw")
    assert "(PermissionError)" in str(info.value) and "use the folder source" in str(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert MARKER not in "".join(traceback.format_exception(info.value))
    project = tmp_path / "project"
    project.mkdir()
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["data"]["source"] = "kaggle"
    (project / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    monkeypatch.chdir(project)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        run_stage("download", download_stage.main)
    assert stopped.value.code == USER_ERROR_STATUS and len(calls) == 2
    out = capsys.readouterr()
    assert (
        "download: error: could not download Kaggle dataset alessiocorrado99/animals10 "
        "(PermissionError)" in out.err
    )
    assert MARKER not in out.out + out.err
    assert _files(tmp_path) == ["project/params.yaml"]
    assert MARKER.encode() not in (project / "params.yaml").read_bytes()
