/* bench_html.h: aec-bench --html: a page to look at: the rate-distortion plot and, per image, crops
 * of every lossy codec at matched bits per pixel, with a zoomed detail. */
#ifndef AECIMG_BENCH_HTML_H
#define AECIMG_BENCH_HTML_H

#include "bench_run.h"

/* Side of the crops and of the detail, in pixels of the image; the detail is shown magnified. */
enum { BENCH_HTML_CROP = 256, BENCH_HTML_DETAIL = 64, BENCH_HTML_ZOOM = 4 };

/* Default bits per pixel the codecs are matched at. */
#define BENCH_HTML_BPP 0.5

/* Writes dir/index.html and the files it shows, all in dir (an existing folder): rd.svg, and for
 * image k (1-based) ik-original.png, ik-CODEC.png and the magnified details ik-original-zoom.png,
 * ik-CODEC-zoom.png.  Every lossy codec of the run codes every image once more, at the highest
 * quality whose file has at most bpp bits per pixel (cli_search: about 4 encodes), or at its
 * lowest quality if even that is larger.  The crop is the BENCH_HTML_CROP square with the most
 * detail (gradient energy) and the detail the BENCH_HTML_DETAIL square with the most inside it.
 * With notes, a line per image on stderr.  Returns 0, or -1 after reporting the problem. */
int bench_write_html(BenchRun *r, const char *dir, double bpp, int notes);

#endif
