/* test_alloc_fail.c: every allocation failure is reported as AECIMG_ERR_NO_MEMORY and leaks nothing.
 *
 * The test links the library's objects statically with -Wl,--wrap for malloc, calloc, realloc,
 * aligned_alloc, strdup and free (Makefile.am), so every allocation the library makes goes through
 * the wrappers below.  For N = 1, 2, ... the Nth allocation of an operation fails; the operation
 * must then fail with AECIMG_ERR_NO_MEMORY, and once everything it returned has been released, no
 * allocation made during it may remain.  The loop ends at the first N the operation completes
 * without reaching, which must give the same result as a run without injection.
 *
 * What the wrappers do not see: allocations made inside other shared libraries on their own behalf
 * (libgomp's thread pool, the FILE of fopen).  zstd is seen: the library hands its contexts the
 * library's malloc (src/zstd_mem.h).  Threads are 1 so the Nth allocation is always the same one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <aecimg/aecimg.h>

#include "model_file.h"

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_aligned_alloc(size_t alignment, size_t size);
void __real_free(void *p);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void *__wrap_aligned_alloc(size_t alignment, size_t size);
char *__wrap_strdup(const char *s);
void __wrap_free(void *p);

/* ---------------------------------------------------------------- allocation accounting */

#define MAX_LIVE 65536

static int tracking;      /* count, fail and record allocations */
static long calls;        /* allocations counted since tracking began */
static long fail_at;      /* the allocation that fails (1-based); 0: none */
static int injected;      /* whether the failure happened */
static void *live[MAX_LIVE];
static size_t live_count; /* allocations made while tracking and not yet freed */

static int should_fail(void)
{
    if (!tracking)
        return 0;
    if (++calls != fail_at)
        return 0;
    injected = 1;
    return 1;
}

static void remember(void *p)
{
    if (!p || !tracking)
        return;
    if (live_count == MAX_LIVE) {
        fprintf(stderr, "test_alloc_fail: more than %d live allocations\n", MAX_LIVE);
        abort();
    }
    live[live_count++] = p;
}

static void forget(void *p)
{
    for (size_t i = live_count; p && i-- > 0;)
        if (live[i] == p) {
            live[i] = live[--live_count];
            return;
        }
}

void *__wrap_malloc(size_t size)
{
    if (should_fail())
        return NULL;
    void *p = __real_malloc(size);
    remember(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    void *p = __real_calloc(n, size);
    remember(p);
    return p;
}

void *__wrap_realloc(void *p, size_t size)
{
    if (should_fail())
        return NULL;
    void *q = __real_realloc(p, size);
    if (q) {
        forget(p);
        remember(q);
    }
    return q;
}

void *__wrap_aligned_alloc(size_t alignment, size_t size)
{
    if (should_fail())
        return NULL;
    void *p = __real_aligned_alloc(alignment, size);
    remember(p);
    return p;
}

char *__wrap_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = __wrap_malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

void __wrap_free(void *p)
{
    forget(p);
    __real_free(p);
}

static void track(long n)
{
    calls = 0;
    fail_at = n;
    injected = 0;
    live_count = 0;
    tracking = 1;
}

static void untrack(void)
{
    tracking = 0;
}

/* After an operation and the release of what it returned, nothing allocated during it is left. */
static void check_no_leak(const char *what, long n)
{
    if (live_count)
        fail_msg("%s with allocation %ld failing: %zu allocation(s) leaked", what, n, live_count);
}

/* ---------------------------------------------------------------- fixtures */

static const char *tiny_model(void)
{
    static char path[1024];
    const char *d = getenv("AECIMG_TEST_DATA");
    snprintf(path, sizeof path, "%s/tests/vectors/tiny.aecm", d && *d ? d : ".");
    return path;
}

static AecimgContext *open_tiny(void)
{
    AecimgSettings s;
    AecimgContext *ctx = NULL;
    aecimg_default_settings(&s);
    s.model_path = tiny_model();
    s.threads = 1;
    s.quality = 60;
    assert_int_equal(aecimg_open(&ctx, &s), AECIMG_OK);
    return ctx;
}

/* A w x h image of `channels` with a gradient, a varying alpha and, if icc_size, a profile. */
static AecimgImage make_image(uint32_t w, uint32_t h, uint32_t channels, size_t icc_size)
{
    AecimgImage img = {.width = w, .height = h, .channels = channels, .source_bit_depth = 8};
    img.pixels = malloc((size_t)w * h * channels);
    assert_non_null(img.pixels);
    for (size_t i = 0; i < (size_t)w * h * channels; i++)
        img.pixels[i] = (uint8_t)(i * 7 + i / (w * channels) * 13);
    if (icc_size) {
        img.icc = malloc(icc_size);
        assert_non_null(img.icc);
        for (size_t i = 0; i < icc_size; i++)
            img.icc[i] = (uint8_t)(i ^ 0x5a);
        img.icc_size = icc_size;
    }
    return img;
}

/* ---------------------------------------------------------------- the tests */

typedef struct Run {
    long allocations; /* counted in the run that completed */
    long failures;    /* runs with an injected failure */
} Run;

static void report(const char *what, const Run *r)
{
    printf("  %s: %ld allocations, each one failed in turn: AECIMG_ERR_NO_MEMORY and no leak every time\n",
           what, r->allocations);
}

/* aecimg_open: model loading (file, sections, tensors, tables) and the networks' packed weights. */
static void test_open(void **state)
{
    (void)state;
    AecimgSettings s;
    aecimg_default_settings(&s);
    s.model_path = tiny_model();
    s.threads = 1;
    Run r = {0};
    for (long n = 1;; n++) {
        AecimgContext *ctx = (AecimgContext *)&r; /* must be NULLed on failure */
        track(n);
        int err = aecimg_open(&ctx, &s);
        if (err == 0)
            aecimg_close(&ctx);
        untrack();
        check_no_leak("aecimg_open", n);
        if (!injected) {
            assert_int_equal(err, AECIMG_OK);
            r.allocations = calls;
            break;
        }
        if (err != AECIMG_ERR_NO_MEMORY)
            fail_msg("allocation %ld of aecimg_open failed: got %d (%s)", n, err, aecimg_strerror(err));
        assert_null(ctx);
        r.failures++;
    }
    assert_true(r.failures > 10);
    report("aecimg_open (tiny model)", &r);
}

/* model_file_parse from memory, as the fuzz harness and aecimg_open use it. */
static void test_model_parse(void **state)
{
    (void)state;
    FILE *f = fopen(tiny_model(), "rb");
    assert_non_null(f);
    static uint8_t buf[1 << 20];
    size_t size = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(size > 48 && size < sizeof buf);
    Run r = {0};
    for (long n = 1;; n++) {
        ModelFile m;
        track(n);
        int err = model_file_parse(buf, size, &m);
        if (err == 0)
            model_file_free(&m);
        untrack();
        check_no_leak("model_file_parse", n);
        if (!injected) {
            assert_int_equal(err, AECIMG_OK);
            r.allocations = calls;
            break;
        }
        if (err != AECIMG_ERR_NO_MEMORY)
            fail_msg("allocation %ld of model_file_parse failed: got %d (%s)", n, err, aecimg_strerror(err));
        r.failures++;
    }
    report("model_file_parse (tiny model)", &r);
}

/* aecimg_decode_latents of a file, under injection; the tensor of the run that completes is compared with
 * the one decoded without injection. */
static Run decode_latents_failing(const char *what, AecimgContext *ctx, const uint8_t *file, size_t size)
{
    AecimgLatents want;
    assert_int_equal(aecimg_decode_latents(ctx, file, size, &want), AECIMG_OK);
    const size_t n = (size_t)want.channels * want.height * want.width;
    Run r = {0};
    for (long i = 1;; i++) {
        AecimgLatents got;
        track(i);
        int err = aecimg_decode_latents(ctx, file, size, &got);
        int done = !injected;
        if (err == 0) {
            assert_int_equal(got.channels * got.height * got.width, n);
            assert_memory_equal(got.data, want.data, n * sizeof *got.data);
        } else {
            assert_null(got.data);
        }
        aecimg_latents_free(&got);
        untrack();
        check_no_leak("aecimg_decode_latents", i);
        if (done) {
            assert_int_equal(err, AECIMG_OK);
            r.allocations = calls;
            break;
        }
        if (err != AECIMG_ERR_NO_MEMORY)
            fail_msg("%s: allocation %ld of aecimg_decode_latents failed: got %d (%s)", what, i, err,
                     aecimg_strerror(err));
        r.failures++;
    }
    aecimg_latents_free(&want);
    return r;
}

/* aecimg_decode_rate_map of a file, under injection; the map of the run that completes is compared with the
 * one decoded without injection. */
static Run decode_rate_map_failing(const char *what, AecimgContext *ctx, const uint8_t *file, size_t size)
{
    AecimgRateMap want;
    assert_int_equal(aecimg_decode_rate_map(ctx, file, size, &want), AECIMG_OK);
    const size_t n = (size_t)want.height * want.width;
    Run r = {0};
    for (long i = 1;; i++) {
        AecimgRateMap got;
        track(i);
        int err = aecimg_decode_rate_map(ctx, file, size, &got);
        int done = !injected;
        if (err == 0) {
            assert_int_equal(got.height * got.width, n);
            assert_memory_equal(got.bits, want.bits, n * sizeof *got.bits);
        } else {
            assert_null(got.bits);
        }
        aecimg_rate_map_free(&got);
        untrack();
        check_no_leak("aecimg_decode_rate_map", i);
        if (done) {
            assert_int_equal(err, AECIMG_OK);
            r.allocations = calls;
            break;
        }
        if (err != AECIMG_ERR_NO_MEMORY)
            fail_msg("%s: allocation %ld of aecimg_decode_rate_map failed: got %d (%s)", what, i, err,
                     aecimg_strerror(err));
        r.failures++;
    }
    aecimg_rate_map_free(&want);
    return r;
}

/* aecimg_encode, then aecimg_decode of what it made, each under injection. */
static void encode_decode(const char *what, int entropy, uint32_t w, uint32_t h, uint32_t channels,
                          size_t icc_size)
{
    AecimgContext *ctx = open_tiny();
    assert_int_equal(aecimg_set_entropy(ctx, entropy), AECIMG_OK);
    AecimgImage img = make_image(w, h, channels, icc_size);
    uint8_t *want;
    size_t want_size;
    assert_int_equal(aecimg_encode(ctx, &img, &want, &want_size), AECIMG_OK);
    AecimgImage want_img;
    assert_int_equal(aecimg_decode(ctx, want, want_size, &want_img), AECIMG_OK);

    Run enc = {0}, dec = {0};
    for (long n = 1;; n++) {
        uint8_t *file = NULL;
        size_t size = 0;
        track(n);
        int err = aecimg_encode(ctx, &img, &file, &size);
        int done = !injected;
        if (err == 0) {
            /* A failure the encoder recovered from must not change the file. */
            assert_int_equal(size, want_size);
            assert_memory_equal(file, want, size);
            free(file);
        }
        untrack();
        check_no_leak("aecimg_encode", n);
        if (done) {
            assert_int_equal(err, AECIMG_OK);
            enc.allocations = calls;
            break;
        }
        if (err != AECIMG_ERR_NO_MEMORY)
            fail_msg("%s: allocation %ld of aecimg_encode failed: got %d (%s)", what, n, err, aecimg_strerror(err));
        enc.failures++;
    }
    for (long n = 1;; n++) {
        AecimgImage out;
        track(n);
        int err = aecimg_decode(ctx, want, want_size, &out);
        int done = !injected;
        if (err == 0) {
            assert_int_equal(out.width, w);
            assert_int_equal(out.height, h);
            assert_int_equal(out.channels, channels);
            assert_int_equal(out.icc_size, icc_size);
            assert_memory_equal(out.pixels, want_img.pixels, (size_t)w * h * channels);
        } else {
            assert_null(out.pixels);
            assert_null(out.icc);
        }
        aecimg_image_free(&out);
        untrack();
        check_no_leak("aecimg_decode", n);
        if (done) {
            assert_int_equal(err, AECIMG_OK);
            dec.allocations = calls;
            break;
        }
        if (err != AECIMG_ERR_NO_MEMORY)
            fail_msg("%s: allocation %ld of aecimg_decode failed: got %d (%s)", what, n, err, aecimg_strerror(err));
        dec.failures++;
    }
    Run lat = decode_latents_failing(what, ctx, want, want_size);
    Run rate = decode_rate_map_failing(what, ctx, want, want_size);
    char label[128];
    snprintf(label, sizeof label, "%s: encode", what);
    report(label, &enc);
    snprintf(label, sizeof label, "%s: decode", what);
    report(label, &dec);
    snprintf(label, sizeof label, "%s: latents", what);
    report(label, &lat);
    snprintf(label, sizeof label, "%s: rate map", what);
    report(label, &rate);
    assert_true(enc.failures > 5 && dec.failures > 5 && lat.failures >= 3 && rate.failures >= 3);

    aecimg_image_free(&want_img);
    free(want);
    aecimg_image_free(&img);
    aecimg_close(&ctx);
}

static void test_rgba_icc_zstd(void **state)
{
    (void)state;
    encode_decode("RGBA 19x13 + ICC, zstd", AECIMG_ENTROPY_ZSTD, 19, 13, 4, 300);
}

static void test_gray_alpha_icc_rans(void **state)
{
    (void)state;
    encode_decode("gray+alpha 23x40 + ICC, rANS", AECIMG_ENTROPY_RANS, 23, 40, 2, 64);
}

static void test_rgb_ctx(void **state)
{
    (void)state;
    encode_decode("RGB 31x21, ctx", AECIMG_ENTROPY_CTX, 31, 21, 3, 0);
}

static void test_rgb_auto(void **state)
{
    (void)state;
    encode_decode("RGB 17x5, auto", AECIMG_ENTROPY_AUTO, 17, 5, 3, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open),
        cmocka_unit_test(test_model_parse),
        cmocka_unit_test(test_rgba_icc_zstd),
        cmocka_unit_test(test_gray_alpha_icc_rans),
        cmocka_unit_test(test_rgb_ctx),
        cmocka_unit_test(test_rgb_auto),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
