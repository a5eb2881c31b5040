/* cli.h: helpers shared by aec-encode and aec-decode: input, atomic output, options, messages. */
#ifndef AECIMG_CLI_H
#define AECIMG_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <aecimg/aecimg.h>

enum { CLI_EXIT_OK = 0, CLI_EXIT_ERROR = 1, CLI_EXIT_USAGE = 2 };

#define CLI_PATH_MAX 4096
/* Outputs one run may have in progress at once (aec-decode: the image, --latents and --rate-map). */
#define CLI_MAX_OUTPUTS 3

#if defined(__GNUC__)
#define CLI_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define CLI_PRINTF(fmt, args)
#endif

/* Records the tool name for messages, captures the umask and installs the SIGINT/SIGTERM handler
 * that removes a pending temporary output file. */
void cli_init(const char *tool);

/* The name given to cli_init(). */
const char *cli_tool_name(void);

/* "tool: SUBJECT: message" on stderr; SUBJECT may be NULL.  Clears the status line first. */
void cli_message(const char *subject, const char *fmt, ...) CLI_PRINTF(2, 3);
/* A status line on stderr (a terminal), "tool: message", rewritten in place by the next call. */
void cli_status(const char *fmt, ...) CLI_PRINTF(1, 2);
/* Erases the status line, if one is shown, so that an ordinary line can take its place. */
void cli_status_clear(void);

/* The worker processes SIGINT and SIGTERM are passed on to before the tool dies by them, so that
 * each removes its own temporary file: cli_child_add() after each fork() (with the signals
 * blocked), cli_children_forget() in the child and after the children are reaped. */
void cli_child_add(pid_t pid);
void cli_children_forget(void);

/* From now on the name of the temporary output file, while there is one, is also kept in buf
 * (memory shared with the parent process), so that the parent can remove the file when this
 * process dies without cleaning up (SIGKILL, a crash).  NULL stops it. */
void cli_mirror_temp(char *buf, size_t size);
/* "tool: message" plus a pointer to --help on stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) CLI_PRINTF(1, 2);

/* Name to show for a path in messages: "(stdin)"/"(stdout)" for "-". */
const char *cli_display_name(const char *path, int is_output);

enum { CLI_ACTION_RUN, CLI_ACTION_HELP, CLI_ACTION_VERSION, CLI_ACTION_INFO };
enum { CLI_QUIET, CLI_SUMMARY, CLI_STAGES }; /* verbosity */

/* Long-only options both tools take; a tool numbers its own from CLI_OPT_TOOL. */
enum { CLI_OPT_MODEL = 256, CLI_OPT_MAX_PIXELS, CLI_OPT_TILE, CLI_OPT_QUIET, CLI_OPT_JOBS, CLI_OPT_TOOL };

/* Most files run side by side (--jobs). */
#define CLI_MAX_JOBS 256

/* Options both tools take: -o -j -f -v -V -h -r --model --max-pixels --tile --quiet --jobs, and
 * the INPUT operands. */
typedef struct CliCommon {
    int action;         /* CLI_ACTION_* */
    const char *input;  /* the first INPUT; "-": stdin */
    char **inputs;      /* every INPUT (argv) */
    size_t ninputs;
    const char *output; /* NULL: derived from input */
    int threads;
    int jobs;           /* files coded side by side, each in its own process */
    int recursive;      /* -r: folders' subfolders too */
    int force;
    int verbosity;      /* CLI_QUIET .. CLI_STAGES */
    uint64_t max_pixels;
    uint32_t tile_size; /* pixels, 0: whole image */
    const char *model;  /* NULL: the library's default */
} CliCommon;

void cli_common_init(CliCommon *c);
/* Handles getopt_long()'s result opt (and its errors) if it is a common option.  Returns 0 when
 * handled, -1 when opt is the tool's own, CLI_EXIT_USAGE after reporting a usage error. */
int cli_common_option(CliCommon *c, int opt, char **argv);
/* Takes the INPUT operands: one, or with many any number of them; reading stdin needs an explicit
 * -o when output_needed, and stdin or stdout go with one INPUT only. */
int cli_common_finish(CliCommon *c, int argc, char **argv, int output_needed, int many);

/* Online cores, 1..CLI_MAX_JOBS. */
int cli_online_cores(void);

/* Parses a whole decimal integer in [min, max]; returns 0, or -1 for garbage or out of range. */
int cli_parse_int(const char *s, long long min, long long max, long long *out);

/* cli_parse_int() for an option argument; reports a usage error naming what was expected. */
int cli_parse_arg(const char *name, const char *arg, long long min, long long max, long long *out);

/* A decimal number (digits and '.', an exponent allowed) in [min, max]; returns 0, or -1.  The
 * real-number twin of cli_parse_int() and cli_parse_arg(). */
int cli_parse_real(const char *s, double min, double max, double *out);
int cli_parse_real_arg(const char *name, const char *arg, double min, double max, double *out);

/* Copy of path with the extension of its last component replaced by ext (".aec");
 * NULL if out of memory. */
char *cli_replace_extension(const char *path, const char *ext);

/* Largest input file worth reading for images of at most max_pixels pixels (below SIZE_MAX). */
size_t cli_input_cap(uint64_t max_pixels);

/* Reads a whole file ("-": stdin, but not a terminal) of at most cap bytes into a malloc'd buffer.
 * Returns 0, or -1 with a reason in err. */
int cli_read_file(const char *path, size_t cap, uint8_t **data, size_t *size, char *err,
                  size_t err_size);

/* An output file written to a temporary name and renamed into place by cli_output_commit(). */
typedef struct CliOutput {
    const char *path; /* destination; "-" for stdout */
    int force;        /* replace an existing destination */
    int in_place;     /* stdout, or a device/FIFO destination: written directly */
    mode_t mode;      /* permissions of the finished file */
    FILE *f;
    char tmp[CLI_PATH_MAX];
    int slot;         /* which of the signal handler's temporary names is tmp */
} CliOutput;

/* Checks, before any work, that path may be written: not a terminal for "-", not the input file
 * (input "-": stdin), not a directory, not an existing file unless force.  Returns 0, or -1 with a
 * reason in err. */
int cli_output_prepare(CliOutput *o, const char *path, const char *input, int force, char *err,
                       size_t err_size);
/* Opens the temporary file (or stdout / the device); o->f is ready for writing. */
int cli_output_begin(CliOutput *o, char *err, size_t err_size);
/* Flushes, syncs and closes, without renaming yet: a run with two outputs finishes both before it
 * commits either, so that a full disk leaves neither behind.  On failure the temporary file is
 * removed. */
int cli_output_finish(CliOutput *o, char *err, size_t err_size);
/* Finishes (if not done yet) and renames into place; on failure the temporary file is removed. */
int cli_output_commit(CliOutput *o, char *err, size_t err_size);
/* Closes and removes the temporary file, if any. */
void cli_output_abort(CliOutput *o);

/* Seconds on a monotonic clock. */
double cli_now(void);

/* Fills the common fields of s (model, threads, pixel limit) and opens a context; on failure
 * reports which model could not be loaded and returns -1. */
int cli_open_codec(const CliCommon *c, AecimgSettings *s, AecimgContext **ctx);

/* -V/--version: tool, package, library and API versions, model, SIMD level, JPEG support. */
int cli_run_version(const CliCommon *c);

/* bytes as lowercase hex into buf (at least 2 * n + 1 bytes). */
void cli_hex(const uint8_t *bytes, size_t n, char *buf);

#endif
