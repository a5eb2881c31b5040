/* cli_score.c: one tab-separated key=value line per file, for scripts that rank images by cost. */
#include "cli_score.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Copies name into buf with tab, newline, carriage return and backslash escaped as in C, so that a
 * name never breaks the line or its fields. */
static void escape_name(const char *name, char *buf, size_t size)
{
    size_t n = 0;

    for (; *name && n + 3 < size; name++) {
        const char *esc = *name == '\t' ? "\\t" : *name == '\n' ? "\\n" : *name == '\r' ? "\\r"
                          : *name == '\\' ? "\\\\" : NULL;
        if (esc) {
            memcpy(buf + n, esc, 2);
            n += 2;
        } else {
            buf[n++] = *name;
        }
    }
    buf[n] = '\0';
}

/* "inf" for an exact reconstruction, whatever the C library prints for infinity. */
static void format_real(double v, const char *fmt, char *buf, size_t size)
{
    if (isinf(v))
        snprintf(buf, size, "inf");
    else
        snprintf(buf, size, fmt, v);
}

int cli_score_print(const CliScore *s)
{
    char name[2 * CLI_PATH_MAX + 4], line[sizeof name + 512], mse[64], psnr[64];
    const double pixels = (double)s->width * s->height;
    int n;

    escape_name(s->file, name, sizeof name);
    n = snprintf(line, sizeof line,
                 "score\tfile=%s\twidth=%u\theight=%u\tbytes=%llu\tbpp=%.6f\tpayload_bits=%llu"
                 "\tideal_bits=%.1f",
                 name, s->width, s->height, (unsigned long long)s->bytes,
                 8.0 * (double)s->bytes / pixels, (unsigned long long)s->payload_bits, s->ideal_bits);
    if (s->has_error) {
        format_real(s->mse, "%.6f", mse, sizeof mse);
        format_real(s->psnr, "%.4f", psnr, sizeof psnr);
        n += snprintf(line + n, sizeof line - (size_t)n, "\tmse=%s\tpsnr=%s", mse, psnr);
    }
    n += snprintf(line + n, sizeof line - (size_t)n, "\n");
    /* One write() of a line shorter than PIPE_BUF is atomic on a pipe; on a file, the processes
     * share the offset and each write() lands whole. */
    for (const char *p = line; n > 0;) {
        ssize_t w = write(STDOUT_FILENO, p, (size_t)n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            cli_message("(stdout)", "write error: %s", w < 0 ? strerror(errno) : "nothing written");
            return -1;
        }
        p += w;
        n -= (int)w;
    }
    return 0;
}
