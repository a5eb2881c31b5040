/* bench_html.c: aec-bench --html: the page with the plot and side-by-side crops at matched bpp. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "bench_html.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_metrics.h"
#include "bench_report.h"
#include "cli.h"
#include "cli_target.h"
#include "imageio/imageio.h"

/* One codec on one image at the matched rate. */
typedef struct Shot {
    int quality;
    int met;      /* the file has at most the target's bits per pixel */
    double bpp, psnr;
    int trials;
} Shot;

/* A square of the image: the crop, or the detail inside it. */
typedef struct Rect {
    uint32_t x, y, w, h;
} Rect;

typedef struct Page {
    BenchRun *r;
    const char *dir;
    double bpp;
    Shot *shots;  /* ninputs * nentries; entries that are lossless stay empty */
    Rect *crops, *details;
} Page;

static int lossy(const BenchRun *r, size_t e)
{
    return !r->entries[e].session.codec->lossless;
}

/* ---------------------------------------------------------------- choosing the crop */

enum { BLOCK = 16 };

/* Gradient energy of each BLOCK x BLOCK block (the last row and column of blocks may be partial):
 * absolute differences to the right and below neighbours, over every channel. */
static double *block_energy(const AecimgImage *img, uint32_t *nbx, uint32_t *nby)
{
    uint32_t w = img->width, h = img->height, ch = img->channels;
    double *e;

    *nbx = (w + BLOCK - 1) / BLOCK;
    *nby = (h + BLOCK - 1) / BLOCK;
    e = calloc((size_t)*nbx * *nby, sizeof *e);
    if (!e)
        return NULL;
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            const uint8_t *p = img->pixels + ((size_t)y * w + x) * ch;
            double g = 0.0;
            for (uint32_t c = 0; c < ch; c++) {
                if (x + 1 < w)
                    g += fabs((double)p[c] - (double)p[ch + c]);
                if (y + 1 < h)
                    g += fabs((double)p[c] - (double)p[(size_t)w * ch + c]);
            }
            e[(size_t)(y / BLOCK) * *nbx + x / BLOCK] += g;
        }
    return e;
}

/* The side-by-side window inside region (positions on the block grid) with the most energy; a
 * window as large as the region is the region. */
static Rect best_window(const double *e, uint32_t nbx, const Rect *region, uint32_t ww, uint32_t wh)
{
    Rect best = {region->x, region->y, ww, wh};
    double most = -1.0;

    for (uint32_t y = region->y; y + wh <= region->y + region->h; y += BLOCK)
        for (uint32_t x = region->x; x + ww <= region->x + region->w; x += BLOCK) {
            double sum = 0.0;
            for (uint32_t by = y / BLOCK; by < (y + wh + BLOCK - 1) / BLOCK; by++)
                for (uint32_t bx = x / BLOCK; bx < (x + ww + BLOCK - 1) / BLOCK; bx++)
                    sum += e[(size_t)by * nbx + bx];
            if (sum > most) {
                most = sum;
                best.x = x;
                best.y = y;
            }
        }
    return best;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

static int choose_rects(const AecimgImage *img, Rect *crop, Rect *detail)
{
    Rect all = {0, 0, img->width, img->height};
    uint32_t nbx, nby;
    double *e = block_energy(img, &nbx, &nby);

    if (!e)
        return -1;
    *crop = best_window(e, nbx, &all, min_u32(BENCH_HTML_CROP, img->width),
                        min_u32(BENCH_HTML_CROP, img->height));
    *detail = best_window(e, nbx, crop, min_u32(BENCH_HTML_DETAIL, crop->w),
                          min_u32(BENCH_HTML_DETAIL, crop->h));
    free(e);
    return 0;
}

/* ---------------------------------------------------------------- image files */

/* rect of img, each pixel repeated zoom x zoom times. */
static int cut(const AecimgImage *img, const Rect *rect, uint32_t zoom, AecimgImage *out)
{
    uint32_t ch = img->channels;

    memset(out, 0, sizeof *out);
    out->width = rect->w * zoom;
    out->height = rect->h * zoom;
    out->channels = ch;
    out->pixels = malloc((size_t)out->width * out->height * ch);
    if (!out->pixels)
        return -1;
    for (uint32_t y = 0; y < out->height; y++)
        for (uint32_t x = 0; x < out->width; x++)
            memcpy(out->pixels + ((size_t)y * out->width + x) * ch,
                   img->pixels + ((size_t)(rect->y + y / zoom) * img->width + rect->x + x / zoom) * ch,
                   ch);
    return 0;
}

/* dir/name, written to a temporary file and renamed (an earlier run's file is replaced). */
static int write_png(const Page *pg, const char *name, const AecimgImage *img)
{
    char path[CLI_PATH_MAX], err[256];
    CliOutput out;

    if (snprintf(path, sizeof path, "%s/%s", pg->dir, name) >= (int)sizeof path) {
        cli_message(name, "path too long");
        return -1;
    }
    if (cli_output_prepare(&out, path, "", 1, err, sizeof err) != 0 ||
        cli_output_begin(&out, err, sizeof err) != 0) {
        cli_message(path, "%s", err);
        return -1;
    }
    if (imageio_write(out.f, IMAGEIO_PNG, img, err, sizeof err) != 0) {
        cli_output_abort(&out);
        cli_message(path, "%s", err);
        return -1;
    }
    if (cli_output_commit(&out, err, sizeof err) != 0) {
        cli_message(path, "%s", err);
        return -1;
    }
    return 0;
}

/* iK-WHAT.png and iK-WHAT-zoom.png: the crop and the magnified detail of img. */
static int write_views(const Page *pg, size_t i, const char *what, const AecimgImage *img)
{
    AecimgImage view;
    char name[128];
    int rc;

    if (cut(img, &pg->crops[i], 1, &view) != 0) {
        cli_message(NULL, "out of memory");
        return -1;
    }
    snprintf(name, sizeof name, "i%zu-%s.png", i + 1, what);
    rc = write_png(pg, name, &view);
    aecimg_image_free(&view);
    if (rc != 0)
        return -1;
    if (cut(img, &pg->details[i], BENCH_HTML_ZOOM, &view) != 0) {
        cli_message(NULL, "out of memory");
        return -1;
    }
    snprintf(name, sizeof name, "i%zu-%s-zoom.png", i + 1, what);
    rc = write_png(pg, name, &view);
    aecimg_image_free(&view);
    return rc;
}

/* ---------------------------------------------------------------- matching the rate */

typedef struct Trials {
    BenchSession *s;
    const AecimgImage *ref;
    uint8_t *file[101];
    size_t size[101];
    char err[256];
} Trials;

static int trial(void *arg, int quality, double *value)
{
    Trials *t = arg;

    if (t->s->codec->encode(t->s, t->ref, quality, &t->file[quality], &t->size[quality], t->err,
                            sizeof t->err) != 0)
        return -1;
    *value = (double)t->size[quality];
    return 0;
}

/* The codec of entry e on image i at the page's rate: the search, a decode, the views. */
static int shoot(Page *pg, size_t i, size_t e)
{
    BenchEntry *entry = &pg->r->entries[e];
    const AecimgImage *img = &pg->r->inputs[i].img;
    Shot *shot = &pg->shots[i * pg->r->nentries + e];
    double pixels = (double)img->width * img->height;
    Trials t = {.s = &entry->session, .ref = img};
    CliSearch search = {.target = floor(pg->bpp * pixels / 8.0), .at_most = 1, .log_scale = 1,
                        .qmin = 0, .qmax = 100};
    AecimgImage rgb = {0}, out = {0};
    int rc = 0;

    if (img->channels == 1 && !entry->session.codec->gray) {
        rc = bench_expand_to_rgb(img, &rgb, t.err, sizeof t.err);
        t.ref = &rgb;
    }
    if (rc == 0)
        rc = cli_search(&search, trial, &t);
    if (rc == 0) {
        int q = search.quality;
        rc = entry->session.codec->decode(&entry->session, t.file[q], t.size[q], &out, t.err,
                                          sizeof t.err);
        shot->quality = q;
        shot->met = search.found;
        shot->bpp = 8.0 * (double)t.size[q] / pixels;
        shot->trials = search.trials;
    }
    if (rc == 0 && (out.width != img->width || out.height != img->height))
        rc = bench_fail(t.err, sizeof t.err, "decoded a %ux%u image", out.width, out.height);
    if (rc == 0)
        shot->psnr = bench_psnr(t.ref->pixels, out.pixels,
                                (size_t)img->width * img->height * t.ref->channels);
    if (rc != 0)
        cli_message(pg->r->inputs[i].name, "%s: %s", entry->session.codec->name, t.err);
    else
        rc = write_views(pg, i, entry->session.codec->name, &out);
    for (int q = 0; q <= 100; q++)
        free(t.file[q]);
    aecimg_image_free(&out);
    aecimg_image_free(&rgb);
    return rc;
}

static int shoot_image(Page *pg, size_t i, int notes)
{
    const BenchInput *in = &pg->r->inputs[i];
    double t0 = cli_now();

    if (choose_rects(&in->img, &pg->crops[i], &pg->details[i]) != 0) {
        cli_message(NULL, "out of memory");
        return -1;
    }
    if (write_views(pg, i, "original", &in->img) != 0)
        return -1;
    for (size_t e = 0; e < pg->r->nentries; e++)
        if (lossy(pg->r, e) && shoot(pg, i, e) != 0)
            return -1;
    if (notes)
        fprintf(stderr, "aec-bench: page: [%zu/%zu] %s at %g bpp, %.1f s\n", i + 1,
                pg->r->ninputs, in->name, pg->bpp, cli_now() - t0);
    return 0;
}

/* ---------------------------------------------------------------- the page */

static void html_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

static const char *const page_style =
    "body { font-family: sans-serif; margin: 1.5em; color: #222; background: #fff; }\n"
    "h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }\n"
    ".meta, figcaption { color: #555; font-size: 0.85em; }\n"
    ".row { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0 16px; }\n"
    "figure { margin: 0; } figure img { display: block; border: 1px solid #ccc; }\n"
    "table { border-collapse: collapse; } td, th { padding: 2px 10px; text-align: right; }\n"
    "th { border-bottom: 1px solid #888; }\n";

static void page_head(FILE *f, const Page *pg)
{
    const BenchRun *r = pg->r;

    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n", f);
    fprintf(f, "<title>aec-bench: %zu image%s</title>\n<style>\n%s</style>\n</head>\n<body>\n",
            r->ninputs, r->ninputs == 1 ? "" : "s", page_style);
    fprintf(f, "<h1>aec-bench %s: %zu image%s</h1>\n<p class=\"meta\">", PACKAGE_VERSION,
            r->ninputs, r->ninputs == 1 ? "" : "s");
    html_text(f, r->command);
    fputs("<br>started ", f);
    html_text(f, r->started);
    fputs("; ", f);
    html_text(f, r->machine);
    fputs("</p>\n", f);
}

static void page_plot(FILE *f, const BenchRun *r)
{
    fputs("<h2>Rate-distortion</h2>\n<img src=\"rd.svg\" width=\"1000\" height=\"580\" "
          "alt=\"PSNR-RGB against bits per pixel, mean of the images\">\n",
          f);
    if (r->nbd == 0)
        return;
    fputs("<p class=\"meta\">", f);
    html_text(f, BENCH_BD_METHOD);
    fputs("</p>\n<table>\n<tr><th>codec</th><th>anchor</th><th>BD-rate</th><th>BD-PSNR</th>"
          "</tr>\n",
          f);
    for (size_t j = 0; j < r->nbd; j++) {
        const BenchBd *b = &r->bd[j];
        fprintf(f, "<tr><td>%s</td><td>%s</td>", r->entries[b->entry].session.codec->name,
                r->entries[b->anchor].session.codec->name);
        if (b->rate_ok)
            fprintf(f, "<td>%+.2f%%</td>", b->rate_pct);
        else
            fprintf(f, "<td>n/a (%s)</td>", b->why);
        if (b->psnr_ok)
            fprintf(f, "<td>%+.3f dB</td></tr>\n", b->psnr_db);
        else
            fprintf(f, "<td>n/a</td></tr>\n");
    }
    fputs("</table>\n", f);
}

static void figure(FILE *f, size_t i, const char *what, const char *suffix, const Rect *rect,
                   uint32_t zoom, const char *caption)
{
    fprintf(f, "<figure><img src=\"i%zu-%s%s.png\" width=\"%u\" height=\"%u\" alt=\"%s\">"
               "<figcaption>%s</figcaption></figure>\n",
            i + 1, what, suffix, rect->w * zoom, rect->h * zoom, what, caption);
}

static void shot_caption(const Page *pg, size_t i, size_t e, char *buf, size_t size)
{
    const Shot *s = &pg->shots[i * pg->r->nentries + e];
    char psnr[32] = "inf";

    if (isfinite(s->psnr))
        snprintf(psnr, sizeof psnr, "%.2f", s->psnr);
    snprintf(buf, size, "<b>%s</b> q %d: %.3f bpp%s, %s dB", pg->r->entries[e].session.codec->name,
             s->quality, s->bpp, s->met ? "" : " (its smallest file)", psnr);
}

/* One row of views: the crops, or the details. */
static void page_row(FILE *f, const Page *pg, size_t i, int zoomed)
{
    const Rect *rect = zoomed ? &pg->details[i] : &pg->crops[i];
    uint32_t zoom = zoomed ? BENCH_HTML_ZOOM : 1;
    const char *suffix = zoomed ? "-zoom" : "";
    char caption[256];

    fputs("<div class=\"row\">\n", f);
    figure(f, i, "original", suffix, rect, zoom, "<b>original</b>");
    for (size_t e = 0; e < pg->r->nentries; e++) {
        if (!lossy(pg->r, e))
            continue;
        shot_caption(pg, i, e, caption, sizeof caption);
        figure(f, i, pg->r->entries[e].session.codec->name, suffix, rect, zoom, caption);
    }
    fputs("</div>\n", f);
}

static void page_image(FILE *f, const Page *pg, size_t i)
{
    const BenchInput *in = &pg->r->inputs[i];
    const Rect *c = &pg->crops[i], *d = &pg->details[i];

    fputs("<h3>", f);
    html_text(f, in->name);
    fprintf(f, " (%ux%u)</h3>\n<p class=\"meta\">%ux%u crop at (%u, %u); PSNR-RGB and bpp of the "
               "whole image</p>\n",
            in->img.width, in->img.height, c->w, c->h, c->x, c->y);
    page_row(f, pg, i, 0);
    fprintf(f, "<p class=\"meta\">detail: %ux%u at (%u, %u), magnified %d times</p>\n", d->w, d->h,
            d->x, d->y, BENCH_HTML_ZOOM);
    page_row(f, pg, i, 1);
}

static void write_page(FILE *f, const Page *pg)
{
    page_head(f, pg);
    page_plot(f, pg->r);
    fprintf(f, "<h2>The images at %g bits per pixel</h2>\n<p class=\"meta\">Each lossy codec "
               "at the highest quality whose file has at most %g bpp (whole file); decoded "
               "pixels, losslessly stored as PNG.</p>\n",
            pg->bpp, pg->bpp);
    for (size_t i = 0; i < pg->r->ninputs; i++)
        page_image(f, pg, i);
    fputs("</body>\n</html>\n", f);
}

/* A file of dir written by writer, in the way of every output. */
static int write_file(const Page *pg, const char *name, void (*writer)(FILE *, const Page *))
{
    char path[CLI_PATH_MAX], err[256];
    CliOutput out;

    snprintf(path, sizeof path, "%s/%s", pg->dir, name);
    if (cli_output_prepare(&out, path, "", 1, err, sizeof err) == 0 &&
        cli_output_begin(&out, err, sizeof err) == 0) {
        writer(out.f, pg);
        if (cli_output_commit(&out, err, sizeof err) == 0)
            return 0;
    }
    cli_message(path, "%s", err);
    return -1;
}

static void write_svg(FILE *f, const Page *pg)
{
    bench_write_svg(f, pg->r);
}

int bench_write_html(BenchRun *r, const char *dir, double bpp, int notes)
{
    Page pg = {.r = r, .dir = dir, .bpp = bpp};
    int rc = 0;

    pg.shots = calloc(r->ninputs * r->nentries + 1, sizeof *pg.shots);
    pg.crops = calloc(r->ninputs + 1, sizeof *pg.crops);
    pg.details = calloc(r->ninputs + 1, sizeof *pg.details);
    if (!pg.shots || !pg.crops || !pg.details) {
        cli_message(NULL, "out of memory");
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < r->ninputs; i++)
        rc = shoot_image(&pg, i, notes);
    /* The page last: it links only what is already there. */
    if (rc == 0)
        rc = write_file(&pg, "rd.svg", write_svg);
    if (rc == 0)
        rc = write_file(&pg, "index.html", write_page);
    free(pg.shots);
    free(pg.crops);
    free(pg.details);
    return rc;
}
