/* test_conformance.c: every file of tests/conformance/ decodes to its recorded pixels, or fails with
 * its recorded error, at every CPU kernel level this machine has (tests/conformance/README.md): the
 * float32 levels to one recorded raster, the bfloat16 level to its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <aecimg/aecimg.h>

#include "sha256.h"
#include "error_names.h"

typedef struct Entry {
    char file[256], expect[64], width[16], height[16], channels[16], pixels[80], pixels_bf16[80], icc[80];
    char what[512];
} Entry;

static const char *data_dir(void)
{
    const char *d = getenv("AECIMG_TEST_DATA");
    return d && *d ? d : ".";
}

static uint8_t *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    for (size_t got; (got = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    *size = n;
    return buf;
}

static size_t load_manifest(Entry **entries)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/conformance/MANIFEST", data_dir());
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    size_t n = 0, cap = 16;
    *entries = malloc(cap * sizeof **entries);
    assert_non_null(*entries);
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (n == cap) {
            cap *= 2;
            *entries = realloc(*entries, cap * sizeof **entries);
            assert_non_null(*entries);
        }
        Entry *e = &(*entries)[n];
        int used = 0;
        if (sscanf(line, "%255s %63s %15s %15s %15s %79s %79s %79s %n", e->file, e->expect, e->width, e->height,
                   e->channels, e->pixels, e->pixels_bf16, e->icc, &used) != 8)
            fail_msg("malformed MANIFEST line: %s", line);
        snprintf(e->what, sizeof e->what, "%s", line + used);
        e->what[strcspn(e->what, "\n")] = '\0';
        n++;
    }
    fclose(f);
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

static void hex_sha256(const uint8_t *data, size_t size, char out[65])
{
    uint8_t digest[32];
    sha256(data, size, digest);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

/* Opens the tiny model with the kernels capped at `level`; NULL if the CPU lacks that level. */
static AecimgContext *open_at(const char *level)
{
    char model[1024];
    snprintf(model, sizeof model, "%s/tests/vectors/tiny.aecm", data_dir());
    setenv("AECIMG_CPU_MAX", level, 1);
    AecimgSettings s;
    aecimg_default_settings(&s);
    s.model_path = model;
    s.threads = 2;
    AecimgContext *ctx = NULL;
    assert_int_equal(aecimg_open(&ctx, &s), AECIMG_OK);
    unsetenv("AECIMG_CPU_MAX");
    if (strcmp(aecimg_cpu_level(ctx), level) == 0)
        return ctx;
    aecimg_close(&ctx);
    return NULL;
}

/* Returns the number of mismatches, each reported on stdout; *unchecked counts rasters the MANIFEST
 * does not record for this level. */
static int check_entry(AecimgContext *ctx, const char *level, const Entry *e, int *unchecked)
{
    const char *want_pixels = strcmp(level, "avx512bf16") == 0 ? e->pixels_bf16 : e->pixels;
    char path[1024], hash[65];
    snprintf(path, sizeof path, "%s/tests/conformance/%s", data_dir(), e->file);
    size_t size;
    uint8_t *data = read_all(path, &size);
    AecimgImage img;
    int err = aecimg_decode(ctx, data, size, &img);
    int bad = 0;
    if (strcmp(e->expect, "ok") != 0) {
        int want = error_code(e->expect);
        if (err != want) {
            printf("  FAIL %s [%s]: got %d (%s), expected %s (%s)\n", e->file, level, err, aecimg_strerror(err),
                   e->expect, aecimg_strerror(want));
            bad = 1;
        }
        if (img.pixels || img.icc) {
            printf("  FAIL %s [%s]: a failed decode returned data\n", e->file, level);
            bad = 1;
        }
    } else if (err != 0) {
        printf("  FAIL %s [%s]: %s\n", e->file, level, aecimg_strerror(err));
        bad = 1;
    } else {
        char geometry[64], want_geometry[64];
        snprintf(geometry, sizeof geometry, "%ux%ux%u", img.width, img.height, img.channels);
        snprintf(want_geometry, sizeof want_geometry, "%sx%sx%s", e->width, e->height, e->channels);
        if (strcmp(geometry, want_geometry) != 0) {
            printf("  FAIL %s [%s]: decoded %s, expected %s\n", e->file, level, geometry, want_geometry);
            bad = 1;
        } else {
            hex_sha256(img.pixels, (size_t)img.width * img.height * img.channels, hash);
            if (strcmp(want_pixels, "-") == 0) {
                (*unchecked)++;
            } else if (strcmp(hash, want_pixels) != 0) {
                printf("  FAIL %s [%s]: pixels hash %s, expected %s\n", e->file, level, hash, want_pixels);
                bad = 1;
            }
        }
        if (img.icc_size)
            hex_sha256(img.icc, img.icc_size, hash);
        else
            strcpy(hash, "-");
        if (strcmp(hash, e->icc) != 0) {
            printf("  FAIL %s [%s]: ICC hash %s, expected %s\n", e->file, level, hash, e->icc);
            bad = 1;
        }
    }
    aecimg_image_free(&img);
    free(data);
    return bad;
}

static void test_corpus(void **state)
{
    (void)state;
    static const char *levels[] = {"c", "avx2", "avx512", "avx512bf16"};
    Entry *entries;
    size_t n = load_manifest(&entries), valid = 0;
    for (size_t i = 0; i < n; i++)
        valid += strcmp(entries[i].expect, "ok") == 0;
    int failures = 0, levels_run = 0;
    for (size_t l = 0; l < sizeof levels / sizeof levels[0]; l++) {
        AecimgContext *ctx = open_at(levels[l]);
        if (!ctx) {
            printf("  level %s: not supported by this CPU or build, skipped\n", levels[l]);
            continue;
        }
        int before = failures, unchecked = 0;
        for (size_t i = 0; i < n; i++)
            failures += check_entry(ctx, levels[l], &entries[i], &unchecked);
        printf("  level %s: %zu files (%zu valid, %zu invalid), %d mismatches, %d rasters not recorded\n",
               levels[l], n, valid, n - valid, failures - before, unchecked);
        levels_run++;
        aecimg_close(&ctx);
    }
    free(entries);
    assert_true(levels_run >= 1);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
