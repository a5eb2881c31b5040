/* cli_batch.h: many inputs for aec-encode and aec-decode: folders, output names, worker processes,
 * the progress line and the summary. */
#ifndef AECIMG_CLI_BATCH_H
#define AECIMG_CLI_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"

/* One input and where its output goes. */
typedef struct CliBatchItem {
    char *input;      /* the file to read, as given or as found in a folder */
    char *output;     /* the file to write; NULL for an item that is not run */
    int make_parents; /* output is below the -o folder, in a subfolder perhaps not made yet
                       * (cli_make_parents()) */
    char skip[160];   /* why the item fails without running (a folder without files, an output
                       * name taken by an earlier input); empty to run it */
} CliBatchItem;

/* What a tool takes from folders and what it writes. */
typedef struct CliBatchSpec {
    const char *const *extensions; /* lower case with the dot: files a folder contributes */
    size_t nextensions;
    const char *what;              /* "PNG, PNM or JPEG files": what a folder without any lacks */
    const char *out_extension;     /* ".aec", ".png": replaces the input's extension */
    const char *done;              /* "encoded": the summary's verb */
} CliBatchSpec;

typedef struct CliBatch {
    const CliBatchSpec *spec;
    CliBatchItem *items;
    size_t n, cap;
    int many; /* several INPUTs or a folder: a progress line and a summary */
} CliBatch;

/* Codes one item; prints its own messages.  Returns 0 with *bytes set to the bytes written, or
 * -1 after reporting the failure. */
typedef int (*CliBatchFn)(void *arg, const CliBatchItem *item, uint64_t *bytes);

/* Lists the items of c's INPUTs (folders expanded in name order, subfolders with c->recursive)
 * with their outputs: c->output itself for one INPUT that is not a folder; inside c->output when it
 * is a directory or ends in '/' (created when missing), as INPUT's name or its path below the
 * folder given; else beside each input.  Returns 0, CLI_EXIT_USAGE after a usage error, or
 * CLI_EXIT_ERROR after reporting an error that stops everything. */
int cli_batch_plan(CliBatch *b, const CliBatchSpec *spec, const CliCommon *c);

/* Runs fn on every item, c->jobs at a time in worker processes (one at a time in this process
 * when c->jobs is 1), with a progress line on a terminal and, for many items, a summary.  The
 * caller must not have started OpenMP threads before (they do not survive fork()).  Returns
 * CLI_EXIT_OK when every item succeeded, else CLI_EXIT_ERROR. */
int cli_batch_run(CliBatch *b, const CliCommon *c, CliBatchFn fn, void *arg);

/* Creates the folders on the way to path's last component; returns 0, or -1 with err. */
int cli_make_parents(const char *path, char *err, size_t err_size);

void cli_batch_free(CliBatch *b);

#endif
