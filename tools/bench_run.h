/* bench_run.h: aec-bench's measurements: the plan of a run, what it measured, and its summary. */
#ifndef AECIMG_BENCH_RUN_H
#define AECIMG_BENCH_RUN_H

#include <stddef.h>
#include <stdint.h>

#include <aecimg/aecimg.h>

#include "bench_codecs.h"

enum { BENCH_MAX_QUALITIES = 101, BENCH_MAX_RUNS = 100 };

/* A quality sweep; a lossless codec has the single quality -1. */
typedef struct BenchQualities {
    int q[BENCH_MAX_QUALITIES];
    size_t n;
} BenchQualities;

/* One codec taking part in the run. */
typedef struct BenchEntry {
    BenchSession session;
    BenchQualities qualities;
    size_t first; /* index of its first point among one image's points */
} BenchEntry;

/* A codec left out, and why. */
typedef struct BenchSkip {
    const char *name;
    char reason[256];
} BenchSkip;

/* An input image, reduced to what every codec codes: 8-bit gray or RGB, no alpha, no ICC. */
typedef struct BenchInput {
    char *path;
    const char *name;         /* the path's last component */
    uint32_t source_channels; /* channels of the file, alpha included */
    AecimgImage img;
} BenchInput;

/* One codec at one quality: on one image, or the mean over all images. */
typedef struct BenchPoint {
    size_t entry;
    int quality;          /* -1: none */
    double bytes, bpp;    /* whole file */
    double psnr, msssim;  /* INFINITY: identical; NAN: MS-SSIM undefined (image too small) */
    double enc_ms, dec_ms; /* median of the runs (mean of the medians for a mean) */
    int check;            /* bitstream check passed (on every image, for a mean) */
} BenchPoint;

/* Bjontegaard deltas of one codec's mean curve against an anchor's. */
typedef struct BenchBd {
    size_t entry, anchor;
    int rate_ok, psnr_ok;
    const char *why; /* when one is not ok: "fewer than 2 points" or "no overlap" */
    double rate_pct, psnr_lo, psnr_hi; /* BD-rate over [psnr_lo, psnr_hi] dB */
    double psnr_db, bpp_lo, bpp_hi;    /* BD-PSNR over [bpp_lo, bpp_hi] bpp */
} BenchBd;

enum { BENCH_PROGRESS_NONE, BENCH_PROGRESS_TERMINAL, BENCH_PROGRESS_LINES };

typedef struct BenchRun {
    /* The plan, set by the caller. */
    BenchEntry entries[BENCH_CODEC_COUNT];
    size_t nentries;
    BenchSkip skipped[BENCH_CODEC_COUNT];
    size_t nskipped;
    BenchInput *inputs;
    size_t ninputs;
    int runs;
    int progress; /* BENCH_PROGRESS_* */
    char started[32]; /* UTC, ISO 8601 */
    char command[1024]; /* the command line, for whoever wants to reproduce the run */
    char machine[256];  /* cores, CPU model and load at the start: context for the times */

    /* Filled by bench_run_measure(): points_per_image points for each input in turn. */
    size_t points_per_image;
    BenchPoint *points;
    /* Filled by bench_run_summarize(). */
    BenchPoint means[BENCH_CODEC_COUNT * BENCH_MAX_QUALITIES];
    size_t nmeans;
    BenchBd bd[BENCH_CODEC_COUNT * 2];
    size_t nbd;
    int all_checks_passed;
} BenchRun;

/* Codes every input with every entry at each of its qualities.  Returns 0, or -1 with err. */
int bench_run_measure(BenchRun *r, char *err, size_t err_size);

/* Means over the images and the BD-rates against JPEG and WebP (those in the run). */
void bench_run_summarize(BenchRun *r);

/* The point of input i, entry e, quality index k. */
const BenchPoint *bench_run_point(const BenchRun *r, size_t i, size_t e, size_t k);

/* The entry for the codec called name, or NULL. */
const BenchEntry *bench_run_entry(const BenchRun *r, const char *name);

void bench_run_free(BenchRun *r);

/* Gray replicated into R, G and B, for codecs that only code colour; returns 0 or -1 with err. */
int bench_expand_to_rgb(const AecimgImage *gray, AecimgImage *rgb, char *err, size_t err_size);

#endif
