"""test_codec: aecimg against the library and the tools: round trips of every layout and odd sizes, the
same bytes and pixels as aec-encode/aec-decode, latents, errors on damaged files and bad arrays, threads."""

import math
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import aecimg
from aecimg import _lib
from helpers import EXAMPLES, IMAGES, TINY_MODEL, damage_payload, load, psnr

PHOTO = "kodim05-crop.png"  # 256 x 256


def test_library_and_settings_layout():
    assert aecimg.api_version() >= (1, 1, 0)
    assert aecimg.library_version() == aecimg.__version__
    # Every field at its offset: the defaults aecimg.h documents, read back through the mirror.
    s = _lib.default_settings()
    assert (s.quality, s.threads, s.entropy, s.keep_icc) == (75, 0, 0, 1)
    assert s.max_pixels == 2 ** 28 and s.model_path is None
    assert (s.tile_size, s.roles, s.refine) == (1024, _lib.ROLE_ENCODE | _lib.ROLE_DECODE, 0)


def crop(name, h, w, mode):
    """An h x w crop of a test photo in `mode`, alpha (if any) a pattern that lossless coding must keep."""
    rgb = load(name, "RGB")[:h, :w]
    gray = np.round(rgb @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
    alpha = ((np.arange(h)[:, None] * 7 + np.arange(w)[None, :] * 13) % 256).astype(np.uint8)
    return {"L": gray, "L1": gray[:, :, None], "LA": np.dstack([gray, alpha]), "RGB": rgb,
            "RGBA": np.dstack([rgb, alpha])}[mode]


@pytest.mark.parametrize("mode", ["L", "L1", "LA", "RGB", "RGBA"])
@pytest.mark.parametrize("h,w", [(1, 1), (1, 37), (37, 1), (17, 31), (45, 61), (129, 97)])
def test_round_trip_every_layout_and_odd_size(mode, h, w):
    a = crop(PHOTO, h, w, mode)
    data = aecimg.encode(a, quality=80)
    assert data[:8] == b"\x8aAEC\r\n\x1a\n"
    channels = 1 if a.ndim == 2 else a.shape[2]
    hdr = aecimg.info(data)
    assert (hdr["width"], hdr["height"], hdr["channels"]) == (w, h, channels)
    out = aecimg.decode(data)
    # The stored shape: H x W for gray (an H x W x 1 array comes back as H x W), else H x W x C.
    assert out.shape == ((h, w) if channels == 1 else (h, w, channels))
    assert out.dtype == np.uint8 and out.flags["C_CONTIGUOUS"] and out.flags["WRITEABLE"]
    a = a.reshape(out.shape)
    if channels in (2, 4):
        assert np.array_equal(out[..., -1], a[..., -1])  # alpha is lossless
    colour = a[..., :-1] if channels in (2, 4) else a
    got = out[..., :-1] if channels in (2, 4) else out
    if h * w >= 16 * 16:
        # A broken layout (swapped channels, transposed rows) lands near 10 dB.
        assert psnr(colour, got) > 27


def test_same_bytes_and_pixels_as_the_tools(tools, tmp_path):
    """The package encodes to aec-encode's bytes and decodes to aec-decode's pixels (so PSNR is the tools'),
    with the same default model, for an RGB and a gray image."""
    for name, mode in [(PHOTO, "RGB"), ("gray-28x28.png", "L")]:
        a = load(name, mode)
        tools.encode("-f", "-q", 60, "-o", tmp_path / "t.aec", IMAGES / name)
        from_tool = (tmp_path / "t.aec").read_bytes()
        data = aecimg.encode(a, 60)
        assert data == from_tool
        tools.decode("-f", "-o", tmp_path / "t.png", "--latents", tmp_path / "t.npy", tmp_path / "t.aec")
        want = load(tmp_path / "t.png")
        out = aecimg.decode(data)
        assert out.shape == a.shape == want.shape
        assert np.array_equal(out, want)
        assert psnr(a, out) == psnr(a, want) > (28 if mode == "RGB" else 20)
        z = aecimg.latents(data)
        assert np.array_equal(z, np.load(tmp_path / "t.npy"))
    version = tools.run(tools.encoder, "--version")
    path = [line.split(": ", 1)[1] for line in version.splitlines() if line.startswith("model path: ")][0]
    with aecimg.Codec() as c:
        assert c.model_path == path


def test_info_is_what_aec_decode_info_prints(tools, tmp_path):
    a = crop(PHOTO, 40, 50, "RGBA")
    data = aecimg.encode(a, 35, icc=b"\x00profile" * 20)
    (tmp_path / "i.aec").write_bytes(data)
    printed = dict(line.split(": ", 1) for line in tools.run(tools.decoder, "--info", tmp_path / "i.aec").splitlines())
    hdr = aecimg.info(data)
    assert hdr["alpha_size"] > 0 and hdr["icc_size"] == 160 and hdr["quality"] == 35
    assert printed.pop("entropy") == "%s (%d)" % (hdr.pop("entropy_name"), hdr.pop("entropy"))
    assert printed == {k: str(v) for k, v in hdr.items()}


def test_latents():
    a = load(PHOTO)[:70, :100]
    lo, hi = aecimg.encode(a, 10), aecimg.encode(a, 90)
    hdr = aecimg.info(lo)
    z = aecimg.latents(lo)
    assert z.dtype == np.float32 and z.ndim == 3 and z.flags["C_CONTIGUOUS"]
    # The compact form leaves the shape to the model.
    assert hdr["format_version"] == 2 and hdr["latent_channels"] == 0
    assert z.shape[0] > 0 and z.shape[1:] == (math.ceil(70 / 16), math.ceil(100 / 16))
    assert np.isfinite(z).all() and np.count_nonzero(z) > 0
    # Another quality, other symbols and gains: other values of the same shape.
    z_hi = aecimg.latents(hi)
    assert z_hi.shape == z.shape and not np.array_equal(z, z_hi)
    with aecimg.Codec() as c:
        assert np.array_equal(c.latents(lo), z)


def test_rate_map_is_what_the_tools_count(tools, tmp_path):
    """The map covers the image in stride-sized blocks and sums to the ideal bits aec-decode --score
    prints; the same from a Codec; a damaged file raises."""
    a = load(PHOTO)[:70, :100]
    data = aecimg.encode(a, 40)
    m = aecimg.rate_map(data)
    assert m.bits.dtype == np.float32 and m.bits.shape == (math.ceil(70 / m.stride), math.ceil(100 / m.stride))
    assert (m.stride, m.image_width, m.image_height) == (16, 100, 70)
    assert (m.bits >= 0).all() and m.bits.max() > 0
    assert math.isclose(float(m.bits.sum(dtype=np.float64)), m.total_bits, rel_tol=1e-5)
    (tmp_path / "r.aec").write_bytes(data)
    score = tools.run(tools.decoder, "--score", "-f", "-o", tmp_path / "r.png", tmp_path / "r.aec")
    fields = dict(f.split("=", 1) for f in score.split("\t")[1:])
    assert abs(float(fields["ideal_bits"]) - m.total_bits) <= 0.1
    with aecimg.Codec() as c:
        assert np.array_equal(c.rate_map(data).bits, m.bits)
    with pytest.raises(aecimg.AecimgError):
        aecimg.rate_map(data[: len(data) // 2])


def test_format_version():
    """Version 1 (chunks) and 2 (compact) files of the same image: the same pixels, the compact one
    smaller; anything else refused before encoding."""
    a = load(PHOTO)[:40, :60]
    v1, v2 = aecimg.encode(a, 50, format_version=1), aecimg.encode(a, 50, format_version=2)
    assert aecimg.info(v1)["format_version"] == 1 and aecimg.info(v2)["format_version"] == 2
    assert aecimg.encode(a, 50) == v2 and len(v2) < len(v1)
    assert np.array_equal(aecimg.decode(v1), aecimg.decode(v2))
    # A pooled context does not keep the version: the next default encode is compact again.
    assert aecimg.info(aecimg.encode(a, 50))["format_version"] == 2
    for bad in (0, 3, True, "2", 2.0):
        with pytest.raises(ValueError):
            aecimg.encode(a, 50, format_version=bad)


def test_quality_orders_size_and_fidelity():
    a = load(PHOTO)
    files = [aecimg.encode(a, q) for q in (10, 50, 90)]
    assert len(files[0]) < len(files[1]) < len(files[2])
    assert psnr(a, aecimg.decode(files[0])) < psnr(a, aecimg.decode(files[2]))


def test_icc_round_trip():
    profile = bytes(range(256)) * 3
    data = aecimg.encode(load("rgb-31x17.png"), icc=profile)
    assert aecimg.read_icc(data) == profile
    decoded = aecimg.decode_image(data)
    assert decoded.icc == profile and decoded.pixels.shape == (17, 31, 3) and decoded.source_bit_depth == 8
    assert aecimg.read_icc(aecimg.encode(load("rgb-31x17.png"))) is None


@pytest.fixture(scope="module")
def small_file():
    return aecimg.encode(load("rgb-31x17.png"), 50)


def test_truncated_files_raise_with_the_library_message(small_file):
    for n in (len(small_file) - 1, len(small_file) // 2, 12, 7, 0):
        for call in (aecimg.decode, aecimg.latents, aecimg.info, aecimg.read_icc):
            with pytest.raises(aecimg.AecimgError) as e:
                call(small_file[:n])
            assert e.value.code == -6 and "truncated file" in str(e.value)


def test_every_damaged_byte_raises(small_file):
    """Each byte inverted in turn: the container's CRCs and checks refuse every one, and nothing crashes."""
    for at in range(len(small_file)):
        b = bytearray(small_file)
        b[at] ^= 0xFF
        with pytest.raises(aecimg.AecimgError) as e:
            aecimg.decode(bytes(b))
        assert e.value.code < 0 and e.value.reason in str(e.value)


def test_damaged_payload_and_other_data_raise(small_file):
    with pytest.raises(aecimg.AecimgError, match="corrupted latent payload"):
        aecimg.decode(damage_payload(small_file))
    with pytest.raises(aecimg.AecimgError, match="bad signature"):
        aecimg.decode((IMAGES / "rgb-31x17.png").read_bytes())
    # Another model named: the installed model the file names decodes it (files outlive upgrades).
    with aecimg.Codec(model=TINY_MODEL, threads=1) as c:
        assert c.decode(small_file).shape == aecimg.decode(small_file).shape
        assert c.model_hash.startswith(aecimg.info(small_file)["model_hash"])
    with pytest.raises(aecimg.AecimgError, match="model file not found"):
        aecimg.Codec(model="/nonexistent/model.aecm")
    # Any bytes-like object is accepted; other types are refused.
    assert aecimg.decode(bytearray(small_file)).shape == (17, 31, 3)
    assert aecimg.info(memoryview(small_file))["width"] == 31
    for bad in ("not bytes", 42, None):
        with pytest.raises(TypeError):
            aecimg.decode(bad)


def test_bad_arrays_are_refused_or_converted():
    a = load("rgb-31x17.png")
    want = aecimg.encode(a, 50)
    # Converted: other integer types in 0..255, non-contiguous views, Fortran order, lists.
    assert aecimg.encode(a.astype(np.int64), 50) == want
    assert aecimg.encode(np.asfortranarray(a), 50) == want
    wide = np.zeros((17, 62, 3), np.uint8)
    wide[:, ::2] = a
    assert aecimg.encode(wide[:, ::2], 50) == want
    assert aecimg.encode(a.tolist(), 50) == want
    # Refused, with what was expected.
    for bad in (a.astype(np.float32), a > 100, np.array([[None]])):
        with pytest.raises(TypeError, match="uint8"):
            aecimg.encode(bad)
    with pytest.raises(ValueError, match="0..255"):
        aecimg.encode(a.astype(np.int16) + 256)
    for shape in [(5,), (4, 4, 5), (4, 4, 0), (2, 4, 4, 3), (0, 5), (5, 0, 3), ()]:
        with pytest.raises(ValueError):
            aecimg.encode(np.zeros(shape, np.uint8))
    with pytest.raises(aecimg.AecimgError, match="exceed the limits"):
        aecimg.encode(np.zeros((1, 70000), np.uint8))
    for q in (-1, 101, 50.0, "75", True, None):
        with pytest.raises(ValueError, match="quality"):
            aecimg.encode(a, q)
    for e in (-1, 10, 2.0, "3", True):
        with pytest.raises(ValueError, match="effort"):
            aecimg.encode(a, 50, effort=e)
    with pytest.raises(ValueError, match="refine"):
        aecimg.encode(a, refine=1001)
    for bad in (dict(threads=-1), dict(tile_size=-5), dict(max_pixels=0)):
        with pytest.raises(ValueError):
            aecimg.Codec(**bad)
    assert aecimg.encode(a, 50) == want  # nothing above disturbed the pooled contexts


def test_refine_changes_the_file():
    a = load(PHOTO)[:64, :64]
    plain, refined = aecimg.encode(a, 50), aecimg.encode(a, 50, refine=2)
    assert plain != refined and aecimg.decode(refined).shape == a.shape


def test_codec_reuse_and_close(small_file):
    with aecimg.Codec(threads=1, tile_size=64) as c:
        hdr = aecimg.info(small_file)
        assert len(hdr["model_hash"]) == 16 and c.model_hash.startswith(hdr["model_hash"])
        assert c.cpu_level in ("c", "avx2", "avx512", "avx512bf16")
        a = load(PHOTO)
        sizes = [len(c.encode(a, q)) for q in (20, 40, 60, 80)]
        assert sizes == sorted(sizes) and len(set(sizes)) == 4
        # The tile size and thread count do not change the bytes.
        assert c.encode(a, 50) == aecimg.encode(a, 50)
    with pytest.raises(ValueError, match="closed"):
        c.encode(a)
    c.close()
    with aecimg.Codec(max_pixels=100) as c:
        with pytest.raises(aecimg.AecimgError, match="exceed the limits"):
            c.decode(small_file)


def test_threaded_encode():
    """Threads encode in parallel (module-level functions: a context each; one shared Codec: in turn),
    and every file is the one a single thread makes."""
    images = [load(PHOTO)[y:y + 96, x:x + 80] for y in (0, 100) for x in (0, 90, 170)]
    want = [aecimg.encode(im, 60) for im in images]
    shared = aecimg.Codec(threads=1)
    results, errors = {}, []

    def work(i):
        try:
            results[i] = (aecimg.encode(images[i], 60), shared.encode(images[i], 60),
                          aecimg.decode(want[i]).shape)
        except Exception as e:  # reported below: an exception in a thread would otherwise be lost
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(images))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, im in enumerate(images):
        assert results[i] == (want[i], want[i], im.shape)
    shared.close()


def test_calls_release_the_gil():
    """While a thread is inside an encode, the main thread keeps running Python: the longest pause it
    sees is far shorter than one encode (it would be the whole encode if the GIL were held)."""
    a = load("kodim23.png")
    with aecimg.Codec(threads=1) as c:
        c.encode(a)  # prepares the analysis transform
        start = time.perf_counter()
        c.encode(a)
        one = time.perf_counter() - start
        worker = threading.Thread(target=lambda: [c.encode(a) for _ in range(3)])
        worker.start()
        last, longest = time.perf_counter(), 0.0
        while worker.is_alive():
            now = time.perf_counter()
            longest, last = max(longest, now - last), now
        worker.join()
    assert one > 0.05
    assert longest < one / 2, "main thread paused %.3f s during %.3f s encodes" % (longest, one)


def test_example_script(tmp_path):
    for name in ("rgb-31x17.png", "gray-28x28.png", "rgba-61x45.png"):
        (tmp_path / name).write_bytes((IMAGES / name).read_bytes())
    (tmp_path / "notes.txt").write_text("not an image\n")
    out = tmp_path / "aec"
    done = subprocess.run([sys.executable, str(EXAMPLES / "compress_folder.py"), "-q", "50", "-o", str(out),
                           str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    text = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    lines = {line.split()[0]: line for line in text.splitlines() if line.split() and "." in line.split()[0]}
    for name in ("rgb-31x17.png", "gray-28x28.png", "rgba-61x45.png"):
        assert name in lines and "dB" in lines[name]
        assert (out / (name.rsplit(".", 1)[0] + ".aec")).stat().st_size == int(lines[name].split()[3])
    assert "notes.txt" in done.stderr.decode()
    assert "total" in text


def test_effort_levels():
    """An effort level runs the refinement its table says; None is the default level; refine overrides."""
    a = load("kodim05-crop.png", "RGB")[:64, :96]
    assert aecimg.effort_refine(0) == 0 and aecimg.effort_refine(aecimg.EFFORT_DEFAULT) > 0
    iterations = [aecimg.effort_refine(e) for e in range(aecimg.EFFORT_MAX + 1)]
    assert iterations == sorted(iterations) and iterations[-1] > iterations[1] > 0
    with pytest.raises(ValueError, match="effort"):
        aecimg.effort_refine(aecimg.EFFORT_MAX + 1)
    codec = aecimg.Codec()
    default = codec.encode(a, 50)
    assert codec.encode(a, 50, effort=aecimg.EFFORT_DEFAULT) == default
    assert codec.encode(a, 50, refine=aecimg.effort_refine(aecimg.EFFORT_DEFAULT)) == default
    plain = codec.encode(a, 50, effort=0)
    assert plain != default
    searched = codec.encode(a, 50, effort=2)
    assert searched not in (plain, default)
    assert codec.encode(a, 50, refine=aecimg.effort_refine(2)) == searched
    assert codec.encode(a, 50, effort=2, refine=1) == codec.encode(a, 50, refine=1)
    assert codec.encode(a, 50) == default  # the level of one call does not stick to the context
    assert aecimg.decode(searched).shape == a.shape
