/* codec.c: the public encode/decode pipeline: pixels -> analysis -> quantizer -> entropy -> container. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "alpha.h"
#include "container.h"
#include "entropy.h"
#include "internal.h"
#include "model_file.h"
#include "network.h"
#include "nn/nn.h"
#include "quant.h"
#include "rate.h"
#include "refine.h"
#include "tiles.h"

#define DEFAULT_MODEL_FILE "default.aecm"

/* A network, built (weights packed for the kernels) the first time it is needed, so that an encoder
 * never prepares the synthesis nor a decoder the analysis. */
typedef struct Transform {
    int ready;
    Network net;
    TileNeeds tiles; /* halo and alignment of its tiles, in latents (tiles.h) */
} Transform;

struct AecimgContext {
    AecimgSettings settings;
    char *model_path;
    ModelFile model;
    NnKernels kernels;
    Transform analysis, synthesis;
    /* Built when an encode first refines: the synthesis in bfloat16 wherever the CPU has it
     * (network_build_fast: refinement only needs its direction) and its backward pass. */
    Network refine_synthesis;
    RefineNet refine;
    int refine_ready;
    NetWorkspace work;
    int threads;
    int effort; /* encoder effort level, 0..AECIMG_EFFORT_MAX */
    int format_version; /* the container form an encode writes (doc/container.md) */
};

void aecimg_default_settings(AecimgSettings *s)
{
    memset(s, 0, sizeof *s);
    s->quality = AECIMG_QUALITY_DEFAULT;
    s->entropy = AECIMG_ENTROPY_AUTO;
    s->keep_icc = 1;
    s->max_pixels = AECIMG_DEFAULT_MAX_PIXELS;
    s->tile_size = AECIMG_TILE_DEFAULT;
    s->roles = AECIMG_ROLE_ENCODE | AECIMG_ROLE_DECODE;
}

/* Refinement iterations of each effort level (bench/effort.md): the gain per iteration falls as they
 * add up, so the levels space them wider at the top. */
static const int effort_refine_iterations[AECIMG_EFFORT_MAX + 1] = {0, 2, 3, 4, 6, 8, 12, 20, 30, 60};

int aecimg_effort_refine(int effort)
{
    RETURN_ERROR_IF(effort < 0 || effort > AECIMG_EFFORT_MAX, AECIMG_ERR_INVALID_ARGUMENT);
    return effort_refine_iterations[effort];
}

/* The refinement iterations an encode runs: the expert knob if set, else the effort level's.  A model
 * that cannot refine (no trained lambdas in its META) codes every level with plain rounding; asking
 * for refinement by name is still an error with it. */
static int refine_iterations(const AecimgContext *c)
{
    if (c->settings.refine > 0)
        return c->settings.refine;
    double lambda;
    return model_file_lambda(&c->model, c->settings.quality, &lambda) == 0 ? effort_refine_iterations[c->effort] : 0;
}

static char *join_path(const char *dir, const char *file)
{
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p) {
        strcpy(p, dir);
        strcat(p, "/");
        strcat(p, file);
    }
    return p;
}

/* FILE in the install folder, else in the source tree's (uninstalled builds); NULL if out of memory. */
static char *installed_model(const char *file)
{
    char *installed = join_path(AECIMG_MODEL_DIR, file);
    if (!installed || access(installed, R_OK) == 0)
        return installed;
    free(installed);
    return join_path(AECIMG_SOURCE_MODEL_DIR, file);
}

/* A path as given; a bare NAME that is no readable file here is an installed model, NAME.aecm
 * (`--model fashion`).  When neither exists the path stays as given, so the error names it. */
static char *model_by_name(const char *path)
{
    if (strchr(path, '/') || access(path, R_OK) == 0 || strlen(path) > 200)
        return strdup(path);
    char file[256];
    snprintf(file, sizeof file, "%s.aecm", path);
    char *found = installed_model(file);
    if (found && access(found, R_OK) == 0)
        return found;
    free(found);
    return strdup(path);
}

/* Explicit path or installed name, then $AECIMG_MODEL, then the installed default model, then the
 * source tree's (uninstalled builds). */
static char *resolve_model_path(const AecimgSettings *s)
{
    const char *env = getenv(AECIMG_MODEL_ENV);
    if (s->model_path)
        return model_by_name(s->model_path);
    if (env && *env)
        return model_by_name(env);
    return installed_model(DEFAULT_MODEL_FILE);
}

static int thread_count(int requested)
{
#ifdef _OPENMP
    return requested > 0 ? requested : omp_get_num_procs();
#else
    (void)requested;
    return 1;
#endif
}

static int check_settings(const AecimgSettings *s)
{
    RETURN_ERROR_IF(s->quality < 0 || s->quality > 100, AECIMG_ERR_INVALID_ARGUMENT);
    RETURN_ERROR_IF(s->threads < 0 || s->threads > 1024, AECIMG_ERR_INVALID_ARGUMENT);
    RETURN_ERROR_IF(s->entropy != AECIMG_ENTROPY_AUTO && !entropy_stage(s->entropy), AECIMG_ERR_UNSUPPORTED);
    RETURN_ERROR_IF(s->max_pixels == 0, AECIMG_ERR_INVALID_ARGUMENT);
    RETURN_ERROR_IF(s->roles & ~(AECIMG_ROLE_ENCODE | AECIMG_ROLE_DECODE), AECIMG_ERR_INVALID_ARGUMENT);
    RETURN_ERROR_IF(s->refine < 0 || s->refine > AECIMG_REFINE_MAX, AECIMG_ERR_INVALID_ARGUMENT);
    return 0;
}

static uint32_t gcd32(uint32_t a, uint32_t b)
{
    return b ? gcd32(b, a % b) : a;
}

/* The analysis works from pixels to latents, the synthesis from latents to pixels: their reach and
 * alignment are converted to latents. */
static int transform_ready(AecimgContext *c, Transform *t, uint32_t which)
{
    if (t->ready)
        return 0;
    FORWARD_IF_ERROR(network_build(&t->net, &c->model, which, &c->kernels, c->threads));
    const uint32_t st = c->model.stride, reach = (uint32_t)network_edge_reach(&t->net);
    const uint32_t align = (uint32_t)network_alignment(&t->net);
    if (which == MODEL_NET_ANALYSIS)
        t->tiles = (TileNeeds){reach, align / gcd32(align, st)};
    else
        t->tiles = (TileNeeds){(reach + st - 1) / st, align};
    t->ready = 1;
    return 0;
}

static int open_model(AecimgContext *c)
{
    FORWARD_IF_ERROR(model_file_load(c->model_path, &c->model));
    nn_kernels_init(&c->kernels, nn_cpu_detect());
    if (c->settings.roles & AECIMG_ROLE_ENCODE)
        FORWARD_IF_ERROR(transform_ready(c, &c->analysis, MODEL_NET_ANALYSIS));
    if (c->settings.roles & AECIMG_ROLE_DECODE)
        FORWARD_IF_ERROR(transform_ready(c, &c->synthesis, MODEL_NET_SYNTHESIS));
    return 0;
}


/* Releases what was built from the loaded model, and the model. */
static void release_model(AecimgContext *c)
{
    refine_net_free(&c->refine);
    network_free(&c->refine_synthesis);
    c->refine_ready = 0;
    network_free(&c->analysis.net);
    network_free(&c->synthesis.net);
    memset(&c->analysis, 0, sizeof c->analysis);
    memset(&c->synthesis, 0, sizeof c->synthesis);
    model_file_free(&c->model);
}

int aecimg_open(AecimgContext **ctx, const AecimgSettings *s)
{
    RETURN_ERROR_IF(!ctx || !s, AECIMG_ERR_INVALID_ARGUMENT);
    *ctx = NULL;
    FORWARD_IF_ERROR(check_settings(s));
    AecimgContext *c = calloc(1, sizeof *c);
    RETURN_ERROR_IF(!c, AECIMG_ERR_NO_MEMORY);
    c->settings = *s;
    c->settings.model_path = NULL;
    c->threads = thread_count(s->threads);
    c->effort = AECIMG_EFFORT_DEFAULT;
    c->format_version = AEC_FORMAT_VERSION_COMPACT;
    c->model_path = resolve_model_path(s);
    int err = c->model_path ? open_model(c) : AECIMG_ERR_NO_MEMORY;
    if (err < 0) {
        aecimg_close(&c);
        return err;
    }
    *ctx = c;
    return 0;
}

void aecimg_close(AecimgContext **ctx)
{
    if (!ctx || !*ctx)
        return;
    AecimgContext *c = *ctx;
    release_model(c);
    network_workspace_free(&c->work);
    free(c->model_path);
    free(c);
    *ctx = NULL;
}

const char *aecimg_model_name(const AecimgContext *ctx)
{
    return ctx->model.name;
}

const char *aecimg_model_path(const AecimgContext *ctx)
{
    return ctx->model_path;
}

const uint8_t *aecimg_model_hash(const AecimgContext *ctx)
{
    return ctx->model.hash;
}

const char *aecimg_cpu_level(const AecimgContext *ctx)
{
    return ctx->kernels.level;
}

int aecimg_set_quality(AecimgContext *ctx, int quality)
{
    RETURN_ERROR_IF(!ctx || quality < 0 || quality > 100, AECIMG_ERR_INVALID_ARGUMENT);
    ctx->settings.quality = quality;
    return 0;
}

int aecimg_set_entropy(AecimgContext *ctx, int entropy)
{
    RETURN_ERROR_IF(!ctx, AECIMG_ERR_INVALID_ARGUMENT);
    RETURN_ERROR_IF(entropy != AECIMG_ENTROPY_AUTO && !entropy_stage(entropy), AECIMG_ERR_UNSUPPORTED);
    ctx->settings.entropy = entropy;
    return 0;
}

int aecimg_set_effort(AecimgContext *ctx, int effort)
{
    RETURN_ERROR_IF(!ctx || effort < 0 || effort > AECIMG_EFFORT_MAX, AECIMG_ERR_INVALID_ARGUMENT);
    ctx->effort = effort;
    return 0;
}

/* The compact form carries everything version 1 does (alpha and ICC included) in less, so it is the
 * default for every file; version 1 stays writable for readers that predate version 2. */
int aecimg_set_format_version(AecimgContext *ctx, int version)
{
    RETURN_ERROR_IF(!ctx, AECIMG_ERR_INVALID_ARGUMENT);
    RETURN_ERROR_IF(version != 0 && version != AEC_FORMAT_VERSION && version != AEC_FORMAT_VERSION_COMPACT,
                    AECIMG_ERR_UNSUPPORTED_VERSION);
    ctx->format_version = version ? version : AEC_FORMAT_VERSION_COMPACT;
    return 0;
}

int aecimg_set_refine(AecimgContext *ctx, int iterations)
{
    RETURN_ERROR_IF(!ctx || iterations < 0 || iterations > AECIMG_REFINE_MAX, AECIMG_ERR_INVALID_ARGUMENT);
    ctx->settings.refine = iterations;
    return 0;
}

static uint32_t latent_size(uint32_t pixels, uint32_t stride)
{
    return (pixels + stride - 1) / stride;
}

static int check_image(const AecimgContext *c, const AecimgImage *img)
{
    RETURN_ERROR_IF(!img || !img->pixels, AECIMG_ERR_INVALID_ARGUMENT);
    RETURN_ERROR_IF(img->channels < 1 || img->channels > 4, AECIMG_ERR_INVALID_ARGUMENT);
    RETURN_ERROR_IF(img->width < 1 || img->height < 1, AECIMG_ERR_INVALID_ARGUMENT);
    RETURN_ERROR_IF(img->width > AECIMG_MAX_DIMENSION || img->height > AECIMG_MAX_DIMENSION, AECIMG_ERR_TOO_LARGE);
    RETURN_ERROR_IF((uint64_t)img->width * img->height > c->settings.max_pixels, AECIMG_ERR_TOO_LARGE);
    RETURN_ERROR_IF(img->icc_size && !img->icc, AECIMG_ERR_INVALID_ARGUMENT);
    RETURN_ERROR_IF(img->icc_size > AEC_MAX_CHUNK_SIZE - 1, AECIMG_ERR_TOO_LARGE);
    /* Not turned into luma: which weights, and whether gray is what the caller wants, is not the
     * codec's to guess; the caller converts, or picks a color model. */
    RETURN_ERROR_IF(c->model.image_channels == 1 && img->channels >= 3, AECIMG_ERR_COLOR_INPUT);
    return 0;
}

/* A pixel rectangle: rows [y0, y0 + h), columns [x0, x0 + w). */
typedef struct PixelRect {
    uint32_t y0, x0, h, w;
} PixelRect;

/* The pixels of a tile, haloed, as the analysis transform sees them. */
static PixelRect tile_input_rect(const Tile *t, uint32_t stride)
{
    return (PixelRect){t->hy0 * stride, t->hx0 * stride, (t->hy1 - t->hy0) * stride, (t->hx1 - t->hx0) * stride};
}

/* 8-bit pixels of rectangle r -> the model's image channels (mc: 3 RGB or 1 gray) as floats in [0, 1];
 * beyond the image's right and bottom edges (the padding to the model's stride) the edge pixels repeat.
 * A color model sees gray in all three channels; a gray model only ever gets gray (check_image). */
static void image_to_input(const AecimgImage *img, PixelRect r, uint32_t mc, float *x, int threads)
{
    const uint32_t ch = img->channels, w = img->width, h = img->height;
    const int gray = ch < 3;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long ty = 0; ty < (long)r.h; ty++) {
        uint32_t yy = r.y0 + (uint32_t)ty;
        const uint8_t *row = img->pixels + (size_t)(yy < h ? yy : h - 1) * w * ch;
        float *out = x + (size_t)ty * r.w * mc;
        for (uint32_t tx = 0; tx < r.w; tx++) {
            uint32_t xx = r.x0 + tx;
            const uint8_t *p = row + (size_t)(xx < w ? xx : w - 1) * ch;
            for (uint32_t k = 0; k < mc; k++)
                out[tx * mc + k] = (float)p[gray ? 0 : k] / 255.0f;
        }
    }
}

static void tile_grid_for(const AecimgContext *c, const TileNeeds *needs, uint32_t lh, uint32_t lw, TileGrid *g)
{
    const uint32_t st = c->model.stride, size = c->settings.tile_size;
    tile_grid_init(g, lh, lw, size / st + (size % st != 0), needs);
}

typedef struct EncodeParts {
    int32_t *symbols;
    EntropyStreams streams;
    uint8_t *alpha;
    size_t alpha_size;
} EncodeParts;

static void encode_parts_free(EncodeParts *p)
{
    free(p->symbols);
    entropy_streams_free(&p->streams);
    free(p->alpha);
}

/* What a payload adds to the file: its streams and their entries in the size table. */
static size_t payload_cost(const EntropyStreams *s)
{
    return s->size + 4 * (size_t)s->count;
}

/* Codes with each stage in turn and keeps the smallest payload, the earlier stage on a tie; stages that do not
 * support the model are skipped. */
static int smallest_payload(const EntropyStage *const *stages, size_t count, const EntropyParams *ep,
                            EncodeParts *parts, int *entropy)
{
    int found = 0;
    for (size_t i = 0; i < count; i++) {
        EntropyStreams s;
        int err = stages[i]->encode(ep, parts->symbols, &s);
        if (err == AECIMG_ERR_UNSUPPORTED)
            continue;
        FORWARD_IF_ERROR(err);
        if (!found || payload_cost(&s) < payload_cost(&parts->streams)) {
            entropy_streams_free(&parts->streams);
            parts->streams = s;
            *entropy = stages[i]->id;
        } else {
            entropy_streams_free(&s);
        }
        found = 1;
    }
    return found ? 0 : AECIMG_ERR_UNSUPPORTED;
}

/* The stage an encode writes.  AUTO is ctx, which is smaller than both other stages on every Kodak image
 * at every quality (bench/entropy.md), so trying them too would only cost time; for a model whose tables
 * are too large for ctx it stays AUTO: the smaller of rANS and zstd. */
static int encode_stage(const AecimgContext *c)
{
    if (c->settings.entropy != AECIMG_ENTROPY_AUTO)
        return c->settings.entropy;
    return entropy_ctx_accepts(&c->model, c->settings.quality) ? AECIMG_ENTROPY_CTX : AECIMG_ENTROPY_AUTO;
}

static int entropy_encode(AecimgContext *c, const EntropyParams *ep, EncodeParts *parts, int *entropy)
{
    static const EntropyStage *const fallback[] = {&entropy_rans, &entropy_zstd};
    *entropy = encode_stage(c);
    if (*entropy == AECIMG_ENTROPY_AUTO)
        return smallest_payload(fallback, sizeof fallback / sizeof *fallback, ep, parts, entropy);
    return entropy_stage(*entropy)->encode(ep, parts->symbols, &parts->streams);
}

static int refine_ready(AecimgContext *c)
{
    if (c->refine_ready)
        return 0;
    FORWARD_IF_ERROR(
        network_build_fast(&c->refine_synthesis, &c->model, MODEL_NET_SYNTHESIS, &c->kernels, c->threads));
    int err = refine_net_build(&c->refine, &c->refine_synthesis, c->threads);
    if (err < 0) {
        network_free(&c->refine_synthesis);
        return err;
    }
    c->refine_ready = 1;
    return 0;
}

/* The latents tile t keeps, in the tile's own HWC output (tw latents a row, m channels each), as
 * quant_forward takes them. */
static QuantBlock kept_latents(const float *tile_latents, const Tile *t, uint32_t m)
{
    const uint32_t tw = t->hx1 - t->hx0;
    return (QuantBlock){tile_latents + ((size_t)(t->y0 - t->hy0) * tw + (t->x0 - t->hx0)) * m, (int)tw,
                        (int)(t->y1 - t->y0), (int)(t->x1 - t->x0), (int)t->y0, (int)t->x0};
}

/* Copies rows x cols latents of m channels between HWC maps whose rows are dst_w and src_w latents. */
static void copy_latents(float *dst, uint32_t dst_w, const float *src, uint32_t src_w, uint32_t rows, uint32_t cols,
                         uint32_t m)
{
    for (uint32_t y = 0; y < rows; y++)
        memcpy(dst + (size_t)y * dst_w * m, src + (size_t)y * src_w * m, (size_t)cols * m * sizeof(float));
}

/* Refinement runs on a grid of its own: blocks of REFINE_BLOCK_PIXELS pixels a side and a margin,
 * whatever the analysis tile size.  The file then depends on neither the tile size nor the thread
 * count, and refinement memory (about 760 MB per megapixel of block and margin) stays near 250 MB
 * for any image; a 768x512 image is two blocks. */
#define REFINE_BLOCK_PIXELS 512u

/* How far, in latents, a latent's effect on the synthesis output reaches: the kernels' half-widths at
 * their scales.  Unlike network_edge_reach, which also counts the Winograd blocks' alignment (what a
 * tile needs to be bit-exact), this is what a block's margin needs for its refinement to see the
 * pixels its kept latents shape. */
static uint32_t synthesis_reach_latents(const Network *n, uint32_t stride)
{
    uint32_t reach = 0;
    for (uint32_t i = 0; i < n->layer_count; i++) {
        if (n->layers[i].op == MODEL_OP_CONV)
            reach += (uint32_t)(n->layers[i].conv.k / 2);
        else if (n->layers[i].op == MODEL_OP_PIXEL_SHUFFLE)
            reach *= 2;
    }
    return (reach + stride - 1) / stride;
}

/* The refinement grid over lh x lw latents, its margin the synthesis's reach (on kodim01, 07, 15 and
 * 23 at effort 5: 0.45% more bytes and 0.011 dB more than refining each image as one block; twice
 * the margin measured the same, at more memory and time). */
static void refine_grid(const AecimgContext *c, uint32_t lh, uint32_t lw, TileGrid *g)
{
    const TileNeeds needs = {synthesis_reach_latents(&c->refine_synthesis, c->model.stride), 1};
    tile_grid_init(g, lh, lw, REFINE_BLOCK_PIXELS / c->model.stride, &needs);
}

/* Refines block t of the image's analysis latents (HWC, lw a row) for `iterations` steps and quantizes
 * its kept latents into their place in symbols. */
static int refine_block(AecimgContext *c, const AecimgImage *img, const TileGrid *g, const Tile *t, int iterations,
                        const float *analysed, int32_t *symbols)
{
    const uint32_t m = c->model.latent_channels, mc = c->model.image_channels;
    const uint32_t th = t->hy1 - t->hy0, tw = t->hx1 - t->hx0;
    const PixelRect r = tile_input_rect(t, c->model.stride);
    float *latents = malloc((size_t)th * tw * m * sizeof(float));
    float *pixels = malloc((size_t)r.h * r.w * mc * sizeof(float));
    float *out = malloc((size_t)th * tw * m * sizeof(float));
    int err = latents && pixels && out ? 0 : AECIMG_ERR_NO_MEMORY;
    if (err == 0) {
        copy_latents(latents, tw, analysed + ((size_t)t->hy0 * g->lw + t->hx0) * m, g->lw, th, tw, m);
        image_to_input(img, r, mc, pixels, c->threads);
        const RefineTile rt = {latents, pixels, (int)th, (int)tw,
                               (int)(img->height - r.y0 < r.h ? img->height - r.y0 : r.h),
                               (int)(img->width - r.x0 < r.w ? img->width - r.x0 : r.w), t->hy0, t->hx0};
        err = refine_tile(&c->refine, &c->model, c->settings.quality, iterations,
                          encode_stage(c) == AECIMG_ENTROPY_CTX, &rt, out, c->threads);
    }
    if (err == 0) {
        const QuantBlock kept = kept_latents(out, t, m);
        quant_forward(&c->model, c->settings.quality, &kept, symbols, (int)g->lh, (int)g->lw, c->threads);
    }
    free(latents);
    free(pixels);
    free(out);
    return err;
}

/* Analysis of one tile.  Its kept latents go, quantized, into their place in symbols, or, when the
 * encode refines (analysed not NULL), unquantized into their place in analysed (HWC, lw a row). */
static int analyse_tile(AecimgContext *c, const AecimgImage *img, const TileGrid *g, const Tile *t,
                        int32_t *symbols, float *analysed)
{
    const uint32_t m = c->model.latent_channels;
    const PixelRect r = tile_input_rect(t, c->model.stride);
    float *x = network_input(&c->analysis.net, &c->work, (int)r.h, (int)r.w);
    const float *latents = NULL;
    RETURN_ERROR_IF(!x, AECIMG_ERR_NO_MEMORY);
    image_to_input(img, r, c->model.image_channels, x, c->threads);
    FORWARD_IF_ERROR(network_run(&c->analysis.net, &c->work, (int)r.h, (int)r.w, &latents, c->threads));
    const QuantBlock kept = kept_latents(latents, t, m);
    if (analysed)
        copy_latents(analysed + ((size_t)t->y0 * g->lw + t->x0) * m, g->lw, kept.latents, (uint32_t)kept.pitch,
                     (uint32_t)kept.h, (uint32_t)kept.w, m);
    else
        quant_forward(&c->model, c->settings.quality, &kept, symbols, (int)g->lh, (int)g->lw, c->threads);
    return 0;
}

/* The image's symbols: the analysis tile by tile, then, if the encode refines, refinement block by
 * block from the whole image's analysis latents. */
static int image_symbols(AecimgContext *c, const AecimgImage *img, uint32_t lh, uint32_t lw, int32_t *symbols)
{
    const int iterations = refine_iterations(c);
    float *analysed = NULL;
    if (iterations > 0) {
        FORWARD_IF_ERROR(refine_ready(c));
        analysed = malloc((size_t)lh * lw * c->model.latent_channels * sizeof(float));
        RETURN_ERROR_IF(!analysed, AECIMG_ERR_NO_MEMORY);
    }
    TileGrid g;
    tile_grid_for(c, &c->analysis.tiles, lh, lw, &g);
    int err = 0;
    for (uint32_t i = 0; err == 0 && i < tile_grid_count(&g); i++) {
        const Tile t = tile_grid_at(&g, i);
        err = analyse_tile(c, img, &g, &t, symbols, analysed);
    }
    if (iterations > 0 && err == 0) {
        /* The analysis's working memory is not needed while refining: handing it back keeps the peak
         * at the larger of the two, not their sum (a 24-megapixel photo at the default level: 744 -> 560
         * MiB; bench/results/memory.md). */
        network_workspace_free(&c->work);
        refine_grid(c, lh, lw, &g);
        for (uint32_t i = 0; err == 0 && i < tile_grid_count(&g); i++) {
            const Tile t = tile_grid_at(&g, i);
            err = refine_block(c, img, &g, &t, iterations, analysed, symbols);
        }
    }
    free(analysed);
    return err;
}

static int encode_latents(AecimgContext *c, const AecimgImage *img, uint32_t lw, uint32_t lh, EncodeParts *parts,
                          int *entropy)
{
    const uint32_t m = c->model.latent_channels;
    FORWARD_IF_ERROR(transform_ready(c, &c->analysis, MODEL_NET_ANALYSIS));
    parts->symbols = malloc((size_t)m * lh * lw * sizeof(int32_t));
    RETURN_ERROR_IF(!parts->symbols, AECIMG_ERR_NO_MEMORY);
    FORWARD_IF_ERROR(image_symbols(c, img, lh, lw, parts->symbols));
    EntropyParams ep = {&c->model, c->settings.quality, m, lh, lw, c->threads};
    return entropy_encode(c, &ep, parts, entropy);
}

static void describe_container(const AecimgContext *c, const AecimgImage *img, const EncodeParts *parts,
                               int entropy, uint32_t lw, uint32_t lh, AecContainer *ct)
{
    memset(ct, 0, sizeof *ct);
    ct->format_version = (uint32_t)c->format_version;
    ct->width = img->width;
    ct->height = img->height;
    ct->channels = img->channels;
    ct->source_bit_depth = img->source_bit_depth >= 1 && img->source_bit_depth <= 16 ? img->source_bit_depth : 8;
    /* The decoder's identity, not the encoder's: files of an encoder upgrade decode with the model
     * whose decoder it kept. */
    memcpy(ct->model_hash, c->model.decoder_hash, 32);
    memcpy(ct->model_name, c->model.decoder_name, sizeof ct->model_name);
    ct->quantizer = AEC_QUANTIZER_GAIN_UNIFORM;
    ct->quality = (uint32_t)c->settings.quality;
    ct->latent_channels = c->model.latent_channels;
    ct->latent_height = lh;
    ct->latent_width = lw;
    ct->entropy = (uint32_t)entropy;
    ct->stream_count = parts->streams.count;
    size_t off = 0;
    for (uint32_t i = 0; i < parts->streams.count; i++) {
        ct->streams[i] = parts->streams.data + off;
        ct->stream_sizes[i] = parts->streams.sizes[i];
        off += parts->streams.sizes[i];
    }
    ct->payload_size = off;
    if (parts->alpha) {
        ct->alpha_method = AEC_ALPHA_ZSTD_LEFT;
        ct->alpha = parts->alpha;
        ct->alpha_size = parts->alpha_size;
    }
    if (c->settings.keep_icc && img->icc_size) {
        ct->icc = img->icc;
        ct->icc_size = img->icc_size;
    }
}

int aecimg_encode(AecimgContext *c, const AecimgImage *img, uint8_t **out, size_t *out_size)
{
    RETURN_ERROR_IF(!c || !out || !out_size, AECIMG_ERR_INVALID_ARGUMENT);
    FORWARD_IF_ERROR(check_image(c, img));
    const uint32_t lw = latent_size(img->width, c->model.stride), lh = latent_size(img->height, c->model.stride);

    EncodeParts parts = {0};
    int entropy = AECIMG_ENTROPY_AUTO;
    int err = encode_latents(c, img, lw, lh, &parts, &entropy);
    if (err == 0 && (img->channels == 2 || img->channels == 4))
        err = alpha_encode(img->pixels, img->width, img->height, img->channels, img->channels - 1, &parts.alpha,
                           &parts.alpha_size);
    if (err == 0) {
        AecContainer *ct = malloc(sizeof *ct);
        err = ct ? 0 : AECIMG_ERR_NO_MEMORY;
        if (ct) {
            describe_container(c, img, &parts, entropy, lw, lh, ct);
            err = container_write(ct, out, out_size);
        }
        free(ct);
    }
    encode_parts_free(&parts);
    return err;
}

/* Checks that a parsed container fits the loaded model before anything is allocated for it. */
static int check_against_model(const AecimgContext *c, const AecContainer *ct)
{
    RETURN_ERROR_IF(!model_file_decodes(&c->model, ct->model_hash, ct->model_hash_size), AECIMG_ERR_MODEL_MISMATCH);
    RETURN_ERROR_IF(ct->quantizer != AEC_QUANTIZER_GAIN_UNIFORM, AECIMG_ERR_UNSUPPORTED);
    RETURN_ERROR_IF(ct->quality > 100, AECIMG_ERR_CORRUPT);
    RETURN_ERROR_IF(ct->latent_channels != c->model.latent_channels, AECIMG_ERR_CORRUPT);
    /* No encoder writes color with a gray model: its synthesis has no color to give. */
    RETURN_ERROR_IF(c->model.image_channels == 1 && ct->channels >= 3, AECIMG_ERR_CORRUPT);
    RETURN_ERROR_IF(ct->latent_width != latent_size(ct->width, c->model.stride), AECIMG_ERR_CORRUPT);
    RETURN_ERROR_IF(ct->latent_height != latent_size(ct->height, c->model.stride), AECIMG_ERR_CORRUPT);
    RETURN_ERROR_IF(!entropy_stage((int)ct->entropy), AECIMG_ERR_UNSUPPORTED);
    return 0;
}

/* Entropy-decodes a checked container's symbols into a malloc'd channel-planar array (NULL on error). */
static int decode_symbols(AecimgContext *c, const AecContainer *ct, int32_t **symbols)
{
    const uint32_t m = ct->latent_channels, lh = ct->latent_height, lw = ct->latent_width;
    *symbols = malloc((size_t)m * lh * lw * sizeof(int32_t));
    RETURN_ERROR_IF(!*symbols, AECIMG_ERR_NO_MEMORY);
    EntropyParams ep = {&c->model, (int)ct->quality, m, lh, lw, c->threads};
    int err = entropy_stage((int)ct->entropy)->decode(&ep, ct->streams, ct->stream_sizes, ct->stream_count, *symbols);
    if (err < 0) {
        free(*symbols);
        *symbols = NULL;
    }
    return err;
}

/* Entropy-decodes a checked container's symbols and dequantizes them into a malloc'd tensor, HWC for the
 * synthesis transform or channel-planar (CHW) for aecimg_decode_latents. */
static int decode_latents_as(AecimgContext *c, const AecContainer *ct, int planar, float **latents)
{
    const uint32_t m = ct->latent_channels, lh = ct->latent_height, lw = ct->latent_width;
    int32_t *symbols = NULL;
    *latents = malloc((size_t)m * lh * lw * sizeof(float));
    int err = *latents ? decode_symbols(c, ct, &symbols) : AECIMG_ERR_NO_MEMORY;
    if (err == 0 && planar)
        quant_inverse_planar(&c->model, (int)ct->quality, symbols, (int)lh, (int)lw, *latents, c->threads);
    else if (err == 0)
        quant_inverse(&c->model, (int)ct->quality, symbols, (int)lh, (int)lw, *latents, c->threads);
    free(symbols);
    if (err < 0) {
        free(*latents);
        *latents = NULL;
    }
    return err;
}

/* floor(255 v + 0.5) of v clamped to [0, 1] (NaN to 0), by comparisons and a truncation (the value is
 * positive), which vectorize, rather than calls of fminf, fmaxf and floorf. */
static inline uint8_t to_byte(float v)
{
    v = v > 0.0f ? v : 0.0f;
    v = v < 1.0f ? v : 1.0f;
    return (uint8_t)(int)(v * 255.0f + 0.5f);
}

/* One output pixel of a color model's synthesis (RGB floats) in the image's ch channels: gray takes
 * the mean, alpha is left to alpha_decode. */
static inline void rgb_to_pixel(const float *p, uint32_t ch, uint8_t *o)
{
    if (ch < 3) {
        o[0] = to_byte((p[0] + p[1] + p[2]) / 3.0f);
    } else {
        o[0] = to_byte(p[0]);
        o[1] = to_byte(p[1]);
        o[2] = to_byte(p[2]);
    }
}

/* The kept part of a tile's synthesis output (mc floats per pixel, covering `from`) -> pixels `to` of
 * the image, in its stored channel layout.  A gray model's files are gray (check_against_model). */
static void output_to_image(const float *y, uint32_t mc, PixelRect from, PixelRect to, AecimgImage *img,
                            int threads)
{
    const uint32_t ch = img->channels, w = img->width;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (long ty = 0; ty < (long)to.h; ty++) {
        const uint32_t yy = to.y0 + (uint32_t)ty;
        const float *p = y + ((size_t)(yy - from.y0) * from.w + (to.x0 - from.x0)) * mc;
        uint8_t *o = img->pixels + ((size_t)yy * w + to.x0) * ch;
        if (ch == mc) { /* gray from a gray model, RGB from a color one: rows contiguous on both sides */
#pragma omp simd
            for (size_t i = 0; i < (size_t)to.w * ch; i++)
                o[i] = to_byte(p[i]);
        } else if (mc == 1) { /* gray+alpha */
            for (uint32_t i = 0; i < to.w; i++)
                o[(size_t)i * ch] = to_byte(p[i]);
        } else {
            for (uint32_t i = 0; i < to.w; i++)
                rgb_to_pixel(p + (size_t)i * 3, ch, o + (size_t)i * ch);
        }
    }
}

/* Synthesis of one tile from the image's HWC latents, cropped to its kept pixels inside the image. */
static int synthesise_tile(AecimgContext *c, const float *latents, const TileGrid *g, const Tile *t,
                           AecimgImage *img)
{
    const uint32_t m = c->model.latent_channels, th = t->hy1 - t->hy0, tw = t->hx1 - t->hx0;
    float *z = network_input(&c->synthesis.net, &c->work, (int)th, (int)tw);
    const float *y = NULL;
    RETURN_ERROR_IF(!z, AECIMG_ERR_NO_MEMORY);
    for (uint32_t r = 0; r < th; r++)
        memcpy(z + (size_t)r * tw * m, latents + ((size_t)(t->hy0 + r) * g->lw + t->hx0) * m,
               (size_t)tw * m * sizeof(float));
    FORWARD_IF_ERROR(network_run(&c->synthesis.net, &c->work, (int)th, (int)tw, &y, c->threads));
    const uint32_t st = c->model.stride, y1 = t->y1 * st, x1 = t->x1 * st;
    const PixelRect to = {t->y0 * st, t->x0 * st, (y1 < img->height ? y1 : img->height) - t->y0 * st,
                          (x1 < img->width ? x1 : img->width) - t->x0 * st};
    output_to_image(y, c->model.image_channels, tile_input_rect(t, st), to, img, c->threads);
    return 0;
}

static int decode_image(AecimgContext *c, const AecContainer *ct, AecimgImage *img)
{
    float *latents = NULL;
    FORWARD_IF_ERROR(transform_ready(c, &c->synthesis, MODEL_NET_SYNTHESIS));
    FORWARD_IF_ERROR(decode_latents_as(c, ct, 0, &latents));
    img->width = ct->width;
    img->height = ct->height;
    img->channels = ct->channels;
    img->source_bit_depth = ct->source_bit_depth;
    img->pixels = malloc((size_t)ct->width * ct->height * ct->channels);
    int err = img->pixels ? 0 : AECIMG_ERR_NO_MEMORY;
    TileGrid g;
    tile_grid_for(c, &c->synthesis.tiles, ct->latent_height, ct->latent_width, &g);
    for (uint32_t i = 0; err == 0 && i < tile_grid_count(&g); i++) {
        const Tile t = tile_grid_at(&g, i);
        err = synthesise_tile(c, latents, &g, &t, img);
    }
    free(latents);
    FORWARD_IF_ERROR(err);
    if (ct->alpha)
        FORWARD_IF_ERROR(alpha_decode(ct->alpha, ct->alpha_size, img->pixels, ct->width, ct->height, ct->channels,
                                      ct->channels - 1));
    if (ct->icc) {
        img->icc = malloc(ct->icc_size);
        RETURN_ERROR_IF(!img->icc, AECIMG_ERR_NO_MEMORY);
        memcpy(img->icc, ct->icc, ct->icc_size);
        img->icc_size = ct->icc_size;
    }
    return 0;
}

static int has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    return n > k && strcmp(name + n - k, suffix) == 0;
}

/* Looks in `dir` for a model file that decodes files naming `hash` (its first hash_size bytes); on
 * success m holds it and *path its path (malloc'd). */
static int find_model_in(const char *dir, const uint8_t *hash, size_t hash_size, ModelFile *m, char **path)
{
    DIR *d = opendir(dir);
    if (!d)
        return AECIMG_ERR_MODEL_NOT_FOUND;
    int err = AECIMG_ERR_MODEL_NOT_FOUND;
    for (struct dirent *e; err == AECIMG_ERR_MODEL_NOT_FOUND && (e = readdir(d));) {
        if (!has_suffix(e->d_name, ".aecm"))
            continue;
        char *p = join_path(dir, e->d_name);
        if (!p) {
            err = AECIMG_ERR_NO_MEMORY;
            break;
        }
        if (model_file_load(p, m) == 0 && model_file_decodes(m, hash, hash_size)) {
            *path = p;
            err = 0;
        } else {
            model_file_free(m);
            free(p);
        }
    }
    closedir(d);
    return err;
}

/* A file names a model other than the loaded one: users' files outlive model upgrades, so look for it
 * among the installed models (beside the loaded model, in the install folder, in the source tree for
 * uninstalled builds) and, if it is there, continue with it. */
static int switch_to_installed_model(AecimgContext *c, const uint8_t *hash, size_t hash_size)
{
    char *here = strdup(c->model_path);
    RETURN_ERROR_IF(!here, AECIMG_ERR_NO_MEMORY);
    char *slash = strrchr(here, '/');
    if (slash)
        *slash = '\0';
    const char *dirs[] = {slash ? here : ".", AECIMG_MODEL_DIR, AECIMG_SOURCE_MODEL_DIR};
    ModelFile found;
    char *path = NULL;
    int err = AECIMG_ERR_MODEL_NOT_FOUND;
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs && err == AECIMG_ERR_MODEL_NOT_FOUND; i++)
        err = find_model_in(dirs[i], hash, hash_size, &found, &path);
    free(here);
    if (err == AECIMG_ERR_MODEL_NOT_FOUND)
        return AECIMG_ERR_MODEL_MISMATCH;
    FORWARD_IF_ERROR(err);
    release_model(c);
    c->model = found;
    free(c->model_path);
    c->model_path = path;
    return 0;
}

/* A compact file does not store the latent shape: it is the model's for the image's size. */
static void derive_latent_shape(const AecimgContext *c, AecContainer *ct)
{
    if (ct->format_version != AEC_FORMAT_VERSION_COMPACT)
        return;
    ct->latent_channels = c->model.latent_channels;
    ct->latent_width = latent_size(ct->width, c->model.stride);
    ct->latent_height = latent_size(ct->height, c->model.stride);
}

/* Reads a file's container into a malloc'd *ct and checks it against the loaded model, switching to
 * the installed model the file names if the loaded one does not decode it. */
static int read_checked(AecimgContext *c, const uint8_t *data, size_t size, AecContainer **ct)
{
    *ct = malloc(sizeof **ct);
    RETURN_ERROR_IF(!*ct, AECIMG_ERR_NO_MEMORY);
    int err = container_read(data, size, c->settings.max_pixels, *ct);
    if (err == 0 && !model_file_decodes(&c->model, (*ct)->model_hash, (*ct)->model_hash_size))
        err = switch_to_installed_model(c, (*ct)->model_hash, (*ct)->model_hash_size);
    if (err == 0) {
        derive_latent_shape(c, *ct);
        err = check_against_model(c, *ct);
    }
    if (err < 0) {
        free(*ct);
        *ct = NULL;
    }
    return err;
}

int aecimg_decode(AecimgContext *c, const uint8_t *data, size_t size, AecimgImage *img)
{
    RETURN_ERROR_IF(!c || !data || !img, AECIMG_ERR_INVALID_ARGUMENT);
    memset(img, 0, sizeof *img);
    AecContainer *ct;
    int err = read_checked(c, data, size, &ct);
    if (err == 0)
        err = decode_image(c, ct, img);
    free(ct);
    if (err < 0)
        aecimg_image_free(img);
    return err;
}

int aecimg_decode_latents(AecimgContext *c, const uint8_t *data, size_t size, AecimgLatents *latents)
{
    RETURN_ERROR_IF(!latents, AECIMG_ERR_INVALID_ARGUMENT);
    memset(latents, 0, sizeof *latents);
    RETURN_ERROR_IF(!c || !data, AECIMG_ERR_INVALID_ARGUMENT);
    AecContainer *ct;
    FORWARD_IF_ERROR(read_checked(c, data, size, &ct));
    int err = decode_latents_as(c, ct, 1, &latents->data);
    if (err == 0) {
        latents->channels = ct->latent_channels;
        latents->height = ct->latent_height;
        latents->width = ct->latent_width;
    }
    free(ct);
    return err;
}

int aecimg_decode_rate_map(AecimgContext *c, const uint8_t *data, size_t size, AecimgRateMap *map)
{
    RETURN_ERROR_IF(!map, AECIMG_ERR_INVALID_ARGUMENT);
    memset(map, 0, sizeof *map);
    RETURN_ERROR_IF(!c || !data, AECIMG_ERR_INVALID_ARGUMENT);
    AecContainer *ct;
    FORWARD_IF_ERROR(read_checked(c, data, size, &ct));
    const uint32_t lh = ct->latent_height, lw = ct->latent_width;
    int32_t *symbols = NULL;
    float *bits = malloc((size_t)lh * lw * sizeof *bits);
    int err = bits ? decode_symbols(c, ct, &symbols) : AECIMG_ERR_NO_MEMORY;
    if (err == 0)
        err = rate_map(&c->model, (int)ct->quality, symbols, lh, lw, bits, &map->total_bits, c->threads);
    if (err == 0) {
        *map = (AecimgRateMap){lw, lh, c->model.stride, ct->width, ct->height, map->total_bits, bits};
        bits = NULL;
    }
    free(bits);
    free(symbols);
    free(ct);
    return err;
}

void aecimg_rate_map_free(AecimgRateMap *map)
{
    if (!map)
        return;
    free(map->bits);
    memset(map, 0, sizeof *map);
}

void aecimg_latents_free(AecimgLatents *latents)
{
    if (!latents)
        return;
    free(latents->data);
    memset(latents, 0, sizeof *latents);
}

void aecimg_free(void *p)
{
    free(p);
}

int aecimg_read_info(const uint8_t *data, size_t size, AecimgInfo *info)
{
    RETURN_ERROR_IF(!data || !info, AECIMG_ERR_INVALID_ARGUMENT);
    AecContainer *ct = malloc(sizeof *ct);
    RETURN_ERROR_IF(!ct, AECIMG_ERR_NO_MEMORY);
    int err = container_read(data, size, UINT64_MAX, ct);
    if (err == 0) {
        memset(info, 0, sizeof *info);
        info->format_version = ct->format_version;
        info->width = ct->width;
        info->height = ct->height;
        info->channels = ct->channels;
        info->source_bit_depth = ct->source_bit_depth;
        info->quality = ct->quality;
        info->quantizer = ct->quantizer;
        info->entropy = ct->entropy;
        info->latent_channels = ct->latent_channels;
        info->latent_height = ct->latent_height;
        info->latent_width = ct->latent_width;
        info->stream_count = ct->stream_count;
        info->payload_size = ct->payload_size;
        info->alpha_size = ct->alpha_size;
        info->icc_size = ct->icc_size;
        memcpy(info->model_name, ct->model_name, sizeof info->model_name);
        memcpy(info->model_hash, ct->model_hash, 32);
    }
    free(ct);
    return err;
}

int aecimg_read_icc(const uint8_t *data, size_t size, const uint8_t **icc, size_t *icc_size)
{
    RETURN_ERROR_IF(!icc || !icc_size, AECIMG_ERR_INVALID_ARGUMENT);
    *icc = NULL;
    *icc_size = 0;
    RETURN_ERROR_IF(!data, AECIMG_ERR_INVALID_ARGUMENT);
    AecContainer *ct = malloc(sizeof *ct);
    RETURN_ERROR_IF(!ct, AECIMG_ERR_NO_MEMORY);
    int err = container_read(data, size, UINT64_MAX, ct);
    if (err == 0 && ct->icc) {
        *icc = ct->icc;
        *icc_size = ct->icc_size;
    }
    free(ct);
    return err;
}

void aecimg_image_free(AecimgImage *img)
{
    if (!img)
        return;
    free(img->pixels);
    free(img->icc);
    memset(img, 0, sizeof *img);
}
