/* cli_target.c: a bracketing search over quality for a size or PSNR target, and PSNR. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "cli_target.h"

#include <math.h>

/* The search runs on an axis mirrored for at-least targets, so that the wanted side is always
 * low: position u, and a key that grows with u and meets the target when at most the target's. */
static int quality_at(const CliSearch *s, int u)
{
    return s->at_most ? u : s->qmin + s->qmax - u;
}

static double key_of(const CliSearch *s, double v)
{
    double k = s->log_scale ? log(v > 0.0 ? v : 1e-300) : v;

    return s->at_most ? k : -k;
}

/* The next position strictly inside (lo, hi): where the line through the bracket's keys crosses
 * the target, or the middle when a side is not tried yet or bisect is set. */
static int next_position(int lo, double klo, int lo_tried, int hi, double khi, int hi_tried,
                         double target, int bisect, int *interpolated)
{
    int u = lo + (hi - lo) / 2;

    *interpolated = !bisect && lo_tried && hi_tried && isfinite(klo) && isfinite(khi) && khi > klo;
    if (*interpolated) {
        double x = (double)lo + (target - klo) / (khi - klo) * (double)(hi - lo);
        u = (int)floor(x); /* the last position at or under the target, on the line */
    }
    if (u <= lo)
        u = lo + 1;
    if (u >= hi)
        u = hi - 1;
    return u;
}

int cli_search(CliSearch *s, CliTrialFn trial, void *arg)
{
    /* lo meets the target, hi does not; each starts one step outside the range, untried. */
    int lo = s->qmin - 1, hi = s->qmax + 1, bisect = 0, interpolated;
    double klo = 0.0, khi = 0.0, vlo = 0.0, vhi = 0.0, tk = key_of(s, s->target);

    s->trials = 0;
    while (hi - lo > 1) {
        int width = hi - lo;
        int u = next_position(lo, klo, lo >= s->qmin, hi, khi, hi <= s->qmax, tk, bisect,
                              &interpolated);
        double v;
        if (trial(arg, quality_at(s, u), &v) != 0)
            return -1;
        s->trials++;
        if (key_of(s, v) <= tk) {
            lo = u;
            klo = key_of(s, v);
            vlo = v;
        } else {
            hi = u;
            khi = key_of(s, v);
            vhi = v;
        }
        /* An interpolation that did not halve the bracket (creeping along one side) gives way
         * to a bisection: the bracket at least halves every two trials. */
        bisect = interpolated && 2 * (hi - lo) > width;
    }
    s->found = lo >= s->qmin;
    s->quality = quality_at(s, s->found ? lo : hi);
    s->value = s->found ? vlo : vhi;
    return 0;
}

double cli_psnr(const AecimgImage *a, const AecimgImage *b)
{
    uint32_t ch = a->channels, color = ch == 2 || ch == 4 ? ch - 1 : ch;
    size_t pixels = (size_t)a->width * a->height;
    double sum = 0.0;

    for (size_t i = 0; i < pixels; i++)
        for (uint32_t c = 0; c < color; c++) {
            double d = (double)a->pixels[i * ch + c] - (double)b->pixels[i * ch + c];
            sum += d * d;
        }
    if (sum == 0.0)
        return INFINITY;
    return 10.0 * log10(255.0 * 255.0 * (double)(pixels * color) / sum);
}
