/* bench_input.h: aec-bench's inputs: image files and directories of them, read into memory. */
#ifndef AECIMG_BENCH_INPUT_H
#define AECIMG_BENCH_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "bench_run.h"

/* Reads the n images named by paths into r->inputs: files, and directories whose PNG, PNM and
 * JPEG files (by extension, not recursively) are taken in name order.  Each image is reduced to
 * 8-bit gray or RGB without alpha or ICC profile; with notes, a reduced bit depth and a dropped
 * alpha channel are mentioned on standard error.  Returns 0, or -1 after reporting the problem;
 * bench_run_free() releases what was read either way. */
int bench_read_inputs(char *const *paths, size_t n, uint64_t max_pixels, int notes, BenchRun *r);

#endif
