/* cli_target.h: the search over quality for a file size or PSNR target (aec-encode --target-*,
 * aec-bench --html's matched bit rates). */
#ifndef AECIMG_CLI_TARGET_H
#define AECIMG_CLI_TARGET_H

#include <aecimg/aecimg.h>

/* One trial: codes at quality q and gives *value, the file's size or its PSNR.  Returns 0, or -1
 * after reporting an error (which ends the search). */
typedef int (*CliTrialFn)(void *arg, int quality, double *value);

/* A search over the integer qualities qmin..qmax for the one that best meets a target, for a value
 * that grows with quality: with at_most, the highest quality whose value is at most target (a
 * size); else the lowest whose value is at least target (a PSNR).
 *
 * It brackets the answer between a quality that meets the target and its neighbour that does not,
 * both tried, picking each trial where a line through tried values (on a log scale with log_scale)
 * crosses the target and bisecting when two such trials did not halve the bracket: on smooth
 * curves over 0..100, 3 to 7 trials and about 4 on average (tests/test_cli_target.c), never more
 * than 21.  A result is therefore always tried, meets the target, and the next quality step
 * towards better does not (or the range ends there), whether or not the value is monotonic in
 * quality. */
typedef struct CliSearch {
    /* Set by the caller. */
    double target;
    int at_most;
    int log_scale;
    int qmin, qmax;
    /* Set by cli_search(). */
    int found;           /* a quality met the target */
    int quality;         /* found: the answer; else the tried quality that came closest */
    double value;        /* the value at quality */
    int trials;
} CliSearch;

/* Runs the search; returns 0 (found tells whether the target was met), or -1 when a trial failed. */
int cli_search(CliSearch *s, CliTrialFn trial, void *arg);

/* PSNR in dB of b against a (same size and channels) over the colour channels, alpha left out:
 * one mean squared error over every sample, peak 255.  INFINITY when they are equal. */
double cli_psnr(const AecimgImage *a, const AecimgImage *b);
/* The mean squared error behind cli_psnr(): over the colour samples, alpha left out. */
double cli_mse(const AecimgImage *a, const AecimgImage *b);

#endif
