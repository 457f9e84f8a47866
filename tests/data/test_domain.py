"""A training split's profile, and the warnings for images far from it; the source facts the
decoder reports (size before resizing, colour)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from modelrobustness.data.domain import domain_profile, domain_warnings
from modelrobustness.data.images import UnreadableImage, decode_image, read_image, source_facts
from modelrobustness.data.prepared import SourceFacts

from helpers.images import encode, random_rgb


def _silhouettes(n: int = 200, seed: int = 0) -> np.ndarray:
    """White 28x28 images with a dark blob: bright, high contrast."""
    rng = np.random.default_rng(seed)
    x = np.full((n, 1, 28, 28), 255, dtype=np.uint8)
    for i in range(n):
        r, c = rng.integers(6, 14, size=2)
        x[i, 0, r : r + 10, c : c + 10] = rng.integers(0, 40)
    return x


def test_profile_and_warnings():
    x = _silhouettes()
    profile = domain_profile(x, [SourceFacts(28, 28, False)] * len(x))
    assert profile["source_width"] == [28, 28] and profile["color_share"] == 0.0
    assert 0.7 < profile["brightness"][0] <= profile["brightness"][1] < 1.0
    inside = x[0, :, :, :] / 255.0
    assert domain_warnings(profile, SourceFacts(28, 28, False), inside) == []
    assert domain_warnings(profile, SourceFacts(56, 56, False), inside) == []  # 2x: close
    photo = np.full((1, 28, 28), 0.4)
    warnings = domain_warnings(profile, SourceFacts(640, 402, True), photo)
    assert warnings[0] == "a 640x402 image (the model was trained on 28x28 images)"
    assert warnings[1] == "a colour image (the model was trained on grayscale images)"
    assert warnings[2].startswith("brightness 0.40 (the training images: ")
    assert warnings[3].startswith("contrast 0.00 (the training images: ")
    assert domain_warnings(profile, SourceFacts(5, 5, False), inside)[0].startswith("a 5x5")
    photos = [SourceFacts(300, 200, True)] * len(x)
    colour = domain_profile(np.repeat(x, 3, axis=1), photos)  # a model that sees colour
    assert domain_warnings(colour, SourceFacts(300, 200, False), inside) == [
        "a grayscale image (the model was trained on colour images)"
    ]
    assert colour["source_width"] == [300, 300] and colour["source_height"] == [200, 200]
    # a gray model of colour photos sees every image in gray: a gray one is no stranger
    assert domain_warnings(domain_profile(x, photos), SourceFacts(300, 200, False), inside) == []


def test_source_facts_size_before_resizing_and_colour():
    photo = encode(random_rgb(1, (640, 402)), "JPEG", quality=90)
    facts = source_facts(decode_image(photo, draft_size=28))  # decoded at 1/8 size
    assert facts == SourceFacts(640, 402, True)
    grey = Image.fromarray(np.asarray(random_rgb(2, (64, 48)))[..., 0]).convert("RGB")
    assert source_facts(decode_image(encode(grey, "JPEG", quality=90))).color is False
    assert source_facts(decode_image(encode(grey.convert("L"), "PNG"))) == SourceFacts(
        64, 48, False
    )
    # EXIF orientation 6 (rotated 90 degrees): the facts are of the upright image
    image = random_rgb(3, (64, 48))
    exif = image.getexif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    facts = source_facts(decode_image(buffer.getvalue(), draft_size=8))
    assert (facts.width, facts.height) == (48, 64)


def test_read_image_refuses_large_files_before_reading(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(encode(random_rgb(4, (40, 30)), "PNG"))
    with pytest.raises(
        UnreadableImage, match="decompression_bomb: file of .* exceeds the 10-byte limit"
    ):
        read_image(path, size=28, channels=1, max_bytes=10)
