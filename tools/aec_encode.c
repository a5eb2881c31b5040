/* aec_encode.c: aec-encode, which compresses a PNG, PNM or JPEG image into a .aec file. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <aecimg/aecimg.h>

#include "cli.h"
#include "imageio/imageio.h"

typedef struct EncodeOptions {
    CliCommon common;
    int quality;
    int entropy;  /* AECIMG_ENTROPY_* */
    int keep_icc;
    int refine;   /* iterations of latent refinement, 0: as the effort level says */
    int effort;   /* 0..AECIMG_EFFORT_MAX */
} EncodeOptions;

/* Everything one run produces, so that a single cleanup releases it whatever stage failed. */
typedef struct EncodeJob {
    const EncodeOptions *opt;
    const char *in_name; /* the input as messages show it */
    const char *out_path;
    AecimgImage img;
    AecimgContext *ctx;
    uint8_t *file;
    size_t file_size;
    double t_read, t_load, t_encode, t_write;
} EncodeJob;

enum { OPT_ENTROPY = CLI_OPT_TOOL, OPT_METADATA, OPT_REFINE };

static const struct option long_options[] = {
    {"quality", required_argument, NULL, 'q'},
    {"output", required_argument, NULL, 'o'},
    {"threads", required_argument, NULL, 'j'},
    {"entropy", required_argument, NULL, OPT_ENTROPY},
    {"effort", required_argument, NULL, 'e'},
    {"refine", required_argument, NULL, OPT_REFINE},
    {"model", required_argument, NULL, CLI_OPT_MODEL},
    {"max-pixels", required_argument, NULL, CLI_OPT_MAX_PIXELS},
    {"tile", required_argument, NULL, CLI_OPT_TILE},
    {"metadata", required_argument, NULL, OPT_METADATA},
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
           "Compress a PNG, PNM (PGM, PPM, PAM) or JPEG image into a .aec file.\n"
           "INPUT '-' reads standard input.\n\n"
           "  -q, --quality N      0..100, higher is better and larger (default %d)\n"
           "  -o, --output FILE    output file, '-' for standard output\n"
           "                       (default: INPUT with its extension replaced by .aec)\n"
           "  -j, --threads N      threads, 0 for all cores (default 0)\n"
           "      --entropy NAME   entropy coder: ctx, rans, zstd or auto (default auto: ctx)\n"
           "  -e, --effort N       encoder effort 0..%d: higher is slower and makes smaller\n"
           "                       files at the same quality; decoding is unaffected\n"
           "                       (default %d; aec-encode(1) lists each level's cost)\n"
           "      --refine N       expert: N iterations (0..%d) of latent refinement, each\n"
           "                       costing about 2.5 decodes, whatever the effort says\n"
           "                       (default 0: the effort level's)\n"
           "      --model FILE     model file (default: $%s, else the installed model)\n"
           "      --max-pixels N   refuse images of more than N pixels (default %llu)\n"
           "      --tile N         run the network on N x N pixel tiles, 0 for the whole\n"
           "                       image; without refinement the output does not depend\n"
           "                       on N (default %u)\n"
           "      --metadata WHAT  all: keep the ICC profile (default); none: drop it\n"
           "  -f, --force          overwrite an existing output file\n"
           "  -v, --verbose        also print the time of each stage\n"
           "      --quiet          print errors only\n"
           "  -V, --version        print the versions of the tool, library and model\n"
           "  -h, --help           print this help\n\n"
           "Exit status: 0 success, 1 error, 2 usage error.\n",
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

/* Options of aec-encode alone; returns 0 or CLI_EXIT_USAGE. */
static int encode_option(EncodeOptions *o, int opt, const char *arg)
{
    long long q;

    switch (opt) {
    case 'q':
        if (cli_parse_arg("quality", arg, 0, 100, &q) != 0)
            return CLI_EXIT_USAGE;
        o->quality = (int)q;
        return 0;
    case OPT_ENTROPY:
        return parse_entropy(arg, &o->entropy);
    case OPT_METADATA:
        return parse_metadata(arg, &o->keep_icc);
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
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":q:o:j:e:fvVh", long_options, NULL)) != -1) {
        rc = cli_common_option(&o->common, opt, argv);
        if (rc < 0)
            rc = encode_option(o, opt, optarg);
        if (rc != 0)
            return rc;
    }
    return cli_common_finish(&o->common, argc, argv, 1);
}

static int read_input(EncodeJob *job)
{
    const CliCommon *c = &job->opt->common;
    double t0 = cli_now();
    uint8_t *data;
    size_t size;
    char err[256];
    int rc;

    if (cli_read_file(c->input, cli_input_cap(c->max_pixels), &data, &size, err, sizeof err) != 0) {
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

static int encode_image(EncodeJob *job)
{
    const EncodeOptions *o = job->opt;
    AecimgSettings s;
    double t0 = cli_now();
    int err;

    aecimg_default_settings(&s);
    s.quality = o->quality;
    s.entropy = o->entropy;
    s.keep_icc = o->keep_icc;
    s.refine = o->refine;
    s.roles = AECIMG_ROLE_ENCODE;
    if (cli_open_codec(&o->common, &s, &job->ctx) != 0)
        return -1;
    err = aecimg_set_effort(job->ctx, o->effort);
    if (err < 0) {
        cli_message(job->in_name, "%s", aecimg_strerror(err));
        return -1;
    }
    job->t_load = cli_now() - t0;
    t0 = cli_now();
    err = aecimg_encode(job->ctx, &job->img, &job->file, &job->file_size);
    if (err < 0) {
        cli_message(job->in_name, "%s", aecimg_strerror(err));
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

static void print_summary(const EncodeJob *job)
{
    double pixels = (double)job->img.width * job->img.height;
    double seconds = job->t_encode > 1e-9 ? job->t_encode : 1e-9;

    fprintf(stderr, "%s: %ux%u -> %zu bytes (%.3f bpp), q %d, effort %d, %.3f s, %.2f MP/s\n", job->in_name,
            job->img.width, job->img.height, job->file_size, 8.0 * (double)job->file_size / pixels,
            job->opt->quality, job->opt->effort, job->t_encode, pixels / 1e6 / seconds);
    if (job->opt->common.verbosity >= CLI_STAGES)
        fprintf(stderr, "%s: read %.3f s, model %.3f s, encode %.3f s, write %.3f s\n",
                job->in_name, job->t_read, job->t_load, job->t_encode, job->t_write);
}

/* Checks the output before the slow work, then reads, encodes and writes. */
static int run_stages(EncodeJob *job)
{
    CliOutput out;
    char err[256];

    if (cli_output_prepare(&out, job->out_path, job->opt->common.input, job->opt->common.force, err,
                           sizeof err) != 0) {
        cli_message(cli_display_name(job->out_path, 1), "%s", err);
        return -1;
    }
    if (read_input(job) != 0 || encode_image(job) != 0 || write_output(job, &out) != 0)
        return -1;
    if (job->opt->common.verbosity > CLI_QUIET)
        print_summary(job);
    return 0;
}

static int encode_file(const EncodeOptions *o)
{
    EncodeJob job = {.opt = o, .in_name = cli_display_name(o->common.input, 0)};
    char *derived = NULL;
    int rc;

    job.out_path = o->common.output;
    if (!job.out_path)
        job.out_path = derived = cli_replace_extension(o->common.input, ".aec");
    if (!job.out_path) {
        cli_message(NULL, "out of memory");
        return CLI_EXIT_ERROR;
    }
    rc = run_stages(&job);
    aecimg_image_free(&job.img);
    free(job.file);
    if (job.ctx)
        aecimg_close(&job.ctx);
    free(derived);
    return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
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
    return encode_file(&o);
}
