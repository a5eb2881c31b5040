/* bench_metrics.h: PSNR, MS-SSIM and Bjontegaard deltas (PCHIP) for aec-bench. */
#ifndef AECIMG_BENCH_METRICS_H
#define AECIMG_BENCH_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* PSNR in dB of b against a, n 8-bit samples pooled into one MSE (peak 255): for interleaved RGB
 * this is PSNR-RGB.  INFINITY when the buffers are equal, NAN when n is 0. */
double bench_psnr(const uint8_t *a, const uint8_t *b, size_t n);

/* Smallest width and height MS-SSIM accepts: the fifth scale (1/16) must hold an 11x11 window. */
#define BENCH_MSSSIM_MIN_SIDE 176

/* MS-SSIM (Wang, Simoncelli and Bovik 2003: 5 scales, 11x11 Gaussian window of sigma 1.5 applied
 * without padding, K1 0.01, K2 0.03, weights 0.0448 0.2856 0.3001 0.2363 0.1333, 2x2 average
 * pooling that drops an odd last row or column) of b against a, two interleaved 8-bit images of
 * the same size.  Computed on each channel and averaged over the channels.  NAN when a side is
 * below BENCH_MSSSIM_MIN_SIDE or memory runs out. */
double bench_msssim(const uint8_t *a, const uint8_t *b, uint32_t width, uint32_t height,
                    uint32_t channels);

/* Most points a curve may have for the Bjontegaard functions. */
#define BENCH_BD_MAX_POINTS 128

/* A rate-distortion curve: rate in bits per pixel (> 0) and PSNR in dB (finite), n points in any
 * order. */
typedef struct BenchCurve {
    const double *rate;
    const double *psnr;
    size_t n;
} BenchCurve;

/* Bjontegaard deltas of test against anchor over the range where both curves are defined, each
 * curve interpolated with PCHIP (monotone piecewise cubic Hermite, Fritsch-Carlson slopes as in
 * SciPy's PchipInterpolator) and integrated exactly.
 *
 * BD-rate: log10(rate) as a function of PSNR, over the overlapping PSNR interval; the mean log
 * difference d becomes (10^d - 1) * 100 percent (negative: test needs fewer bits).  lo and hi
 * receive the PSNR interval.
 *
 * BD-PSNR: PSNR as a function of log10(rate), over the overlapping rate interval; the mean
 * difference in dB (positive: test is better).  lo and hi receive the rate interval in bpp.
 *
 * Both return 0, or -1 when a curve has fewer than 2 or more than BENCH_BD_MAX_POINTS points,
 * a rate that is not positive, a PSNR that is not finite, two points at the same abscissa, or when
 * the intervals do not overlap. */
int bench_bd_rate(const BenchCurve *anchor, const BenchCurve *test, double *percent, double *lo,
                  double *hi);
int bench_bd_psnr(const BenchCurve *anchor, const BenchCurve *test, double *db, double *lo,
                  double *hi);

#endif
