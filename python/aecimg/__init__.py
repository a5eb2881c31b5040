"""aecimg: Python bindings of libaecimg, the aec learned image codec.

Compress NumPy arrays into .aec files and back, read a file's header, or get its dequantized latent
tensor as features for other learning::

    import aecimg
    data = aecimg.encode(rgb, quality=75)      # uint8 H x W x 3 -> bytes of a .aec file
    back = aecimg.decode(data)                 # -> uint8 H x W x 3
    aecimg.info(data)["width"]                 # the container header, without the model
    z = aecimg.latents(data)                   # float32 C x H/16 x W/16, what the synthesis receives
    m = aecimg.rate_map(data).bits             # float32 H/16 x W/16: where the bits went

Arrays are uint8, H x W (gray) or H x W x 1/2/3/4 (gray, gray+alpha, RGB, RGBA).  The default model is
the one the command-line tools use: $AECIMG_MODEL if set, else the model installed beside the library.

The package binds the installed libaecimg with ctypes (nothing is compiled): the library is found by
the dynamic loader (LD_LIBRARY_PATH, the ld.so cache), else in /usr/local/lib, or at the path in
$AECIMG_LIBRARY.  ``import aecimg.pillow`` registers the format with Pillow.

Threads: every C call releases the GIL.  A `Codec` holds one library context (one loaded model) and
runs one call at a time; it may be shared between threads, whose calls then wait for each other.  The
module-level functions take a context from a pool and return it afterwards, opening another one when
every pooled context is busy, so that threads calling them run in parallel (each context loads the
model once; the pool keeps at most as many as were ever busy at once).  Each call also spreads its own
work over `threads` OpenMP threads (by default all cores).
"""

import collections
import ctypes
import os
import threading

import numpy as np

from . import _lib
from ._lib import lib

__all__ = ["AecimgError", "Codec", "Decoded", "RateMap", "encode", "decode", "decode_image", "info",
           "latents", "rate_map", "read_icc", "library_version", "api_version", "QUALITY_DEFAULT",
           "EFFORT_DEFAULT", "EFFORT_MAX", "FORMAT_VERSIONS", "effort_refine"]
__version__ = "0.1.0"

QUALITY_DEFAULT = 75
EFFORT_DEFAULT = 3  # AECIMG_EFFORT_DEFAULT: the tools' default level
EFFORT_MAX = 9  # AECIMG_EFFORT_MAX
FORMAT_VERSIONS = (1, 2)  # container forms an encode can write; 2 (compact) is the default
_CHANNEL_SHAPES = {1: "gray", 2: "gray+alpha", 3: "RGB", 4: "RGBA"}


class AecimgError(ValueError):
    """An error the library reported.

    ``code`` is the library's error code (a negative AECIMG_ERR_* value), ``reason`` the library's text
    for it (aecimg_strerror), and the message is that text prefixed with what was being done.
    """

    def __init__(self, code, doing, detail=None):
        self.code = code
        self.reason = _lib.strerror(code)
        message = "%s: %s" % (doing, self.reason)
        super().__init__(message + (" (%s)" % detail if detail else ""))


def _check(code, doing, detail=None):
    if code < 0:
        raise AecimgError(code, doing, detail)
    return code


def library_version():
    """The version of the loaded libaecimg, e.g. '0.1.0'."""
    return lib.aecimg_version().decode("ascii")


def api_version():
    """The API version of the loaded libaecimg as (major, minor, patch)."""
    v = lib.aecimg_api_version()
    return (v >> 16, (v >> 8) & 0xFF, v & 0xFF)


def _as_bytes(data, what):
    """A .aec file as bytes (bytes, bytearray, memoryview or any buffer)."""
    if isinstance(data, bytes):
        return data
    try:
        return memoryview(data).tobytes()
    except TypeError:
        raise TypeError("%s: expected the bytes of a .aec file, got %s" % (what, type(data).__name__)) from None


def _as_pixels(array):
    """A C-contiguous uint8 array and its channel count, or TypeError/ValueError saying what is wrong.

    Integer arrays whose values all lie in 0..255 are converted; anything else of another dtype is
    refused rather than guessed at (floats may mean 0..1 or 0..255).
    """
    a = np.asarray(array)
    if a.dtype != np.uint8:
        if a.dtype.kind not in "iu":
            raise TypeError("aecimg.encode: expected a uint8 array, got dtype %s; convert it with "
                            "numpy.clip(x, 0, 255).astype(numpy.uint8)" % a.dtype)
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ValueError("aecimg.encode: values of a %s array must lie in 0..255 (got %d..%d)"
                             % (a.dtype, a.min(), a.max()))
        a = a.astype(np.uint8)
    if a.ndim == 2:
        channels = 1
    elif a.ndim == 3 and a.shape[2] in _CHANNEL_SHAPES:
        channels = a.shape[2]
    else:
        raise ValueError("aecimg.encode: expected an array of shape H x W or H x W x C with C 1 to 4, "
                         "got shape %s" % (a.shape,))
    h, w = a.shape[0], a.shape[1]
    if h < 1 or w < 1:
        raise ValueError("aecimg.encode: empty image (shape %s)" % (a.shape,))
    if h > _lib.MAX_DIMENSION or w > _lib.MAX_DIMENSION:
        raise AecimgError(_lib.ERR_TOO_LARGE, "aecimg.encode: %d x %d pixels" % (w, h))
    return np.ascontiguousarray(a), channels


def _check_effort(effort):
    """The effort level to set: None is the library's default level."""
    if effort is None:
        return EFFORT_DEFAULT
    return _check_int(effort, 0, EFFORT_MAX, "aecimg.encode: effort")


def effort_refine(effort):
    """The iterations of latent refinement that an effort level (0..EFFORT_MAX) runs."""
    return lib.aecimg_effort_refine(_check_int(effort, 0, EFFORT_MAX, "aecimg.effort_refine: effort"))


Decoded = collections.namedtuple("Decoded", "pixels icc source_bit_depth")
RateMap = collections.namedtuple("RateMap", "bits stride image_width image_height total_bits")
RateMap.__doc__ = """Where a file's bits went (`rate_map`).

``bits``: float32 H x W, the ideal code length of each latent position under the model's static
tables (H, W: the image's size / ``stride``, rounded up; a position covers ``stride`` x ``stride``
pixels, cropped to the image).  ``total_bits``: their sum in double precision.  The container, the ICC
profile and the alpha plane are not counted; see aecimg_decode_rate_map() in aecimg.h."""
Decoded.__doc__ = """What `Codec.decode_image` returns: the uint8 pixels (H x W or H x W x C), the ICC profile
(bytes) or None, and the bit depth of the original image (informational)."""


def _check_int(value, low, high, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError("%s must be an integer %d..%d, got %r" % (what, low, high, value))
    return int(value)


def _fspath_bytes(path):
    p = os.fspath(path)
    return p if isinstance(p, bytes) else os.fsencode(p)


class Codec:
    """One libaecimg context: a model loaded once, for any number of encodes and decodes.

    ``model``: path of a model file; None for the tools' default ($AECIMG_MODEL, else the installed
    model).  ``threads``: OpenMP threads of each call, 0 for all cores.  ``tile_size``: pixels of the
    square tiles the network runs on (0: the whole image; None: the library's default, 1024), which
    bounds memory and does not change the output.  ``max_pixels``: refuse larger images (None: the
    library's default, 2**28).

    Calls run one at a time (a lock serializes them), so a Codec may be shared between threads; for
    parallel work give each thread its own Codec or use the module-level functions.  Use it as a
    context manager, or call `close`, to free the model at once.
    """

    def __init__(self, model=None, threads=0, tile_size=None, max_pixels=None):
        self._ctx = ctypes.c_void_p()
        s = _lib.default_settings()
        s.threads = _check_int(threads, 0, 1024, "aecimg.Codec: threads")
        if tile_size is not None:
            s.tile_size = _check_int(tile_size, 0, 2**32 - 1, "aecimg.Codec: tile_size")
        if max_pixels is not None:
            s.max_pixels = _check_int(max_pixels, 1, 2**64 - 1, "aecimg.Codec: max_pixels")
        # Each transform is prepared when first used: a decode-only Codec never packs the analysis.
        s.roles = 0
        path = None if model is None else _fspath_bytes(model)
        s.model_path = path
        self._lock = threading.Lock()
        err = lib.aecimg_open(ctypes.byref(self._ctx), ctypes.byref(s))
        if err < 0:
            raise AecimgError(err, "cannot load the model %s" % (
                "'%s'" % path.decode(errors="replace") if path else "(the default one)"))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self, _close=lib.aecimg_close, _byref=ctypes.byref):
        # The defaults keep what is needed alive until the interpreter's last collection.
        ctx = getattr(self, "_ctx", None)
        if ctx:
            _close(_byref(ctx))

    def close(self):
        """Frees the context; later calls raise ValueError."""
        with self._lock:
            if self._ctx:
                lib.aecimg_close(ctypes.byref(self._ctx))

    def _context(self):
        if not self._ctx:
            raise ValueError("aecimg.Codec: the codec is closed")
        return self._ctx

    @property
    def model_name(self):
        """The loaded model's name."""
        return lib.aecimg_model_name(self._context()).decode("ascii", "replace")

    @property
    def model_path(self):
        """The path the model was loaded from."""
        return lib.aecimg_model_path(self._context()).decode(errors="surrogateescape")

    @property
    def model_hash(self):
        """The model's SHA-256 (64 hex digits), as files made with it record."""
        return ctypes.string_at(lib.aecimg_model_hash(self._context()), 32).hex()

    @property
    def cpu_level(self):
        """The SIMD level of the kernels: 'c', 'avx2', 'avx512' or 'avx512bf16'."""
        return lib.aecimg_cpu_level(self._context()).decode("ascii")

    def encode(self, array, quality=QUALITY_DEFAULT, effort=None, icc=None, refine=0, format_version=None):
        """Compresses a uint8 array into the bytes of a .aec file.

        ``array``: H x W (gray) or H x W x C with C 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA); other
        integer dtypes are converted when their values lie in 0..255, non-contiguous arrays are copied.
        ``quality``: 0..100, higher is better and larger.  ``effort``: the encoder's effort level,
        0..EFFORT_MAX (None: EFFORT_DEFAULT, as the tools): higher is slower and codes a smaller file at
        the same quality (`effort_refine` tells what a level does).  ``icc``: an ICC profile (bytes) to
        store.  ``refine``: iterations of latent refinement (0..1000), overriding the effort level when
        nonzero.  Decoding never depends on effort or refine.  ``format_version``: the container form,
        one of FORMAT_VERSIONS (None: 2, the compact form; 1 for readers older than aec 0.1's compact
        form).  Alpha is coded losslessly.
        """
        effort = _check_effort(effort)
        if format_version is not None:
            format_version = _check_int(format_version, min(FORMAT_VERSIONS), max(FORMAT_VERSIONS),
                                        "aecimg.encode: format_version")
        quality = _check_int(quality, 0, 100, "aecimg.encode: quality")
        refine = _check_int(refine, 0, 1000, "aecimg.encode: refine")
        pixels, channels = _as_pixels(array)
        icc = _as_bytes(icc, "aecimg.encode: icc") if icc else None
        img = _lib.Image(width=pixels.shape[1], height=pixels.shape[0], channels=channels,
                         pixels=pixels.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)), source_bit_depth=8)
        if icc:
            img.icc = ctypes.cast(ctypes.c_char_p(icc), ctypes.POINTER(ctypes.c_uint8))
            img.icc_size = len(icc)
        out = ctypes.POINTER(ctypes.c_uint8)()
        size = ctypes.c_size_t()
        with self._lock:
            ctx = self._context()
            _check(lib.aecimg_set_quality(ctx, quality), "aecimg.encode: quality %d" % quality)
            _check(lib.aecimg_set_refine(ctx, refine), "aecimg.encode: refine %d" % refine)
            _check(lib.aecimg_set_effort(ctx, effort), "aecimg.encode: effort %d" % effort)
            _check(lib.aecimg_set_format_version(ctx, format_version or 0), "aecimg.encode: format_version")
            _check(lib.aecimg_encode(ctx, ctypes.byref(img), ctypes.byref(out), ctypes.byref(size)),
                   "aecimg.encode")
        try:
            return ctypes.string_at(out, size.value)
        finally:
            lib.aecimg_free(out)

    def _raise_decode_error(self, err, data, doing):
        """Raises AecimgError for err < 0; a model mismatch names the model the file needs."""
        detail = None
        if err == _lib.ERR_MODEL_MISMATCH:
            hdr = info(data)
            detail = "made with model %s, hash %s; the loaded model is %s, hash %s; pass model=" % (
                hdr["model_name"] or "of unrecorded name", hdr["model_hash"][:16], self.model_name,
                self.model_hash[:16])
        _check(err, doing, detail)

    def decode_image(self, data):
        """Decodes a .aec file into a `Decoded` (pixels, icc, source_bit_depth)."""
        data = _as_bytes(data, "aecimg.decode")
        img = _lib.Image()
        with self._lock:
            err = lib.aecimg_decode(self._context(), data, len(data), ctypes.byref(img))
        self._raise_decode_error(err, data, "aecimg.decode")
        try:
            shape = (img.height, img.width) if img.channels == 1 else (img.height, img.width, img.channels)
            pixels = np.empty(shape, np.uint8)
            ctypes.memmove(pixels.ctypes.data, img.pixels, pixels.nbytes)
            icc = ctypes.string_at(img.icc, img.icc_size) if img.icc_size else None
            return Decoded(pixels, icc, img.source_bit_depth)
        finally:
            lib.aecimg_image_free(ctypes.byref(img))

    def decode(self, data):
        """Decodes a .aec file into a uint8 array: H x W for gray, else H x W x 2/3/4."""
        return self.decode_image(data).pixels

    def latents(self, data):
        """A .aec file's dequantized latent tensor, float32 C x H x W, without running the synthesis.

        Each value is (k + offset[c]) * inverse_gain[c] for the coded symbol k of channel c: exactly what
        the synthesis transform receives, as `aec-decode --latents` writes it.  H and W are the image's
        size divided by the model's stride (16), rounded up.
        """
        data = _as_bytes(data, "aecimg.latents")
        lat = _lib.Latents()
        with self._lock:
            err = lib.aecimg_decode_latents(self._context(), data, len(data), ctypes.byref(lat))
        self._raise_decode_error(err, data, "aecimg.latents")
        try:
            out = np.empty((lat.channels, lat.height, lat.width), np.float32)
            ctypes.memmove(out.ctypes.data, lat.data, out.nbytes)
            return out
        finally:
            lib.aecimg_latents_free(ctypes.byref(lat))

    def rate_map(self, data):
        """Where a .aec file's bits went, without running the synthesis: a `RateMap`.

        As `aec-decode --rate-map` draws it: each latent position's ideal code length, the cost of a
        ``stride`` x ``stride`` block of the image (an autoencoder spends more bits on what it models
        badly, which localises unusual content).
        """
        data = _as_bytes(data, "aecimg.rate_map")
        m = _lib.RateMap()
        with self._lock:
            err = lib.aecimg_decode_rate_map(self._context(), data, len(data), ctypes.byref(m))
        self._raise_decode_error(err, data, "aecimg.rate_map")
        try:
            bits = np.empty((m.height, m.width), np.float32)
            ctypes.memmove(bits.ctypes.data, m.bits, bits.nbytes)
            return RateMap(bits, m.stride, m.image_width, m.image_height, m.total_bits)
        finally:
            lib.aecimg_rate_map_free(ctypes.byref(m))


def info(data):
    """The container header of a .aec file as a dict, read without the model.

    Keys as `aec-decode --info` prints them: file_size, format_version, width, height, channels,
    source_bit_depth, quality, quantizer, entropy (the stage's number) and entropy_name ('ctx', 'rans',
    'zstd'), latent_channels, latent_height, latent_width, stream_count, payload_size, alpha_size,
    icc_size, model_name, model_hash (64 hex digits).  The whole container is validated (every CRC).
    A compact (format_version 2) file stores neither the latent shape (0 here: it is the model's) nor
    the model name (''), and only the first 8 bytes of the model hash (16 hex digits here).
    """
    data = _as_bytes(data, "aecimg.info")
    hdr = _lib.Info()
    _check(lib.aecimg_read_info(data, len(data), ctypes.byref(hdr)), "aecimg.info")
    out = {"file_size": len(data)}
    for name, _ in _lib.Info._fields_:
        out[name] = getattr(hdr, name)
    out["entropy_name"] = _lib.ENTROPY_NAMES.get(hdr.entropy, "unknown")
    out["model_name"] = hdr.model_name.decode("ascii", "replace")
    stored = 8 if hdr.format_version == 2 else 32
    out["model_hash"] = bytes(hdr.model_hash)[:stored].hex()
    return out


def read_icc(data):
    """The ICC profile stored in a .aec file (bytes), or None; no model, no decoding."""
    data = _as_bytes(data, "aecimg.read_icc")
    icc = ctypes.POINTER(ctypes.c_uint8)()
    size = ctypes.c_size_t()
    _check(lib.aecimg_read_icc(data, len(data), ctypes.byref(icc), ctypes.byref(size)), "aecimg.read_icc")
    return ctypes.string_at(icc, size.value) if size.value else None


class _Pool:
    """Idle Codecs per model for the module-level functions: one is taken for a call and put back."""

    def __init__(self):
        self._lock = threading.Lock()
        self._idle = {}

    def take(self, model):
        key = None if model is None else _fspath_bytes(model)
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return key, idle.pop()
        return key, Codec(model)

    def give_back(self, key, codec):
        with self._lock:
            self._idle.setdefault(key, []).append(codec)

    def run(self, model, method, *args, **kwargs):
        key, codec = self.take(model)
        try:
            return getattr(codec, method)(*args, **kwargs)
        finally:
            self.give_back(key, codec)


_pool = _Pool()


def encode(array, quality=QUALITY_DEFAULT, effort=None, model=None, **kwargs):
    """Compresses a uint8 array into the bytes of a .aec file; see `Codec.encode` (icc=, refine=)."""
    return _pool.run(model, "encode", array, quality, effort, **kwargs)


def decode(data, model=None):
    """Decodes the bytes of a .aec file into a uint8 array with the stored shape: H x W for gray,
    H x W x 2/3/4 for gray+alpha, RGB and RGBA."""
    return _pool.run(model, "decode", data)


def decode_image(data, model=None):
    """Decodes a .aec file into a `Decoded` (pixels, icc, source_bit_depth)."""
    return _pool.run(model, "decode_image", data)


def latents(data, model=None):
    """A .aec file's dequantized latent tensor, float32 C x H x W; see `Codec.latents`."""
    return _pool.run(model, "latents", data)


def rate_map(data, model=None):
    """Where a .aec file's bits went, a `RateMap`; see `Codec.rate_map`."""
    return _pool.run(model, "rate_map", data)
