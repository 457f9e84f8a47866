"""Decoding: every mode converted correctly, EXIF applied, bad files rejected by reason."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from modelrobustness.data.images import ImageRejected, decode_image, fit_image

from helpers.images import bad_corpus, encode, random_rgb


@pytest.mark.parametrize("name", sorted(bad_corpus()))
def test_bad_files_rejected_with_reason(name):
    data, reason = bad_corpus()[name]
    with pytest.raises(ImageRejected) as info:
        decode_image(data)
    assert info.value.reason == reason


def test_small_max_pixels_rejects_as_bomb():
    data = encode(random_rgb(0, (100, 100)), "PNG")
    with pytest.raises(ImageRejected, match="max_pixels"):
        decode_image(data, max_pixels=1000)
    assert decode_image(data, max_pixels=10_000).size == (100, 100)


def test_rgba_composited_on_white():
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent red
    rgba.putpixel((0, 0), (0, 0, 255, 255))  # one opaque blue pixel
    out = decode_image(encode(rgba, "PNG"))
    assert out.mode == "RGB"
    assert out.getpixel((1, 1)) == (255, 255, 255)
    assert out.getpixel((0, 0)) == (0, 0, 255)


def test_cmyk_jpeg_becomes_rgb():
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in CMYK
    out = decode_image(encode(cmyk, "JPEG", quality=95))
    assert out.mode == "RGB"
    r, g, b = out.getpixel((4, 4))
    assert r > 200 and g < 60 and b < 60


def test_palette_with_and_without_transparency():
    pal = random_rgb(3, (8, 8)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    out = decode_image(encode(pal, "PNG"))
    assert out.mode == "RGB"
    assert np.array_equal(np.asarray(out), np.asarray(pal.convert("RGB")))
    pal.info["transparency"] = 0
    transparent = decode_image(encode(pal, "PNG", transparency=0))
    assert transparent.mode == "RGB"


def test_grayscale_stays_gray():
    gray = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8) * 4)
    out = decode_image(encode(gray, "PNG"))
    assert out.mode == "L"
    assert np.array_equal(np.asarray(out), np.asarray(gray))


def test_sixteen_bit_scaled_not_clipped():
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)  # 0, 1, 128, 255 in 8 bit
    data = encode(Image.fromarray(values), "PNG")
    out = decode_image(data)
    assert out.mode == "L"
    assert np.asarray(out).tolist() == [[0, 1, 128, 255]]


def test_exif_orientation_applied():
    image = Image.new("RGB", (20, 10), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 5, 10))  # white band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    out = decode_image(encode(image, "JPEG", exif=exif.tobytes(), quality=95))
    assert out.size == (10, 20)
    top = np.asarray(out)[:5].mean()
    bottom = np.asarray(out)[-5:].mean()
    assert top > 200 and bottom < 50  # the left band is on top after rotating clockwise


@pytest.mark.parametrize("aspect", ["crop", "pad"])
@pytest.mark.parametrize("color,channels", [("rgb", 3), ("gray", 1)])
def test_fit_image_shape(aspect, color, channels):
    out = fit_image(random_rgb(1, (50, 20)), size=16, color=color, aspect=aspect)
    assert out.shape == (channels, 16, 16) and out.dtype == np.uint8


def test_pad_keeps_whole_image_and_crop_fills():
    wide = Image.new("RGB", (40, 20), (255, 255, 255))
    padded = fit_image(wide, size=20, color="gray", aspect="pad")[0]
    cropped = fit_image(wide, size=20, color="gray", aspect="crop")[0]
    assert padded[0].max() == 0 and padded[10].min() == 255  # black bars top and bottom
    assert cropped.min() == 255
