"""test_pillow: the Pillow plugin: open sniffed by signature, save by extension and by format, modes L, LA,
RGB and RGBA (and those converted or refused), the ICC profile both ways, damaged files."""

import io

import numpy as np
import pytest
from PIL import Image

import aecimg
import aecimg.pillow  # registers the format
from helpers import IMAGES, damage_payload, load


def open_image(name):
    with Image.open(IMAGES / name) as im:
        im.load()
        return im


def test_registered():
    assert Image.registered_extensions()[".aec"] == "AEC"
    assert Image.MIME["AEC"] == "image/x-aec"


def test_open_is_sniffed_by_the_signature(tmp_path):
    a = load("kodim05-crop.png")
    data = aecimg.encode(a, 70)
    (tmp_path / "photo.bin").write_bytes(data)  # no .aec extension
    for source in (tmp_path / "photo.bin", io.BytesIO(data)):
        with Image.open(source) as im:
            assert (im.format, im.mode, im.size) == ("AEC", "RGB", (256, 256))
            assert np.array_equal(np.asarray(im), aecimg.decode(data))
    # A PNG named .aec is still a PNG.
    (tmp_path / "really-a.aec").write_bytes((IMAGES / "rgb-31x17.png").read_bytes())
    with Image.open(tmp_path / "really-a.aec") as im:
        assert im.format == "PNG"


def test_save_by_extension_and_by_format(tmp_path):
    im = open_image("kodim05-crop.png")
    im.save(tmp_path / "x.aec")
    assert (tmp_path / "x.aec").read_bytes() == aecimg.encode(np.asarray(im), aecimg.QUALITY_DEFAULT)
    f = io.BytesIO()
    im.save(f, format="AEC", quality=30)
    assert f.getvalue() == aecimg.encode(np.asarray(im), 30)
    im.save(tmp_path / "effort.aec", effort=1)
    assert (tmp_path / "effort.aec").read_bytes() == aecimg.encode(np.asarray(im), aecimg.QUALITY_DEFAULT, effort=1)
    with pytest.raises(ValueError, match="effort"):
        im.save(tmp_path / "bad.aec", effort=10)
    assert not (tmp_path / "bad.aec").exists()  # refused before anything is written
    f = io.BytesIO()
    im.crop((0, 0, 64, 64)).save(f, format="AEC", quality=50, refine=2)
    assert f.getvalue() != aecimg.encode(np.asarray(im.crop((0, 0, 64, 64))), 50)
    f = io.BytesIO()
    im.save(f, format="AEC", quality=30, format_version=1)
    assert aecimg.info(f.getvalue())["format_version"] == 1
    f.seek(0)
    with Image.open(f) as back:
        assert np.array_equal(np.asarray(back), aecimg.decode(aecimg.encode(np.asarray(im), 30)))


@pytest.mark.parametrize("name,mode", [("gray-28x28.png", "L"), ("ga-64x48.png", "LA"), ("rgb-31x17.png", "RGB"),
                                       ("rgba-61x45.png", "RGBA"), ("kodim05-crop.png", "L")])
def test_modes_round_trip(name, mode):
    im = open_image(name).convert(mode)
    f = io.BytesIO()
    im.save(f, format="AEC", quality=90)
    f.seek(0)
    with Image.open(f) as back:
        assert (back.mode, back.size) == (mode, im.size)
        a, b = np.asarray(im), np.asarray(back)
        assert a.shape == b.shape
        if mode in ("LA", "RGBA"):
            assert np.array_equal(a[..., -1], b[..., -1])  # alpha is lossless
        if im.size[0] * im.size[1] >= 28 * 28:
            colour = (a[..., :-1], b[..., :-1]) if mode in ("LA", "RGBA") else (a, b)
            mse = np.mean((colour[0].astype(float) - colour[1]) ** 2)
            assert 10 * np.log10(255 ** 2 / mse) > 25


def test_modes_converted_or_refused():
    cases = [(open_image("gray1-33x20.png"), "L"), (open_image("palette-trns-50x30.png"), "RGBA"),
             (open_image("rgb-31x17.png").convert("P"), "RGB"),
             (open_image("cmyk-16x16.jpg"), "RGB"), (open_image("rgba-61x45.png").convert("RGBa"), "RGBA")]
    for im, stored in cases:
        f = io.BytesIO()
        im.save(f, format="AEC")
        f.seek(0)
        with Image.open(f) as back:
            assert back.mode == stored and back.size == im.size
    for mode in ("I", "F", "I;16"):
        with pytest.raises(OSError, match="cannot write mode %s as AEC" % mode):
            open_image("gray-28x28.png").convert(mode).save(io.BytesIO(), format="AEC")


def test_icc_profile_both_ways(tmp_path):
    im = open_image("icc-48x32.png")
    profile = im.info["icc_profile"]
    im.save(tmp_path / "icc.aec")
    assert aecimg.read_icc((tmp_path / "icc.aec").read_bytes()) == profile
    with Image.open(tmp_path / "icc.aec") as back:
        assert back.info["icc_profile"] == profile  # known at open, before the pixels are decoded
        back.save(tmp_path / "icc.png")
    with Image.open(tmp_path / "icc.png") as png:
        assert png.info["icc_profile"] == profile
    # An explicit profile wins over the image's; none stays none.
    f = io.BytesIO()
    im.save(f, format="AEC", icc_profile=b"other profile")
    assert aecimg.read_icc(f.getvalue()) == b"other profile"
    f = io.BytesIO()
    open_image("rgb-31x17.png").save(f, format="AEC")
    f.seek(0)
    with Image.open(f) as back:
        assert "icc_profile" not in back.info


def test_damaged_files_raise(tmp_path):
    data = aecimg.encode(load("rgb-31x17.png"), 50)
    (tmp_path / "cut.aec").write_bytes(data[:-9])
    with pytest.raises(aecimg.AecimgError, match="truncated file"):
        Image.open(tmp_path / "cut.aec")
    flipped = bytearray(data)
    flipped[20] ^= 0x01
    with pytest.raises(aecimg.AecimgError, match="CRC mismatch"):
        Image.open(io.BytesIO(bytes(flipped)))
    # A payload damaged under a valid container opens (the header is fine) and fails to load.
    with Image.open(io.BytesIO(damage_payload(data))) as im:
        assert im.size == (31, 17)
        with pytest.raises(aecimg.AecimgError, match="corrupted latent payload"):
            im.load()
