/* bench_report.c: aec-bench's table on standard output, CSV and JSON. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "bench_report.h"

#include <math.h>
#include <string.h>

static const char *codec_name(const BenchRun *r, size_t e)
{
    return r->entries[e].session.codec->name;
}

const BenchBd *bench_find_bd(const BenchRun *r, const char *name, const char *anchor)
{
    for (size_t j = 0; j < r->nbd; j++)
        if (strcmp(codec_name(r, r->bd[j].entry), name) == 0 &&
            strcmp(codec_name(r, r->bd[j].anchor), anchor) == 0)
            return &r->bd[j];
    return NULL;
}

/* ---------------------------------------------------------------- table */

static void table_header(FILE *f, int per_image)
{
    if (per_image)
        fprintf(f, "%-16s ", "image");
    fprintf(f, "%-10s %7s %12s %8s %8s %8s %10s %10s %7s %5s\n", "codec", "quality", "bytes", "bpp",
            "PSNR-RGB", "MS-SSIM", "encode ms", "decode ms", "threads", "check");
}

static void table_row(FILE *f, const BenchRun *r, const BenchPoint *p, const char *image)
{
    char q[16] = "-", psnr[16] = "inf", msssim[16] = "n/a";

    if (p->quality >= 0)
        snprintf(q, sizeof q, "%d", p->quality);
    if (isfinite(p->psnr))
        snprintf(psnr, sizeof psnr, "%.2f", p->psnr);
    if (!isnan(p->msssim))
        snprintf(msssim, sizeof msssim, "%.4f", p->msssim);
    if (image)
        fprintf(f, "%-16s ", image);
    fprintf(f, "%-10s %7s %12.0f %8.4f %8s %8s %10.1f %10.1f %7d %5s\n", codec_name(r, p->entry), q,
            p->bytes, p->bpp, psnr, msssim, p->enc_ms, p->dec_ms,
            r->entries[p->entry].session.threads, p->check ? "pass" : "FAIL");
}

static void table_codecs(FILE *f, const BenchRun *r)
{
    fprintf(f, "Codecs (threads; settings; bitstream check):\n");
    for (size_t e = 0; e < r->nentries; e++) {
        const BenchSession *s = &r->entries[e].session;
        fprintf(f, "  %-10s %d thread%s; %s\n        check: %s\n", s->codec->name, s->threads,
                s->threads == 1 ? "" : "s", s->settings, s->check);
    }
    for (size_t j = 0; j < r->nskipped; j++)
        fprintf(f, "  %-10s skipped: %s\n", r->skipped[j].name, r->skipped[j].reason);
}

static void table_bd(FILE *f, const BenchRun *r)
{
    fprintf(f, "\n%s:\n", BENCH_BD_METHOD);
    if (r->nbd == 0) {
        fprintf(f, "  none (needs JPEG or WebP and another lossy codec)\n");
        return;
    }
    fprintf(f, "%-10s %-6s %9s %15s %10s %15s\n", "codec", "anchor", "BD-rate", "PSNR range dB",
            "BD-PSNR dB", "bpp range");
    for (size_t j = 0; j < r->nbd; j++) {
        const BenchBd *b = &r->bd[j];
        char rate[24] = "n/a", prange[32], db[24] = "n/a", brange[32];
        snprintf(prange, sizeof prange, "%s", b->why);
        snprintf(brange, sizeof brange, "%s", b->why);
        if (b->rate_ok) {
            snprintf(rate, sizeof rate, "%+.2f%%", b->rate_pct);
            snprintf(prange, sizeof prange, "%.2f..%.2f", b->psnr_lo, b->psnr_hi);
        }
        if (b->psnr_ok) {
            snprintf(db, sizeof db, "%+.3f", b->psnr_db);
            snprintf(brange, sizeof brange, "%.3f..%.3f", b->bpp_lo, b->bpp_hi);
        }
        fprintf(f, "%-10s %-6s %9s %15s %10s %15s\n", codec_name(r, b->entry),
                codec_name(r, b->anchor), rate, prange, db, brange);
    }
}

void bench_write_table(FILE *f, const BenchRun *r, int per_image)
{
    fprintf(f, "aec-bench %s: %zu image%s, %d timed run%s per point (median), started %s\n",
            PACKAGE_VERSION, r->ninputs, r->ninputs == 1 ? "" : "s", r->runs,
            r->runs == 1 ? "" : "s", r->started);
    fprintf(f, "command: %s\nmachine: %s\n", r->command, r->machine);
    fprintf(f, "bpp: whole file; PSNR-RGB: 8-bit decoded image, dB; MS-SSIM: mean over the "
               "channels\n\n");
    table_codecs(f, r);
    if (per_image) {
        fprintf(f, "\nPer image:\n");
        table_header(f, 1);
        for (size_t i = 0; i < r->ninputs; i++)
            for (size_t k = 0; k < r->points_per_image; k++)
                table_row(f, r, &r->points[i * r->points_per_image + k], r->inputs[i].name);
    }
    fprintf(f, "\nMeans over %zu image%s (%s):\n", r->ninputs, r->ninputs == 1 ? "" : "s",
            BENCH_MEAN_METHOD);
    table_header(f, 0);
    for (size_t j = 0; j < r->nmeans; j++)
        table_row(f, r, &r->means[j], NULL);
    table_bd(f, r);
}

/* ---------------------------------------------------------------- CSV */

/* A field quoted when it holds a comma, quote or line break (RFC 4180). */
static void csv_text(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_row(FILE *f, const BenchRun *r, const BenchPoint *p, const BenchInput *in)
{
    fputs(in ? "image," : "mean,", f);
    csv_text(f, in ? in->name : "");
    fprintf(f, ",%s,", codec_name(r, p->entry));
    if (p->quality >= 0)
        fprintf(f, "%d", p->quality);
    if (in)
        fprintf(f, ",1,%u,%u,%.0f", in->img.width, in->img.height, p->bytes);
    else
        fprintf(f, ",%zu,,,%.1f", r->ninputs, p->bytes);
    fprintf(f, ",%.6f,", p->bpp);
    if (isfinite(p->psnr))
        fprintf(f, "%.4f", p->psnr);
    else
        fputs("inf", f);
    fputc(',', f);
    if (!isnan(p->msssim))
        fprintf(f, "%.6f", p->msssim);
    fprintf(f, ",%.3f,%.3f,%d,%s\n", p->enc_ms, p->dec_ms, r->entries[p->entry].session.threads,
            p->check ? "pass" : "fail");
}

void bench_write_csv(FILE *f, const BenchRun *r)
{
    fputs("kind,image,codec,quality,images,width,height,bytes,bpp,psnr_rgb,ms_ssim,encode_ms,"
          "decode_ms,threads,check\n",
          f);
    for (size_t i = 0; i < r->ninputs; i++)
        for (size_t k = 0; k < r->points_per_image; k++)
            csv_row(f, r, &r->points[i * r->points_per_image + k], &r->inputs[i]);
    for (size_t j = 0; j < r->nmeans; j++)
        csv_row(f, r, &r->means[j], NULL);
}

/* ---------------------------------------------------------------- JSON */

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* A number, or null for an infinity or NaN (which JSON cannot hold). */
static void json_number(FILE *f, const char *fmt, double v)
{
    if (isfinite(v))
        fprintf(f, fmt, v);
    else
        fputs("null", f);
}

static void json_point(FILE *f, const BenchRun *r, const BenchPoint *p, const BenchInput *in)
{
    fputs("    {", f);
    if (in) {
        fputs("\"image\": ", f);
        json_string(f, in->name);
        fputs(", ", f);
    } else {
        fprintf(f, "\"images\": %zu, ", r->ninputs);
    }
    fprintf(f, "\"codec\": \"%s\", \"quality\": ", codec_name(r, p->entry));
    if (p->quality >= 0)
        fprintf(f, "%d", p->quality);
    else
        fputs("null", f);
    fprintf(f, ", \"bytes\": %.1f, \"bpp\": %.6f, \"psnr_rgb\": ", p->bytes, p->bpp);
    json_number(f, "%.4f", p->psnr);
    fputs(", \"ms_ssim\": ", f);
    json_number(f, "%.6f", p->msssim);
    fprintf(f, ", \"lossless\": %s, \"encode_ms\": %.3f, \"decode_ms\": %.3f, \"threads\": %d, "
               "\"check\": %s}",
            isinf(p->psnr) ? "true" : "false", p->enc_ms, p->dec_ms,
            r->entries[p->entry].session.threads, p->check ? "true" : "false");
}

static void json_codecs(FILE *f, const BenchRun *r)
{
    fputs("  \"codecs\": [\n", f);
    for (size_t e = 0; e < r->nentries; e++) {
        const BenchEntry *en = &r->entries[e];
        fprintf(f, "    {\"name\": \"%s\", \"threads\": %d, \"settings\": ",
                en->session.codec->name, en->session.threads);
        json_string(f, en->session.settings);
        fputs(", \"check\": ", f);
        json_string(f, en->session.check);
        fputs(", \"qualities\": [", f);
        for (size_t k = 0; k < en->qualities.n && en->qualities.q[k] >= 0; k++)
            fprintf(f, "%s%d", k ? ", " : "", en->qualities.q[k]);
        fprintf(f, "]}%s\n", e + 1 < r->nentries ? "," : "");
    }
    fputs("  ],\n  \"skipped\": [", f);
    for (size_t j = 0; j < r->nskipped; j++) {
        fprintf(f, "%s{\"name\": \"%s\", \"reason\": ", j ? ", " : "", r->skipped[j].name);
        json_string(f, r->skipped[j].reason);
        fputc('}', f);
    }
    fputs("],\n", f);
}

static void json_images(FILE *f, const BenchRun *r)
{
    fputs("  \"images\": [\n", f);
    for (size_t i = 0; i < r->ninputs; i++) {
        const BenchInput *in = &r->inputs[i];
        fputs("    {\"name\": ", f);
        json_string(f, in->name);
        fputs(", \"path\": ", f);
        json_string(f, in->path);
        fprintf(f, ", \"width\": %u, \"height\": %u, \"channels\": %u, \"coded_channels\": %u}%s\n",
                in->img.width, in->img.height, in->source_channels, in->img.channels,
                i + 1 < r->ninputs ? "," : "");
    }
    fputs("  ],\n", f);
}

static void json_points(FILE *f, const BenchRun *r)
{
    size_t n = r->ninputs * r->points_per_image;

    fputs("  \"results\": [\n", f);
    for (size_t j = 0; j < n; j++) {
        json_point(f, r, &r->points[j], &r->inputs[j / r->points_per_image]);
        fputs(j + 1 < n ? ",\n" : "\n", f);
    }
    fputs("  ],\n  \"means\": [\n", f);
    for (size_t j = 0; j < r->nmeans; j++) {
        json_point(f, r, &r->means[j], NULL);
        fputs(j + 1 < r->nmeans ? ",\n" : "\n", f);
    }
    fputs("  ],\n", f);
}

static void json_bd(FILE *f, const BenchRun *r)
{
    fputs("  \"bd\": [\n", f);
    for (size_t j = 0; j < r->nbd; j++) {
        const BenchBd *b = &r->bd[j];
        fprintf(f, "    {\"codec\": \"%s\", \"anchor\": \"%s\", \"bd_rate_percent\": ",
                codec_name(r, b->entry), codec_name(r, b->anchor));
        if (b->rate_ok)
            fprintf(f, "%.4f, \"psnr_range_db\": [%.4f, %.4f]", b->rate_pct, b->psnr_lo,
                    b->psnr_hi);
        else
            fputs("null, \"psnr_range_db\": null", f);
        fputs(", \"bd_psnr_db\": ", f);
        if (b->psnr_ok)
            fprintf(f, "%.4f, \"bpp_range\": [%.6f, %.6f]", b->psnr_db, b->bpp_lo, b->bpp_hi);
        else
            fputs("null, \"bpp_range\": null", f);
        if (!b->rate_ok || !b->psnr_ok)
            fprintf(f, ", \"undefined_because\": \"%s\"", b->why);
        fputs(j + 1 < r->nbd ? "},\n" : "}\n", f);
    }
    fputs("  ]\n", f);
}

void bench_write_json(FILE *f, const BenchRun *r)
{
    fprintf(f, "{\n  \"tool\": \"aec-bench\",\n  \"version\": \"%s\",\n  \"started\": \"%s\",\n"
               "  \"runs\": %d,\n  \"command\": ",
            PACKAGE_VERSION, r->started, r->runs);
    json_string(f, r->command);
    fputs(",\n  \"machine\": ", f);
    json_string(f, r->machine);
    fputs(",\n", f);
    fputs("  \"methods\": {\"bpp\": \"8 * file bytes / pixels, whole file\", "
          "\"psnr_rgb\": \"10 log10(255^2 / MSE) over all samples of the 8-bit decoded image; "
          "null when infinite (lossless)\", \"ms_ssim\": \"Wang et al. 2003, 5 scales, 11x11 "
          "Gaussian sigma 1.5, mean over the channels; null when the image is under 176 pixels "
          "on a side\", \"time\": \"median of the runs in ms; means: mean of the medians\", ",
          f);
    fprintf(f, "\"mean\": \"%s\", \"bd\": \"%s\"},\n", BENCH_MEAN_METHOD, BENCH_BD_METHOD);
    json_codecs(f, r);
    json_images(f, r);
    json_points(f, r);
    json_bd(f, r);
    fputs("}\n", f);
}
