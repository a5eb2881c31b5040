/* bench_report.h: aec-bench's outputs: the table, CSV, JSON and the SVG rate-distortion plot. */
#ifndef AECIMG_BENCH_REPORT_H
#define AECIMG_BENCH_REPORT_H

#include <stdio.h>

#include "bench_run.h"

/* How the report names its methods, so that every output says the same. */
#define BENCH_MEAN_METHOD "arithmetic mean of the per-image values"
#define BENCH_BD_METHOD                                                                         \
    "Bjontegaard deltas of the mean curves: log10(bpp) against PSNR-RGB, PCHIP interpolation " \
    "(monotone piecewise cubic Hermite, Fritsch-Carlson), exact integral over the overlapping " \
    "range"

/* The readable table; per_image adds a row for each image. */
void bench_write_table(FILE *f, const BenchRun *r, int per_image);
/* One row per image and per mean, with a header line (RFC 4180). */
void bench_write_csv(FILE *f, const BenchRun *r);
/* Everything: settings, images, per-image points, means and Bjontegaard deltas. */
void bench_write_json(FILE *f, const BenchRun *r);
/* bpp against PSNR-RGB, one curve per codec (the means), as a standalone SVG document. */
void bench_write_svg(FILE *f, const BenchRun *r);

/* The BD-rate of the entry called name against the anchor called anchor, or NULL. */
const BenchBd *bench_find_bd(const BenchRun *r, const char *name, const char *anchor);

#endif
