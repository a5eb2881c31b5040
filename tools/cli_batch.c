/* cli_batch.c: many inputs: folders expanded, outputs named, files run in worker processes. */
/* MAP_ANONYMOUS (POSIX only since 2024) for the memory the workers share. */
#define _DEFAULT_SOURCE 1
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "cli_batch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---------------------------------------------------------------- planning */

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir);
    int slash = n > 0 && dir[n - 1] != '/';
    char *s = malloc(n + slash + strlen(name) + 1);

    if (s)
        sprintf(s, "%s%s%s", dir, slash ? "/" : "", name);
    return s;
}

static int push(CliBatch *b, char *input, char *output, const char *skip)
{
    CliBatchItem *it;

    if (!input || (!output && !skip)) {
        free(input);
        free(output);
        return -1;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 16;
        CliBatchItem *grown = realloc(b->items, cap * sizeof *grown);
        if (!grown) {
            free(input);
            free(output);
            return -1;
        }
        b->items = grown;
        b->cap = cap;
    }
    it = &b->items[b->n++];
    it->input = input;
    it->output = output;
    it->make_parents = 0;
    snprintf(it->skip, sizeof it->skip, "%s", skip ? skip : "");
    return 0;
}

/* A copy of s, or NULL. */
static char *copy(const char *s)
{
    char *d = malloc(strlen(s) + 1);

    return d ? strcpy(d, s) : NULL;
}

/* The output of an input called rel below out_dir (or, without one, of the input itself). */
static char *output_for(const CliBatch *b, const char *out_dir, const char *input, const char *rel)
{
    char *path = out_dir ? join(out_dir, rel) : copy(input);
    char *out = path ? cli_replace_extension(path, b->spec->out_extension) : NULL;

    free(path);
    return out;
}

static int wanted_name(const CliBatchSpec *spec, const char *name)
{
    const char *dot = strrchr(name, '.');

    for (size_t i = 0; dot && dot != name && i < spec->nextensions; i++)
        if (strcasecmp(dot, spec->extensions[i]) == 0)
            return 1;
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The visible entries of a folder, sorted; NULL with errno set if it cannot be read. */
static char **read_folder(const char *path, size_t *n)
{
    DIR *d = opendir(path);
    struct dirent *ent;
    char **names = NULL;
    size_t cap = 0;

    *n = 0;
    if (!d)
        return NULL;
    while ((ent = readdir(d)) != NULL) {
        if (ent->d_name[0] == '.') /* hidden files, and the tools' own temporary files */
            continue;
        if (*n == cap) {
            char **grown = realloc(names, (cap = cap ? 2 * cap : 32) * sizeof *names);
            if (!grown)
                break;
            names = grown;
        }
        if (!(names[*n] = copy(ent->d_name)))
            break;
        ++*n;
    }
    if (ent) { /* out of memory */
        while (*n)
            free(names[--*n]);
        free(names);
        closedir(d);
        errno = ENOMEM;
        return NULL;
    }
    closedir(d);
    if (!names) /* an empty folder: qsort may not be passed a null array, even of no elements */
        return calloc(1, sizeof *names);
    qsort(names, *n, sizeof *names, compare_names);
    return names;
}

typedef struct Walk {
    CliBatch *b;
    const char *out_dir;
    const char *root; /* the folder as given */
    int recursive;
} Walk;

static int walk(Walk *w, const char *rel);

/* One entry of a folder: a wanted file is an item, a subfolder is walked with -r.  Links to files
 * count as files; links to folders are not followed, so that no loop can form. */
static int walk_entry(Walk *w, const char *path, const char *rel)
{
    struct stat st;

    if (lstat(path, &st) != 0)
        return 0; /* gone since the folder was read */
    if (S_ISDIR(st.st_mode))
        return w->recursive ? walk(w, rel) : 0;
    if (S_ISLNK(st.st_mode) && (stat(path, &st) != 0 || S_ISDIR(st.st_mode)))
        return 0;
    if (!S_ISREG(st.st_mode) || !wanted_name(w->b->spec, rel))
        return 0;
    if (push(w->b, copy(path), output_for(w->b, w->out_dir, path, rel), NULL) != 0)
        return -1;
    w->b->items[w->b->n - 1].make_parents = w->out_dir && strchr(rel, '/');
    return 0;
}

/* The folder root/rel ("" for root itself), depth first in name order. */
static int walk(Walk *w, const char *rel)
{
    char *dir = rel[0] ? join(w->root, rel) : copy(w->root);
    size_t n = 0;
    char **names = dir ? read_folder(dir, &n) : NULL;
    int rc = 0;

    if (!names && dir && errno != ENOMEM) {
        /* An unreadable folder fails alone; the rest goes on. */
        char why[128];
        snprintf(why, sizeof why, "cannot read the folder: %s", strerror(errno));
        return push(w->b, dir, NULL, why);
    }
    if (!names) {
        free(dir);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char *path = join(dir, names[i]);
        char *sub = rel[0] ? join(rel, names[i]) : copy(names[i]);
        if (rc == 0 && (!path || !sub || walk_entry(w, path, sub) != 0))
            rc = -1;
        free(path);
        free(sub);
        free(names[i]);
    }
    free(names);
    free(dir);
    return rc;
}

static int add_folder(CliBatch *b, const char *folder, const char *out_dir, int recursive)
{
    Walk w = {b, out_dir, folder, recursive};
    size_t before = b->n;

    if (walk(&w, "") != 0)
        return -1;
    if (b->n > before) /* files, or an unreadable folder already reported */
        return 0;
    return push(b, copy(folder), NULL, recursive ? "no files to code in this folder or below"
                                                 : "no files to code in this folder (-r looks "
                                                   "in subfolders)");
}

static int is_folder(const char *path)
{
    struct stat st;

    return strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

static int add_file(CliBatch *b, const CliCommon *c, const char *out_dir, const char *input)
{
    char *out;

    if (out_dir)
        out = output_for(b, out_dir, input, base_name(input));
    else if (c->output)
        out = copy(c->output);
    else
        out = output_for(b, NULL, input, NULL);
    return push(b, copy(input), out, NULL);
}

static int compare_outputs(const void *a, const void *b)
{
    const CliBatchItem *x = *(const CliBatchItem *const *)a, *y = *(const CliBatchItem *const *)b;
    int d = strcmp(x->output, y->output);

    return d ? d : (x < y ? -1 : x > y);
}

/* Two inputs that would write the same file: the later ones fail, the first is coded. */
static int mark_duplicates(CliBatch *b)
{
    CliBatchItem **order = malloc((b->n ? b->n : 1) * sizeof *order);
    size_t n = 0;

    if (!order)
        return -1;
    for (size_t i = 0; i < b->n; i++)
        if (!b->items[i].skip[0])
            order[n++] = &b->items[i];
    qsort(order, n, sizeof *order, compare_outputs);
    for (size_t i = 1; i < n; i++)
        if (strcmp(order[i]->output, order[i - 1]->output) == 0)
            snprintf(order[i]->skip, sizeof order[i]->skip,
                     "not coded: an earlier input has the same output, %s", order[i]->output);
    free(order);
    return 0;
}

static int ends_with_slash(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && s[n - 1] == '/';
}

int cli_make_parents(const char *path, char *err, size_t err_size)
{
    char dir[CLI_PATH_MAX];
    struct stat st;

    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) {
        snprintf(err, err_size, "%s", strerror(ENAMETOOLONG));
        return -1;
    }
    /* Each prefix ending at a slash, shortest first: mkdir -p. */
    for (char *p = strchr(dir + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
            snprintf(err, err_size, "cannot create the folder %s: %s", dir, strerror(errno));
            return -1;
        }
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(err, err_size, "%s is not a folder", dir);
            return -1;
        }
        *p = '/';
    }
    return 0;
}

/* -o names a folder: one that exists or a name ending in '/', created here when missing.  *dir
 * gets the name with a final '/'. */
static int prepare_out_dir(const char *out, char **dir)
{
    char err[CLI_PATH_MAX + 64];
    size_t n = strlen(out);

    *dir = malloc(n + 2);
    if (*dir)
        sprintf(*dir, "%s%s", out, ends_with_slash(out) ? "" : "/");
    if (!*dir) {
        cli_message(NULL, "out of memory");
        return CLI_EXIT_ERROR;
    }
    if (cli_make_parents(*dir, err, sizeof err) != 0) {
        cli_message(out, "%s", err);
        return CLI_EXIT_ERROR;
    }
    return 0;
}

int cli_batch_plan(CliBatch *b, const CliBatchSpec *spec, const CliCommon *c)
{
    int folders = 0, rc = 0;
    char *out_dir = NULL;

    memset(b, 0, sizeof *b);
    b->spec = spec;
    for (size_t i = 0; i < c->ninputs; i++)
        folders += is_folder(c->inputs[i]);
    b->many = c->ninputs > 1 || folders > 0;
    if (c->output && (ends_with_slash(c->output) || is_folder(c->output))) {
        if (strcmp(c->input, "-") == 0)
            return cli_usage_error("standard input has no name to give a file in '%s'; use "
                                   "-o FILE", c->output);
        rc = prepare_out_dir(c->output, &out_dir);
    } else if (c->output && b->many) {
        return cli_usage_error("several INPUTs or a folder need -o to name a folder, which a "
                               "final '/' marks ('%s' is not one)",
                               c->output);
    }
    for (size_t i = 0; rc == 0 && i < c->ninputs; i++) {
        const char *in = c->inputs[i];
        if ((is_folder(in) ? add_folder(b, in, out_dir, c->recursive)
                           : add_file(b, c, out_dir, in)) != 0) {
            cli_message(NULL, "out of memory");
            rc = CLI_EXIT_ERROR;
        }
    }
    if (rc == 0 && mark_duplicates(b) != 0) {
        cli_message(NULL, "out of memory");
        rc = CLI_EXIT_ERROR;
    }
    free(out_dir);
    return rc;
}

void cli_batch_free(CliBatch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->items[i].input);
        free(b->items[i].output);
    }
    free(b->items);
    memset(b, 0, sizeof *b);
}

/* ---------------------------------------------------------------- state */

enum { ITEM_PENDING, ITEM_RUNNING, ITEM_OK, ITEM_FAILED };

/* What the workers and the parent share: in memory mapped into every worker. */
typedef struct Slot {
    atomic_int state;
    atomic_int worker;
    _Atomic uint64_t bytes;
} Slot;

typedef struct Shared {
    atomic_size_t next; /* the next item a worker takes */
    char (*temps)[CLI_PATH_MAX]; /* each worker's temporary output file (cli_mirror_temp()) */
    Slot slots[];
} Shared;

typedef struct Run {
    const CliBatch *b;
    const CliCommon *c;
    CliBatchFn fn;
    void *arg;
    Shared *sh;
    size_t map_size; /* nonzero: sh is mapped */
    int progress;    /* a progress line on the terminal */
    double t0;
    pid_t workers[CLI_MAX_JOBS];
    int nworkers;
} Run;

static int alloc_shared(Run *r, int mapped)
{
    size_t slots = sizeof(Shared) + (r->b->n ? r->b->n : 1) * sizeof(Slot);
    size_t size = slots + (mapped ? (size_t)r->c->jobs * CLI_PATH_MAX : 0);

    if (mapped) {
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED) {
            r->sh = p; /* zero-filled */
            r->sh->temps = (char (*)[CLI_PATH_MAX])((char *)p + slots);
            r->map_size = size;
            return 0;
        }
    }
    r->sh = calloc(1, slots);
    return r->sh ? 0 : -1;
}

static void free_shared(Run *r)
{
    if (r->map_size)
        munmap(r->sh, r->map_size);
    else
        free(r->sh);
}

static void count(const Run *r, size_t *done, size_t *failed, size_t *running, uint64_t *bytes)
{
    *done = *failed = *running = 0;
    *bytes = 0;
    for (size_t i = 0; i < r->b->n; i++) {
        int s = atomic_load(&r->sh->slots[i].state);
        *done += s == ITEM_OK || s == ITEM_FAILED;
        *failed += s == ITEM_FAILED;
        *running += s == ITEM_RUNNING;
        if (s == ITEM_OK)
            *bytes += atomic_load(&r->sh->slots[i].bytes);
    }
}

/* "m:ss" */
static void duration(double s, char *buf, size_t size)
{
    long t = (long)(s + 0.5);

    snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

static void draw_progress(const Run *r, const char *now)
{
    size_t done, failed, running;
    uint64_t bytes;
    char elapsed[32], left[32] = "?";
    double t = cli_now() - r->t0;

    if (!r->progress)
        return;
    count(r, &done, &failed, &running, &bytes);
    duration(t, elapsed, sizeof elapsed);
    if (done > 0)
        duration(t / (double)done * (double)(r->b->n - done), left, sizeof left);
    cli_status("%zu/%zu done, %zu failed, %s elapsed, ~%s left%s%s", done, r->b->n, failed,
               elapsed, left, now ? ", now " : "", now ? now : "");
}

/* ---------------------------------------------------------------- running */

static void run_item(Run *r, size_t i, int worker)
{
    Slot *s = &r->sh->slots[i];
    uint64_t bytes = 0;
    int rc;

    atomic_store(&s->worker, worker);
    atomic_store(&s->state, ITEM_RUNNING);
    rc = r->fn(r->arg, &r->b->items[i], &bytes);
    atomic_store(&s->bytes, bytes);
    atomic_store(&s->state, rc == 0 ? ITEM_OK : ITEM_FAILED);
}

/* A worker takes the next item until none is left. */
static void work(Run *r, int worker)
{
    for (;;) {
        size_t i = atomic_fetch_add(&r->sh->next, 1);
        if (i >= r->b->n)
            return;
        if (r->b->items[i].skip[0])
            continue;
        if (worker < 0)
            draw_progress(r, r->b->items[i].input);
        run_item(r, i, worker);
    }
}

/* A worker process: its stderr goes to the parent through the pipe, a line per write() so that
 * lines of different workers never mix (a write of up to PIPE_BUF bytes to a pipe is atomic). */
static void worker_main(Run *r, int worker, int pipe_out, const sigset_t *mask)
{
    cli_children_forget();
    if (dup2(pipe_out, STDERR_FILENO) < 0)
        _exit(127);
    close(pipe_out);
    setvbuf(stderr, NULL, _IOLBF, BUFSIZ);
    cli_mirror_temp(r->sh->temps[worker], CLI_PATH_MAX);
    sigprocmask(SIG_SETMASK, mask, NULL);
    r->progress = 0;
    work(r, worker);
    fflush(NULL);
    _exit(0);
}

/* Forks up to c->jobs workers; returns how many started. */
static int start_workers(Run *r, size_t runnable, int pipe_fds[2])
{
    sigset_t block, old;
    int want = r->c->jobs < (int)runnable ? r->c->jobs : (int)runnable;

    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    /* Until a worker is known to the signal handler, a signal must wait. */
    sigprocmask(SIG_BLOCK, &block, &old);
    fflush(NULL);
    for (int k = 0; k < want; k++) {
        pid_t pid = fork();
        if (pid == 0) {
            close(pipe_fds[0]);
            worker_main(r, k, pipe_fds[1], &old);
        }
        if (pid < 0) {
            cli_message(NULL, "cannot start worker %d: %s", k + 1, strerror(errno));
            break;
        }
        r->workers[r->nworkers++] = pid;
        cli_child_add(pid);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return r->nworkers;
}

/* Passes the workers' complete lines on to stderr; keeps a partial one in buf. */
static size_t relay_lines(char *buf, size_t have, int flush)
{
    size_t start = 0;

    for (size_t i = 0; i < have; i++)
        if (buf[i] == '\n') {
            cli_status_clear();
            fwrite(buf + start, 1, i + 1 - start, stderr);
            start = i + 1;
        }
    if (flush || (start == 0 && have == CLI_PATH_MAX)) { /* a line longer than the buffer */
        cli_status_clear();
        fwrite(buf + start, 1, have - start, stderr);
        start = have;
    }
    memmove(buf, buf + start, have - start);
    return have - start;
}

/* Relays the workers' messages and redraws the progress line until every worker has closed the
 * pipe (exited). */
static void watch_workers(Run *r, int fd)
{
    char buf[CLI_PATH_MAX];
    size_t have = 0;

    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int ready = poll(&p, 1, r->progress ? 250 : -1);
        if (ready > 0) {
            ssize_t got = read(fd, buf + have, sizeof buf - have);
            if (got == 0)
                break;
            if (got < 0 && errno != EINTR && errno != EAGAIN)
                break;
            if (got > 0)
                have = relay_lines(buf, have + (size_t)got, 0);
        } else if (ready < 0 && errno != EINTR) {
            break;
        }
        draw_progress(r, NULL);
    }
    relay_lines(buf, have, 1);
}

/* What became of a worker that did not exit normally, for the items it held. */
static void reap_workers(Run *r)
{
    for (int k = 0; k < r->nworkers; k++) {
        int status = 0;
        char why[64];
        while (waitpid(r->workers[k], &status, 0) < 0 && errno == EINTR)
            continue;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            continue;
        if (WIFSIGNALED(status))
            snprintf(why, sizeof why, "killed by signal %d", WTERMSIG(status));
        else
            snprintf(why, sizeof why, "exited with status %d", WEXITSTATUS(status));
        /* A worker that could not clean up leaves its temporary file to the parent. */
        if (r->sh->temps[k][0])
            unlink(r->sh->temps[k]);
        for (size_t i = 0; i < r->b->n; i++) {
            Slot *s = &r->sh->slots[i];
            if (atomic_load(&s->state) == ITEM_RUNNING && atomic_load(&s->worker) == k) {
                atomic_store(&s->state, ITEM_FAILED);
                cli_message(r->b->items[i].input, "the worker process coding it was %s", why);
            }
        }
    }
    cli_children_forget();
}

static void run_parallel(Run *r, size_t runnable)
{
    int fds[2];

    if (pipe(fds) != 0) {
        cli_message(NULL, "cannot run workers: %s; one file at a time", strerror(errno));
        work(r, -1);
        return;
    }
    if (start_workers(r, runnable, fds) == 0) {
        close(fds[0]);
        close(fds[1]);
        work(r, -1);
        return;
    }
    close(fds[1]);
    watch_workers(r, fds[0]);
    close(fds[0]);
    reap_workers(r);
    /* Left over when every worker died, or one died between taking an item and starting it. */
    for (size_t i = 0; i < r->b->n; i++)
        if (!r->b->items[i].skip[0] && atomic_load(&r->sh->slots[i].state) == ITEM_PENDING) {
            atomic_store(&r->sh->slots[i].state, ITEM_FAILED);
            cli_message(r->b->items[i].input, "not coded: the worker processes died first");
        }
}

static void print_summary(const Run *r)
{
    size_t done, failed, running, shown = 0;
    uint64_t bytes;

    count(r, &done, &failed, &running, &bytes);
    cli_status_clear();
    fprintf(stderr, "%s: %zu file%s in %.1f s: %zu %s (%llu bytes)", cli_tool_name(), r->b->n,
            r->b->n == 1 ? "" : "s", cli_now() - r->t0, done - failed, r->b->spec->done,
            (unsigned long long)bytes);
    if (failed)
        fprintf(stderr, ", %zu failed:", failed);
    for (size_t i = 0; i < r->b->n && shown < 5; i++)
        if (atomic_load(&r->sh->slots[i].state) == ITEM_FAILED)
            fprintf(stderr, "%s %s", shown++ ? "," : "", r->b->items[i].input);
    if (failed > shown)
        fprintf(stderr, " and %zu more", failed - shown);
    fputc('\n', stderr);
}

int cli_batch_run(CliBatch *b, const CliCommon *c, CliBatchFn fn, void *arg)
{
    Run r = {.b = b, .c = c, .fn = fn, .arg = arg, .t0 = cli_now()};
    size_t runnable = 0, done, failed, running;
    uint64_t bytes;

    r.progress = b->many && c->verbosity > CLI_QUIET && isatty(STDERR_FILENO);
    if (alloc_shared(&r, c->jobs > 1) != 0) {
        cli_message(NULL, "out of memory");
        return CLI_EXIT_ERROR;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (b->items[i].skip[0]) {
            atomic_store(&r.sh->slots[i].state, ITEM_FAILED);
            cli_message(b->items[i].input, "%s", b->items[i].skip);
        } else {
            runnable++;
        }
    }
    /* Workers need the shared mapping; without one the files go one at a time. */
    if (c->jobs > 1 && runnable > 1 && r.map_size)
        run_parallel(&r, runnable);
    else
        work(&r, -1);
    if (b->many && c->verbosity > CLI_QUIET)
        print_summary(&r);
    count(&r, &done, &failed, &running, &bytes);
    free_shared(&r);
    return failed ? CLI_EXIT_ERROR : CLI_EXIT_OK;
}
