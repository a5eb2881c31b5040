/* io-aec.c: the gdk-pixbuf loader for .aec images, through which GTK image viewers, thumbnailers
 * and other gdk-pixbuf programs open them.
 *
 * gdk-pixbuf feeds the file in pieces.  The image size is announced (size_func) as soon as the
 * header has arrived, so gdk_pixbuf_get_file_info() needs only the first 29 bytes; the pixels
 * are decoded when the last piece is in, because the synthesis transform needs every latent.
 * The pixbuf is announced (prepared_func) only once it holds the whole decoded image: a viewer
 * never shows a partial or blank picture for a file that then turns out to be damaged. */
#include <stdint.h>
#include <string.h>

#define GDK_PIXBUF_ENABLE_BACKEND
#include <gdk-pixbuf/gdk-pixbuf.h>

#include <aecimg/aecimg.h>

/* doc/container.md, section 2.1. */
#define AEC_SIGNATURE "\x8a" "AEC\r\n\x1a\n"
#define AEC_SIGNATURE_SIZE 8
/* AHDR is always the first chunk (section 2.5), so in version 1 its fields sit at fixed offsets:
 * chunk length at 8, type at 12, then format_version, width, height from 16 on. */
#define AHDR_LENGTH_AT 8
#define AHDR_TYPE_AT 12
#define AHDR_DATA_AT 16
#define AHDR_V1_LENGTH 13
#define AHDR_END (AHDR_DATA_AT + AHDR_V1_LENGTH)
/* The compact form (version 2, section 9) marks itself with its form byte at 8 and keeps width and
 * height as u16 at 9 and 11, well inside the AHDR_END bytes that a version-1 header needs. */
#define COMPACT_FORM_AT 8
#define COMPACT_FORM_V2 0x82
#define COMPACT_WIDTH_AT 9
#define COMPACT_HEIGHT_AT 11

G_MODULE_EXPORT void fill_vtable(GdkPixbufModule *module);
G_MODULE_EXPORT void fill_info(GdkPixbufFormat *info);

typedef struct AecLoader {
    GdkPixbufModuleSizeFunc size_func;
    GdkPixbufModulePreparedFunc prepared_func;
    GdkPixbufModuleUpdatedFunc updated_func;
    gpointer user_data;
    guint8 *data; /* the file so far */
    gsize size, capacity;
    gboolean header_seen; /* the first AHDR_END bytes have been examined */
    gboolean failed;      /* load_increment reported an error; nothing is decoded */
} AecLoader;

static guint32 load_be32(const guint8 *p)
{
    return (guint32)p[0] << 24 | (guint32)p[1] << 16 | (guint32)p[2] << 8 | p[3];
}

/* g_try_realloc, not GByteArray: an input too large for memory must be an error, not an abort. */
static gboolean append_data(AecLoader *ld, const guchar *buf, gsize n, GError **error)
{
    if (n > ld->capacity - ld->size) {
        gsize want = MAX(ld->capacity, 4096);
        while (want - ld->size < n && want <= G_MAXSIZE / 2)
            want *= 2;
        guint8 *p = want - ld->size >= n ? g_try_realloc(ld->data, want) : NULL;
        if (!p) {
            g_set_error(error, GDK_PIXBUF_ERROR, GDK_PIXBUF_ERROR_INSUFFICIENT_MEMORY,
                        "Not enough memory to hold an AEC file of %" G_GSIZE_FORMAT " bytes",
                        ld->size + n);
            return FALSE;
        }
        ld->data = p;
        ld->capacity = want;
    }
    memcpy(ld->data + ld->size, buf, n);
    ld->size += n;
    return TRUE;
}

static guint32 load_be16(const guint8 *p)
{
    return (guint32)p[0] << 8 | p[1];
}

/* Width and height of a version-1 AHDR or a version-2 compact header in range, or FALSE: anything
 * else is left to the decoder, which names the problem precisely once the whole file is in. */
static gboolean header_size(const guint8 *p, gint *width, gint *height)
{
    guint32 w, h;
    if (p[COMPACT_FORM_AT] == COMPACT_FORM_V2) {
        w = load_be16(p + COMPACT_WIDTH_AT);
        h = load_be16(p + COMPACT_HEIGHT_AT);
    } else if (load_be32(p + AHDR_LENGTH_AT) == AHDR_V1_LENGTH && memcmp(p + AHDR_TYPE_AT, "AHDR", 4) == 0 &&
               p[AHDR_DATA_AT] == 1) {
        w = load_be32(p + AHDR_DATA_AT + 1);
        h = load_be32(p + AHDR_DATA_AT + 5);
    } else {
        return FALSE;
    }
    if (w == 0 || h == 0 || w > AECIMG_MAX_DIMENSION || h > AECIMG_MAX_DIMENSION)
        return FALSE;
    *width = (gint)w;
    *height = (gint)h;
    return TRUE;
}

/* Refuses a wrong signature at once, and tells the caller the image size once the header is in. */
static gboolean examine_header(AecLoader *ld, GError **error)
{
    gsize n = MIN(ld->size, AEC_SIGNATURE_SIZE);
    gint width, height;

    if (memcmp(ld->data, AEC_SIGNATURE, n) != 0) {
        g_set_error(error, GDK_PIXBUF_ERROR, GDK_PIXBUF_ERROR_CORRUPT_IMAGE, "AEC image: %s",
                    aecimg_strerror(AECIMG_ERR_BAD_MAGIC));
        return FALSE;
    }
    if (ld->size < AHDR_END)
        return TRUE;
    ld->header_seen = TRUE;
    if (!ld->size_func || !header_size(ld->data, &width, &height))
        return TRUE;
    ld->size_func(&width, &height, ld->user_data);
    /* A size of 0 is how gdk_pixbuf_get_file_info() and others say they need no pixels. */
    if (width <= 0 || height <= 0) {
        g_set_error_literal(error, GDK_PIXBUF_ERROR, GDK_PIXBUF_ERROR_FAILED,
                            "AEC image: loading stopped, no pixels were requested");
        return FALSE;
    }
    return TRUE;
}

static int pixbuf_error_code(int err)
{
    switch (err) {
    case AECIMG_ERR_NO_MEMORY:
    case AECIMG_ERR_TOO_LARGE:
        return GDK_PIXBUF_ERROR_INSUFFICIENT_MEMORY;
    case AECIMG_ERR_UNSUPPORTED_VERSION:
    case AECIMG_ERR_UNKNOWN_CRITICAL_CHUNK:
    case AECIMG_ERR_UNSUPPORTED:
        return GDK_PIXBUF_ERROR_UNKNOWN_TYPE;
    case AECIMG_ERR_MODEL_MISMATCH:
    case AECIMG_ERR_MODEL_INVALID:
    case AECIMG_ERR_MODEL_NOT_FOUND:
    case AECIMG_ERR_INTERNAL:
        return GDK_PIXBUF_ERROR_FAILED;
    default:
        return GDK_PIXBUF_ERROR_CORRUPT_IMAGE;
    }
}

static gboolean decode_error(GError **error, int err)
{
    g_set_error(error, GDK_PIXBUF_ERROR, pixbuf_error_code(err), "AEC image: %s", aecimg_strerror(err));
    return FALSE;
}

/* The file is checked without the model first, so that a damaged file costs no model load. */
static gboolean decode_file(const AecLoader *ld, AecimgImage *img, GError **error)
{
    static const guint8 no_data[1];
    const guint8 *data = ld->size ? ld->data : no_data; /* an empty file is truncated, not NULL */
    AecimgInfo info;
    AecimgSettings s;
    AecimgContext *ctx = NULL;
    int err = aecimg_read_info(data, ld->size, &info);

    if (err < 0)
        return decode_error(error, err);
    aecimg_default_settings(&s);
    s.roles = AECIMG_ROLE_DECODE;
    err = aecimg_open(&ctx, &s);
    if (err < 0) {
        g_set_error(error, GDK_PIXBUF_ERROR, GDK_PIXBUF_ERROR_FAILED,
                    "AEC image: cannot load the aec model: %s (%s names another model file)",
                    aecimg_strerror(err), AECIMG_MODEL_ENV);
        return FALSE;
    }
    err = aecimg_decode(ctx, data, ld->size, img);
    if (err == AECIMG_ERR_MODEL_MISMATCH)
        g_set_error(error, GDK_PIXBUF_ERROR, GDK_PIXBUF_ERROR_FAILED,
                    "AEC image: %s: made with model %s, but the model in use is %s",
                    aecimg_strerror(err), info.model_name, aecimg_model_name(ctx));
    else if (err < 0)
        decode_error(error, err);
    aecimg_close(&ctx);
    return err == 0;
}

/* gdk-pixbuf has no gray pixbufs: gray becomes RGB with equal channels. */
static void copy_row(guchar *dst, const uint8_t *src, guint32 width, guint32 channels)
{
    guint32 x;

    switch (channels) {
    case 1:
        for (x = 0; x < width; x++)
            dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = src[x];
        break;
    case 2:
        for (x = 0; x < width; x++) {
            dst[4 * x] = dst[4 * x + 1] = dst[4 * x + 2] = src[2 * x];
            dst[4 * x + 3] = src[2 * x + 1];
        }
        break;
    default:
        memcpy(dst, src, (gsize)width * channels);
    }
}

/* The ICC profile goes where gdk-pixbuf's PNG and JPEG loaders put theirs, for colour-managed
 * viewers. */
static void attach_icc(GdkPixbuf *pixbuf, const AecimgImage *img)
{
    if (!img->icc_size)
        return;
    gchar *b64 = g_base64_encode(img->icc, img->icc_size);
    gdk_pixbuf_set_option(pixbuf, "icc-profile", b64);
    g_free(b64);
}

static GdkPixbuf *pixbuf_from_image(const AecimgImage *img, GError **error)
{
    gboolean alpha = img->channels == 2 || img->channels == 4;
    GdkPixbuf *pixbuf = gdk_pixbuf_new(GDK_COLORSPACE_RGB, alpha, 8, (int)img->width, (int)img->height);

    if (!pixbuf) {
        g_set_error(error, GDK_PIXBUF_ERROR, GDK_PIXBUF_ERROR_INSUFFICIENT_MEMORY,
                    "Not enough memory for a %" G_GUINT32_FORMAT " x %" G_GUINT32_FORMAT " AEC image",
                    img->width, img->height);
        return NULL;
    }
    guchar *dst = gdk_pixbuf_get_pixels(pixbuf);
    gsize stride = (gsize)gdk_pixbuf_get_rowstride(pixbuf);
    gsize src_stride = (gsize)img->width * img->channels;
    for (guint32 y = 0; y < img->height; y++)
        copy_row(dst + y * stride, img->pixels + y * src_stride, img->width, img->channels);
    attach_icc(pixbuf, img);
    return pixbuf;
}

static gboolean finish_load(AecLoader *ld, GError **error)
{
    AecimgImage img = {0};

    if (!decode_file(ld, &img, error))
        return FALSE;
    GdkPixbuf *pixbuf = pixbuf_from_image(&img, error);
    aecimg_image_free(&img);
    if (!pixbuf)
        return FALSE;
    if (ld->prepared_func)
        ld->prepared_func(pixbuf, NULL, ld->user_data);
    if (ld->updated_func)
        ld->updated_func(pixbuf, 0, 0, gdk_pixbuf_get_width(pixbuf), gdk_pixbuf_get_height(pixbuf),
                         ld->user_data);
    g_object_unref(pixbuf);
    return TRUE;
}

static gpointer aec_begin_load(GdkPixbufModuleSizeFunc size_func, GdkPixbufModulePreparedFunc prepared_func,
                               GdkPixbufModuleUpdatedFunc updated_func, gpointer user_data, GError **error)
{
    AecLoader *ld = g_try_new0(AecLoader, 1);

    if (!ld) {
        g_set_error_literal(error, GDK_PIXBUF_ERROR, GDK_PIXBUF_ERROR_INSUFFICIENT_MEMORY,
                            "Not enough memory to load an AEC image");
        return NULL;
    }
    ld->size_func = size_func;
    ld->prepared_func = prepared_func;
    ld->updated_func = updated_func;
    ld->user_data = user_data;
    return ld;
}

static gboolean aec_load_increment(gpointer context, const guchar *buf, guint size, GError **error)
{
    AecLoader *ld = context;

    if (ld->failed)
        return FALSE;
    if (size == 0)
        return TRUE;
    if (!append_data(ld, buf, size, error) || (!ld->header_seen && !examine_header(ld, error))) {
        ld->failed = TRUE;
        return FALSE;
    }
    return TRUE;
}

/* After a failed load_increment gdk-pixbuf still calls this, to release the context. */
static gboolean aec_stop_load(gpointer context, GError **error)
{
    AecLoader *ld = context;
    gboolean ok = !ld->failed && finish_load(ld, error);

    g_free(ld->data);
    g_free(ld);
    return ok;
}

G_MODULE_EXPORT void fill_vtable(GdkPixbufModule *module)
{
    module->begin_load = aec_begin_load;
    module->stop_load = aec_stop_load;
    module->load_increment = aec_load_increment;
}

G_MODULE_EXPORT void fill_info(GdkPixbufFormat *info)
{
    /* Builds of gdk-pixbuf without GIO's MIME sniffing go by this; the others (Linux) pick the
     * loader by the MIME type that plugins/mime/aec.xml gives .aec files. */
    static GdkPixbufModulePattern signature[] = {
        {AEC_SIGNATURE, "        ", 100},
        {NULL, NULL, 0},
    };
    static gchar *mime_types[] = {"image/x-aec", NULL};
    static gchar *extensions[] = {"aec", NULL};

    info->name = "aec";
    info->signature = signature;
    info->description = "AEC image (aec learned image codec)";
    info->mime_types = mime_types;
    info->extensions = extensions;
    /* No state is shared between loads: one context per image. */
    info->flags = GDK_PIXBUF_FORMAT_THREADSAFE;
    info->license = "other";
}
