/* bench_input.c: aec-bench's inputs: image files and directories of them, read into memory. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "bench_input.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli.h"
#include "imageio/imageio.h"

typedef struct PathList {
    char **paths;
    size_t n, cap;
} PathList;

static int push_path(PathList *l, const char *dir, const char *name)
{
    size_t len = (dir ? strlen(dir) + 1 : 0) + strlen(name) + 1;
    char *p = malloc(len);

    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        char **grown = realloc(l->paths, cap * sizeof *grown);
        if (!grown) {
            free(p);
            return -1;
        }
        l->paths = grown;
        l->cap = cap;
    }
    if (!p)
        return -1;
    if (dir)
        snprintf(p, len, "%s/%s", dir, name);
    else
        snprintf(p, len, "%s", name);
    l->paths[l->n++] = p;
    return 0;
}

/* JPEG files count only when the tools can read them. */
static int is_image_name(const char *name)
{
    static const char *const exts[] = {".png", ".ppm", ".pgm", ".pnm", ".pam", ".jpg", ".jpeg"};
    const char *dot = strrchr(name, '.');
    size_t n = sizeof exts / sizeof exts[0] - (imageio_have_jpeg() ? 0 : 2);

    for (size_t i = 0; dot && i < n; i++)
        if (strcasecmp(dot, exts[i]) == 0)
            return 1;
    return 0;
}

static int compare_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The directory's image files (by extension, not recursively), sorted by name. */
static int add_directory(PathList *l, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *ent;
    size_t first = l->n;

    if (!d) {
        cli_message(dir, "%s", strerror(errno));
        return -1;
    }
    while ((ent = readdir(d)) != NULL)
        if (ent->d_name[0] != '.' && is_image_name(ent->d_name) &&
            push_path(l, dir, ent->d_name) != 0) {
            closedir(d);
            cli_message(NULL, "out of memory");
            return -1;
        }
    closedir(d);
    if (l->n == first) {
        cli_message(dir, "no PNG, PNM or JPEG files in this directory");
        return -1;
    }
    qsort(l->paths + first, l->n - first, sizeof *l->paths, compare_paths);
    return 0;
}

static int collect_paths(char *const *paths, size_t n, PathList *l)
{
    struct stat st;

    for (size_t i = 0; i < n; i++) {
        if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            if (add_directory(l, paths[i]) != 0)
                return -1;
        } else if (push_path(l, NULL, paths[i]) != 0) {
            cli_message(NULL, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* Alpha dropped and the ICC profile forgotten: the JPEG anchor codes neither, and the metrics
 * compare colour samples only. */
static void reduce_to_color(AecimgImage *img)
{
    size_t pixels = (size_t)img->width * img->height;
    uint32_t keep = img->channels == 2 || img->channels == 4 ? img->channels - 1 : img->channels;

    for (size_t i = 0; keep != img->channels && i < pixels; i++)
        memmove(img->pixels + i * keep, img->pixels + i * img->channels, keep);
    img->channels = keep;
    free(img->icc);
    img->icc = NULL;
    img->icc_size = 0;
}

static int load_input(uint64_t max_pixels, int notes, BenchInput *in)
{
    const char *slash = strrchr(in->path, '/');
    uint8_t *data;
    size_t size;
    char err[256];
    int rc;

    in->name = slash ? slash + 1 : in->path;
    if (cli_read_file(in->path, cli_input_cap(max_pixels), &data, &size, err,
                      sizeof err) != 0) {
        cli_message(in->path, "%s", err);
        return -1;
    }
    rc = imageio_read(data, size, max_pixels, &in->img, err, sizeof err);
    free(data);
    if (rc != 0) {
        cli_message(in->path, "%s", err);
        return -1;
    }
    in->source_channels = in->img.channels;
    if (notes && in->img.source_bit_depth > 8)
        cli_message(in->path, "note: %u-bit input reduced to 8 bits", in->img.source_bit_depth);
    if (notes && in->img.channels % 2 == 0)
        cli_message(in->path, "note: alpha channel ignored");
    reduce_to_color(&in->img);
    return 0;
}

/* Takes over the paths; on failure the run frees what was loaded. */
static int load_inputs(uint64_t max_pixels, int notes, PathList *l, BenchRun *r)
{
    r->inputs = calloc(l->n, sizeof *r->inputs);
    if (!r->inputs) {
        cli_message(NULL, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < l->n; i++) {
        r->inputs[i].path = l->paths[i];
        l->paths[i] = NULL;
        r->ninputs = i + 1;
        if (load_input(max_pixels, notes, &r->inputs[i]) != 0)
            return -1;
    }
    return 0;
}

int bench_read_inputs(char *const *paths, size_t n, uint64_t max_pixels, int notes, BenchRun *r)
{
    PathList l = {0};
    int rc = collect_paths(paths, n, &l);

    if (rc == 0)
        rc = load_inputs(max_pixels, notes, &l, r);
    for (size_t i = 0; i < l.n; i++)
        free(l.paths[i]);
    free(l.paths);
    return rc;
}
