/* aec_decode.c: aec-decode, which turns a .aec file into a PNG or PNM image (and its latents into a .npy
 * file), or describes it. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <aecimg/aecimg.h>

#include "cli.h"
#include "cli_batch.h"
#include "cli_score.h"
#include "imageio/imageio.h"
#include "npy.h"

typedef struct DecodeOptions {
    CliCommon common;
    ImageioFormat format; /* IMAGEIO_UNKNOWN: from the output file name */
    const char *latents;  /* --latents FILE.npy, or NULL */
    const char *rate_map; /* --rate-map FILE.png, or NULL */
    double rate_scale;    /* --rate-map-scale: bits per pixel shown white, 0 for the map's maximum */
    int score;            /* --score: a score line per file on standard output */
} DecodeOptions;

/* What a process keeps from one file to the next: the codec, opened for the first. */
typedef struct Decoder {
    const DecodeOptions *opt;
    AecimgContext *ctx;
} Decoder;

/* Everything one file produces, so that a single cleanup releases it whatever stage failed. */
typedef struct DecodeJob {
    const DecodeOptions *opt;
    const char *input;
    const char *in_name; /* the input as messages show it */
    const char *out_path;
    ImageioFormat format;
    uint8_t *data;
    size_t size;
    AecimgInfo info;
    Decoder *dec;
    AecimgContext *ctx; /* the Decoder's */
    AecimgImage img;
    AecimgLatents latents; /* with --latents */
    AecimgRateMap map;     /* with --rate-map or --score */
    double map_white;      /* bits per pixel the rate map shows white */
    uint64_t out_bytes;
    double t_read, t_load, t_decode, t_write;
} DecodeJob;

enum { OPT_FORMAT = CLI_OPT_TOOL, OPT_INFO, OPT_LATENTS, OPT_RATE_MAP, OPT_RATE_MAP_SCALE, OPT_SCORE };

/* --rate-map's default: a block that costs this many bits per pixel or more is white.  A fixed scale
 * lets maps of different images be compared; 4 bpp is well above what photographs cost at the
 * default quality, so that only expensive (unusual) regions saturate. */
#define RATE_MAP_SCALE_DEFAULT 4.0

static const struct option long_options[] = {
    {"output", required_argument, NULL, 'o'},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"threads", required_argument, NULL, 'j'},
    {"jobs", required_argument, NULL, CLI_OPT_JOBS},
    {"recursive", no_argument, NULL, 'r'},
    {"model", required_argument, NULL, CLI_OPT_MODEL},
    {"max-pixels", required_argument, NULL, CLI_OPT_MAX_PIXELS},
    {"tile", required_argument, NULL, CLI_OPT_TILE},
    {"info", no_argument, NULL, OPT_INFO},
    {"latents", required_argument, NULL, OPT_LATENTS},
    {"rate-map", required_argument, NULL, OPT_RATE_MAP},
    {"rate-map-scale", required_argument, NULL, OPT_RATE_MAP_SCALE},
    {"score", no_argument, NULL, OPT_SCORE},
    {"force", no_argument, NULL, 'f'},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, CLI_OPT_QUIET},
    {"version", no_argument, NULL, 'V'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void print_help(void)
{
    printf("Usage: aec-decode [OPTIONS] INPUT [-o OUTPUT]\n"
           "       aec-decode [OPTIONS] INPUT... [-o FOLDER/]\n"
           "       aec-decode --info INPUT\n"
           "Decompress .aec files into PNG or PNM (PGM, PPM, PAM) images.\n"
           "INPUT '-' reads standard input; a folder INPUT stands for its .aec files.\n\n"
           "  -o, --output FILE    output file, '-' for standard output; its extension\n"
           "                       (.png, .ppm, .pgm, .pnm, .pam) picks the format\n"
           "                       (default: INPUT with its extension replaced by .png);\n"
           "                       a folder (existing, or a name ending in '/') takes\n"
           "                       FOLDER/NAME.png for each INPUT\n"
           "      --format NAME    png, pnm or pam, whatever the output name (default png)\n"
           "  -r, --recursive      folder INPUTs: their subfolders too, kept below -o FOLDER\n"
           "  -j, --threads N      threads per image, 0 for all cores (default 0)\n"
           "      --jobs N         files decoded side by side, each in its own process,\n"
           "                       0 for one per core (default 1); -j 0 then shares the cores\n"
           "      --model FILE     model file (default: $%s, else the installed model)\n"
           "      --max-pixels N   refuse images of more than N pixels (default %llu)\n"
           "      --tile N         run the network on N x N pixel tiles, 0 for the whole\n"
           "                       image; the output does not depend on N (default %u)\n"
           "      --info           print the file's header to standard output; no decoding\n"
           "      --latents FILE   also write the dequantized latents, float32 C x H x W, as\n"
           "                       a NumPy .npy file ('-' for standard output)\n"
           "      --rate-map FILE  also write where the bits went as a gray image of the\n"
           "                       image's size (PNG; PGM for .pgm/.pnm): each block of\n"
           "                       the model's stride shows its ideal bits per pixel\n"
           "      --rate-map-scale BPP\n"
           "                       the rate map's white: BPP bits per pixel or more\n"
           "                       (default %g); 0: the map's maximum\n"
           "      --score          print a line of scores per INPUT to standard output:\n"
           "                       bytes, bits per pixel, payload and ideal bits\n"
           "                       (tab-separated key=value, see aec-encode(1))\n"
           "  -f, --force          overwrite an existing output file\n"
           "  -v, --verbose        also print the time of each stage\n"
           "      --quiet          print errors only\n"
           "  -V, --version        print the versions of the tool, library and model\n"
           "  -h, --help           print this help\n\n"
           "Exit status: 0 success, 1 error (any INPUT failed; the others are still decoded),\n"
           "2 usage error.\n",
           AECIMG_MODEL_ENV, (unsigned long long)AECIMG_DEFAULT_MAX_PIXELS,
           AECIMG_TILE_DEFAULT, RATE_MAP_SCALE_DEFAULT);
}

static int parse_format(const char *arg, ImageioFormat *format)
{
    if (strcmp(arg, "png") == 0)
        *format = IMAGEIO_PNG;
    else if (strcmp(arg, "pnm") == 0)
        *format = IMAGEIO_PNM;
    else if (strcmp(arg, "pam") == 0)
        *format = IMAGEIO_PAM;
    else
        return cli_usage_error("invalid format '%s' (expected png, pnm or pam)", arg);
    return 0;
}

/* Options of aec-decode alone; returns 0 or CLI_EXIT_USAGE. */
static int decode_option(DecodeOptions *o, int opt, const char *arg)
{
    switch (opt) {
    case OPT_FORMAT:
        return parse_format(arg, &o->format);
    case OPT_INFO:
        o->common.action = CLI_ACTION_INFO;
        return 0;
    case OPT_LATENTS:
        o->latents = arg;
        return 0;
    case OPT_RATE_MAP:
        o->rate_map = arg;
        return 0;
    case OPT_RATE_MAP_SCALE:
        return cli_parse_real_arg("rate map scale", arg, 0.0, 1e6, &o->rate_scale);
    case OPT_SCORE:
        o->score = 1;
        return 0;
    default:
        return cli_usage_error("unhandled option %d", opt);
    }
}

static int parse_options(int argc, char **argv, DecodeOptions *o)
{
    int opt, rc;

    cli_common_init(&o->common);
    o->format = IMAGEIO_UNKNOWN;
    o->latents = NULL;
    o->rate_map = NULL;
    o->rate_scale = RATE_MAP_SCALE_DEFAULT;
    o->score = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":o:j:rfvVh", long_options, NULL)) != -1) {
        rc = cli_common_option(&o->common, opt, argv);
        if (rc < 0)
            rc = decode_option(o, opt, optarg);
        if (rc != 0)
            return rc;
    }
    rc = cli_common_finish(&o->common, argc, argv, o->common.action != CLI_ACTION_INFO,
                           o->common.action != CLI_ACTION_INFO);
    if (rc == 0 && o->common.action == CLI_ACTION_INFO && o->common.output)
        return cli_usage_error("--info prints to standard output and takes no -o");
    if (rc == 0 && o->common.action == CLI_ACTION_INFO && o->latents)
        return cli_usage_error("--info decodes nothing and takes no --latents");
    if (rc == 0 && o->common.action == CLI_ACTION_INFO && (o->rate_map || o->score))
        return cli_usage_error("--info decodes nothing and takes no --rate-map or --score");
    if (rc == 0 && o->score && ((o->common.output && strcmp(o->common.output, "-") == 0) ||
                                (o->latents && strcmp(o->latents, "-") == 0) ||
                                (o->rate_map && strcmp(o->rate_map, "-") == 0)))
        return cli_usage_error("--score prints to standard output; no other output can go there");
    if (rc == 0 && o->rate_map && strcmp(o->rate_map, "-") == 0 &&
        ((o->common.output && strcmp(o->common.output, "-") == 0) || (o->latents && strcmp(o->latents, "-") == 0)))
        return cli_usage_error("only one output can go to standard output");
    return rc;
}

static const char *entropy_name(uint32_t entropy)
{
    switch (entropy) {
    case AECIMG_ENTROPY_ZSTD: return "zstd";
    case AECIMG_ENTROPY_RANS: return "rans";
    case AECIMG_ENTROPY_CTX: return "ctx";
    default: return "unknown";
    }
}

static void print_info(const AecimgInfo *in, size_t file_size)
{
    char hash[65];

    /* Version 2 stores the first 8 bytes of the hash: print what the file says, no zeros. */
    cli_hex(in->model_hash, in->format_version == 2 ? 8 : sizeof in->model_hash, hash);
    printf("file_size: %zu\n", file_size);
    printf("format_version: %" PRIu32 "\n", in->format_version);
    printf("width: %" PRIu32 "\n", in->width);
    printf("height: %" PRIu32 "\n", in->height);
    printf("channels: %" PRIu32 "\n", in->channels);
    printf("source_bit_depth: %" PRIu32 "\n", in->source_bit_depth);
    printf("quality: %" PRIu32 "\n", in->quality);
    printf("quantizer: %" PRIu32 "\n", in->quantizer);
    printf("entropy: %s (%" PRIu32 ")\n", entropy_name(in->entropy), in->entropy);
    printf("latent_channels: %" PRIu32 "\n", in->latent_channels);
    printf("latent_height: %" PRIu32 "\n", in->latent_height);
    printf("latent_width: %" PRIu32 "\n", in->latent_width);
    printf("stream_count: %" PRIu32 "\n", in->stream_count);
    printf("payload_size: %" PRIu64 "\n", in->payload_size);
    printf("alpha_size: %" PRIu64 "\n", in->alpha_size);
    printf("icc_size: %" PRIu64 "\n", in->icc_size);
    printf("model_name: %s\n", in->model_name);
    printf("model_hash: %s\n", hash);
}

/* Reads the whole file and parses its header, which needs no model. */
static int read_input(DecodeJob *job)
{
    const CliCommon *c = &job->opt->common;
    double t0 = cli_now();
    char err[256];
    int rc;

    if (cli_read_file(job->input, cli_input_cap(c->max_pixels), &job->data, &job->size, err,
                      sizeof err) != 0) {
        cli_message(job->in_name, "%s", err);
        return -1;
    }
    rc = aecimg_read_info(job->data, job->size, &job->info);
    if (rc < 0) {
        cli_message(job->in_name, "%s", aecimg_strerror(rc));
        return -1;
    }
    job->t_read = cli_now() - t0;
    return 0;
}

static int show_info(const DecodeOptions *o)
{
    DecodeJob job = {.opt = o, .input = o->common.input,
                     .in_name = cli_display_name(o->common.input, 0)};
    int rc = read_input(&job);

    if (rc == 0)
        print_info(&job.info, job.size);
    free(job.data);
    if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
        cli_message("(stdout)", "write error");
        rc = -1;
    }
    return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
}

/* The file names the model it needs; say which, so the user can find it. */
static void report_mismatch(const DecodeJob *job)
{
    char want[17], have[17];
    /* A compact (version 2) file stores the hash prefix only, not the name. */
    const char *name = job->info.model_name[0] ? job->info.model_name : "of unrecorded name";

    cli_hex(job->info.model_hash, 8, want);
    cli_hex(aecimg_model_hash(job->ctx), 8, have);
    cli_message(job->in_name,
                "made with model %s (hash %s), which is not installed (the loaded model is %s, hash %s);"
                " install it or name it with --model",
                name, want, aecimg_model_name(job->ctx), have);
}

/* Opens the codec for the process's first file; the others reuse it. */
static int open_decoder(DecodeJob *job)
{
    Decoder *dec = job->dec;
    AecimgSettings s;
    double t0 = cli_now();

    if (!dec->ctx) {
        aecimg_default_settings(&s);
        s.roles = AECIMG_ROLE_DECODE;
        if (cli_open_codec(&job->opt->common, &s, &dec->ctx) != 0)
            return -1;
        job->t_load = cli_now() - t0;
    }
    job->ctx = dec->ctx;
    return 0;
}

static int decode_image(DecodeJob *job)
{
    double t0;
    int err;

    if (open_decoder(job) != 0)
        return -1;
    t0 = cli_now();
    err = aecimg_decode(job->ctx, job->data, job->size, &job->img);
    if (err == 0 && job->opt->latents)
        err = aecimg_decode_latents(job->ctx, job->data, job->size, &job->latents);
    if (err == 0 && (job->opt->rate_map || job->opt->score))
        err = aecimg_decode_rate_map(job->ctx, job->data, job->size, &job->map);
    if (err == AECIMG_ERR_MODEL_MISMATCH)
        report_mismatch(job);
    else if (err < 0)
        cli_message(job->in_name, "%s", aecimg_strerror(err));
    if (err < 0)
        return -1;
    job->t_decode = cli_now() - t0;
    return 0;
}

/* Writes the image into out's temporary file and finishes it (committed by the caller). */
static int write_image(DecodeJob *job, CliOutput *out)
{
    const char *name = cli_display_name(job->out_path, 1);
    char err[256];

    if (cli_output_begin(out, err, sizeof err) != 0) {
        cli_message(name, "%s", err);
        return -1;
    }
    if (imageio_write(out->f, job->format, &job->img, err, sizeof err) != 0) {
        cli_output_abort(out);
        cli_message(name, "%s", err);
        return -1;
    }
    /* What the summary of many files counts; a pipe has no position to tell. */
    long end = ftell(out->f);
    job->out_bytes = end > 0 ? (uint64_t)end : 0;
    if (cli_output_finish(out, err, sizeof err) != 0) {
        cli_output_abort(out);
        cli_message(name, "%s", err);
        return -1;
    }
    return 0;
}

/* Writes the latents as .npy into out's temporary file and finishes it. */
static int write_latents(DecodeJob *job, CliOutput *out)
{
    const char *name = cli_display_name(job->opt->latents, 1);
    const uint32_t shape[3] = {job->latents.channels, job->latents.height, job->latents.width};
    char err[256];

    if (cli_output_begin(out, err, sizeof err) != 0) {
        cli_message(name, "%s", err);
        return -1;
    }
    if (npy_write_f32(out->f, shape, 3, job->latents.data) != 0) {
        snprintf(err, sizeof err, "%s", strerror(errno));
        cli_output_abort(out);
        cli_message(name, "%s", err);
        return -1;
    }
    if (cli_output_finish(out, err, sizeof err) != 0) {
        cli_message(name, "%s", err);
        return -1;
    }
    return 0;
}

/* The rate map as a gray image of the file's size: each pixel shows the bits per pixel of its block,
 * bits / stride^2, 0 black and job->map_white or more white (aec-decode(1) RATE MAP). */
static int rate_map_image(DecodeJob *job, AecimgImage *gray)
{
    const AecimgRateMap *m = &job->map;
    const double area = (double)m->stride * m->stride;
    double white = job->opt->rate_scale;

    if (white <= 0.0) {
        white = 0.0;
        for (size_t i = 0; i < (size_t)m->width * m->height; i++)
            white = fmax(white, m->bits[i] / area);
    }
    job->map_white = white;
    *gray = (AecimgImage){.width = m->image_width, .height = m->image_height, .channels = 1,
                          .source_bit_depth = 8};
    gray->pixels = malloc((size_t)gray->width * gray->height);
    if (!gray->pixels)
        return -1;
    for (uint32_t y = 0; y < gray->height; y++)
        for (uint32_t x = 0; x < gray->width; x++) {
            const double bpp = m->bits[(size_t)(y / m->stride) * m->width + x / m->stride] / area;
            const double v = white > 0.0 ? fmin(bpp / white, 1.0) : 0.0;
            gray->pixels[(size_t)y * gray->width + x] = (uint8_t)lround(255.0 * v);
        }
    return 0;
}

/* Writes the rate map into out's temporary file and finishes it: PGM or PAM for a name with that
 * extension, else PNG. */
static int write_rate_map(DecodeJob *job, CliOutput *out)
{
    const char *name = cli_display_name(job->opt->rate_map, 1);
    ImageioFormat format = imageio_format_from_name(job->opt->rate_map);
    AecimgImage gray;
    char err[256];
    int rc = -1;

    if (rate_map_image(job, &gray) != 0)
        snprintf(err, sizeof err, "%s", strerror(ENOMEM));
    else if (cli_output_begin(out, err, sizeof err) == 0) {
        if (imageio_write(out->f, format == IMAGEIO_UNKNOWN ? IMAGEIO_PNG : format, &gray, err, sizeof err) != 0)
            cli_output_abort(out);
        else
            rc = cli_output_finish(out, err, sizeof err);
    }
    free(gray.pixels);
    if (rc != 0)
        cli_message(name, "%s", err);
    return rc;
}

/* The side outputs (--latents, --rate-map) and the image are all written and synced before any is
 * renamed into place, so that a failed write (a full disk) leaves none behind. */
static int write_outputs(DecodeJob *job, CliOutput *out, CliOutput *lat, CliOutput *map)
{
    CliOutput *side[2] = {lat, map};
    const char *names[2] = {job->opt->latents, job->opt->rate_map};
    int (*const writers[2])(DecodeJob *, CliOutput *) = {write_latents, write_rate_map};
    double t0 = cli_now();
    char err[256];
    int failed = 0;
    size_t i;

    for (i = 0; i < 2 && !failed; i++)
        failed = side[i] && writers[i](job, side[i]) != 0;
    failed = failed || write_image(job, out) != 0;
    for (i = 0; i < 2 && !failed; i++)
        if (side[i] && cli_output_commit(side[i], err, sizeof err) != 0) {
            cli_message(cli_display_name(names[i], 1), "%s", err);
            failed = 1;
        }
    if (!failed && cli_output_commit(out, err, sizeof err) != 0) {
        cli_message(cli_display_name(job->out_path, 1), "%s", err);
        failed = 1;
    }
    if (failed) { /* removes what is not committed yet; a committed side output is left */
        cli_output_abort(out);
        for (i = 0; i < 2; i++)
            if (side[i])
                cli_output_abort(side[i]);
        return -1;
    }
    job->t_write = cli_now() - t0;
    return 0;
}

/* Where the map peaks, so that a script or a reader finds the costliest block without opening it. */
static void print_rate_summary(const DecodeJob *job)
{
    const AecimgRateMap *m = &job->map;
    const double area = (double)m->stride * m->stride;
    size_t n = (size_t)m->width * m->height, top = 0;

    for (size_t i = 1; i < n; i++)
        if (m->bits[i] > m->bits[top])
            top = i;
    fprintf(stderr, "%s: rate map: %.1f ideal bits, mean %.3f bpp, max %.3f bpp at block (%zu, %zu) of "
            "%ux%u pixels, white = %.3f bpp\n", job->in_name, m->total_bits,
            m->total_bits / ((double)n * area), m->bits[top] / area, top % m->width, top / m->width,
            m->stride, m->stride, job->map_white);
}

static void print_summary(const DecodeJob *job)
{
    double pixels = (double)job->img.width * job->img.height;
    double seconds = job->t_decode > 1e-9 ? job->t_decode : 1e-9;

    cli_status_clear();
    fprintf(stderr, "%s: %ux%u, %u channel%s <- %zu bytes (%.3f bpp), %.3f s, %.2f MP/s\n",
            job->in_name, job->img.width, job->img.height, job->img.channels, job->img.channels == 1 ? "" : "s",
            job->size,
            8.0 * (double)job->size / pixels, job->t_decode, pixels / 1e6 / seconds);
    if (job->opt->common.verbosity >= CLI_STAGES) {
        fprintf(stderr, "%s: read %.3f s, model %.3f s, decode %.3f s, write %.3f s\n",
                job->in_name, job->t_read, job->t_load, job->t_decode, job->t_write);
        fprintf(stderr, "%s: decoded with model %s (%s)\n", job->in_name, aecimg_model_name(job->ctx),
                aecimg_model_path(job->ctx));
    }
    if (job->opt->rate_map)
        print_rate_summary(job);
}

/* Checks the outputs before the slow work, then reads, decodes and writes. */
static int run_stages(DecodeJob *job)
{
    const CliCommon *c = &job->opt->common;
    const char *latents = job->opt->latents, *rate_map = job->opt->rate_map;
    CliOutput out, lat, map;
    char err[256];

    if (cli_output_prepare(&out, job->out_path, job->input, c->force, err, sizeof err) != 0) {
        cli_message(cli_display_name(job->out_path, 1), "%s", err);
        return -1;
    }
    if (latents && cli_output_prepare(&lat, latents, c->input, c->force, err, sizeof err) != 0) {
        cli_message(cli_display_name(latents, 1), "%s", err);
        return -1;
    }
    if (rate_map && cli_output_prepare(&map, rate_map, c->input, c->force, err, sizeof err) != 0) {
        cli_message(cli_display_name(rate_map, 1), "%s", err);
        return -1;
    }
    if (read_input(job) != 0 || decode_image(job) != 0 ||
        write_outputs(job, &out, latents ? &lat : NULL, rate_map ? &map : NULL) != 0)
        return -1;
    if (job->opt->score) {
        const CliScore sc = {job->input, job->info.width, job->info.height, job->size,
                             8 * job->info.payload_size, job->map.total_bits, 0, 0.0, 0.0};
        if (cli_score_print(&sc) != 0)
            return -1;
    }
    if (c->verbosity > CLI_QUIET)
        print_summary(job);
    return 0;
}

static const char *format_extension(ImageioFormat format)
{
    return format == IMAGEIO_PNM ? ".pnm" : format == IMAGEIO_PAM ? ".pam" : ".png";
}

/* The output format: --format, else PNG for stdout, else the output's extension. */
static ImageioFormat format_for(const DecodeOptions *o, const char *out_path)
{
    if (o->format != IMAGEIO_UNKNOWN)
        return o->format;
    if (strcmp(out_path, "-") == 0)
        return IMAGEIO_PNG;
    return imageio_format_from_name(out_path);
}

/* One INPUT of the batch (cli_batch.h). */
static int decode_item(void *arg, const CliBatchItem *item, uint64_t *bytes)
{
    Decoder *dec = arg;
    DecodeJob job = {.opt = dec->opt, .dec = dec, .input = item->input, .out_path = item->output};
    char err[CLI_PATH_MAX + 64];
    int rc = -1;

    job.in_name = cli_display_name(item->input, 0);
    job.format = format_for(dec->opt, item->output);
    if (item->make_parents && cli_make_parents(item->output, err, sizeof err) != 0)
        cli_message(item->output, "%s", err);
    else
        rc = run_stages(&job);
    *bytes = rc == 0 ? job.out_bytes : 0;
    aecimg_latents_free(&job.latents);
    aecimg_rate_map_free(&job.map);
    aecimg_image_free(&job.img);
    free(job.data);
    return rc;
}

static int decode_all(const DecodeOptions *o)
{
    static const char *const exts[] = {".aec"};
    const CliBatchSpec spec = {exts, 1, ".aec files", format_extension(o->format), "decoded"};
    Decoder dec = {.opt = o};
    CliBatch b;
    int rc = cli_batch_plan(&b, &spec, &o->common);

    /* --latents names one file: one input, and not the image's own output. */
    if (rc == 0 && o->latents && b.n != 1)
        rc = cli_usage_error("--latents takes one input, not %zu", b.n);
    if (rc == 0 && o->latents && b.items[0].output && strcmp(o->latents, b.items[0].output) == 0)
        rc = cli_usage_error("--latents and the image cannot both go to '%s'", o->latents);
    /* --rate-map as well, and to a file of its own. */
    if (rc == 0 && o->rate_map && b.n != 1)
        rc = cli_usage_error("--rate-map takes one input, not %zu", b.n);
    if (rc == 0 && o->rate_map && ((b.items[0].output && strcmp(o->rate_map, b.items[0].output) == 0) ||
                                   (o->latents && strcmp(o->rate_map, o->latents) == 0)))
        rc = cli_usage_error("--rate-map needs a file of its own, not '%s'", o->rate_map);
    /* Only an output named with -o can have a name that says no format; before any work. */
    for (size_t i = 0; rc == 0 && i < b.n; i++)
        if (b.items[i].output && format_for(o, b.items[i].output) == IMAGEIO_UNKNOWN)
            rc = cli_usage_error("cannot tell the output format from '%s'; use .png, .ppm, .pgm, "
                                 ".pnm, .pam or --format", b.items[i].output);
    if (rc == 0)
        rc = cli_batch_run(&b, &o->common, decode_item, &dec);
    if (dec.ctx)
        aecimg_close(&dec.ctx);
    cli_batch_free(&b);
    return rc;
}

int main(int argc, char **argv)
{
    DecodeOptions o;
    int rc;

    cli_init("aec-decode");
    rc = parse_options(argc, argv, &o);
    if (rc != 0)
        return rc;
    switch (o.common.action) {
    case CLI_ACTION_HELP:
        print_help();
        return CLI_EXIT_OK;
    case CLI_ACTION_VERSION:
        return cli_run_version(&o.common);
    case CLI_ACTION_INFO:
        return show_info(&o);
    default:
        if (o.common.jobs > 1 && o.common.threads == 0)
            o.common.threads = cli_online_cores() > o.common.jobs ? cli_online_cores() / o.common.jobs : 1;
        return decode_all(&o);
    }
}
