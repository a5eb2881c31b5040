/* aec_bench.c: aec-bench, which measures aec against PNG, JPEG, WebP, AVIF and JPEG XL. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <aecimg/aecimg.h>

#include "bench_codecs.h"
#include "bench_html.h"
#include "bench_input.h"
#include "bench_report.h"
#include "bench_run.h"
#include "cli.h"

typedef struct BenchOptions {
    CliCommon common;
    BenchQualities qualities[BENCH_CODEC_COUNT]; /* in bench_codecs order; n 0 if lossless */
    int wanted[BENCH_CODEC_COUNT];
    int runs;
    int refine;
    int effort;
    int per_image;
    const char *csv, *json, *svg, *out_dir, *html;
    double html_bpp;
} BenchOptions;

enum {
    OPT_JPEG_Q = CLI_OPT_TOOL, OPT_WEBP_Q, OPT_AVIF_Q, OPT_JXL_Q, OPT_CODECS, OPT_RUNS, OPT_CSV,
    OPT_JSON, OPT_SVG, OPT_OUT_DIR, OPT_PER_IMAGE, OPT_REFINE, OPT_HTML, OPT_HTML_BPP
};

static const struct option long_options[] = {
    {"quality", required_argument, NULL, 'q'},
    {"jpeg-quality", required_argument, NULL, OPT_JPEG_Q},
    {"webp-quality", required_argument, NULL, OPT_WEBP_Q},
    {"avif-quality", required_argument, NULL, OPT_AVIF_Q},
    {"jxl-quality", required_argument, NULL, OPT_JXL_Q},
    {"codecs", required_argument, NULL, OPT_CODECS},
    {"runs", required_argument, NULL, OPT_RUNS},
    {"refine", required_argument, NULL, OPT_REFINE},
    {"effort", required_argument, NULL, 'e'},
    {"threads", required_argument, NULL, 'j'},
    {"csv", required_argument, NULL, OPT_CSV},
    {"json", required_argument, NULL, OPT_JSON},
    {"svg", required_argument, NULL, OPT_SVG},
    {"out-dir", required_argument, NULL, OPT_OUT_DIR},
    {"html", required_argument, NULL, OPT_HTML},
    {"html-bpp", required_argument, NULL, OPT_HTML_BPP},
    {"per-image", no_argument, NULL, OPT_PER_IMAGE},
    {"model", required_argument, NULL, CLI_OPT_MODEL},
    {"max-pixels", required_argument, NULL, CLI_OPT_MAX_PIXELS},
    {"quiet", no_argument, NULL, CLI_OPT_QUIET},
    {"version", no_argument, NULL, 'V'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void print_help(void)
{
    printf("Usage: aec-bench [OPTIONS] INPUT...\n"
           "Measure aec against PNG, JPEG, WebP, AVIF and JPEG XL on the same images: bpp, "
           "PSNR-RGB,\nMS-SSIM, encode and decode time, a bitstream check, means and BD-rates.\n"
           "INPUT: PNG, PNM or JPEG files, or directories of them.\n\n"
           "  -q, --quality LIST      aec and aec-refine qualities (default %s)\n"
           "      --jpeg-quality LIST JPEG qualities (default %s)\n"
           "      --webp-quality LIST WebP qualities (default %s)\n"
           "      --avif-quality LIST AVIF qualities (default %s)\n"
           "      --jxl-quality LIST  JPEG XL qualities (default %s)\n"
           "      --codecs LIST       codecs to run: aec,aec-refine,png,jpeg,webp,avif,jxl\n"
           "                          (default all); aec-refine is aec-encode --refine N\n"
           "      --refine N          aec-refine's iterations (default %d)\n"
           "  -e, --effort N          aec's encoder effort 0..%d (default %d)\n"
           "      --runs N            timed runs per point, median reported (default 3)\n"
           "  -j, --threads N         aec threads, 0 for all cores (default 0)\n"
           "      --csv FILE          write every row as CSV\n"
           "      --json FILE         write everything as JSON\n"
           "      --svg FILE          write the rate-distortion plot as SVG\n"
           "      --out-dir DIR       write DIR/results.csv, DIR/results.json and DIR/rd.svg\n"
           "      --html DIR          write DIR/index.html, a page to look at: the plot and,\n"
           "                          per image, crops of every lossy codec at matched bpp\n"
           "                          (about 4 more encodes per codec and image)\n"
           "      --html-bpp X        the bits per pixel the page matches (default %g)\n"
           "      --per-image         also print a table row for every image\n"
           "      --model FILE        aec model file (default: $%s, else the installed model)\n"
           "      --max-pixels N      refuse images of more than N pixels (default %llu)\n"
           "      --quiet             no notes or progress on standard error, errors only\n"
           "  -V, --version           print the versions and which codecs are built in\n"
           "  -h, --help              print this help\n\n"
           "Exit status: 0 success, 1 error or a failed bitstream check, 2 usage error.\n",
           BENCH_QUALITIES_AEC, BENCH_QUALITIES_JPEG, BENCH_QUALITIES_WEBP, BENCH_QUALITIES_AVIF,
           BENCH_QUALITIES_JXL, BENCH_REFINE_DEFAULT, AECIMG_EFFORT_MAX, AECIMG_EFFORT_DEFAULT,
           BENCH_HTML_BPP, AECIMG_MODEL_ENV, (unsigned long long)AECIMG_DEFAULT_MAX_PIXELS);
}

/* ---------------------------------------------------------------- options */

static int codec_index(const BenchCodec *c)
{
    for (int i = 0; i < BENCH_CODEC_COUNT; i++)
        if (bench_codecs[i] == c)
            return i;
    return -1;
}

static void sort_qualities(BenchQualities *q)
{
    for (size_t i = 1; i < q->n; i++) {
        int v = q->q[i];
        size_t j = i;
        for (; j > 0 && q->q[j - 1] > v; j--)
            q->q[j] = q->q[j - 1];
        q->q[j] = v;
    }
}

/* "10,20,30": distinct integers from 0 to 100, kept in increasing order. */
static int parse_qualities(const char *name, const char *arg, BenchQualities *q)
{
    char buf[512];
    long long v;

    if (strlen(arg) >= sizeof buf)
        return cli_usage_error("%s list too long", name);
    strcpy(buf, arg);
    q->n = 0;
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (cli_parse_arg(name, tok, 0, 100, &v) != 0)
            return CLI_EXIT_USAGE;
        for (size_t i = 0; i < q->n; i++)
            if (q->q[i] == v)
                return cli_usage_error("%s %lld given twice", name, v);
        q->q[q->n++] = (int)v;
    }
    if (q->n == 0)
        return cli_usage_error("empty %s list", name);
    sort_qualities(q);
    return 0;
}

static int parse_codecs(const char *arg, int *wanted)
{
    char buf[256];

    if (strlen(arg) >= sizeof buf)
        return cli_usage_error("codec list too long");
    strcpy(buf, arg);
    memset(wanted, 0, BENCH_CODEC_COUNT * sizeof *wanted);
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        const BenchCodec *c = bench_codec_find(tok);
        if (!c)
            return cli_usage_error("unknown codec '%s' (expected aec, aec-refine, png, jpeg, webp, "
                                   "avif or jxl)",
                                   tok);
        wanted[codec_index(c)] = 1;
    }
    return 0;
}

/* Standard output carries the table, so the other outputs must be files. */
static int file_arg(const char *what, const char *arg, const char **out)
{
    if (arg[0] == '\0' || strcmp(arg, "-") == 0)
        return cli_usage_error("%s needs a file name ('-' is not accepted: standard output "
                               "carries the table)",
                               what);
    *out = arg;
    return 0;
}

static int quality_option(BenchOptions *o, const BenchCodec *c, const char *option,
                          const char *arg)
{
    return parse_qualities(option, arg, &o->qualities[codec_index(c)]);
}

/* Options of aec-bench alone; returns 0 or CLI_EXIT_USAGE. */
static int bench_option(BenchOptions *o, int opt, const char *arg)
{
    long long v;

    switch (opt) {
    case 'q':
        if (quality_option(o, &bench_codec_aec, "quality", arg) != 0)
            return CLI_EXIT_USAGE;
        return quality_option(o, &bench_codec_aec_refine, "quality", arg);
    case OPT_JPEG_Q: return quality_option(o, &bench_codec_jpeg, "JPEG quality", arg);
    case OPT_WEBP_Q: return quality_option(o, &bench_codec_webp, "WebP quality", arg);
    case OPT_AVIF_Q: return quality_option(o, &bench_codec_avif, "AVIF quality", arg);
    case OPT_JXL_Q: return quality_option(o, &bench_codec_jxl, "JPEG XL quality", arg);
    case OPT_CODECS: return parse_codecs(arg, o->wanted);
    case OPT_RUNS:
        if (cli_parse_arg("run count", arg, 1, BENCH_MAX_RUNS, &v) != 0)
            return CLI_EXIT_USAGE;
        o->runs = (int)v;
        return 0;
    case OPT_CSV: return file_arg("--csv", arg, &o->csv);
    case OPT_JSON: return file_arg("--json", arg, &o->json);
    case OPT_SVG: return file_arg("--svg", arg, &o->svg);
    case OPT_OUT_DIR: return file_arg("--out-dir", arg, &o->out_dir);
    case OPT_HTML: return file_arg("--html", arg, &o->html);
    case OPT_HTML_BPP: return cli_parse_real_arg("page bpp", arg, 1e-3, 64.0, &o->html_bpp);
    case OPT_PER_IMAGE: o->per_image = 1; return 0;
    case OPT_REFINE:
        if (cli_parse_arg("refine", arg, 1, AECIMG_REFINE_MAX, &v) != 0)
            return CLI_EXIT_USAGE;
        o->refine = (int)v;
        return 0;
    case 'e':
        if (cli_parse_arg("effort", arg, 0, AECIMG_EFFORT_MAX, &v) != 0)
            return CLI_EXIT_USAGE;
        o->effort = (int)v;
        return 0;
    default: return cli_usage_error("unhandled option %d", opt);
    }
}

static int parse_options(int argc, char **argv, BenchOptions *o)
{
    int opt, rc;

    memset(o, 0, sizeof *o);
    cli_common_init(&o->common);
    o->runs = 3;
    o->refine = BENCH_REFINE_DEFAULT;
    o->effort = AECIMG_EFFORT_DEFAULT;
    o->html_bpp = BENCH_HTML_BPP;
    for (int i = 0; i < BENCH_CODEC_COUNT; i++) {
        o->wanted[i] = 1;
        if (bench_codecs[i]->qualities &&
            parse_qualities("default quality", bench_codecs[i]->qualities, &o->qualities[i]) != 0)
            return CLI_EXIT_USAGE;
    }
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":q:j:e:Vh", long_options, NULL)) != -1) {
        rc = cli_common_option(&o->common, opt, argv);
        if (rc < 0)
            rc = bench_option(o, opt, optarg);
        if (rc != 0)
            return rc;
    }
    if (o->common.action == CLI_ACTION_RUN && optind >= argc)
        return cli_usage_error("no INPUT given");
    return 0;
}

/* ---------------------------------------------------------------- codecs */

static void skip(BenchRun *r, const BenchCodec *c, const char *why)
{
    BenchSkip *s = &r->skipped[r->nskipped++];

    s->name = c->name;
    snprintf(s->reason, sizeof s->reason, "%s", why);
}

static void entry_qualities(const BenchOptions *o, int i, BenchQualities *q)
{
    if (bench_codecs[i]->lossless) {
        q->q[0] = -1;
        q->n = 1;
    } else {
        *q = o->qualities[i];
    }
}

/* Opens every wanted codec that is built in.  An anchor that cannot start is skipped; aec, the
 * codec under test, is an error. */
static int open_codecs(const BenchOptions *o, BenchRun *r)
{
    BenchConfig cfg = {o->common.model, o->common.threads, o->common.max_pixels, o->refine, o->effort};
    char err[256];

    if (cfg.threads == 0)
        cfg.threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    for (int i = 0; i < BENCH_CODEC_COUNT; i++) {
        const BenchCodec *c = bench_codecs[i];
        BenchEntry *e = &r->entries[r->nentries];
        if (!o->wanted[i])
            continue;
        if (c->missing) {
            skip(r, c, c->missing);
            continue;
        }
        e->session.codec = c;
        if (c->open(&e->session, &cfg, err, sizeof err) != 0) {
            if (c == &bench_codec_aec || c == &bench_codec_aec_refine) {
                cli_message(NULL, "%s", err);
                return -1;
            }
            skip(r, c, err);
            continue;
        }
        entry_qualities(o, i, &e->qualities);
        r->nentries++;
    }
    if (r->nentries == 0)
        cli_message(NULL, "none of the chosen codecs is available");
    return r->nentries ? 0 : -1;
}

/* ---------------------------------------------------------------- outputs */

typedef void (*Writer)(FILE *f, const BenchRun *r);

typedef struct Output {
    char *path;
    Writer write;
    CliOutput out;
} Output;

/* Whether the directory a file would go into can take it, checked before hours of work. */
static int check_destination(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[CLI_PATH_MAX];

    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
    if (access(dir, W_OK | X_OK) != 0) {
        cli_message(path, "cannot write here: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int add_output(Output *outs, size_t *n, const char *dir, const char *name, Writer w)
{
    Output *o = &outs[*n];
    char err[256];
    size_t len = (dir ? strlen(dir) + 1 : 0) + strlen(name) + 1;

    o->path = malloc(len);
    if (!o->path) {
        cli_message(NULL, "out of memory");
        return -1;
    }
    snprintf(o->path, len, "%s%s%s", dir ? dir : "", dir ? "/" : "", name);
    o->write = w;
    (*n)++;
    if (check_destination(o->path) != 0)
        return -1;
    /* No input to protect: results replace an earlier run's files, as image tools do. */
    if (cli_output_prepare(&o->out, o->path, "", 1, err, sizeof err) != 0) {
        cli_message(o->path, "%s", err);
        return -1;
    }
    return 0;
}

static int make_out_dir(const char *dir)
{
    struct stat st;

    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        cli_message(dir, "cannot create the directory: %s", strerror(errno));
        return -1;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        cli_message(dir, "not a directory");
        return -1;
    }
    return 0;
}

/* Up to 6 outputs: --csv, --json, --svg and the three of --out-dir. */
static int plan_outputs(const BenchOptions *o, Output *outs, size_t *n)
{
    if (o->csv && add_output(outs, n, NULL, o->csv, bench_write_csv) != 0)
        return -1;
    if (o->json && add_output(outs, n, NULL, o->json, bench_write_json) != 0)
        return -1;
    if (o->svg && add_output(outs, n, NULL, o->svg, bench_write_svg) != 0)
        return -1;
    /* The page's folder, made now so that hours of work do not end in a refusal. */
    if (o->html && make_out_dir(o->html) != 0)
        return -1;
    if (o->html && access(o->html, W_OK | X_OK) != 0) {
        cli_message(o->html, "cannot write here: %s", strerror(errno));
        return -1;
    }
    if (!o->out_dir)
        return 0;
    if (make_out_dir(o->out_dir) != 0 ||
        add_output(outs, n, o->out_dir, "results.csv", bench_write_csv) != 0 ||
        add_output(outs, n, o->out_dir, "results.json", bench_write_json) != 0 ||
        add_output(outs, n, o->out_dir, "rd.svg", bench_write_svg) != 0)
        return -1;
    return 0;
}

static int write_outputs(Output *outs, size_t n, const BenchRun *r)
{
    char err[256];
    int rc = 0;

    for (size_t i = 0; i < n; i++) {
        if (cli_output_begin(&outs[i].out, err, sizeof err) == 0) {
            outs[i].write(outs[i].out.f, r);
            if (cli_output_commit(&outs[i].out, err, sizeof err) == 0)
                continue;
        }
        cli_message(outs[i].path, "%s", err);
        rc = -1;
    }
    return rc;
}

/* ---------------------------------------------------------------- run */

static void set_start_time(BenchRun *r)
{
    time_t now = time(NULL);
    struct tm tm;

    if (gmtime_r(&now, &tm))
        strftime(r->started, sizeof r->started, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "aec-bench" and the arguments joined by spaces (not quoted), cut short with "..." if they do
 * not fit.  argv[0] is left out: under libtool it is a path inside the build tree. */
static void record_command(int argc, char **argv, char *buf, size_t size)
{
    size_t used = 0;

    buf[0] = '\0';
    for (int i = 0; i < argc && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i ? " " : "", i ? argv[i] : "aec-bench");
        used += n > 0 ? (size_t)n : 0;
    }
    if (used >= size && size > 4)
        strcpy(buf + size - 4, "...");
}

/* What follows the colon on the first line of file starting with key (an empty key: the whole
 * first line); "" when there is none, as on systems without /proc. */
static void proc_field(const char *file, const char *key, char *buf, size_t size)
{
    FILE *f = fopen(file, "r");
    char line[256];

    buf[0] = '\0';
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, key, strlen(key)) != 0 || (key[0] && !colon))
            continue;
        const char *value = key[0] ? colon + 1 + strspn(colon + 1, " \t") : line;
        snprintf(buf, size, "%.*s", (int)size - 1, value);
        buf[strcspn(buf, "\n")] = '\0';
        break;
    }
    if (f)
        fclose(f);
}

static void describe_machine(char *buf, size_t size)
{
    char cpu[128], load[64];

    proc_field("/proc/cpuinfo", "model name", cpu, sizeof cpu);
    proc_field("/proc/loadavg", "", load, sizeof load);
    load[strcspn(load, " ")] = '\0';
    snprintf(buf, size, "%ld online cores, CPU %s, load average %s at the start",
             sysconf(_SC_NPROCESSORS_ONLN), cpu[0] ? cpu : "unknown", load[0] ? load : "unknown");
}

static int measure(const BenchOptions *o, BenchRun *r)
{
    char err[512];

    r->runs = o->runs;
    r->progress = o->common.verbosity == CLI_QUIET ? BENCH_PROGRESS_NONE
                  : isatty(STDERR_FILENO)          ? BENCH_PROGRESS_TERMINAL
                                                   : BENCH_PROGRESS_LINES;
    set_start_time(r);
    if (bench_run_measure(r, err, sizeof err) != 0) {
        cli_message(NULL, "%s", err);
        return -1;
    }
    bench_run_summarize(r);
    return 0;
}

static int report(const BenchOptions *o, BenchRun *r, Output *outs, size_t nouts)
{
    int rc = CLI_EXIT_OK;

    bench_write_table(stdout, r, o->per_image);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_message("(stdout)", "%s", strerror(errno));
        rc = CLI_EXIT_ERROR;
    }
    if (write_outputs(outs, nouts, r) != 0)
        rc = CLI_EXIT_ERROR;
    if (!r->all_checks_passed) {
        cli_message(NULL, "bitstream check FAILED for some points (see the check column)");
        rc = CLI_EXIT_ERROR;
    }
    if (o->html && bench_write_html(r, o->html, o->html_bpp, o->common.verbosity > CLI_QUIET) != 0)
        rc = CLI_EXIT_ERROR;
    return rc;
}

static int run_bench(const BenchOptions *o, int argc, char **argv)
{
    static BenchRun run; /* large (the means of every point); one per process */
    Output outs[6];
    size_t nouts = 0;
    int rc = CLI_EXIT_ERROR;

    memset(outs, 0, sizeof outs);
    record_command(argc, argv, run.command, sizeof run.command);
    describe_machine(run.machine, sizeof run.machine);
    if (plan_outputs(o, outs, &nouts) == 0 &&
        bench_read_inputs(argv + optind, (size_t)(argc - optind), o->common.max_pixels,
                          o->common.verbosity > CLI_QUIET, &run) == 0 &&
        open_codecs(o, &run) == 0 && measure(o, &run) == 0)
        rc = report(o, &run, outs, nouts);
    for (size_t i = 0; i < nouts; i++)
        free(outs[i].path);
    bench_run_free(&run);
    return rc;
}

static int print_version(const CliCommon *c)
{
    cli_run_version(c);
    printf("codecs:");
    for (int i = 0; i < BENCH_CODEC_COUNT; i++)
        printf(" %s%s", bench_codecs[i]->name, bench_codecs[i]->missing ? " (not built)" : "");
    printf("\n");
    return CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
    BenchOptions o;
    int rc;

    cli_init("aec-bench");
    rc = parse_options(argc, argv, &o);
    if (rc != 0)
        return rc;
    if (o.common.action == CLI_ACTION_HELP) {
        print_help();
        return CLI_EXIT_OK;
    }
    if (o.common.action == CLI_ACTION_VERSION)
        return print_version(&o.common);
    return run_bench(&o, argc, argv);
}
