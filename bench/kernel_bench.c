/* kernel_bench.c: GFLOP/s of every convolution and GDN layer of a model at every kernel level this
 * CPU runs, beside the machine's fp32 FMA peak measured by the same clock in the same process.
 *
 * Usage: kernel_bench MODEL.aecm [WIDTH HEIGHT [THREADS [LOWEST_LEVEL]]]
 *
 * Every kernel level from LOWEST_LEVEL (c, avx2, avx512 or avx512bf16; default c) up to the best this
 * CPU has (capped by AECIMG_CPU_MAX) is measured.  At avx512bf16 the layers that run with bfloat16
 * products (marked bf16) are compared with the vdpbf16ps peak, the others with the fp32 FMA peak.
 * Layers see the shapes they have when the model codes a WIDTH x HEIGHT image (default 768 x 512,
 * Kodak) as one tile, on random data.  A layer's FLOPs are 2 * cin * cout * k^2 per output pixel
 * for a convolution and 2 * c^2 per pixel for GDN (the matrix product; the square root and the
 * division are not counted).  Winograd layers do fewer multiply-adds than that: "GFLOP/s" counts the
 * direct convolution's FLOPs (the work done, whatever the algorithm), "executed" what the kernels
 * really multiply-add, and "of peak" compares the executed rate with the peak.  Each figure is the best of five timings of enough runs to fill
 * 0.2 s.  The peak is the best of five timings of a loop of independent FMAs on registers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "model_file.h"
#include "network.h"
#include "nn/nn.h"

double fma_peak_gflops(int level, int threads); /* fma_peak.c */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *random_floats(size_t n)
{
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "kernel_bench: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float)rand() / RAND_MAX - 0.5f;
    return p;
}

typedef struct Shape {
    int h, w, c;
} Shape;

typedef struct Job {
    const NnKernels *k;
    const NetLayer *layer;
    Shape in;
    float *src, *dst;
    int threads;
} Job;

static void run_once(const Job *j)
{
    if (j->layer->op == MODEL_OP_CONV) {
        if (nn_conv2d(j->k, &j->layer->conv, j->src, j->in.h, j->in.w, j->dst, j->threads) < 0) {
            fprintf(stderr, "kernel_bench: out of memory\n");
            exit(1);
        }
    } else
        nn_gdn(j->k, &j->layer->gdn, j->src, j->src, j->in.h, j->in.w, j->threads);
}

/* Seconds per run: the best of five timings of enough runs to fill 0.2 s. */
static double seconds_per_run(const Job *j)
{
    double t0 = now();
    run_once(j);
    int reps = (int)ceil(0.2 / fmax(now() - t0, 1e-6));
    double best = INFINITY;
    for (int trial = 0; trial < 5; trial++) {
        t0 = now();
        for (int r = 0; r < reps; r++)
            run_once(j);
        best = fmin(best, (now() - t0) / reps);
    }
    return best;
}

static Shape next_shape(const NetLayer *l, Shape s)
{
    if (l->op == MODEL_OP_CONV)
        return (Shape){nn_conv_out_size(s.h, l->conv.k, l->conv.stride), nn_conv_out_size(s.w, l->conv.k, l->conv.stride),
                       l->conv.cout};
    if (l->op == MODEL_OP_PIXEL_SHUFFLE)
        return (Shape){s.h * 2, s.w * 2, s.c / 4};
    return s;
}

static double layer_flops(const NetLayer *l, Shape in, Shape out)
{
    if (l->op == MODEL_OP_CONV)
        return 2.0 * in.c * out.c * l->conv.k * l->conv.k * out.h * out.w;
    return 2.0 * in.c * in.c * in.h * in.w;
}

/* What the kernels multiply-add: Winograd does 36 products per 4x4 block instead of 144. */
static double executed_flops(const NetLayer *l, Shape in, Shape out)
{
    if (l->op != MODEL_OP_CONV || l->conv.block == 1)
        return layer_flops(l, in, out);
    const int m = NN_WINOGRAD_M, t = NN_WINOGRAD_T;
    return 2.0 * in.c * out.c * t * t * ((out.h + m - 1) / m) * ((out.w + m - 1) / m);
}

/* Times every conv and GDN layer of one network; adds its direct-equivalent FLOPs, executed FLOPs
 * and seconds to sums[0..2]. */
static void bench_network(const Network *n, const char *name, Shape s, int threads, const double peaks[4],
                          double sums[4])
{
    for (uint32_t i = 0; i < n->layer_count; i++) {
        const NetLayer *l = &n->layers[i];
        Shape out = next_shape(l, s);
        if (l->op == MODEL_OP_CONV || l->op == MODEL_OP_GDN || l->op == MODEL_OP_IGDN) {
            size_t in_n = (size_t)s.h * s.w * s.c, out_n = (size_t)out.h * out.w * out.c;
            Job j = {n->kernels, l, s, random_floats(in_n), random_floats(out_n), threads};
            double t = seconds_per_run(&j), f = layer_flops(l, s, out), g = f / t * 1e-9;
            double x = executed_flops(l, s, out) / t * 1e-9;
            const int bf16 = l->op == MODEL_OP_CONV ? l->conv.bf16 : l->gdn.bf16;
            const int cpu = n->kernels->cpu;
            const double peak = peaks[bf16 ? NN_CPU_AVX512BF16 : cpu < NN_CPU_AVX512 ? cpu : NN_CPU_AVX512];
            char what[64];
            if (l->op == MODEL_OP_CONV)
                snprintf(what, sizeof what, "conv%dx%d/%d %d->%d%s%s", l->conv.k, l->conv.k, l->conv.stride, s.c,
                         out.c, l->conv.block > 1 ? " winograd" : "", bf16 ? " bf16" : "");
            else
                snprintf(what, sizeof what, "%s %d%s", l->op == MODEL_OP_GDN ? "gdn" : "igdn", s.c,
                         bf16 ? " bf16" : "");
            printf("| %s | %s %u | %s | %dx%d | %.2f | %.2f | %.1f | %.1f | %.0f%% |\n", n->kernels->level, name, i,
                   what, s.w, s.h, f * 1e-9, t * 1e3, g, x, 100 * x / peak);
            sums[0] += f;
            sums[1] += executed_flops(l, s, out);
            sums[2] += t;
            sums[3] += executed_flops(l, s, out) * 1e-9 / peak; /* seconds at the peak */
            free(j.src);
            free(j.dst);
        }
        s = out;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: kernel_bench MODEL.aecm [WIDTH HEIGHT [THREADS [LOWEST_LEVEL]]]\n");
        return 2;
    }
    int width = argc > 3 ? atoi(argv[2]) : 768, height = argc > 3 ? atoi(argv[3]) : 512;
    int threads = argc > 4 ? atoi(argv[4]) : 1, lowest = NN_CPU_C;
    static const char *const names[] = {"c", "avx2", "avx512", "avx512bf16"};
    for (int i = 0; argc > 5 && i < 4; i++)
        if (!strcmp(argv[5], names[i]))
            lowest = i;
    ModelFile m;
    if (model_file_load(argv[1], &m) != 0) {
        fprintf(stderr, "kernel_bench: cannot load %s\n", argv[1]);
        return 1;
    }
    const int best = nn_cpu_detect();
    double peaks[4] = {0, 0, 0, 0};
    printf("## FMA peak, %d thread(s)\n\n| level | GFLOP/s |\n|---|---:|\n", threads);
    for (int level = lowest; level <= best; level++) {
        peaks[level] = fma_peak_gflops(level, threads);
        printf("| %s | %.1f |\n", level == 0 ? "scalar" : names[level], peaks[level]);
    }
    if (best == NN_CPU_AVX512BF16 && lowest == best) { /* its float layers run at avx512 */
        peaks[NN_CPU_AVX512] = fma_peak_gflops(NN_CPU_AVX512, threads);
        printf("| %s | %.1f |\n", names[NN_CPU_AVX512], peaks[NN_CPU_AVX512]);
    }
    printf("\n## Layers of %s coding %dx%d, %d thread(s); %% of the level's peak (bf16 layers: of the "
           "vdpbf16ps peak)\n\n",
           m.name, width, height, threads);
    printf("| level | layer | op | input WxH | GFLOP | ms | GFLOP/s | executed GFLOP/s | of peak |\n"
           "|---|---|---|---|---:|---:|---:|---:|---:|\n");
    const uint32_t st = m.stride;
    const Shape image = {(int)((height + st - 1) / st * st), (int)((width + st - 1) / st * st), (int)m.image_channels};
    const Shape latent = {image.h / (int)st, image.w / (int)st, (int)m.latent_channels};
    double totals[4][2][4] = {{{0}}};
    for (int level = lowest; level <= best; level++) {
        NnKernels k;
        nn_kernels_init(&k, level);
        Network a, s;
        if (network_build(&a, &m, MODEL_NET_ANALYSIS, &k, threads) != 0 ||
            network_build(&s, &m, MODEL_NET_SYNTHESIS, &k, threads) != 0) {
            fprintf(stderr, "kernel_bench: out of memory\n");
            return 1;
        }
        bench_network(&a, "analysis", image, threads, peaks, totals[level][0]);
        bench_network(&s, "synthesis", latent, threads, peaks, totals[level][1]);
        network_free(&a);
        network_free(&s);
    }
    printf("\n## Totals (conv + GDN layers)\n\n| level | network | GFLOP | ms | GFLOP/s | executed GFLOP/s | of peak |\n"
           "|---|---|---:|---:|---:|---:|---:|\n");
    for (int level = lowest; level <= best; level++)
        for (int net = 0; net < 2; net++) {
            double f = totals[level][net][0], x = totals[level][net][1] / totals[level][net][2] * 1e-9;
            double t = totals[level][net][2];
            printf("| %s | %s | %.2f | %.1f | %.1f | %.1f | %.0f%% |\n", names[level], net ? "synthesis" : "analysis",
                   f * 1e-9, t * 1e3, f / t * 1e-9, x, 100 * totals[level][net][3] / t);
        }
    model_file_free(&m);
    return 0;
}
