/* bench_run.c: aec-bench's measuring loop, progress display, means and Bjontegaard deltas. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "bench_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_metrics.h"
#include "cli.h"

/* ---------------------------------------------------------------- helpers */

static double median(const double *v, int n)
{
    double s[BENCH_MAX_RUNS];

    for (int i = 0; i < n; i++) {
        int j = i;
        for (; j > 0 && s[j - 1] > v[i]; j--)
            s[j] = s[j - 1];
        s[j] = v[i];
    }
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2.0;
}

static int same_image(const AecimgImage *a, const AecimgImage *b)
{
    return a->width == b->width && a->height == b->height && a->channels == b->channels &&
           memcmp(a->pixels, b->pixels, (size_t)a->width * a->height * a->channels) == 0;
}

int bench_expand_to_rgb(const AecimgImage *gray, AecimgImage *rgb, char *err, size_t err_size)
{
    size_t n = (size_t)gray->width * gray->height;

    if (bench_alloc_image(rgb, gray->width, gray->height, 3, err, err_size) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        memset(rgb->pixels + 3 * i, gray->pixels[i], 3);
    return 0;
}

/* "m:ss" or "h:mm:ss". */
static void format_duration(double seconds, char *buf, size_t size)
{
    long s = lround(seconds);

    if (s >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, size, "%ld:%02ld", s / 60, s % 60);
}

/* ---------------------------------------------------------------- progress */

typedef struct Progress {
    size_t done, total;
    double t0;
} Progress;

static void progress_times(const Progress *p, char *elapsed, char *left, size_t size)
{
    double t = cli_now() - p->t0;

    format_duration(t, elapsed, size);
    format_duration(p->done ? t / (double)p->done * (double)(p->total - p->done) : 0.0, left, size);
}

/* On a terminal: one line rewritten after every point. */
static void progress_point(const BenchRun *r, const Progress *p, const char *image,
                           const char *codec, int quality)
{
    char elapsed[32], left[32], q[16] = "";

    if (r->progress != BENCH_PROGRESS_TERMINAL)
        return;
    if (quality >= 0)
        snprintf(q, sizeof q, " q%d", quality);
    progress_times(p, elapsed, left, sizeof elapsed);
    fprintf(stderr, "\raec-bench: %3d%% [%zu/%zu] %s %s%s, %s elapsed, ~%s left\033[K",
            (int)(100 * p->done / p->total), p->done, p->total, image, codec, q, elapsed, left);
    fflush(stderr);
}

/* Into a log: one line per image. */
static void progress_image(const BenchRun *r, const Progress *p, size_t i)
{
    char elapsed[32], left[32];

    if (r->progress != BENCH_PROGRESS_LINES)
        return;
    progress_times(p, elapsed, left, sizeof elapsed);
    fprintf(stderr, "aec-bench: [%zu/%zu] %s done, %s elapsed, ~%s left\n", i + 1, r->ninputs,
            r->inputs[i].name, elapsed, left);
}

static void progress_end(const BenchRun *r, const Progress *p)
{
    char elapsed[32], left[32];

    if (r->progress == BENCH_PROGRESS_NONE)
        return;
    progress_times(p, elapsed, left, sizeof elapsed);
    if (r->progress == BENCH_PROGRESS_TERMINAL)
        fputs("\r\033[K", stderr);
    fprintf(stderr, "aec-bench: %zu point%s measured in %s\n", p->total, p->total == 1 ? "" : "s",
            elapsed);
}

/* ---------------------------------------------------------------- one point */

/* Encodes runs times; keeps the first file and whether every run gave the same bytes. */
static int time_encodes(BenchSession *s, const AecimgImage *ref, int quality, int runs,
                        double *median_ms, uint8_t **file, size_t *size, int *same, char *err,
                        size_t err_size)
{
    double ms[BENCH_MAX_RUNS];

    for (int k = 0; k < runs; k++) {
        uint8_t *out;
        size_t n;
        double t0 = cli_now();
        if (s->codec->encode(s, ref, quality, &out, &n, err, err_size) != 0)
            return -1;
        ms[k] = (cli_now() - t0) * 1e3;
        if (k == 0) {
            *file = out;
            *size = n;
            continue;
        }
        *same &= n == *size && memcmp(out, *file, n) == 0;
        free(out);
    }
    *median_ms = median(ms, runs);
    return 0;
}

/* Decodes runs times; keeps the first image and whether every run gave the same pixels. */
static int time_decodes(BenchSession *s, const uint8_t *file, size_t size, int runs,
                        double *median_ms, AecimgImage *decoded, int *same, char *err,
                        size_t err_size)
{
    double ms[BENCH_MAX_RUNS];

    for (int k = 0; k < runs; k++) {
        AecimgImage img;
        double t0 = cli_now();
        if (s->codec->decode(s, file, size, k == 0 ? decoded : &img, err, err_size) != 0)
            return -1;
        ms[k] = (cli_now() - t0) * 1e3;
        if (k == 0)
            continue;
        *same &= same_image(&img, decoded);
        aecimg_image_free(&img);
    }
    *median_ms = median(ms, runs);
    return 0;
}

/* The second, independent decode of the bitstream check. */
static int check_decode(BenchSession *s, const uint8_t *file, size_t size,
                        const AecimgImage *decoded, int *same, char *err, size_t err_size)
{
    AecimgImage again;

    if (s->codec->decode_check(s, file, size, &again, err, err_size) != 0)
        return -1;
    *same &= same_image(&again, decoded);
    aecimg_image_free(&again);
    return 0;
}

static void score(const AecimgImage *ref, const AecimgImage *out, BenchPoint *p)
{
    size_t pixels = (size_t)ref->width * ref->height;

    p->bpp = 8.0 * p->bytes / (double)pixels;
    p->psnr = bench_psnr(ref->pixels, out->pixels, pixels * ref->channels);
    p->msssim = bench_msssim(ref->pixels, out->pixels, ref->width, ref->height, ref->channels);
}

static int measure_point(const BenchRun *r, BenchSession *s, const AecimgImage *ref, int quality,
                         BenchPoint *p, char *err, size_t err_size)
{
    uint8_t *file = NULL;
    size_t size = 0;
    AecimgImage out = {0};
    int same = 1, rc;

    rc = time_encodes(s, ref, quality, r->runs, &p->enc_ms, &file, &size, &same, err, err_size);
    if (rc == 0)
        rc = time_decodes(s, file, size, r->runs, &p->dec_ms, &out, &same, err, err_size);
    if (rc == 0)
        rc = check_decode(s, file, size, &out, &same, err, err_size);
    if (rc == 0 && (out.width != ref->width || out.height != ref->height ||
                    out.channels != ref->channels))
        rc = bench_fail(err, err_size, "decoded a %ux%u image with %u channels, not %ux%u with %u",
                        out.width, out.height, out.channels, ref->width, ref->height,
                        ref->channels);
    if (rc == 0) {
        p->quality = quality;
        p->bytes = (double)size;
        p->check = same;
        score(ref, &out, p);
    }
    aecimg_image_free(&out);
    free(file);
    return rc;
}

/* ---------------------------------------------------------------- the loop */

static int measure_entry(BenchRun *r, size_t i, size_t e, Progress *pr, char *err,
                         size_t err_size)
{
    BenchEntry *entry = &r->entries[e];
    const BenchInput *in = &r->inputs[i];
    const AecimgImage *ref = &in->img;
    AecimgImage rgb = {0};
    char why[256], q_text[16] = "";
    int rc = 0;

    if (ref->channels == 1 && !entry->session.codec->gray) {
        if (bench_expand_to_rgb(ref, &rgb, err, err_size) != 0)
            return -1;
        ref = &rgb;
    }
    for (size_t k = 0; k < entry->qualities.n && rc == 0; k++) {
        int q = entry->qualities.q[k];
        BenchPoint *p = &r->points[i * r->points_per_image + entry->first + k];
        progress_point(r, pr, in->name, entry->session.codec->name, q);
        p->entry = e;
        rc = measure_point(r, &entry->session, ref, q, p, why, sizeof why);
        if (rc != 0 && q >= 0)
            snprintf(q_text, sizeof q_text, " q%d", q);
        if (rc != 0)
            bench_fail(err, err_size, "%s: %s%s: %s", in->name, entry->session.codec->name,
                       q_text, why);
        pr->done++;
    }
    aecimg_image_free(&rgb);
    return rc;
}

int bench_run_measure(BenchRun *r, char *err, size_t err_size)
{
    Progress pr = {.t0 = cli_now()};

    r->points_per_image = 0;
    for (size_t e = 0; e < r->nentries; e++) {
        r->entries[e].first = r->points_per_image;
        r->points_per_image += r->entries[e].qualities.n;
    }
    pr.total = r->ninputs * r->points_per_image;
    r->points = calloc(pr.total ? pr.total : 1, sizeof *r->points);
    if (!r->points)
        return bench_fail(err, err_size, "out of memory");
    for (size_t i = 0; i < r->ninputs; i++) {
        for (size_t e = 0; e < r->nentries; e++)
            if (measure_entry(r, i, e, &pr, err, err_size) != 0) {
                progress_end(r, &pr);
                return -1;
            }
        progress_image(r, &pr, i);
    }
    progress_end(r, &pr);
    return 0;
}

/* ---------------------------------------------------------------- summary */

const BenchPoint *bench_run_point(const BenchRun *r, size_t i, size_t e, size_t k)
{
    return &r->points[i * r->points_per_image + r->entries[e].first + k];
}

const BenchEntry *bench_run_entry(const BenchRun *r, const char *name)
{
    for (size_t e = 0; e < r->nentries; e++)
        if (strcmp(r->entries[e].session.codec->name, name) == 0)
            return &r->entries[e];
    return NULL;
}

/* Arithmetic means of the per-image values; an infinite PSNR makes the mean infinite, and one
 * image without MS-SSIM leaves the mean without it. */
static void mean_point(const BenchRun *r, size_t e, size_t k, BenchPoint *m)
{
    double n = (double)r->ninputs;

    memset(m, 0, sizeof *m);
    m->entry = e;
    m->quality = r->entries[e].qualities.q[k];
    m->check = 1;
    for (size_t i = 0; i < r->ninputs; i++) {
        const BenchPoint *p = bench_run_point(r, i, e, k);
        m->bytes += p->bytes / n;
        m->bpp += p->bpp / n;
        m->psnr += p->psnr / n;
        m->msssim += p->msssim / n;
        m->enc_ms += p->enc_ms / n;
        m->dec_ms += p->dec_ms / n;
        m->check &= p->check;
    }
}

static int in_curve(const double *bpp, const double *psnr, size_t n, const BenchPoint *m)
{
    for (size_t i = 0; i < n; i++)
        if (bpp[i] == m->bpp && psnr[i] == m->psnr)
            return 1;
    return 0;
}

/* The mean curve of entry e.  Infinite PSNRs are left out (a lossless point has no place on it),
 * and so is a point equal to one already taken: two qualities that give the same files add
 * nothing, and the interpolation needs distinct abscissae. */
static size_t mean_curve(const BenchRun *r, size_t e, double *bpp, double *psnr)
{
    size_t n = 0;

    for (size_t j = 0; j < r->nmeans; j++) {
        const BenchPoint *m = &r->means[j];
        if (m->entry != e || !isfinite(m->psnr) || in_curve(bpp, psnr, n, m))
            continue;
        bpp[n] = m->bpp;
        psnr[n++] = m->psnr;
    }
    return n;
}

static void bd_against(BenchRun *r, size_t e, size_t a)
{
    double rate_e[BENCH_MAX_QUALITIES], psnr_e[BENCH_MAX_QUALITIES];
    double rate_a[BENCH_MAX_QUALITIES], psnr_a[BENCH_MAX_QUALITIES];
    BenchCurve test = {rate_e, psnr_e, mean_curve(r, e, rate_e, psnr_e)};
    BenchCurve anchor = {rate_a, psnr_a, mean_curve(r, a, rate_a, psnr_a)};
    BenchBd *bd = &r->bd[r->nbd++];

    bd->entry = e;
    bd->anchor = a;
    bd->rate_ok = bench_bd_rate(&anchor, &test, &bd->rate_pct, &bd->psnr_lo, &bd->psnr_hi) == 0;
    bd->psnr_ok = bench_bd_psnr(&anchor, &test, &bd->psnr_db, &bd->bpp_lo, &bd->bpp_hi) == 0;
    bd->why = test.n < 2 || anchor.n < 2 ? "fewer than 2 points" : "no overlap";
}

void bench_run_summarize(BenchRun *r)
{
    static const char *const anchors[] = {"jpeg", "webp"};

    r->nmeans = 0;
    r->all_checks_passed = 1;
    for (size_t e = 0; e < r->nentries; e++)
        for (size_t k = 0; k < r->entries[e].qualities.n; k++) {
            mean_point(r, e, k, &r->means[r->nmeans]);
            r->all_checks_passed &= r->means[r->nmeans++].check;
        }
    r->nbd = 0;
    for (size_t j = 0; j < sizeof anchors / sizeof anchors[0]; j++) {
        const BenchEntry *anchor = bench_run_entry(r, anchors[j]);
        if (!anchor)
            continue;
        for (size_t e = 0; e < r->nentries; e++)
            if (&r->entries[e] != anchor && !r->entries[e].session.codec->lossless)
                bd_against(r, e, (size_t)(anchor - r->entries));
    }
}

void bench_run_free(BenchRun *r)
{
    for (size_t e = 0; e < r->nentries; e++)
        if (r->entries[e].session.codec->close)
            r->entries[e].session.codec->close(&r->entries[e].session);
    for (size_t i = 0; i < r->ninputs; i++) {
        aecimg_image_free(&r->inputs[i].img);
        free(r->inputs[i].path);
    }
    free(r->inputs);
    free(r->points);
    r->inputs = NULL;
    r->points = NULL;
    r->nentries = r->ninputs = 0;
}
