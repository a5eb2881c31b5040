/* test_gray.c: models of one image channel (gray) and of total stride 4 and 8, end to end: what the
 * transforms see and give, the same bytes and pixels for every thread count, tile size and kernel level,
 * alpha beside a gray model, refinement, and color input refused. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "container.h"
#include "imageio/imageio.h"
#include "model_builder.h"
#include "model_file.h"
#include "network.h"
#include "nn/nn.h"

/* The built models (model_builder.h): gray in the 1x1 layout (stride 2); gray of stride 4 ending in a
 * pixel shuffle to one channel, as a trained gray model, and of stride 8 ending in a convolution of one
 * output channel, both with lambdas for refinement; color of stride 4 and 8 in the same two layouts. */
static const TestModelShape model_shapes[] = {
    {.gdn_channels = 4, .latent_channels = 3, .symbols = 64, .precision = 14, .image_channels = 1},
    {.gdn_channels = 8, .latent_channels = 6, .symbols = 64, .precision = 14, .image_channels = 1, .stages = 2,
     .meta = "lambdas=0.002,0.05\n"},
    {.gdn_channels = 8, .latent_channels = 5, .symbols = 64, .precision = 14, .image_channels = 1, .stages = 3,
     .direct_output = 1, .meta = "lambdas=0.002,0.05\n"},
    {.gdn_channels = 8, .latent_channels = 6, .symbols = 64, .precision = 14, .image_channels = 3, .stages = 2},
    {.gdn_channels = 8, .latent_channels = 5, .symbols = 64, .precision = 14, .image_channels = 3, .stages = 3,
     .direct_output = 1},
};
#define MODEL_COUNT (sizeof model_shapes / sizeof *model_shapes)

static char model_paths[MODEL_COUNT][32];

static int write_models(void **state)
{
    (void)state;
    for (size_t i = 0; i < MODEL_COUNT; i++) {
        size_t size;
        uint8_t *data = test_model_build(&model_shapes[i], &size);
        strcpy(model_paths[i], "aec-test-model.XXXXXX"); /* in the build directory, where make check runs */
        test_model_write(model_paths[i], data, size);
        free(data);
    }
    return 0;
}

static int remove_models(void **state)
{
    (void)state;
    for (size_t i = 0; i < MODEL_COUNT; i++)
        unlink(model_paths[i]);
    return 0;
}

static AecimgImage load_image(const char *rel)
{
    const char *dir = getenv("AECIMG_TEST_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : ".", rel);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *data = malloc(1 << 20);
    assert_non_null(data);
    const size_t size = fread(data, 1, 1 << 20, f);
    fclose(f);
    AecimgImage img;
    char err[256];
    assert_int_equal(imageio_read(data, size, AECIMG_DEFAULT_MAX_PIXELS, &img, err, sizeof err), 0);
    free(data);
    return img;
}

/* A w x h image of `channels` (1 gray, 2 gray+alpha, 3 RGB) with content in every pixel. */
static AecimgImage pattern_image(uint32_t w, uint32_t h, uint32_t channels)
{
    AecimgImage img = {.width = w, .height = h, .channels = channels, .source_bit_depth = 8};
    img.pixels = malloc((size_t)w * h * channels);
    assert_non_null(img.pixels);
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++)
            for (uint32_t c = 0; c < channels; c++)
                img.pixels[((size_t)y * w + x) * channels + c] = (uint8_t)(x * 37 + y * 91 + (x * y) % 17 + c * 64);
    return img;
}

static AecimgContext *open_with(const char *model, uint32_t tile, int threads, int refine)
{
    AecimgSettings s;
    aecimg_default_settings(&s);
    s.model_path = model;
    s.quality = 60;
    s.threads = threads;
    s.tile_size = tile;
    s.refine = refine;
    AecimgContext *ctx = NULL;
    assert_int_equal(aecimg_open(&ctx, &s), AECIMG_OK);
    assert_int_equal(aecimg_set_effort(ctx, 0), AECIMG_OK); /* refine 0: plain rounding, not the default level */
    return ctx;
}

static void code(const char *model, uint32_t tile, int threads, int refine, const AecimgImage *img, uint8_t **file,
                 size_t *size, AecimgImage *out)
{
    AecimgContext *ctx = open_with(model, tile, threads, refine);
    assert_int_equal(aecimg_encode(ctx, img, file, size), AECIMG_OK);
    assert_int_equal(aecimg_decode(ctx, *file, *size, out), AECIMG_OK);
    aecimg_close(&ctx);
}

/* The file's latents are the rounded analysis of the image with its right and bottom edges repeated to
 * the stride, and the decoded pixels the synthesis of them: checked outside the codec, on the whole
 * image at the CPU's level, so that what a gray image gives the network and what comes back is pinned
 * down pixel by pixel.  Returns how many latents are nonzero. */
static size_t check_transforms(const char *model, const AecimgImage *img, const uint8_t *file, size_t size,
                               const AecimgImage *out)
{
    ModelFile mf;
    assert_int_equal(model_file_load(model, &mf), 0);
    NnKernels k;
    nn_kernels_init(&k, nn_cpu_detect());
    Network a, s;
    assert_int_equal(network_build(&a, &mf, MODEL_NET_ANALYSIS, &k, 1), 0);
    assert_int_equal(network_build(&s, &mf, MODEL_NET_SYNTHESIS, &k, 1), 0);
    const uint32_t st = mf.stride, lh = (img->height + st - 1) / st, lw = (img->width + st - 1) / st;
    const uint32_t m = mf.latent_channels, ph = lh * st, pw = lw * st, ic = img->channels;
    NetWorkspace ws = {0};
    float *x = network_input(&a, &ws, (int)ph, (int)pw);
    assert_non_null(x);
    for (uint32_t y = 0; y < ph; y++)
        for (uint32_t xx = 0; xx < pw; xx++) {
            const uint32_t sy = y < img->height ? y : img->height - 1, sx = xx < img->width ? xx : img->width - 1;
            x[(size_t)y * pw + xx] = img->pixels[((size_t)sy * img->width + sx) * ic] / 255.0f;
        }
    const float *latents;
    assert_int_equal(network_run(&a, &ws, (int)ph, (int)pw, &latents, 1), 0);
    AecimgContext *ctx = open_with(model, 0, 1, 0);
    AecimgLatents lat;
    assert_int_equal(aecimg_decode_latents(ctx, file, size, &lat), AECIMG_OK);
    assert_true(lat.channels == m && lat.height == lh && lat.width == lw);
    const size_t plane = (size_t)lh * lw;
    size_t nonzero = 0;
    for (size_t i = 0; i < plane; i++)
        for (uint32_t c = 0; c < m; c++) {
            assert_true(lat.data[c * plane + i] == nearbyintf(latents[i * m + c])); /* gain 1, offset 0 */
            nonzero += lat.data[c * plane + i] != 0;
        }
    float *z = network_input(&s, &ws, (int)lh, (int)lw);
    assert_non_null(z);
    for (size_t i = 0; i < plane; i++)
        for (uint32_t c = 0; c < m; c++)
            z[i * m + c] = lat.data[c * plane + i];
    const float *pixels;
    assert_int_equal(network_run(&s, &ws, (int)lh, (int)lw, &pixels, 1), 0);
    for (uint32_t y = 0; y < img->height; y++)
        for (uint32_t xx = 0; xx < img->width; xx++) {
            const float v = fminf(fmaxf(pixels[(size_t)y * pw + xx], 0.0f), 1.0f);
            assert_int_equal(out->pixels[((size_t)y * img->width + xx) * ic], (uint8_t)floorf(v * 255.0f + 0.5f));
        }
    aecimg_latents_free(&lat);
    aecimg_close(&ctx);
    network_workspace_free(&ws);
    network_free(&a);
    network_free(&s);
    model_file_free(&mf);
    return nonzero;
}

/* Gray images, odd sizes among them, and gray with alpha, through every gray model: shape, channels
 * and alpha kept, the transforms' results as checked above. */
static void test_gray_round_trip(void **state)
{
    (void)state;
    AecimgImage imgs[] = {pattern_image(1, 1, 1), load_image("testimages/gray-28x28.png"), pattern_image(29, 31, 1),
                          pattern_image(29, 31, 2), load_image("testimages/ga-64x48.png")};
    for (size_t i = 0; i < MODEL_COUNT; i++) {
        if (model_shapes[i].image_channels != 1)
            continue;
        for (size_t j = 0; j < sizeof imgs / sizeof *imgs; j++) {
            const AecimgImage *img = &imgs[j];
            uint8_t *file;
            size_t size;
            AecimgImage out;
            code(model_paths[i], 0, 2, 0, img, &file, &size, &out);
            assert_true(out.width == img->width && out.height == img->height && out.channels == img->channels);
            AecimgInfo info;
            assert_int_equal(aecimg_read_info(file, size, &info), AECIMG_OK);
            assert_int_equal(info.channels, img->channels);
            if (img->channels == 2) {
                for (size_t p = 0; p < (size_t)img->width * img->height; p++) /* alpha is lossless */
                    assert_int_equal(out.pixels[2 * p + 1], img->pixels[2 * p + 1]);
                assert_true(info.alpha_size > 0);
            }
            const size_t nonzero = check_transforms(model_paths[i], img, file, size, &out);
            printf("  stride %u gray model, %ux%ux%u: %zu bytes, %zu latents nonzero\n",
                   1u << (model_shapes[i].stages ? model_shapes[i].stages : 1), img->width, img->height,
                   img->channels, size, nonzero);
            assert_true(nonzero > 0 || img->width == 1); /* nothing to check if all were zero */
            aecimg_image_free(&out);
            free(file);
        }
    }
    for (size_t j = 0; j < sizeof imgs / sizeof *imgs; j++)
        aecimg_image_free(&imgs[j]);
}

/* Every kernel level, with 1 to 3 threads and tiles down to one latent: the bytes and pixels of the whole
 * image as one tile, for gray and color models of stride 4 and 8 (the halo covers their reach). */
static void test_threads_and_tiles(void **state)
{
    (void)state;
    static const char *levels[] = {"c", "avx2", "avx512", "avx512bf16"};
    static const uint32_t tiles[] = {1, 8, 24, 40};
    for (size_t l = 0; l < sizeof levels / sizeof *levels; l++) {
        setenv("AECIMG_CPU_MAX", levels[l], 1);
        for (size_t i = 0; i < MODEL_COUNT; i++) {
            AecimgImage img = pattern_image(45, 37, model_shapes[i].image_channels == 1 ? 2 : 3), whole;
            uint8_t *ref;
            size_t ref_size;
            code(model_paths[i], 0, 2, 0, &img, &ref, &ref_size, &whole);
            for (size_t t = 0; t < sizeof tiles / sizeof *tiles; t++) {
                uint8_t *file;
                size_t size;
                AecimgImage out;
                code(model_paths[i], tiles[t], 1 + (int)t % 3, 0, &img, &file, &size, &out);
                assert_int_equal(size, ref_size);
                assert_memory_equal(file, ref, size);
                assert_memory_equal(out.pixels, whole.pixels, (size_t)img.width * img.height * img.channels);
                aecimg_image_free(&out);
                free(file);
            }
            aecimg_image_free(&whole);
            aecimg_image_free(&img);
            free(ref);
        }
        printf("  level %s: every model's tiles and thread counts identical\n", levels[l]);
    }
    unsetenv("AECIMG_CPU_MAX");
}

/* Refinement with both gray layouts: the same bytes for any thread count, a gray file that decodes. */
static void test_gray_refine(void **state)
{
    (void)state;
    AecimgImage img = load_image("testimages/gray-28x28.png");
    for (size_t m = 1; m <= 2; m++) {
        uint8_t *f[3];
        size_t s[3];
        AecimgImage out[3];
        const int threads[] = {1, 2, 2};
        const uint32_t tiles[] = {0, 0, 16};
        for (int i = 0; i < 3; i++)
            code(model_paths[m], tiles[i], threads[i], 5, &img, &f[i], &s[i], &out[i]);
        assert_int_equal(s[0], s[1]);
        assert_memory_equal(f[0], f[1], s[0]);
        assert_memory_equal(out[0].pixels, out[1].pixels, (size_t)img.width * img.height);
        for (int i = 0; i < 3; i++) {
            assert_true(out[i].width == 28 && out[i].height == 28 && out[i].channels == 1);
            aecimg_image_free(&out[i]);
            free(f[i]);
        }
    }
    aecimg_image_free(&img);
}

/* Color for a gray model: refused with its own error, whatever the entry point; a damaged file that
 * claims color from a gray model is corrupt. */
static void test_color_refused(void **state)
{
    (void)state;
    AecimgContext *ctx = open_with(model_paths[0], 0, 1, 0);
    AecimgImage rgb = load_image("testimages/rgb-31x17.png"), rgba = load_image("testimages/rgba-61x45.png");
    uint8_t *file;
    size_t size;
    assert_int_equal(aecimg_encode(ctx, &rgb, &file, &size), AECIMG_ERR_COLOR_INPUT);
    assert_int_equal(aecimg_encode(ctx, &rgba, &file, &size), AECIMG_ERR_COLOR_INPUT);
    assert_string_equal(aecimg_strerror(AECIMG_ERR_COLOR_INPUT), "the model codes gray images; the input is color");

    AecimgImage gray = pattern_image(16, 16, 1), out;
    assert_int_equal(aecimg_encode(ctx, &gray, &file, &size), AECIMG_OK);
    AecContainer *ct = malloc(sizeof *ct);
    assert_non_null(ct);
    assert_int_equal(container_read(file, size, UINT64_MAX, ct), 0);
    ct->channels = 3;
    uint8_t *forged;
    size_t forged_size;
    assert_int_equal(container_write(ct, &forged, &forged_size), 0);
    assert_int_equal(aecimg_decode(ctx, forged, forged_size, &out), AECIMG_ERR_CORRUPT);
    assert_null(out.pixels);
    free(forged);
    free(ct);
    free(file);
    aecimg_image_free(&gray);
    aecimg_image_free(&rgb);
    aecimg_image_free(&rgba);
    aecimg_close(&ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gray_round_trip),
        cmocka_unit_test(test_threads_and_tiles),
        cmocka_unit_test(test_gray_refine),
        cmocka_unit_test(test_color_refused),
    };
    return cmocka_run_group_tests(tests, write_models, remove_models);
}
