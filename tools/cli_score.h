/* cli_score.h: the machine-readable score lines of aec-encode --score and aec-decode --score. */
#ifndef AECIMG_CLI_SCORE_H
#define AECIMG_CLI_SCORE_H

#include <stdint.h>

/* One file's scores; aec-encode(1) SCORE LINES describes the fields. */
typedef struct CliScore {
    const char *file;      /* the input as given ("-" for standard input) */
    uint32_t width, height;
    uint64_t bytes;        /* size of the .aec file */
    uint64_t payload_bits; /* 8 x the bytes of the entropy-coded latents */
    double ideal_bits;     /* the rate map's total (aecimg_decode_rate_map) */
    int has_error;         /* mse and psnr are known (aec-encode, which has the original) */
    double mse, psnr;
} CliScore;

/* Prints s as one line on standard output with a single write(), so that the lines of worker
 * processes (--jobs) never interleave.  Returns 0, or -1 after reporting a write error. */
int cli_score_print(const CliScore *s);

#endif
