/* bench_svg.c: aec-bench's rate-distortion plot (mean bpp against mean PSNR-RGB) as SVG. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>
#include <string.h>

#include "bench_report.h"

/* The legend sits right of the plot, where it can hide no curve. */
enum { WIDTH = 1000, HEIGHT = 580, LEFT = 70, RIGHT = 250, TOP = 70, BOTTOM = 60 };

typedef struct Axis {
    double lo, hi, step;
} Axis;

typedef struct Plot {
    FILE *f;
    const BenchRun *r;
    Axis x, y;
} Plot;

static const char *color_of(const char *codec)
{
    static const char *const colors[][2] = {
        {"aec", "#d62728"},  {"aec-refine", "#8c564b"}, {"jpeg", "#1f77b4"}, {"webp", "#2ca02c"},
        {"avif", "#9467bd"}, {"jxl", "#ff7f0e"},  {"png", "#7f7f7f"},
    };

    for (size_t i = 0; i < sizeof colors / sizeof colors[0]; i++)
        if (strcmp(colors[i][0], codec) == 0)
            return colors[i][1];
    return "#000000";
}

/* A tick step of 1, 2 or 5 times a power of ten giving about ticks intervals, and the range
 * widened to whole steps. */
static Axis nice_axis(double lo, double hi, int ticks)
{
    Axis a;
    double raw = (hi > lo ? hi - lo : 1.0) / ticks;
    double mag = pow(10.0, floor(log10(raw)));
    double f = raw / mag;

    a.step = (f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0) * mag;
    a.lo = floor(lo / a.step) * a.step;
    a.hi = ceil(hi / a.step) * a.step;
    if (a.hi <= a.lo)
        a.hi = a.lo + a.step;
    return a;
}

static double px(const Plot *p, double bpp)
{
    return LEFT + (bpp - p->x.lo) / (p->x.hi - p->x.lo) * (WIDTH - LEFT - RIGHT);
}

static double py(const Plot *p, double psnr)
{
    return HEIGHT - BOTTOM - (psnr - p->y.lo) / (p->y.hi - p->y.lo) * (HEIGHT - TOP - BOTTOM);
}

/* The axes span every finite mean point; bpp starts at 0. */
static void fit_axes(Plot *p)
{
    double xmax = 0.0, ymin = INFINITY, ymax = -INFINITY;

    for (size_t j = 0; j < p->r->nmeans; j++) {
        const BenchPoint *m = &p->r->means[j];
        if (!isfinite(m->psnr))
            continue;
        xmax = fmax(xmax, m->bpp);
        ymin = fmin(ymin, m->psnr);
        ymax = fmax(ymax, m->psnr);
    }
    if (!isfinite(ymin)) {
        ymin = 20.0;
        ymax = 40.0;
    }
    p->x = nice_axis(0.0, xmax > 0.0 ? xmax : 1.0, 8);
    p->y = nice_axis(ymin, ymax, 8);
}

static void draw_grid(const Plot *p)
{
    FILE *f = p->f;
    int digits = p->x.step < 0.1 ? 2 : p->x.step < 1.0 ? 1 : 0;

    for (double x = p->x.lo; x <= p->x.hi + p->x.step / 2; x += p->x.step)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" class=\"grid\"/>"
                   "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.*f</text>\n",
                px(p, x), TOP, px(p, x), HEIGHT - BOTTOM, px(p, x), HEIGHT - BOTTOM + 18, digits,
                x);
    for (double y = p->y.lo; y <= p->y.hi + p->y.step / 2; y += p->y.step)
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"grid\"/>"
                   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                LEFT, py(p, y), WIDTH - RIGHT, py(p, y), LEFT - 6, py(p, y) + 4, y);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
               "stroke=\"#333\"/>\n",
            LEFT, TOP, WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">bits per pixel (whole file)"
               "</text>\n",
            (LEFT + WIDTH - RIGHT) / 2, HEIGHT - 18);
    fprintf(f, "<text transform=\"translate(18 %d) rotate(-90)\" text-anchor=\"middle\">"
               "PSNR-RGB (dB)</text>\n",
            (TOP + HEIGHT - BOTTOM) / 2);
}

static void draw_curve(const Plot *p, size_t e)
{
    FILE *f = p->f;
    const char *name = p->r->entries[e].session.codec->name, *color = color_of(name);

    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
    for (size_t j = 0; j < p->r->nmeans; j++) {
        const BenchPoint *m = &p->r->means[j];
        if (m->entry == e && isfinite(m->psnr))
            fprintf(f, "%.1f,%.1f ", px(p, m->bpp), py(p, m->psnr));
    }
    fputs("\"/>\n", f);
    for (size_t j = 0; j < p->r->nmeans; j++) {
        const BenchPoint *m = &p->r->means[j];
        if (m->entry != e || !isfinite(m->psnr))
            continue;
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%s q%d: %.4f bpp, "
                   "%.2f dB</title></circle>\n",
                px(p, m->bpp), py(p, m->psnr), color, name, m->quality, m->bpp, m->psnr);
    }
}

/* The legend's two lines under a codec's name: its BD-rate and BD-PSNR against JPEG, or why it
 * has no curve. */
static void legend_details(const Plot *p, size_t e, char lines[2][64])
{
    const BenchEntry *en = &p->r->entries[e];
    const BenchBd *bd = bench_find_bd(p->r, en->session.codec->name, "jpeg");

    lines[0][0] = lines[1][0] = '\0';
    if (en->session.codec->lossless) {
        for (size_t j = 0; j < p->r->nmeans; j++)
            if (p->r->means[j].entry == e)
                snprintf(lines[0], 64, "lossless, %.3f bpp", p->r->means[j].bpp);
        snprintf(lines[1], 64, "PSNR infinite: not drawn");
    } else if (strcmp(en->session.codec->name, "jpeg") == 0) {
        snprintf(lines[0], 64, "the BD anchor");
    } else if (bd) {
        if (bd->rate_ok)
            snprintf(lines[0], 64, "BD-rate vs JPEG: %+.1f%%", bd->rate_pct);
        else
            snprintf(lines[0], 64, "BD-rate vs JPEG: n/a (%s)", bd->why);
        if (bd->psnr_ok)
            snprintf(lines[1], 64, "BD-PSNR vs JPEG: %+.2f dB", bd->psnr_db);
    }
}

static void draw_legend(const Plot *p)
{
    int x = WIDTH - RIGHT + 20, y = TOP + 6;
    char lines[2][64];

    for (size_t e = 0; e < p->r->nentries; e++, y += 54) {
        const char *name = p->r->entries[e].session.codec->name;
        legend_details(p, e, lines);
        fprintf(p->f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
                      "stroke-width=\"3\"/><text x=\"%d\" y=\"%d\" font-weight=\"bold\">%s"
                      "</text>\n",
                x, y, x + 24, y, color_of(name), x + 30, y + 4, name);
        for (int k = 0; k < 2; k++)
            fprintf(p->f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"#555\">%s</text>\n",
                    x + 30, y + 19 + 14 * k, lines[k]);
    }
}

void bench_write_svg(FILE *f, const BenchRun *r)
{
    Plot p = {.f = f, .r = r};

    fit_axes(&p);
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"13\">\n"
               "<style>.grid { stroke: #ddd; }</style>\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
            WIDTH, HEIGHT, WIDTH, HEIGHT);
    fprintf(f, "<text x=\"%d\" y=\"28\" font-size=\"17\">Rate-distortion, mean of %zu image%s "
               "(aec-bench %s)</text>\n",
            LEFT, r->ninputs, r->ninputs == 1 ? "" : "s", PACKAGE_VERSION);
    fprintf(f, "<text x=\"%d\" y=\"50\" fill=\"#555\">PSNR-RGB of the 8-bit decoded image "
               "against bits per pixel of the whole file; BD-rate with PCHIP</text>\n",
            LEFT);
    draw_grid(&p);
    for (size_t e = 0; e < r->nentries; e++)
        if (!r->entries[e].session.codec->lossless)
            draw_curve(&p, e);
    draw_legend(&p);
    fputs("</svg>\n", f);
}
