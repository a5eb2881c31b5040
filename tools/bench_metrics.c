/* bench_metrics.c: PSNR, MS-SSIM and Bjontegaard deltas (PCHIP) for aec-bench. */
#include "bench_metrics.h"

#include <math.h>
#include <stdlib.h>

double bench_psnr(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint64_t sse = 0;

    if (n == 0)
        return NAN;
    for (size_t i = 0; i < n; i++) {
        int d = (int)a[i] - (int)b[i];
        sse += (uint64_t)(d * d);
    }
    if (sse == 0)
        return INFINITY;
    return 10.0 * log10(255.0 * 255.0 * (double)n / (double)sse);
}

/* ---------------------------------------------------------------- MS-SSIM */

enum { WIN = 11, SCALES = 5, MOMENTS = 5 };

static const double msssim_weights[SCALES] = {0.0448, 0.2856, 0.3001, 0.2363, 0.1333};

static void gaussian_window(double g[WIN])
{
    const double sigma = 1.5;
    double sum = 0.0;

    for (int i = 0; i < WIN; i++) {
        double t = i - WIN / 2;
        g[i] = exp(-t * t / (2.0 * sigma * sigma));
        sum += g[i];
    }
    for (int i = 0; i < WIN; i++)
        g[i] /= sum;
}

/* Horizontal pass: the five windowed moments (x, y, xx, yy, xy) of every row, at the
 * w - WIN + 1 positions where the window fits, into MOMENTS planes of m. */
static void filter_rows(const double *x, const double *y, size_t w, size_t h, const double *g,
                        double *m)
{
    size_t ow = w - WIN + 1, plane = ow * h;

    for (size_t r = 0; r < h; r++) {
        const double *xr = x + r * w, *yr = y + r * w;
        for (size_t c = 0; c < ow; c++) {
            double s[MOMENTS] = {0};
            for (int i = 0; i < WIN; i++) {
                double a = xr[c + i], b = yr[c + i];
                s[0] += g[i] * a;
                s[1] += g[i] * b;
                s[2] += g[i] * a * a;
                s[3] += g[i] * b * b;
                s[4] += g[i] * a * b;
            }
            for (int k = 0; k < MOMENTS; k++)
                m[k * plane + r * ow + c] = s[k];
        }
    }
}

/* Vertical pass over the row moments, averaging the SSIM and contrast-structure maps. */
static void ssim_means(const double *m, size_t ow, size_t h, const double *g, double *ssim,
                       double *cs)
{
    const double c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255);
    size_t oh = h - WIN + 1, plane = ow * h;
    double sum_ssim = 0.0, sum_cs = 0.0;

    for (size_t r = 0; r < oh; r++) {
        for (size_t c = 0; c < ow; c++) {
            double s[MOMENTS] = {0};
            for (int i = 0; i < WIN; i++)
                for (int k = 0; k < MOMENTS; k++)
                    s[k] += g[i] * m[k * plane + (r + i) * ow + c];
            double mx = s[0], my = s[1];
            double vx = s[2] - mx * mx, vy = s[3] - my * my, cov = s[4] - mx * my;
            double cs_v = (2.0 * cov + c2) / (vx + vy + c2);
            sum_cs += cs_v;
            sum_ssim += (2.0 * mx * my + c1) / (mx * mx + my * my + c1) * cs_v;
        }
    }
    *ssim = sum_ssim / (double)(ow * oh);
    *cs = sum_cs / (double)(ow * oh);
}

/* 2x2 average pooling in place; an odd last row or column is dropped. */
static void downsample(double *p, size_t w, size_t h)
{
    size_t nw = w / 2, nh = h / 2;

    /* Each output lies at or before the first of the four inputs it reads, and after every input
     * an earlier output read, so working in place is safe. */
    for (size_t r = 0; r < nh; r++) {
        for (size_t c = 0; c < nw; c++) {
            const double *q = p + 2 * r * w + 2 * c;
            p[r * nw + c] = (q[0] + q[1] + q[w] + q[w + 1]) / 4.0;
        }
    }
}

/* MS-SSIM of one channel; x and y are overwritten by the pooling. */
static double msssim_plane(double *x, double *y, size_t w, size_t h, double *work)
{
    double g[WIN], ssim, cs, result = 1.0;

    gaussian_window(g);
    for (int s = 0; s < SCALES; s++) {
        filter_rows(x, y, w, h, g, work);
        ssim_means(work, w - WIN + 1, h, g, &ssim, &cs);
        /* A negative mean would have no real power; it only happens for unrelated images. */
        if (s == SCALES - 1) {
            result *= pow(fmax(ssim, 0.0), msssim_weights[s]);
            break;
        }
        result *= pow(fmax(cs, 0.0), msssim_weights[s]);
        downsample(x, w, h);
        downsample(y, w, h);
        w /= 2;
        h /= 2;
    }
    return result;
}

static void extract_channel(const uint8_t *src, size_t pixels, uint32_t channels, uint32_t c,
                            double *dst)
{
    for (size_t i = 0; i < pixels; i++)
        dst[i] = src[i * channels + c];
}

double bench_msssim(const uint8_t *a, const uint8_t *b, uint32_t width, uint32_t height,
                    uint32_t channels)
{
    size_t pixels = (size_t)width * height;
    double *x, *y, *work, sum = 0.0;
    int ok;

    if (width < BENCH_MSSSIM_MIN_SIDE || height < BENCH_MSSSIM_MIN_SIDE || channels == 0)
        return NAN;
    x = malloc(pixels * sizeof *x);
    y = malloc(pixels * sizeof *y);
    work = malloc(MOMENTS * (width - WIN + 1) * (size_t)height * sizeof *work);
    ok = x && y && work;
    if (ok) {
        for (uint32_t c = 0; c < channels; c++) {
            extract_channel(a, pixels, channels, c, x);
            extract_channel(b, pixels, channels, c, y);
            sum += msssim_plane(x, y, width, height, work);
        }
    }
    free(work);
    free(y);
    free(x);
    return ok ? sum / channels : NAN;
}

/* ---------------------------------------------------------------- Bjontegaard */

typedef struct Points {
    double x[BENCH_BD_MAX_POINTS], y[BENCH_BD_MAX_POINTS];
    double d[BENCH_BD_MAX_POINTS]; /* PCHIP slopes at the points */
    size_t n;
} Points;

/* Insertion sort by abscissa; refuses two points at the same abscissa. */
static int sort_points(Points *p)
{
    for (size_t i = 1; i < p->n; i++) {
        double x = p->x[i], y = p->y[i];
        size_t j = i;
        for (; j > 0 && p->x[j - 1] > x; j--) {
            p->x[j] = p->x[j - 1];
            p->y[j] = p->y[j - 1];
        }
        p->x[j] = x;
        p->y[j] = y;
    }
    for (size_t i = 1; i < p->n; i++)
        if (!(p->x[i] > p->x[i - 1]))
            return -1;
    return 0;
}

/* The curve as (x, y) points: (log10 rate, PSNR) when rate_is_x, else (PSNR, log10 rate). */
static int make_points(const BenchCurve *c, int rate_is_x, Points *p)
{
    if (c->n < 2 || c->n > BENCH_BD_MAX_POINTS)
        return -1;
    for (size_t i = 0; i < c->n; i++) {
        if (!(c->rate[i] > 0.0) || !isfinite(c->rate[i]) || !isfinite(c->psnr[i]))
            return -1;
        double lr = log10(c->rate[i]);
        p->x[i] = rate_is_x ? lr : c->psnr[i];
        p->y[i] = rate_is_x ? c->psnr[i] : lr;
    }
    p->n = c->n;
    return sort_points(p);
}

static double sign(double v)
{
    return (v > 0.0) - (v < 0.0);
}

/* Slope at an end point: the three-point estimate, kept shape-preserving (SciPy's _edge_case). */
static double edge_slope(double h0, double h1, double m0, double m1)
{
    double d = ((2.0 * h0 + h1) * m0 - h0 * m1) / (h0 + h1);

    if (sign(d) != sign(m0))
        return 0.0;
    if (sign(m0) != sign(m1) && fabs(d) > 3.0 * fabs(m0))
        return 3.0 * m0;
    return d;
}

/* Fritsch-Carlson slopes: zero at a local extremum, else a weighted harmonic mean of the secant
 * slopes on either side, which keeps the interpolant monotone where the data are. */
static void pchip_slopes(Points *p)
{
    size_t n = p->n;
    double h[BENCH_BD_MAX_POINTS], m[BENCH_BD_MAX_POINTS];

    for (size_t k = 0; k + 1 < n; k++) {
        h[k] = p->x[k + 1] - p->x[k];
        m[k] = (p->y[k + 1] - p->y[k]) / h[k];
    }
    if (n == 2) {
        p->d[0] = p->d[1] = m[0];
        return;
    }
    for (size_t k = 1; k + 1 < n; k++) {
        double w1 = 2.0 * h[k] + h[k - 1], w2 = h[k] + 2.0 * h[k - 1];
        if (sign(m[k - 1]) != sign(m[k]) || m[k - 1] == 0.0 || m[k] == 0.0)
            p->d[k] = 0.0;
        else
            p->d[k] = (w1 + w2) / (w1 / m[k - 1] + w2 / m[k]);
    }
    p->d[0] = edge_slope(h[0], h[1], m[0], m[1]);
    p->d[n - 1] = edge_slope(h[n - 2], h[n - 3], m[n - 2], m[n - 3]);
}

/* Integral over t in [0, t] of the cubic Hermite segment with values y0, y1 and scaled slopes
 * s0 = h d0, s1 = h d1 (antiderivatives of the four Hermite basis polynomials). */
static double hermite_primitive(double t, double y0, double y1, double s0, double s1)
{
    double t2 = t * t, t3 = t2 * t, t4 = t3 * t;

    return y0 * (t4 / 2 - t3 + t) + s0 * (t4 / 4 - 2 * t3 / 3 + t2 / 2) + y1 * (-t4 / 2 + t3) +
           s1 * (t4 / 4 - t3 / 3);
}

/* Exact integral of the PCHIP interpolant over [lo, hi], which lies within the points' range. */
static double pchip_integral(const Points *p, double lo, double hi)
{
    double sum = 0.0;

    for (size_t k = 0; k + 1 < p->n; k++) {
        double a = fmax(lo, p->x[k]), b = fmin(hi, p->x[k + 1]), h = p->x[k + 1] - p->x[k];
        if (!(a < b))
            continue;
        double y0 = p->y[k], y1 = p->y[k + 1], s0 = h * p->d[k], s1 = h * p->d[k + 1];
        sum += h * (hermite_primitive((b - p->x[k]) / h, y0, y1, s0, s1) -
                    hermite_primitive((a - p->x[k]) / h, y0, y1, s0, s1));
    }
    return sum;
}

/* Mean of test minus anchor over the overlap of their abscissa ranges. */
static int bd_mean_difference(const BenchCurve *anchor, const BenchCurve *test, int rate_is_x,
                              double *diff, double *lo, double *hi)
{
    Points a, t;

    if (make_points(anchor, rate_is_x, &a) != 0 || make_points(test, rate_is_x, &t) != 0)
        return -1;
    *lo = fmax(a.x[0], t.x[0]);
    *hi = fmin(a.x[a.n - 1], t.x[t.n - 1]);
    if (!(*lo < *hi))
        return -1;
    pchip_slopes(&a);
    pchip_slopes(&t);
    *diff = (pchip_integral(&t, *lo, *hi) - pchip_integral(&a, *lo, *hi)) / (*hi - *lo);
    return 0;
}

int bench_bd_rate(const BenchCurve *anchor, const BenchCurve *test, double *percent, double *lo,
                  double *hi)
{
    double diff;

    if (bd_mean_difference(anchor, test, 0, &diff, lo, hi) != 0)
        return -1;
    *percent = (pow(10.0, diff) - 1.0) * 100.0;
    return 0;
}

int bench_bd_psnr(const BenchCurve *anchor, const BenchCurve *test, double *db, double *lo,
                  double *hi)
{
    double log_lo, log_hi;

    if (bd_mean_difference(anchor, test, 1, db, &log_lo, &log_hi) != 0)
        return -1;
    *lo = pow(10.0, log_lo);
    *hi = pow(10.0, log_hi);
    return 0;
}
