/* aec_encode.c: aec-encode, which compresses a PNG, PNM or JPEG image into a .aec file. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <aecimg/aecimg.h>

#include "cli.h"
#include "cli_batch.h"
#include "cli_score.h"
#include "cli_target.h"
#include "imageio/imageio.h"

enum { TARGET_NONE, TARGET_SIZE, TARGET_BPP, TARGET_PSNR };

typedef struct EncodeOptions {
    CliCommon common;
    int quality;
    int quality_given;
    int entropy;  /* AECIMG_ENTROPY_* */
    int keep_icc;
    int refine;   /* iterations of latent refinement, 0: as the effort level says */
    int effort;   /* 0..AECIMG_EFFORT_MAX */
    int format_version; /* container form, 0: the library's default */
    int target;   /* TARGET_*: the quality is searched for */
    double target_value; /* bytes, bits per pixel or dB */
    int score;    /* --score: a score line per file on standard output */
} EncodeOptions;

/* What a process keeps from one file to the next: the codec, opened for the first. */
typedef struct Encoder {
    const EncodeOptions *opt;
    AecimgContext *ctx;
    double t_load;
} Encoder;

/* Everything one file produces, so that a single cleanup releases it whatever stage failed. */
typedef struct EncodeJob {
    const EncodeOptions *opt;
    Encoder *enc;
    const char *input;
    const char *in_name; /* the input as messages show it */
    const char *out_path;
    AecimgImage img;
    uint8_t *file;
    size_t file_size;
    int quality;                   /* the quality of file */
    uint8_t *trial_file[101];      /* the trials of a target search, by quality */
    size_t trial_size[101];
    double trial_psnr[101];
    CliSearch search;
    CliScore score;                /* with --score */
    double t_read, t_load, t_encode, t_write;
} EncodeJob;

enum { OPT_ENTROPY = CLI_OPT_TOOL, OPT_METADATA, OPT_REFINE, OPT_TARGET_SIZE, OPT_TARGET_BPP,
       OPT_TARGET_PSNR, OPT_FORMAT_VERSION, OPT_SCORE };

static const struct option long_options[] = {
    {"quality", required_argument, NULL, 'q'},
    {"output", required_argument, NULL, 'o'},
    {"threads", required_argument, NULL, 'j'},
    {"jobs", required_argument, NULL, CLI_OPT_JOBS},
    {"recursive", no_argument, NULL, 'r'},
    {"target-size", required_argument, NULL, OPT_TARGET_SIZE},
    {"target-bpp", required_argument, NULL, OPT_TARGET_BPP},
    {"target-psnr", required_argument, NULL, OPT_TARGET_PSNR},
    {"entropy", required_argument, NULL, OPT_ENTROPY},
    {"effort", required_argument, NULL, 'e'},
    {"refine", required_argument, NULL, OPT_REFINE},
    {"model", required_argument, NULL, CLI_OPT_MODEL},
    {"max-pixels", required_argument, NULL, CLI_OPT_MAX_PIXELS},
    {"tile", required_argument, NULL, CLI_OPT_TILE},
    {"metadata", required_argument, NULL, OPT_METADATA},
    {"format-version", required_argument, NULL, OPT_FORMAT_VERSION},
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
    printf("Usage: aec-encode [OPTIONS] INPUT [-o OUTPUT]\n"
           "       aec-encode [OPTIONS] INPUT... [-o FOLDER/]\n"
           "Compress PNG, PNM (PGM, PPM, PAM) or JPEG images into .aec files.\n"
           "INPUT '-' reads standard input; a folder INPUT stands for its images.\n\n"
           "  -q, --quality N      0..100, higher is better and larger (default %d)\n"
           "      --target-size N  instead of -q: the highest quality whose file has at most\n"
           "                       N bytes (about 4 trial encodes)\n"
           "      --target-bpp X   the same for at most X bits per pixel\n"
           "      --target-psnr DB the lowest quality that decodes to at least DB dB PSNR\n"
           "                       (each trial encode also decodes)\n"
           "  -o, --output FILE    output file, '-' for standard output\n"
           "                       (default: INPUT with its extension replaced by .aec);\n"
           "                       a folder (existing, or a name ending in '/') takes\n"
           "                       FOLDER/NAME.aec for each INPUT\n"
           "  -r, --recursive      folder INPUTs: their subfolders too, kept below -o FOLDER\n"
           "  -j, --threads N      threads per image, 0 for all cores (default 0)\n"
           "      --jobs N         images coded side by side, each in its own process,\n"
           "                       0 for one per core (default 1); -j 0 then shares the cores\n"
           "      --entropy NAME   entropy coder: ctx, rans, zstd or auto (default auto: ctx)\n"
           "  -e, --effort N       encoder effort 0..%d: higher is slower and makes smaller\n"
           "                       files at the same quality; decoding is unaffected\n"
           "                       (default %d; aec-encode(1) lists each level's cost)\n"
           "      --refine N       expert: N iterations (0..%d) of latent refinement, each\n"
           "                       costing about 1.5 decodes, whatever the effort says\n"
           "                       (default 0: the effort level's)\n"
           "      --model FILE     model file (default: $%s, else the installed model)\n"
           "      --max-pixels N   refuse images of more than N pixels (default %llu)\n"
           "      --tile N         run the network on N x N pixel tiles, 0 for the whole\n"
           "                       image; the output does not depend on N (default %u)\n"
           "      --metadata WHAT  all: keep the ICC profile (default); none: drop it\n"
           "      --format-version N  container form: 2, compact (default), or 1, for\n"
           "                       readers older than version 2\n"
           "      --score          print a line of scores per INPUT to standard output:\n"
           "                       size, bits, and the error of the decoded image\n"
           "                       (tab-separated key=value, see aec-encode(1))\n"
           "  -f, --force          overwrite an existing output file\n"
           "  -v, --verbose        also print the time of each stage\n"
           "      --quiet          print errors only\n"
           "  -V, --version        print the versions of the tool, library and model\n"
           "  -h, --help           print this help\n\n"
           "Exit status: 0 success, 1 error (any INPUT failed; the others are still coded),\n"
           "2 usage error.\n",
           AECIMG_QUALITY_DEFAULT, AECIMG_EFFORT_MAX, AECIMG_EFFORT_DEFAULT, AECIMG_REFINE_MAX, AECIMG_MODEL_ENV, (unsigned long long)AECIMG_DEFAULT_MAX_PIXELS,
           AECIMG_TILE_DEFAULT);
}

static int parse_entropy(const char *arg, int *entropy)
{
    if (strcmp(arg, "auto") == 0)
        *entropy = AECIMG_ENTROPY_AUTO;
    else if (strcmp(arg, "zstd") == 0)
        *entropy = AECIMG_ENTROPY_ZSTD;
    else if (strcmp(arg, "rans") == 0)
        *entropy = AECIMG_ENTROPY_RANS;
    else if (strcmp(arg, "ctx") == 0)
        *entropy = AECIMG_ENTROPY_CTX;
    else
        return cli_usage_error("invalid entropy coder '%s' (expected ctx, rans, zstd or auto)", arg);
    return 0;
}

static int parse_metadata(const char *arg, int *keep_icc)
{
    if (strcmp(arg, "all") == 0)
        *keep_icc = 1;
    else if (strcmp(arg, "none") == 0)
        *keep_icc = 0;
    else
        return cli_usage_error("invalid metadata choice '%s' (expected all or none)", arg);
    return 0;
}

static int target_option(EncodeOptions *o, int opt, const char *arg)
{
    long long bytes;

    if (o->target != TARGET_NONE)
        return cli_usage_error("one --target-size, --target-bpp or --target-psnr at a time");
    switch (opt) {
    case OPT_TARGET_SIZE:
        if (cli_parse_arg("target size", arg, 1, 1ll << 50, &bytes) != 0)
            return CLI_EXIT_USAGE;
        o->target = TARGET_SIZE;
        o->target_value = (double)bytes;
        return 0;
    case OPT_TARGET_BPP:
        o->target = TARGET_BPP;
        return cli_parse_real_arg("target bpp", arg, 1e-6, 1e3, &o->target_value);
    default:
        o->target = TARGET_PSNR;
        return cli_parse_real_arg("target PSNR", arg, 1.0, 200.0, &o->target_value);
    }
}

/* Options of aec-encode alone; returns 0 or CLI_EXIT_USAGE. */
static int encode_option(EncodeOptions *o, int opt, const char *arg)
{
    long long q;

    switch (opt) {
    case 'q':
        if (cli_parse_arg("quality", arg, 0, 100, &q) != 0)
            return CLI_EXIT_USAGE;
        o->quality = (int)q;
        o->quality_given = 1;
        return 0;
    case OPT_TARGET_SIZE:
    case OPT_TARGET_BPP:
    case OPT_TARGET_PSNR:
        return target_option(o, opt, arg);
    case OPT_ENTROPY:
        return parse_entropy(arg, &o->entropy);
    case OPT_METADATA:
        return parse_metadata(arg, &o->keep_icc);
    case OPT_SCORE:
        o->score = 1;
        return 0;
    case OPT_REFINE:
        if (cli_parse_arg("refine", arg, 0, AECIMG_REFINE_MAX, &q) != 0)
            return CLI_EXIT_USAGE;
        o->refine = (int)q;
        return 0;
    case 'e':
        if (cli_parse_arg("effort", arg, 0, AECIMG_EFFORT_MAX, &q) != 0)
            return CLI_EXIT_USAGE;
        o->effort = (int)q;
        return 0;
    case OPT_FORMAT_VERSION:
        if (cli_parse_arg("format-version", arg, 1, 2, &q) != 0)
            return CLI_EXIT_USAGE;
        o->format_version = (int)q;
        return 0;
    default:
        return cli_usage_error("unhandled option %d", opt);
    }
}

static int parse_options(int argc, char **argv, EncodeOptions *o)
{
    int opt, rc;

    cli_common_init(&o->common);
    o->quality = AECIMG_QUALITY_DEFAULT;
    o->entropy = AECIMG_ENTROPY_AUTO;
    o->keep_icc = 1;
    o->refine = 0;
    o->effort = AECIMG_EFFORT_DEFAULT;
    o->format_version = 0;
    opterr = 0;
    o->target = TARGET_NONE;
    o->quality_given = 0;
    o->score = 0;
    while ((opt = getopt_long(argc, argv, ":q:o:j:e:rfvVh", long_options, NULL)) != -1) {
        rc = cli_common_option(&o->common, opt, argv);
        if (rc < 0)
            rc = encode_option(o, opt, optarg);
        if (rc != 0)
            return rc;
    }
    if (o->target != TARGET_NONE && o->quality_given)
        return cli_usage_error("-q and a --target-* option both set the quality; give one");
    rc = cli_common_finish(&o->common, argc, argv, 1, 1);
    if (rc == 0 && o->score && o->common.output && strcmp(o->common.output, "-") == 0)
        return cli_usage_error("--score prints to standard output; the file cannot go there too");
    return rc;
}

static int read_input(EncodeJob *job)
{
    const CliCommon *c = &job->opt->common;
    double t0 = cli_now();
    uint8_t *data;
    size_t size;
    char err[256];
    int rc;

    if (cli_read_file(job->input, cli_input_cap(c->max_pixels), &data, &size, err, sizeof err) != 0) {
        cli_message(job->in_name, "%s", err);
        return -1;
    }
    rc = imageio_read(data, size, c->max_pixels, &job->img, err, sizeof err);
    free(data);
    if (rc != 0) {
        cli_message(job->in_name, "%s", err);
        return -1;
    }
    job->t_read = cli_now() - t0;
    if (job->img.source_bit_depth > 8 && c->verbosity > CLI_QUIET)
        cli_message(job->in_name, "note: %u-bit input reduced to 8 bits",
                    job->img.source_bit_depth);
    return 0;
}

/* Opens the codec for the process's first file; the others reuse it. */
static int open_encoder(EncodeJob *job)
{
    Encoder *enc = job->enc;
    const EncodeOptions *o = job->opt;
    AecimgSettings s;
    double t0 = cli_now();

    job->t_load = 0.0;
    if (enc->ctx)
        return 0;
    aecimg_default_settings(&s);
    s.quality = o->quality;
    s.entropy = o->entropy;
    s.keep_icc = o->keep_icc;
    s.refine = o->refine;
    /* A PSNR target decodes every trial, --score the file. */
    s.roles = AECIMG_ROLE_ENCODE | (o->target == TARGET_PSNR || o->score ? AECIMG_ROLE_DECODE : 0);
    if (cli_open_codec(&o->common, &s, &enc->ctx) != 0)
        return -1;
    int err = aecimg_set_effort(enc->ctx, o->effort);
    if (err == 0)
        err = aecimg_set_format_version(enc->ctx, o->format_version);
    if (err < 0) {
        cli_message(job->in_name, "%s", aecimg_strerror(err));
        return -1;
    }
    job->t_load = cli_now() - t0;
    return 0;
}

static int encode_at(EncodeJob *job, int quality, uint8_t **file, size_t *size)
{
    int err = aecimg_set_quality(job->enc->ctx, quality);

    if (err >= 0)
        err = aecimg_encode(job->enc->ctx, &job->img, file, size);
    if (err < 0) {
        cli_message(job->in_name, "%s", aecimg_strerror(err));
        return -1;
    }
    return 0;
}

/* The PSNR (and with mse, the mean squared error) a file decodes to; what names the file in messages. */
static int decoded_error(EncodeJob *job, const uint8_t *file, size_t size, const char *what, double *psnr,
                         double *mse)
{
    AecimgImage out = {0};
    int err = aecimg_decode(job->enc->ctx, file, size, &out);

    if (err < 0) {
        cli_message(job->in_name, "decoding %s: %s", what, aecimg_strerror(err));
        return -1;
    }
    if (out.width != job->img.width || out.height != job->img.height ||
        out.channels != job->img.channels) {
        aecimg_image_free(&out);
        cli_message(job->in_name, "decoding %s: the image changed shape", what);
        return -1;
    }
    *psnr = cli_psnr(&job->img, &out);
    if (mse)
        *mse = cli_mse(&job->img, &out);
    aecimg_image_free(&out);
    return 0;
}

/* --score: the file's sizes, its ideal bits and the error of what aec-decode makes of it. */
static int measure_score(EncodeJob *job)
{
    CliScore *sc = &job->score;
    AecimgInfo info;
    AecimgRateMap map;
    int err = aecimg_read_info(job->file, job->file_size, &info);

    if (err == 0)
        err = aecimg_decode_rate_map(job->enc->ctx, job->file, job->file_size, &map);
    if (err < 0) {
        cli_message(job->in_name, "measuring the file: %s", aecimg_strerror(err));
        return -1;
    }
    *sc = (CliScore){job->input, job->img.width, job->img.height, job->file_size, 8 * info.payload_size,
                     map.total_bits, 1, 0.0, 0.0};
    aecimg_rate_map_free(&map);
    return decoded_error(job, job->file, job->file_size, "the file", &sc->psnr, &sc->mse);
}

/* One step of a target search: the file at quality, kept until the search ends. */
static int trial(void *arg, int quality, double *value)
{
    EncodeJob *job = arg;
    uint8_t *file;
    size_t size;

    if (encode_at(job, quality, &file, &size) != 0)
        return -1;
    job->trial_file[quality] = file;
    job->trial_size[quality] = size;
    *value = (double)size;
    if (job->opt->target == TARGET_PSNR) {
        if (decoded_error(job, file, size, "a trial", value, NULL) != 0)
            return -1;
        job->trial_psnr[quality] = *value;
    }
    if (job->opt->common.verbosity < CLI_STAGES)
        return 0;
    cli_status_clear();
    if (job->opt->target == TARGET_PSNR)
        fprintf(stderr, "%s: trial q %d: %zu bytes, %.2f dB\n", job->in_name, quality, size,
                *value);
    else
        fprintf(stderr, "%s: trial q %d: %zu bytes\n", job->in_name, quality, size);
    return 0;
}

static double pixels_of(const AecimgImage *img)
{
    return (double)img->width * img->height;
}

static void unreachable(const EncodeJob *job)
{
    const CliSearch *s = &job->search;
    const EncodeOptions *o = job->opt;
    int n = s->trials;

    if (o->target == TARGET_PSNR)
        cli_message(job->in_name, "cannot reach %.2f dB: the best quality, q %d, decodes to "
                    "%.2f dB (%d trial encode%s)", o->target_value, s->quality, s->value, n,
                    n == 1 ? "" : "s");
    else if (o->target == TARGET_BPP)
        cli_message(job->in_name, "cannot reach %g bpp: the smallest file, at q %d, has %.4f bpp "
                    "(%d trial encode%s)", o->target_value, s->quality,
                    8.0 * s->value / pixels_of(&job->img), n, n == 1 ? "" : "s");
    else
        cli_message(job->in_name, "cannot reach %.0f bytes: the smallest file, at q %d, has "
                    "%.0f bytes (%d trial encode%s)", o->target_value, s->quality, s->value, n,
                    n == 1 ? "" : "s");
}

/* --target-*: the quality whose file best meets the target, among trial encodes. */
static int search_quality(EncodeJob *job)
{
    const EncodeOptions *o = job->opt;
    CliSearch *s = &job->search;

    s->qmin = 0;
    s->qmax = 100;
    s->at_most = o->target != TARGET_PSNR;
    s->log_scale = s->at_most; /* sizes grow about exponentially with quality */
    s->target = o->target_value;
    if (o->target == TARGET_BPP) /* a file meets X bpp when it has at most this many bytes */
        s->target = floor(o->target_value * pixels_of(&job->img) / 8.0);
    if (cli_search(s, trial, job) != 0)
        return -1;
    if (!s->found) {
        unreachable(job);
        return -1;
    }
    job->quality = s->quality;
    job->file = job->trial_file[s->quality];
    job->file_size = job->trial_size[s->quality];
    job->trial_file[s->quality] = NULL;
    return 0;
}

static int encode_image(EncodeJob *job)
{
    double t0;

    if (open_encoder(job) != 0)
        return -1;
    t0 = cli_now();
    job->quality = job->opt->quality;
    if (job->opt->target != TARGET_NONE) {
        if (search_quality(job) != 0)
            return -1;
    } else if (encode_at(job, job->quality, &job->file, &job->file_size) != 0) {
        return -1;
    }
    job->t_encode = cli_now() - t0;
    return 0;
}

static int write_output(EncodeJob *job, CliOutput *out)
{
    const char *name = cli_display_name(job->out_path, 1);
    double t0 = cli_now();
    char err[256];

    if (cli_output_begin(out, err, sizeof err) != 0) {
        cli_message(name, "%s", err);
        return -1;
    }
    if (fwrite(job->file, 1, job->file_size, out->f) != job->file_size) {
        int e = errno;
        cli_output_abort(out);
        cli_message(name, "%s", strerror(e));
        return -1;
    }
    if (cli_output_commit(out, err, sizeof err) != 0) {
        cli_message(name, "%s", err);
        return -1;
    }
    job->t_write = cli_now() - t0;
    return 0;
}

/* "; target <= 20000 bytes: reached 19886 bytes in 4 trial encodes" */
static void print_target(const EncodeJob *job)
{
    const EncodeOptions *o = job->opt;
    int n = job->search.trials;

    if (o->target == TARGET_SIZE)
        fprintf(stderr, "; target <= %.0f bytes: reached %zu bytes", o->target_value,
                job->file_size);
    else if (o->target == TARGET_BPP)
        fprintf(stderr, "; target <= %g bpp: reached %.4f bpp", o->target_value,
                8.0 * (double)job->file_size / pixels_of(&job->img));
    else
        fprintf(stderr, "; target >= %g dB: reached %.2f dB", o->target_value,
                job->trial_psnr[job->quality]);
    fprintf(stderr, " in %d trial encode%s", n, n == 1 ? "" : "s");
}

static void print_summary(const EncodeJob *job)
{
    double pixels = pixels_of(&job->img);
    double seconds = job->t_encode > 1e-9 ? job->t_encode : 1e-9;

    cli_status_clear();
    fprintf(stderr, "%s: %ux%u -> %zu bytes (%.3f bpp), q %d, effort %d, %.3f s, %.2f MP/s",
            job->in_name, job->img.width, job->img.height, job->file_size,
            8.0 * (double)job->file_size / pixels, job->quality, job->opt->effort, job->t_encode,
            pixels / 1e6 / seconds);
    if (job->opt->target != TARGET_NONE)
        print_target(job);
    fputc('\n', stderr);
    if (job->opt->common.verbosity >= CLI_STAGES)
        fprintf(stderr, "%s: read %.3f s, model %.3f s, encode %.3f s, write %.3f s\n",
                job->in_name, job->t_read, job->t_load, job->t_encode, job->t_write);
}

/* Checks the output before the slow work, then reads, encodes and writes. */
static int run_stages(EncodeJob *job)
{
    CliOutput out;
    char err[256];

    if (cli_output_prepare(&out, job->out_path, job->input, job->opt->common.force, err,
                           sizeof err) != 0) {
        cli_message(cli_display_name(job->out_path, 1), "%s", err);
        return -1;
    }
    if (read_input(job) != 0 || encode_image(job) != 0)
        return -1;
    if (job->opt->score && measure_score(job) != 0)
        return -1;
    if (write_output(job, &out) != 0)
        return -1;
    if (job->opt->score && cli_score_print(&job->score) != 0)
        return -1;
    if (job->opt->common.verbosity > CLI_QUIET)
        print_summary(job);
    return 0;
}

/* One INPUT of the batch (cli_batch.h). */
static int encode_item(void *arg, const CliBatchItem *item, uint64_t *bytes)
{
    Encoder *enc = arg;
    EncodeJob job = {.opt = enc->opt, .enc = enc, .input = item->input, .out_path = item->output};
    char err[CLI_PATH_MAX + 64];
    int rc = 0;

    job.in_name = cli_display_name(item->input, 0);
    if (item->make_parents && cli_make_parents(item->output, err, sizeof err) != 0) {
        cli_message(item->output, "%s", err);
        rc = -1;
    }
    if (rc == 0)
        rc = run_stages(&job);
    *bytes = rc == 0 ? job.file_size : 0;
    aecimg_image_free(&job.img);
    free(job.file);
    for (int q = 0; q <= 100; q++)
        free(job.trial_file[q]);
    return rc;
}

static int encode_all(const EncodeOptions *o)
{
    static const char *const exts[] = {".png", ".ppm", ".pgm", ".pnm", ".pam", ".jpg", ".jpeg"};
    /* JPEG files count only when the tool can read them. */
    const CliBatchSpec spec = {exts, sizeof exts / sizeof exts[0] - (imageio_have_jpeg() ? 0 : 2),
                               imageio_have_jpeg() ? "PNG, PNM or JPEG files" : "PNG or PNM files",
                               ".aec", "encoded"};
    Encoder enc = {.opt = o};
    CliBatch b;
    int rc = cli_batch_plan(&b, &spec, &o->common);

    if (rc == 0)
        rc = cli_batch_run(&b, &o->common, encode_item, &enc);
    if (enc.ctx)
        aecimg_close(&enc.ctx);
    cli_batch_free(&b);
    return rc;
}

int main(int argc, char **argv)
{
    EncodeOptions o;
    int rc;

    cli_init("aec-encode");
    rc = parse_options(argc, argv, &o);
    if (rc != 0)
        return rc;
    if (o.common.action == CLI_ACTION_HELP) {
        print_help();
        return CLI_EXIT_OK;
    }
    if (o.common.action == CLI_ACTION_VERSION)
        return cli_run_version(&o.common);
    /* Images side by side share the cores rather than each taking them all. */
    if (o.common.jobs > 1 && o.common.threads == 0)
        o.common.threads = cli_online_cores() > o.common.jobs ? cli_online_cores() / o.common.jobs : 1;
    return encode_all(&o);
}
