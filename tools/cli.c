/* cli.c: input, atomic output with signal-safe cleanup, option parsing and messages. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "imageio/imageio.h"

static const char *tool_name = "aec";
static mode_t new_file_mode = 0666;

/* The temporary files the signal handler removes, one slot per output being written.  The handler
 * reads a name only while its pending_tmp_set is nonzero, so a name is never read half-written by
 * ordinary code. */
static char pending_tmp[CLI_MAX_OUTPUTS][CLI_PATH_MAX];
static volatile sig_atomic_t pending_tmp_set[CLI_MAX_OUTPUTS];

/* Worker processes of --jobs; the handler passes its signal on to them. */
static volatile sig_atomic_t child_pids[CLI_MAX_JOBS];
static volatile sig_atomic_t child_count;

/* Whether a status line is on the terminal, to be erased before another message. */
static int status_shown;

/* Where a worker process also keeps its temporary file's name, for its parent (cli_mirror_temp). */
static char *temp_mirror;
static size_t temp_mirror_size;

static void on_signal(int sig)
{
    for (int i = 0; i < CLI_MAX_OUTPUTS; i++)
        if (pending_tmp_set[i])
            unlink(pending_tmp[i]);
    for (sig_atomic_t i = 0; i < child_count; i++)
        if (child_pids[i] > 0)
            kill((pid_t)child_pids[i], sig);
    /* Die by the same signal so the parent sees why; the shell reports 130 or 143. */
    signal(sig, SIG_DFL);
    raise(sig);
}

static void catch_signal(int sig)
{
    struct sigaction sa, old;

    /* A signal ignored at startup (a job started with nohup or &) stays ignored. */
    if (sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN)
        return;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

void cli_init(const char *tool)
{
    /* umask() can only be read by setting it; mkstemp() files need these permissions applied. */
    mode_t mask = umask(0);

    umask(mask);
    new_file_mode = 0666 & ~mask;
    tool_name = tool;
    catch_signal(SIGINT);
    catch_signal(SIGTERM);
}

const char *cli_tool_name(void)
{
    return tool_name;
}

void cli_child_add(pid_t pid)
{
    if (child_count < CLI_MAX_JOBS) {
        child_pids[child_count] = (sig_atomic_t)pid;
        child_count++;
    }
}

void cli_children_forget(void)
{
    child_count = 0;
}

void cli_mirror_temp(char *buf, size_t size)
{
    temp_mirror = buf;
    temp_mirror_size = size;
    if (buf && size)
        buf[0] = '\0';
}

void cli_status(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "\r%s: ", tool_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\033[K", stderr);
    fflush(stderr);
    status_shown = 1;
}

void cli_status_clear(void)
{
    if (!status_shown)
        return;
    fputs("\r\033[K", stderr);
    status_shown = 0;
}

void cli_message(const char *subject, const char *fmt, ...)
{
    va_list ap;

    cli_status_clear();
    fprintf(stderr, "%s: ", tool_name);
    if (subject)
        fprintf(stderr, "%s: ", subject);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int fail(char *err, size_t err_size, const char *fmt, ...) CLI_PRINTF(3, 4);

static int fail(char *err, size_t err_size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    return -1;
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;

    cli_status_clear();
    fprintf(stderr, "%s: ", tool_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", tool_name);
    return CLI_EXIT_USAGE;
}

const char *cli_display_name(const char *path, int is_output)
{
    if (strcmp(path, "-") != 0)
        return path;
    return is_output ? "(stdout)" : "(stdin)";
}

void cli_common_init(CliCommon *c)
{
    memset(c, 0, sizeof *c);
    c->verbosity = CLI_SUMMARY;
    c->jobs = 1;
    c->max_pixels = AECIMG_DEFAULT_MAX_PIXELS;
    c->tile_size = AECIMG_TILE_DEFAULT;
}

/* getopt_long() reports '?' or ':' (opterr off, so the tool names the option itself). */
static int bad_option(int opt, char **argv)
{
    const char *given = argv[optind - 1];

    /* A missing argument can only be the last word; an unknown long option leaves optopt 0,
     * "--flag=value" for a flag leaves optopt nonzero. */
    if (opt == ':' && strncmp(given, "--", 2) == 0)
        return cli_usage_error("option '%s' needs an argument", given);
    if (opt == ':')
        return cli_usage_error("option '-%c' needs an argument", optopt);
    if (optopt == 0)
        return cli_usage_error("unknown option '%s'", given);
    if (strncmp(given, "--", 2) == 0 && strchr(given, '='))
        return cli_usage_error("option '%.*s' takes no argument", (int)strcspn(given, "="), given);
    return cli_usage_error("unknown option '-%c'", optopt);
}

int cli_parse_arg(const char *name, const char *arg, long long min, long long max, long long *out)
{
    if (cli_parse_int(arg, min, max, out) == 0)
        return 0;
    return cli_usage_error("invalid %s '%s' (expected an integer from %lld to %lld)", name, arg,
                           min, max);
}

int cli_common_option(CliCommon *c, int opt, char **argv)
{
    const long long max_pixels = (long long)AECIMG_MAX_DIMENSION * AECIMG_MAX_DIMENSION;
    long long v;

    switch (opt) {
    case 'o': c->output = optarg; return 0;
    case 'f': c->force = 1; return 0;
    case 'v': c->verbosity = CLI_STAGES; return 0;
    case CLI_OPT_QUIET: c->verbosity = CLI_QUIET; return 0;
    case 'V': c->action = CLI_ACTION_VERSION; return 0;
    case 'h': c->action = CLI_ACTION_HELP; return 0;
    case CLI_OPT_MODEL: c->model = optarg; return 0;
    case 'r': c->recursive = 1; return 0;
    case CLI_OPT_JOBS:
        if (cli_parse_arg("job count", optarg, 0, CLI_MAX_JOBS, &v) != 0)
            return CLI_EXIT_USAGE;
        c->jobs = v ? (int)v : cli_online_cores();
        return 0;
    case 'j':
        if (cli_parse_arg("thread count", optarg, 0, 1024, &v) != 0)
            return CLI_EXIT_USAGE;
        c->threads = (int)v;
        return 0;
    case CLI_OPT_MAX_PIXELS:
        if (cli_parse_arg("pixel limit", optarg, 1, max_pixels, &v) != 0)
            return CLI_EXIT_USAGE;
        c->max_pixels = (uint64_t)v;
        return 0;
    case CLI_OPT_TILE:
        if (cli_parse_arg("tile size", optarg, 0, AECIMG_MAX_DIMENSION, &v) != 0)
            return CLI_EXIT_USAGE;
        c->tile_size = (uint32_t)v;
        return 0;
    case '?':
    case ':':
        return bad_option(opt, argv);
    default:
        return -1;
    }
}

int cli_common_finish(CliCommon *c, int argc, char **argv, int output_needed, int many)
{
    if (c->action == CLI_ACTION_HELP || c->action == CLI_ACTION_VERSION)
        return 0;
    if (optind >= argc)
        return cli_usage_error("no INPUT given");
    if (argc - optind > 1 && !many)
        return cli_usage_error("one INPUT at a time; unexpected '%s'", argv[optind + 1]);
    c->input = argv[optind];
    c->inputs = argv + optind;
    c->ninputs = (size_t)(argc - optind);
    if (c->output && c->output[0] == '\0')
        return cli_usage_error("empty output file name");
    for (size_t i = 0; c->ninputs > 1 && i < c->ninputs; i++)
        if (strcmp(c->inputs[i], "-") == 0)
            return cli_usage_error("standard input ('-') goes with one INPUT only");
    if (c->ninputs > 1 && c->output && strcmp(c->output, "-") == 0)
        return cli_usage_error("standard output ('-o -') goes with one INPUT only");
    if (output_needed && !c->output && strcmp(c->input, "-") == 0)
        return cli_usage_error("reading standard input needs -o OUTPUT");
    return 0;
}

int cli_online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    return n < 1 ? 1 : n > CLI_MAX_JOBS ? CLI_MAX_JOBS : (int)n;
}

int cli_parse_int(const char *s, long long min, long long max, long long *out)
{
    char *end;
    long long v;
    int digit_at = s[0] == '-' || s[0] == '+';

    /* strtoll() would skip leading blanks and accept an empty string; neither is a number here. */
    if (!isdigit((unsigned char)s[digit_at]))
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_real(const char *s, double min, double max, double *out)
{
    char *end;
    double v;

    if (!isdigit((unsigned char)s[0]) && s[0] != '.')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !(v >= min && v <= max))
        return -1;
    *out = v;
    return 0;
}

int cli_parse_real_arg(const char *name, const char *arg, double min, double max, double *out)
{
    if (cli_parse_real(arg, min, max, out) == 0)
        return 0;
    return cli_usage_error("invalid %s '%s' (expected a number from %g to %g)", name, arg, min, max);
}

char *cli_replace_extension(const char *path, const char *ext)
{
    const char *base = strrchr(path, '/');
    const char *dot;
    size_t stem;
    char *s;

    base = base ? base + 1 : path;
    dot = strrchr(base, '.');
    /* A leading dot marks a hidden file, not an extension. */
    stem = dot && dot != base ? (size_t)(dot - path) : strlen(path);
    s = malloc(stem + strlen(ext) + 1);
    if (!s)
        return NULL;
    memcpy(s, path, stem);
    strcpy(s + stem, ext);
    return s;
}

size_t cli_input_cap(uint64_t max_pixels)
{
    /* 16-bit RGBA PNM is the largest encoding of a pixel (8 bytes); the headroom covers ICC
     * profiles and other chunks.  Half the address space keeps cap + 1 from overflowing. */
    const uint64_t headroom = 64u << 20;
    uint64_t cap = UINT64_MAX;

    if (max_pixels <= (UINT64_MAX - headroom) / 8)
        cap = max_pixels * 8 + headroom;
    return cap > SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)cap;
}

/* Next buffer size: the file's size for a regular file (one byte more, so that the read that
 * sees the end needs no second allocation), else doubling; never beyond limit. */
static size_t next_size(int fd, size_t alloc, size_t limit)
{
    struct stat st;
    size_t want = alloc > limit / 2 ? limit : alloc * 2;

    if (alloc == 0) {
        want = 64u << 10;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
            (uint64_t)st.st_size < limit)
            want = (size_t)st.st_size + 1;
    }
    return want < limit ? want : limit;
}

static int read_all(int fd, size_t cap, uint8_t **data, size_t *size)
{
    /* Room for one byte past the cap tells an over-long input from one of exactly cap bytes. */
    size_t limit = cap + 1, alloc = 0, used = 0;
    uint8_t *buf = NULL;

    for (;;) {
        if (used == alloc) {
            uint8_t *grown;
            if (alloc == limit) {
                free(buf);
                return EFBIG;
            }
            alloc = next_size(fd, alloc, limit);
            grown = realloc(buf, alloc);
            if (!grown) {
                free(buf);
                return ENOMEM;
            }
            buf = grown;
        }
        ssize_t n = read(fd, buf + used, alloc - used);
        if (n == 0)
            break;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            return e;
        }
        used += (size_t)n;
    }
    *data = buf;
    *size = used;
    return 0;
}

int cli_read_file(const char *path, size_t cap, uint8_t **data, size_t *size, char *err,
                  size_t err_size)
{
    int from_stdin = strcmp(path, "-") == 0;
    int fd = from_stdin ? STDIN_FILENO : open(path, O_RDONLY);
    int e;

    if (fd < 0)
        return fail(err, err_size, "%s", strerror(errno));
    if (from_stdin && isatty(fd))
        return fail(err, err_size, "refusing to read binary data from a terminal");
    e = read_all(fd, cap, data, size);
    if (!from_stdin)
        close(fd);
    if (e == EFBIG)
        return fail(err, err_size, "larger than the %zu bytes allowed for the pixel limit", cap);
    return e ? fail(err, err_size, "%s", strerror(e)) : 0;
}

/* Whether out is the input file; compared by device and inode so that links and other spellings
 * of the same path are caught. */
static int same_as_input(const struct stat *out, const char *input)
{
    struct stat in;
    int found = strcmp(input, "-") == 0 ? fstat(STDIN_FILENO, &in) : stat(input, &in);

    return found == 0 && in.st_dev == out->st_dev && in.st_ino == out->st_ino;
}

int cli_output_prepare(CliOutput *o, const char *path, const char *input, int force, char *err,
                       size_t err_size)
{
    struct stat st;

    memset(o, 0, sizeof *o);
    o->path = path;
    o->force = force;
    o->mode = new_file_mode;
    if (strcmp(path, "-") == 0) {
        o->in_place = 1;
        if (isatty(STDOUT_FILENO))
            return fail(err, err_size,
                        "refusing to write binary data to a terminal; use -o FILE or redirect");
        return 0;
    }
    if (stat(path, &st) != 0)
        return errno == ENOENT ? 0 : fail(err, err_size, "%s", strerror(errno));
    if (same_as_input(&st, input))
        return fail(err, err_size, "is the input file; refusing to overwrite it");
    if (S_ISDIR(st.st_mode))
        return fail(err, err_size, "%s", strerror(EISDIR));
    /* /dev/null or a FIFO: nothing to replace, so write there directly. */
    o->in_place = !S_ISREG(st.st_mode);
    if (o->in_place)
        return 0;
    if (!force)
        return fail(err, err_size, "already exists; use -f to overwrite it");
    /* An overwritten file keeps its permissions, as it would if it were rewritten in place. */
    o->mode = st.st_mode & 0777;
    return 0;
}

/* ".NAME.XXXXXX" beside the destination, so that rename() stays within one file system. */
static int temp_template(const char *path, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path + 1) : 0;
    int n = snprintf(buf, size, "%.*s.%s.XXXXXX", dir_len, path, path + dir_len);

    return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int open_temp(CliOutput *o, char *err, size_t err_size)
{
    int fd, slot = 0;

    while (slot < CLI_MAX_OUTPUTS && pending_tmp_set[slot])
        slot++;
    if (slot == CLI_MAX_OUTPUTS)
        return fail(err, err_size, "more than %d outputs at once", CLI_MAX_OUTPUTS);
    o->slot = slot;
    if (temp_template(o->path, pending_tmp[slot], sizeof pending_tmp[slot]) != 0)
        return fail(err, err_size, "%s", strerror(ENAMETOOLONG));
    /* mkstemp() fills in the name in the buffer the handler reads, and the handler is armed
     * before the file exists: no moment when the file exists but would be left behind.  Until
     * then the handler at worst unlinks a name that does not exist. */
    atomic_signal_fence(memory_order_seq_cst);
    pending_tmp_set[slot] = 1;
    fd = mkstemp(pending_tmp[slot]);
    if (fd < 0) {
        int e = errno;
        pending_tmp_set[slot] = 0;
        return fail(err, err_size, "cannot create a temporary file: %s", strerror(e));
    }
    memcpy(o->tmp, pending_tmp[slot], sizeof o->tmp);
    if (temp_mirror)
        snprintf(temp_mirror, temp_mirror_size, "%s", o->tmp);
    if (fchmod(fd, o->mode) != 0 || !(o->f = fdopen(fd, "wb"))) {
        int e = errno;
        close(fd);
        cli_output_abort(o);
        return fail(err, err_size, "%s", strerror(e));
    }
    return 0;
}

int cli_output_begin(CliOutput *o, char *err, size_t err_size)
{
    if (strcmp(o->path, "-") == 0) {
        o->f = stdout;
        return 0;
    }
    if (!o->in_place)
        return open_temp(o, err, err_size);
    o->f = fopen(o->path, "wb");
    return o->f ? 0 : fail(err, err_size, "%s", strerror(errno));
}

/* Flushes and closes the stream (stdout stays open); returns 0 or an errno value. */
static int close_stream(CliOutput *o)
{
    int e = 0;

    if (fflush(o->f) != 0)
        e = errno;
    else if (ferror(o->f))
        e = EIO; /* an earlier write failed and its errno is gone */
    else if (o->tmp[0] && fsync(fileno(o->f)) != 0)
        e = errno;
    if (o->f != stdout && fclose(o->f) != 0 && !e)
        e = errno;
    o->f = NULL;
    return e;
}

static void forget_temp(CliOutput *o)
{
    pending_tmp_set[o->slot] = 0;
    o->tmp[0] = '\0';
    if (temp_mirror)
        temp_mirror[0] = '\0';
}

/* Moves the finished temporary file into place; returns 0 or an errno value. */
static int install_temp(CliOutput *o)
{
    if (o->force) {
        if (rename(o->tmp, o->path) != 0)
            return errno;
    } else if (link(o->tmp, o->path) == 0) {
        /* link() fails rather than replace a file created since cli_output_prepare(). */
        unlink(o->tmp);
    } else if (errno == EEXIST) {
        return EEXIST;
    } else if (rename(o->tmp, o->path) != 0) {
        /* A file system without hard links: rename() is the best left. */
        return errno;
    }
    forget_temp(o);
    return 0;
}

static int output_failed(CliOutput *o, int e, char *err, size_t err_size)
{
    cli_output_abort(o);
    if (e == EEXIST)
        return fail(err, err_size, "already exists; use -f to overwrite it");
    return fail(err, err_size, "%s", strerror(e));
}

int cli_output_finish(CliOutput *o, char *err, size_t err_size)
{
    int e = o->f ? close_stream(o) : 0;

    return e ? output_failed(o, e, err, err_size) : 0;
}

int cli_output_commit(CliOutput *o, char *err, size_t err_size)
{
    int e = o->f ? close_stream(o) : 0;

    if (!e && o->tmp[0])
        e = install_temp(o);
    return e ? output_failed(o, e, err, err_size) : 0;
}

void cli_output_abort(CliOutput *o)
{
    if (o->f && o->f != stdout)
        fclose(o->f);
    o->f = NULL;
    if (o->tmp[0]) {
        unlink(o->tmp);
        forget_temp(o);
    }
}

double cli_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_hex(const uint8_t *bytes, size_t n, char *buf)
{
    for (size_t i = 0; i < n; i++)
        snprintf(buf + 2 * i, 3, "%02x", bytes[i]);
    buf[2 * n] = '\0';
}

static void model_error(const char *model, int err)
{
    const char *env = getenv(AECIMG_MODEL_ENV);

    if (model)
        cli_message(model, "cannot load the model: %s", aecimg_strerror(err));
    else if (env && env[0])
        cli_message(env, "cannot load the model named by %s: %s", AECIMG_MODEL_ENV,
                    aecimg_strerror(err));
    else
        cli_message(NULL, "cannot load the default model: %s; use --model or set %s",
                    aecimg_strerror(err), AECIMG_MODEL_ENV);
}

static int open_quietly(const CliCommon *c, AecimgSettings *s, AecimgContext **ctx)
{
    s->model_path = c->model;
    s->threads = c->threads;
    s->max_pixels = c->max_pixels;
    s->tile_size = c->tile_size;
    return aecimg_open(ctx, s);
}

int cli_open_codec(const CliCommon *c, AecimgSettings *s, AecimgContext **ctx)
{
    int err = open_quietly(c, s, ctx);

    if (err < 0)
        model_error(c->model, err);
    return err < 0 ? -1 : 0;
}

static void print_version(const AecimgContext *ctx, int model_err)
{
    unsigned api = aecimg_api_version();
    char hash[17];

    printf("%s (aec) %s\n", tool_name, PACKAGE_VERSION);
    printf("library: %s\n", aecimg_version());
    printf("api: %u.%u.%u\n", api >> 16, (api >> 8) & 0xffu, api & 0xffu);
    if (ctx) {
        cli_hex(aecimg_model_hash(ctx), 8, hash);
        printf("model: %s\n", aecimg_model_name(ctx));
        printf("model path: %s\n", aecimg_model_path(ctx));
        printf("model hash: %s\n", hash);
        printf("kernels: %s\n", aecimg_cpu_level(ctx));
    } else {
        printf("model: none (%s)\n", aecimg_strerror(model_err));
    }
    printf("jpeg: %s\n", imageio_have_jpeg() ? "yes" : "no");
}

int cli_run_version(const CliCommon *c)
{
    AecimgSettings s;
    AecimgContext *ctx = NULL;
    int err;

    aecimg_default_settings(&s);
    s.roles = 0; /* naming the model needs no transform */
    err = open_quietly(c, &s, &ctx);
    /* The versions are worth printing even when the model is missing; the model line says why. */
    print_version(ctx, err);
    if (ctx)
        aecimg_close(&ctx);
    return CLI_EXIT_OK;
}
