"""_lib: finds libaecimg through the dynamic loader and declares its C API to ctypes.

Nothing is compiled: the structures below mirror include/aecimg/aecimg.h (API 1.2).  ctypes calls through
a CDLL release the GIL for the duration of each C call.
"""

import ctypes
import os
import sys

# libtool's -version-info 3:0:2 gives the soname libaecimg.so.1; a new soname means an ABI this module
# does not know.
SONAME_MAJOR = 1
API_MAJOR = 1
API_MINOR_NEEDED = 2  # 1.1: latents, read_icc, free, set_effort; 1.2: set_format_version, rate maps

# Error codes of aecimg.h: fixed values, never renumbered.
ERR_INVALID_ARGUMENT = -1
ERR_NO_MEMORY = -2
ERR_TOO_LARGE = -10
ERR_MODEL_MISMATCH = -11

ROLE_ENCODE = 1
ROLE_DECODE = 2
MAX_DIMENSION = 65535
ENTROPY_NAMES = {0: "auto", 1: "zstd", 2: "rans", 3: "ctx"}


class Settings(ctypes.Structure):
    """AecimgSettings."""

    _fields_ = [
        ("quality", ctypes.c_int),
        ("threads", ctypes.c_int),
        ("entropy", ctypes.c_int),
        ("keep_icc", ctypes.c_int),
        ("max_pixels", ctypes.c_uint64),
        ("model_path", ctypes.c_char_p),
        ("tile_size", ctypes.c_uint32),
        ("roles", ctypes.c_int),
        ("refine", ctypes.c_int),
        # Room for fields a newer 1.x library appends, which aecimg_default_settings() then fills in
        # beyond what this mirror names.
        ("_reserved", ctypes.c_uint8 * 256),
    ]


class Image(ctypes.Structure):
    """AecimgImage."""

    _fields_ = [
        ("width", ctypes.c_uint32),
        ("height", ctypes.c_uint32),
        ("channels", ctypes.c_uint32),
        ("pixels", ctypes.POINTER(ctypes.c_uint8)),
        ("icc", ctypes.POINTER(ctypes.c_uint8)),
        ("icc_size", ctypes.c_size_t),
        ("source_bit_depth", ctypes.c_uint32),
    ]


class RateMap(ctypes.Structure):
    """AecimgRateMap."""

    _fields_ = [
        ("width", ctypes.c_uint32),
        ("height", ctypes.c_uint32),
        ("stride", ctypes.c_uint32),
        ("image_width", ctypes.c_uint32),
        ("image_height", ctypes.c_uint32),
        ("total_bits", ctypes.c_double),
        ("bits", ctypes.POINTER(ctypes.c_float)),
    ]


class Latents(ctypes.Structure):
    """AecimgLatents."""

    _fields_ = [
        ("channels", ctypes.c_uint32),
        ("height", ctypes.c_uint32),
        ("width", ctypes.c_uint32),
        ("data", ctypes.POINTER(ctypes.c_float)),
    ]


class Info(ctypes.Structure):
    """AecimgInfo."""

    _fields_ = [
        ("format_version", ctypes.c_uint32),
        ("width", ctypes.c_uint32),
        ("height", ctypes.c_uint32),
        ("channels", ctypes.c_uint32),
        ("source_bit_depth", ctypes.c_uint32),
        ("quality", ctypes.c_uint32),
        ("quantizer", ctypes.c_uint32),
        ("entropy", ctypes.c_uint32),
        ("latent_channels", ctypes.c_uint32),
        ("latent_height", ctypes.c_uint32),
        ("latent_width", ctypes.c_uint32),
        ("stream_count", ctypes.c_uint32),
        ("payload_size", ctypes.c_uint64),
        ("alpha_size", ctypes.c_uint64),
        ("icc_size", ctypes.c_uint64),
        ("model_name", ctypes.c_char * 64),
        ("model_hash", ctypes.c_uint8 * 32),
    ]


_u8p = ctypes.POINTER(ctypes.c_uint8)
_ctx = ctypes.c_void_p

# name: (return type, argument types)
_PROTOTYPES = {
    "aecimg_version": (ctypes.c_char_p, []),
    "aecimg_api_version": (ctypes.c_uint, []),
    "aecimg_strerror": (ctypes.c_char_p, [ctypes.c_int]),
    "aecimg_default_settings": (None, [ctypes.POINTER(Settings)]),
    "aecimg_open": (ctypes.c_int, [ctypes.POINTER(_ctx), ctypes.POINTER(Settings)]),
    "aecimg_close": (None, [ctypes.POINTER(_ctx)]),
    "aecimg_model_name": (ctypes.c_char_p, [_ctx]),
    "aecimg_model_path": (ctypes.c_char_p, [_ctx]),
    "aecimg_model_hash": (_u8p, [_ctx]),
    "aecimg_cpu_level": (ctypes.c_char_p, [_ctx]),
    "aecimg_set_quality": (ctypes.c_int, [_ctx, ctypes.c_int]),
    "aecimg_set_refine": (ctypes.c_int, [_ctx, ctypes.c_int]),
    "aecimg_set_effort": (ctypes.c_int, [_ctx, ctypes.c_int]),
    "aecimg_effort_refine": (ctypes.c_int, [ctypes.c_int]),
    "aecimg_set_format_version": (ctypes.c_int, [_ctx, ctypes.c_int]),
    "aecimg_encode": (ctypes.c_int, [_ctx, ctypes.POINTER(Image), ctypes.POINTER(_u8p),
                                     ctypes.POINTER(ctypes.c_size_t)]),
    "aecimg_decode": (ctypes.c_int, [_ctx, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(Image)]),
    "aecimg_decode_latents": (ctypes.c_int, [_ctx, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(Latents)]),
    "aecimg_read_info": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(Info)]),
    "aecimg_read_icc": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(_u8p),
                                       ctypes.POINTER(ctypes.c_size_t)]),
    "aecimg_image_free": (None, [ctypes.POINTER(Image)]),
    "aecimg_latents_free": (None, [ctypes.POINTER(Latents)]),
    "aecimg_decode_rate_map": (ctypes.c_int, [_ctx, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(RateMap)]),
    "aecimg_rate_map_free": (None, [ctypes.POINTER(RateMap)]),
    "aecimg_free": (None, [ctypes.c_void_p]),
}


def _candidates():
    """Library names and paths to try, in order.

    $AECIMG_LIBRARY names the file outright.  Otherwise the soname goes to the dynamic loader, which
    searches LD_LIBRARY_PATH, the ld.so cache and the system folders; then /usr/local's lib folders are
    tried by path, because `make install` into /usr/local does not refresh the ld.so cache (that takes
    `ldconfig`), and the loader looks in /usr/local/lib only through the cache.
    """
    explicit = os.environ.get("AECIMG_LIBRARY")
    if explicit:
        return [explicit]
    if sys.platform == "darwin":
        name = "libaecimg.%d.dylib" % SONAME_MAJOR
    else:
        name = "libaecimg.so.%d" % SONAME_MAJOR
    names = [name]
    for folder in ("/usr/local/lib", "/usr/local/lib64"):
        names.append(os.path.join(folder, name))
    return names


def _load():
    tried = []
    for candidate in _candidates():
        try:
            return ctypes.CDLL(candidate)
        except OSError as e:
            tried.append(str(e))
    raise ImportError(
        "aecimg: cannot load libaecimg (tried %s). Install aec (./configure && make && make install), "
        "then run ldconfig or put the folder holding libaecimg.so.%d on LD_LIBRARY_PATH, or name the "
        "file in $AECIMG_LIBRARY." % ("; ".join(tried), SONAME_MAJOR))


def _declare(lib):
    for name, (restype, argtypes) in _PROTOTYPES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            raise ImportError("aecimg: %s has no %s; it is older than API %d.%d, which this package needs"
                              % (lib._name, name, API_MAJOR, API_MINOR_NEEDED)) from None
        fn.restype = restype
        fn.argtypes = argtypes


def _check_version(lib):
    version = lib.aecimg_api_version()
    major, minor = version >> 16, (version >> 8) & 0xFF
    if major != API_MAJOR or minor < API_MINOR_NEEDED:
        raise ImportError("aecimg: %s has API %d.%d; this package needs %d.%d or a later %d.x"
                          % (lib._name, major, minor, API_MAJOR, API_MINOR_NEEDED, API_MAJOR))


lib = _load()
_declare(lib)
_check_version(lib)


def strerror(code):
    """The library's message for an error code."""
    return lib.aecimg_strerror(code).decode("ascii", "replace")


def default_settings():
    """An AecimgSettings filled by aecimg_default_settings()."""
    s = Settings()
    lib.aecimg_default_settings(ctypes.byref(s))
    return s
