/* test_pixbuf.c: the gdk-pixbuf loader (plugins/gdk-pixbuf/io-aec.c) as gdk-pixbuf programs use it.
 *
 * Run by tests/pixbuf_loader.sh, which sets GDK_PIXBUF_MODULE_FILE to a loaders cache listing the
 * built loader, AECIMG_MODEL to the tiny test model, and PIXBUF_TEST_DIR to a folder where
 * aec-decode has written NAME.pam for every valid file of tests/conformance/.  Checks: the loader
 * returns aec-decode's pixels (gray and alpha included) and the ICC profile, whole or fed in
 * pieces; it is picked by signature and announces the size from the header alone; every damaged
 * file, truncation, bit flip and fuzz corpus input fails with a GError or decodes to what the
 * header says, and a failed load yields no pixbuf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gdk-pixbuf/gdk-pixbuf.h>

#include <aecimg/aecimg.h>

#include "imageio/imageio.h"
#include "error_names.h"

/* Signature and a version-1 AHDR: what the loader needs to announce the size (the compact form has it
 * in its first 13 bytes, but the loader looks once this much is in, whatever the form). */
#define HEADER_BYTES 29

typedef struct Entry {
    char file[256], expect[64], icc[80];
} Entry;

/* What a GdkPixbufLoader reported while a file was fed to it. */
typedef struct Trace {
    gsize fed;             /* bytes written so far */
    gsize size_known_at;   /* bytes written when size-prepared came; 0 if it never did */
    int width, height;     /* as size-prepared said */
    gboolean prepared;     /* area-prepared came */
    gboolean prepared_early; /* ... before close(): the pixbuf was shown before it was complete */
    gboolean closing;
    int updates;
} Trace;

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

static char *data_path(const char *rel)
{
    return g_strdup_printf("%s/%s", env_or("AECIMG_TEST_DATA", "."), rel);
}

static guint8 *read_file(const char *path, gsize *size)
{
    gchar *data = NULL;
    GError *error = NULL;

    if (!g_file_get_contents(path, &data, size, &error))
        fail_msg("%s", error->message);
    return (guint8 *)data;
}

static size_t load_manifest(Entry **entries)
{
    char *path = data_path("tests/conformance/MANIFEST");
    FILE *f = fopen(path, "r");
    char line[2048], w[16], h[16], c[16], pixels[80], pixels_bf16[80];
    size_t n = 0;

    if (!f)
        fail_msg("cannot open %s", path);
    *entries = NULL;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        *entries = g_renew(Entry, *entries, n + 1);
        Entry *e = &(*entries)[n++];
        if (sscanf(line, "%255s %63s %15s %15s %15s %79s %79s %79s", e->file, e->expect, w, h, c, pixels, pixels_bf16,
                   e->icc) != 8)
            fail_msg("malformed MANIFEST line: %s", line);
    }
    fclose(f);
    g_free(path);
    assert_true(n > 0);
    return n;
}

static int error_code(const char *name)
{
    int code = error_code_by_name(name);
    if (!code)
        fail_msg("unknown error name %s in MANIFEST", name);
    return code;
}

static void on_size_prepared(GdkPixbufLoader *loader, int width, int height, Trace *t)
{
    (void)loader;
    if (!t->size_known_at)
        t->size_known_at = t->fed;
    t->width = width;
    t->height = height;
}

static void on_area_prepared(GdkPixbufLoader *loader, Trace *t)
{
    (void)loader;
    t->prepared = TRUE;
    t->prepared_early |= !t->closing;
}

static void on_area_updated(GdkPixbufLoader *loader, int x, int y, int w, int h, Trace *t)
{
    (void)loader, (void)x, (void)y, (void)w, (void)h;
    t->updates++;
}

/* Feeds data to a loader in pieces of `piece` bytes; the loader is picked by signature when type is
 * NULL.  Returns the pixbuf (a new reference) or NULL with *error set, and what the loader did. */
static GdkPixbuf *load_in_pieces(const guint8 *data, gsize size, gsize piece, const char *type,
                                 Trace *t, GError **error)
{
    GdkPixbufLoader *loader = type ? gdk_pixbuf_loader_new_with_type(type, error) : gdk_pixbuf_loader_new();
    GdkPixbuf *pixbuf = NULL;
    gboolean ok = TRUE;

    assert_non_null(loader);
    memset(t, 0, sizeof *t);
    g_signal_connect(loader, "size-prepared", G_CALLBACK(on_size_prepared), t);
    g_signal_connect(loader, "area-prepared", G_CALLBACK(on_area_prepared), t);
    g_signal_connect(loader, "area-updated", G_CALLBACK(on_area_updated), t);
    for (gsize at = 0; ok && at < size; at += piece) {
        gsize n = MIN(piece, size - at);
        t->fed = at + n;
        ok = gdk_pixbuf_loader_write(loader, data + at, n, error);
    }
    t->closing = TRUE;
    if (ok)
        ok = gdk_pixbuf_loader_close(loader, error);
    if (ok) {
        pixbuf = gdk_pixbuf_loader_get_pixbuf(loader);
        assert_non_null(pixbuf);
        g_object_ref(pixbuf);
    } else {
        /* No partial image after a failure. */
        assert_null(gdk_pixbuf_loader_get_pixbuf(loader));
    }
    g_object_unref(loader);
    return pixbuf;
}

/* aec-decode's output for a conformance file, read back from the PAM the script wrote. */
static AecimgImage reference_image(const char *aec_name)
{
    char *base = g_strndup(aec_name, strlen(aec_name) - strlen(".aec"));
    char *path = g_strdup_printf("%s/%s.pam", env_or("PIXBUF_TEST_DIR", "."), base);
    gsize size;
    guint8 *data = read_file(path, &size);
    AecimgImage img;
    char err[256];

    if (imageio_read(data, size, AECIMG_DEFAULT_MAX_PIXELS, &img, err, sizeof err) != 0)
        fail_msg("%s: %s", path, err);
    g_free(data);
    g_free(path);
    g_free(base);
    return img;
}

/* The pixbuf holds ref's pixels, gray repeated into R, G and B, alpha where ref has alpha. */
static void assert_pixels_equal(const GdkPixbuf *pixbuf, const AecimgImage *ref, const char *what)
{
    gboolean alpha = ref->channels == 2 || ref->channels == 4;
    int pc = alpha ? 4 : 3, rc = (int)ref->channels, stride = gdk_pixbuf_get_rowstride(pixbuf);
    const guint8 *pixels = gdk_pixbuf_read_pixels(pixbuf);

    if (gdk_pixbuf_get_width(pixbuf) != (int)ref->width || gdk_pixbuf_get_height(pixbuf) != (int)ref->height ||
        gdk_pixbuf_get_has_alpha(pixbuf) != alpha || gdk_pixbuf_get_n_channels(pixbuf) != pc ||
        gdk_pixbuf_get_bits_per_sample(pixbuf) != 8)
        fail_msg("%s: pixbuf %dx%d, %d channels; aec-decode %ux%u, %u channels", what,
                 gdk_pixbuf_get_width(pixbuf), gdk_pixbuf_get_height(pixbuf),
                 gdk_pixbuf_get_n_channels(pixbuf), ref->width, ref->height, ref->channels);
    for (uint32_t y = 0; y < ref->height; y++)
        for (uint32_t x = 0; x < ref->width; x++) {
            const guint8 *p = pixels + (gsize)y * stride + (gsize)x * pc;
            const uint8_t *r = ref->pixels + ((gsize)y * ref->width + x) * rc;
            for (int c = 0; c < pc; c++) {
                int want = rc <= 2 ? r[c < 3 ? 0 : 1] : r[c];
                if (p[c] != want)
                    fail_msg("%s: pixel (%u, %u) channel %d is %d, aec-decode has %d", what, x, y, c, p[c], want);
            }
        }
}

/* The ICC profile comes out base64-encoded in the "icc-profile" option, as from gdk-pixbuf's own
 * PNG loader; its SHA-256 is in MANIFEST. */
static void assert_icc(const GdkPixbuf *pixbuf, const Entry *e)
{
    const gchar *b64 = gdk_pixbuf_get_option((GdkPixbuf *)pixbuf, "icc-profile");

    if (strcmp(e->icc, "-") == 0) {
        if (b64)
            fail_msg("%s: icc-profile set, but the file has no ICC profile", e->file);
        return;
    }
    if (!b64)
        fail_msg("%s: no icc-profile option", e->file);
    gsize n;
    guchar *icc = g_base64_decode(b64, &n);
    gchar *hash = g_compute_checksum_for_data(G_CHECKSUM_SHA256, icc, n);
    assert_string_equal(hash, e->icc);
    g_free(hash);
    g_free(icc);
}

static void test_files_decode_like_aec_decode(void **state)
{
    Entry *entries;
    size_t n = load_manifest(&entries), checked = 0;

    (void)state;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(entries[i].expect, "ok") != 0)
            continue;
        char *path = data_path("tests/conformance/");
        char *file = g_strconcat(path, entries[i].file, NULL);
        GError *error = NULL;
        GdkPixbuf *pixbuf = gdk_pixbuf_new_from_file(file, &error);
        if (!pixbuf)
            fail_msg("%s: %s", entries[i].file, error->message);
        AecimgImage ref = reference_image(entries[i].file);
        assert_pixels_equal(pixbuf, &ref, entries[i].file);
        assert_icc(pixbuf, &entries[i]);
        aecimg_image_free(&ref);
        g_object_unref(pixbuf);
        g_free(file);
        g_free(path);
        checked++;
    }
    printf("%zu valid files load with aec-decode's pixels\n", checked);
    assert_true(checked >= 10);
    g_free(entries);
}

/* Fed in pieces, the size is known as soon as the header is in, the pixbuf appears only when it
 * is whole, and it equals the one from gdk_pixbuf_new_from_file. */
static void test_incremental(void **state)
{
    static const char *files[] = {"ok-96x64-rgb-ctx", "ok-23x9-gray-alpha-rans", "ok-40x24-rgba-zstd",
                                  "ok-13x29-gray-zstd", "ok-1x1-rgb-zstd"};
    static const gsize pieces[] = {1, 7, 29, 4096};

    (void)state;
    for (size_t f = 0; f < G_N_ELEMENTS(files); f++) {
        char *name = g_strconcat(files[f], ".aec", NULL);
        char *path = g_strconcat(env_or("AECIMG_TEST_DATA", "."), "/tests/conformance/", name, NULL);
        gsize size;
        guint8 *data = read_file(path, &size);
        AecimgImage ref = reference_image(name);
        for (size_t p = 0; p < G_N_ELEMENTS(pieces); p++) {
            Trace t;
            GError *error = NULL;
            GdkPixbuf *pixbuf = load_in_pieces(data, size, pieces[p], "aec", &t, &error);
            if (!pixbuf)
                fail_msg("%s in pieces of %zu: %s", name, pieces[p], error->message);
            assert_pixels_equal(pixbuf, &ref, name);
            assert_int_equal(t.width, ref.width);
            assert_int_equal(t.height, ref.height);
            /* The size came with the piece that completed the header. */
            assert_true(t.size_known_at >= HEADER_BYTES && t.size_known_at < HEADER_BYTES + pieces[p]);
            assert_true(t.prepared && !t.prepared_early);
            assert_true(t.updates >= 1);
            g_object_unref(pixbuf);
        }
        aecimg_image_free(&ref);
        g_free(data);
        g_free(path);
        g_free(name);
    }
}

/* A loader made without a type picks aec by the signature; a file without an extension loads. */
static void test_signature_sniffing(void **state)
{
    char *path = data_path("tests/conformance/ok-48x32-icc.aec");
    char *copy = g_strdup_printf("%s/no-extension", env_or("PIXBUF_TEST_DIR", "."));
    gsize size;
    guint8 *data = read_file(path, &size);
    GdkPixbufLoader *loader = gdk_pixbuf_loader_new();
    GError *error = NULL;

    (void)state;
    assert_true(gdk_pixbuf_loader_write(loader, data, size, &error));
    assert_true(gdk_pixbuf_loader_close(loader, &error));
    GdkPixbufFormat *format = gdk_pixbuf_loader_get_format(loader);
    assert_non_null(format);
    gchar *name = gdk_pixbuf_format_get_name(format);
    assert_string_equal(name, "aec");
    g_free(name);
    g_object_unref(loader);

    assert_true(g_file_set_contents(copy, (const gchar *)data, (gssize)size, &error));
    GdkPixbuf *pixbuf = gdk_pixbuf_new_from_file(copy, &error);
    if (!pixbuf)
        fail_msg("%s: %s", copy, error->message);
    AecimgImage ref = reference_image("ok-48x32-icc.aec");
    assert_pixels_equal(pixbuf, &ref, copy);
    aecimg_image_free(&ref);
    g_object_unref(pixbuf);
    g_free(data);
    g_free(copy);
    g_free(path);
}

/* gdk_pixbuf_get_file_info needs the header only: a file cut right after it still answers. */
static void test_file_info(void **state)
{
    char *path = data_path("tests/conformance/ok-96x64-rgb-ctx.aec");
    char *cut = g_strdup_printf("%s/header-only.aec", env_or("PIXBUF_TEST_DIR", "."));
    gsize size;
    guint8 *data = read_file(path, &size);
    GError *error = NULL;
    int w = 0, h = 0;

    (void)state;
    assert_true(g_file_set_contents(cut, (const gchar *)data, HEADER_BYTES, &error));
    GdkPixbufFormat *format = gdk_pixbuf_get_file_info(cut, &w, &h);
    assert_non_null(format);
    assert_int_equal(w, 96);
    assert_int_equal(h, 64);
    gchar *name = gdk_pixbuf_format_get_name(format);
    gchar **mime = gdk_pixbuf_format_get_mime_types(format);
    gchar **ext = gdk_pixbuf_format_get_extensions(format);
    assert_string_equal(name, "aec");
    assert_string_equal(mime[0], "image/x-aec");
    assert_string_equal(ext[0], "aec");
    assert_false(gdk_pixbuf_format_is_writable(format));
    g_strfreev(ext);
    g_strfreev(mime);
    g_free(name);

    /* The compact form (version 2) announces its size from the same first bytes. */
    char *compact = data_path("tests/conformance/ok-compact-96x64-rgb-rans.aec");
    gsize compact_size;
    guint8 *compact_data = read_file(compact, &compact_size);
    assert_true(g_file_set_contents(cut, (const gchar *)compact_data, HEADER_BYTES, &error));
    w = h = 0;
    assert_non_null(gdk_pixbuf_get_file_info(cut, &w, &h));
    assert_int_equal(w, 96);
    assert_int_equal(h, 64);
    g_free(compact_data);
    g_free(compact);

    /* The cut file itself does not load. */
    assert_null(gdk_pixbuf_new_from_file(cut, &error));
    assert_non_null(error);
    g_clear_error(&error);
    g_free(data);
    g_free(cut);
    g_free(path);
}

/* A size asked for through the loader's size-prepared signal is honoured (gdk-pixbuf scales). */
static void test_at_size(void **state)
{
    char *path = data_path("tests/conformance/ok-96x64-rgb-ctx.aec");
    GError *error = NULL;
    GdkPixbuf *pixbuf = gdk_pixbuf_new_from_file_at_size(path, 48, 48, &error);

    (void)state;
    if (!pixbuf)
        fail_msg("%s", error->message);
    assert_int_equal(gdk_pixbuf_get_width(pixbuf), 48);
    assert_int_equal(gdk_pixbuf_get_height(pixbuf), 32);
    g_object_unref(pixbuf);
    g_free(path);
}

/* Each damaged file of the corpus fails with a GError that says what aecimg_decode says. */
static void test_damaged_files(void **state)
{
    Entry *entries;
    size_t n = load_manifest(&entries), checked = 0;

    (void)state;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(entries[i].expect, "ok") == 0)
            continue;
        char *path = g_strconcat(env_or("AECIMG_TEST_DATA", "."), "/tests/conformance/", entries[i].file, NULL);
        gsize size;
        guint8 *data = read_file(path, &size);
        Trace t;
        GError *error = NULL;
        GdkPixbuf *pixbuf = load_in_pieces(data, size, 64, "aec", &t, &error);
        if (pixbuf)
            fail_msg("%s loaded, but should fail with %s", entries[i].file, entries[i].expect);
        assert_false(t.prepared);
        assert_non_null(error);
        const char *want = aecimg_strerror(error_code(entries[i].expect));
        if (error->domain != GDK_PIXBUF_ERROR || !strstr(error->message, want))
            fail_msg("%s: message \"%s\", expected one with \"%s\"", entries[i].file, error->message, want);
        g_clear_error(&error);
        g_free(data);
        g_free(path);
        checked++;
    }
    printf("%zu damaged files refused with the library's reason\n", checked);
    assert_true(checked >= 30);
    g_free(entries);
}

/* Outcome of loading arbitrary bytes: a pixbuf of the size the header declares, or a GError. */
static gboolean load_any(const guint8 *data, gsize size, gsize piece, const char *what)
{
    Trace t;
    GError *error = NULL;
    GdkPixbuf *pixbuf = load_in_pieces(data, size, piece, "aec", &t, &error);
    AecimgInfo info;

    if (!pixbuf) {
        if (!error || error->domain != GDK_PIXBUF_ERROR || !g_str_has_prefix(error->message, "AEC image"))
            fail_msg("%s: failed without an AEC error message (%s)", what, error ? error->message : "none");
        assert_false(t.prepared);
        g_clear_error(&error);
        return FALSE;
    }
    assert_int_equal(aecimg_read_info(data, size, &info), AECIMG_OK);
    assert_int_equal(gdk_pixbuf_get_width(pixbuf), info.width);
    assert_int_equal(gdk_pixbuf_get_height(pixbuf), info.height);
    assert_int_equal(gdk_pixbuf_get_has_alpha(pixbuf), info.channels % 2 == 0);
    g_object_unref(pixbuf);
    return TRUE;
}

/* Every truncation and every single-bit flip of valid files fails cleanly (each byte of a file is
 * under a CRC, a length or the signature, so none may load). */
static void test_truncations_and_bit_flips(void **state)
{
    static const char *files[] = {"ok-23x9-gray-alpha-rans.aec", "ok-40x24-rgba-zstd.aec", "ok-48x32-icc.aec"};
    size_t runs = 0;

    (void)state;
    for (size_t f = 0; f < G_N_ELEMENTS(files); f++) {
        char *path = g_strconcat(env_or("AECIMG_TEST_DATA", "."), "/tests/conformance/", files[f], NULL);
        gsize size;
        guint8 *data = read_file(path, &size);
        char what[320];
        for (gsize cut = 0; cut < size; cut++, runs++) {
            snprintf(what, sizeof what, "%s cut to %zu bytes", files[f], cut);
            if (load_any(data, cut, 1 + cut % 97, what))
                fail_msg("%s loaded", what);
        }
        for (gsize bit = 0; bit < 8 * size; bit++, runs++) {
            data[bit / 8] ^= (guint8)(1u << bit % 8);
            snprintf(what, sizeof what, "%s with bit %zu inverted", files[f], bit);
            if (load_any(data, size, 4096, what))
                fail_msg("%s loaded", what);
            data[bit / 8] ^= (guint8)(1u << bit % 8);
        }
        g_free(data);
        g_free(path);
    }
    printf("%zu damaged variants refused\n", runs);
}

/* CRC-32 of PNG and of the container (doc/container.md, section 2.3). */
static guint32 crc32_of(const guint8 *p, gsize n)
{
    guint32 c = 0xffffffffu;

    for (gsize i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c >> 1 ^ (0xedb88320u & (0u - (c & 1)));
    }
    return c ^ 0xffffffffu;
}

/* As fuzz/fuzz_decode.c does: rewrite each whole chunk's CRC, so that the mutated bytes reach the
 * chunk parsers and the entropy stages instead of stopping at the CRC check. */
static gboolean repair_crcs(guint8 *p, gsize size)
{
    gboolean changed = FALSE;

    for (gsize at = 8; at <= size && size - at >= 12;) {
        guint32 length = (guint32)p[at] << 24 | (guint32)p[at + 1] << 16 | (guint32)p[at + 2] << 8 | p[at + 3];
        if (length > size - at - 12)
            break;
        guint32 crc = crc32_of(p + at + 4, (gsize)length + 4);
        guint8 be[4] = {(guint8)(crc >> 24), (guint8)(crc >> 16), (guint8)(crc >> 8), (guint8)crc};
        changed |= memcmp(p + at + 8 + length, be, 4) != 0;
        memcpy(p + at + 8 + length, be, 4);
        at += 12 + (gsize)length;
    }
    return changed;
}

/* The decoder's fuzz corpus, as it is and with repaired CRCs, through the loader. */
static void test_fuzz_corpus(void **state)
{
    char *dir_path = data_path("fuzz/corpus/fuzz_decode");
    GDir *dir = g_dir_open(dir_path, 0, NULL);
    const gchar *name;
    size_t inputs = 0, loaded = 0;

    (void)state;
    assert_non_null(dir);
    while ((name = g_dir_read_name(dir))) {
        char *path = g_build_filename(dir_path, name, NULL);
        gsize size;
        guint8 *data = read_file(path, &size);
        loaded += load_any(data, size, 1 + size % 509, name);
        if (repair_crcs(data, size))
            loaded += load_any(data, size, 4096, name);
        inputs++;
        g_free(data);
        g_free(path);
    }
    g_dir_close(dir);
    g_free(dir_path);
    printf("%zu fuzz inputs: %zu loads gave an image, the others a GError\n", inputs, loaded);
    assert_true(inputs >= 100);
    assert_true(loaded > 0);
}

/* Without its model the loader says so, naming the variable that points at one. */
static void test_missing_model(void **state)
{
    char *path = data_path("tests/conformance/ok-17x5-rgb-zstd.aec");
    char *model = g_strdup(env_or(AECIMG_MODEL_ENV, ""));
    GError *error = NULL;

    (void)state;
    setenv(AECIMG_MODEL_ENV, "/nonexistent/model.aecm", 1);
    assert_null(gdk_pixbuf_new_from_file(path, &error));
    setenv(AECIMG_MODEL_ENV, model, 1);
    assert_non_null(error);
    if (!strstr(error->message, "model") || !strstr(error->message, AECIMG_MODEL_ENV))
        fail_msg("unhelpful message: %s", error->message);
    g_clear_error(&error);
    g_free(model);
    g_free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files_decode_like_aec_decode),
        cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_signature_sniffing),
        cmocka_unit_test(test_file_info),
        cmocka_unit_test(test_at_size),
        cmocka_unit_test(test_damaged_files),
        cmocka_unit_test(test_truncations_and_bit_flips),
        cmocka_unit_test(test_fuzz_corpus),
        cmocka_unit_test(test_missing_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
