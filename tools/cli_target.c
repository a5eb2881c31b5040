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

/* A tried position and its key. */
typedef struct Point {
    int u;
    double key;
} Point;

/* lo meets the target, hi does not; each starts one step outside the range, untried. */
typedef struct Bracket {
    int lo, hi;
    double vlo, vhi;   /* their values */
    Point ends[2];     /* lo and hi with their keys as the interpolation weighs them */
    Point last[2];     /* the last two trials, oldest first */
    int moved;         /* +1: lo moved last, -1: hi moved last, 0: neither yet */
    int trials;
} Bracket;

/* Where the line through a and b crosses the target, as the last position at or under it,
 * clamped to [lo, hi]; 0 without such a line. */
static int secant_position(const Point *a, const Point *b, double target, int lo, int hi, int *u)
{
    double x;

    if (!isfinite(a->key) || !isfinite(b->key) || a->key == b->key)
        return 0;
    x = (double)a->u + (target - a->key) / (b->key - a->key) * (double)(b->u - a->u);
    *u = (int)floor(fmax(fmin(x, (double)hi), (double)lo));
    return 1;
}

/* The next position strictly inside (lo, hi): on the line through the bracket's ends once both
 * are tried (regula falsi), before that through the last two trials (extrapolating), or the middle
 * when there is no line or bisect is set.  *secant tells whether a line chose it. */
static int next_position(const Bracket *b, const CliSearch *s, double target, int bisect,
                         int *secant)
{
    int both = b->lo >= s->qmin && b->hi <= s->qmax;
    const Point *line = both ? b->ends : b->last;
    int u = b->lo + (b->hi - b->lo) / 2;

    *secant = !bisect && b->trials >= 2 &&
              secant_position(&line[0], &line[1], target, b->lo, b->hi, &u);
    if (u <= b->lo)
        u = b->lo + 1;
    if (u >= b->hi)
        u = b->hi - 1;
    return u;
}

/* A trial's outcome narrows the bracket.  Illinois: an end kept twice in a row counts half as far
 * from the target, so that a curve bending one way does not make the line creep. */
static void narrow(Bracket *b, int u, double v, double k, double target)
{
    b->last[0] = b->last[1];
    b->last[1] = (Point){u, k};
    b->trials++;
    if (k <= target) {
        b->lo = u;
        b->vlo = v;
        b->ends[0] = (Point){u, k};
        if (b->moved == 1)
            b->ends[1].key = target + (b->ends[1].key - target) / 2;
        b->moved = 1;
    } else {
        b->hi = u;
        b->vhi = v;
        b->ends[1] = (Point){u, k};
        if (b->moved == -1)
            b->ends[0].key = target + (b->ends[0].key - target) / 2;
        b->moved = -1;
    }
}

int cli_search(CliSearch *s, CliTrialFn trial, void *arg)
{
    Bracket b = {.lo = s->qmin - 1, .hi = s->qmax + 1};
    double tk = key_of(s, s->target);
    int bisect = 0, secant, last_secant = 0, width_before = b.hi - b.lo;

    while (b.hi - b.lo > 1) {
        int width = b.hi - b.lo;
        int u = next_position(&b, s, tk, bisect, &secant);
        double v;
        if (trial(arg, quality_at(s, u), &v) != 0) {
            s->trials = b.trials + 1;
            return -1;
        }
        narrow(&b, u, v, key_of(s, v), tk);
        /* Two line steps that together did not halve the bracket give way to a bisection: the
         * bracket halves at least every 3 trials. */
        bisect = secant && last_secant && 2 * (b.hi - b.lo) > width_before;
        last_secant = secant && !bisect;
        width_before = width;
    }
    s->trials = b.trials;
    s->found = b.lo >= s->qmin;
    s->quality = quality_at(s, s->found ? b.lo : b.hi);
    s->value = s->found ? b.vlo : b.vhi;
    return 0;
}

/* The sum of squared differences over the colour samples; their count in *samples. */
static double squared_error(const AecimgImage *a, const AecimgImage *b, size_t *samples)
{
    uint32_t ch = a->channels, color = ch == 2 || ch == 4 ? ch - 1 : ch;
    size_t pixels = (size_t)a->width * a->height;
    double sum = 0.0;

    for (size_t i = 0; i < pixels; i++)
        for (uint32_t c = 0; c < color; c++) {
            double d = (double)a->pixels[i * ch + c] - (double)b->pixels[i * ch + c];
            sum += d * d;
        }
    *samples = pixels * color;
    return sum;
}

double cli_psnr(const AecimgImage *a, const AecimgImage *b)
{
    size_t samples;
    double sum = squared_error(a, b, &samples);

    if (sum == 0.0)
        return INFINITY;
    return 10.0 * log10(255.0 * 255.0 * (double)samples / sum);
}

double cli_mse(const AecimgImage *a, const AecimgImage *b)
{
    size_t samples;
    double sum = squared_error(a, b, &samples);

    return samples ? sum / (double)samples : 0.0;
}
