/* model_builder.c: see model_builder.h.  The layout follows doc/model-format.md. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "model_builder.h"
#include "model_file.h"
#include "sha256.h"

typedef struct Out {
    uint8_t *p;
    size_t n, cap;
} Out;

static void out_bytes(Out *o, const void *b, size_t n)
{
    if (o->n + n > o->cap) {
        o->cap = 2 * (o->n + n);
        o->p = realloc(o->p, o->cap);
        assert_non_null(o->p);
    }
    memcpy(o->p + o->n, b, n);
    o->n += n;
}

static void out_u32(Out *o, uint32_t v)
{
    const uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    out_bytes(o, b, 4);
}

static void out_u16(Out *o, uint16_t v)
{
    const uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    out_bytes(o, b, 2);
}

/* A tensor entry's name, type and sizes; returns its element count. */
static size_t out_tensor_head(Out *o, const char *name, uint8_t type, uint32_t ndim, const uint32_t *dims)
{
    size_t count = 1;
    out_u16(o, (uint16_t)strlen(name));
    out_bytes(o, name, strlen(name));
    const uint8_t head[2] = {type, (uint8_t)ndim};
    out_bytes(o, head, 2);
    for (uint32_t i = 0; i < ndim; i++) {
        out_u32(o, dims[i]);
        count *= dims[i];
    }
    return count;
}

static void out_pad4(Out *o)
{
    while (o->n % 4)
        out_bytes(o, "", 1);
}

/* A float16 tensor of copies of `value` (a binary16 bit pattern), padded to 4 bytes. */
static void out_tensor(Out *o, const char *name, uint32_t ndim, const uint32_t *dims, uint16_t value)
{
    const size_t count = out_tensor_head(o, name, 2, ndim, dims);
    for (size_t i = 0; i < count; i++)
        out_u16(o, value);
    out_pad4(o);
}

/* xorshift32: the same pseudo-random weights on every platform. */
static uint32_t next_random(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

/* A float32 tensor of values drawn uniformly from [lo, hi). */
static void out_tensor_random(Out *o, const char *name, uint32_t ndim, const uint32_t *dims, float lo, float hi,
                              uint32_t *rng)
{
    const size_t count = out_tensor_head(o, name, 1, ndim, dims);
    for (size_t i = 0; i < count; i++) {
        const float v = lo + (hi - lo) * (float)(next_random(rng) >> 8) / 16777216.0f;
        uint32_t bits;
        memcpy(&bits, &v, sizeof bits);
        out_u32(o, bits);
    }
    out_pad4(o);
}

static void out_layer(Out *o, uint8_t net, uint8_t op, uint32_t p0, uint32_t p1, uint32_t p2, uint32_t p3, uint32_t t0,
                      uint32_t t1)
{
    const uint8_t head[4] = {net, op, 0, 0};
    out_bytes(o, head, 4);
    const uint32_t v[6] = {p0, p1, p2, p3, t0, t1};
    for (int i = 0; i < 6; i++)
        out_u32(o, v[i]);
}

static void out_section(Out *o, const char *tag, Out *payload)
{
    out_bytes(o, tag, 4);
    out_u32(o, 0);
    out_u32(o, (uint32_t)payload->n);
    out_u32(o, 0);
    out_bytes(o, payload->p, payload->n);
    while (o->n % 8)
        out_bytes(o, "", 1);
    free(payload->p);
}

/* The 1x1 layout (model_builder.h). */
static void out_arch(Out *o, const TestModelShape *s, uint32_t ic)
{
    const uint32_t none = 0xffffffffu, g = s->gdn_channels, m = s->latent_channels;
    out_u32(o, ic), out_u32(o, m), out_u32(o, 2), out_u32(o, 5);
    out_layer(o, 0, MODEL_OP_CONV, ic, g, 1, 2, 0, 1);
    out_layer(o, 0, MODEL_OP_GDN, g, 0, 0, 0, 2, 3);
    out_layer(o, 0, MODEL_OP_CONV, g, m, 1, 1, 4, 5);
    out_layer(o, 1, MODEL_OP_CONV, m, 4 * ic, 1, 1, 6, 7);
    out_layer(o, 1, MODEL_OP_PIXEL_SHUFFLE, 2, 0, 0, 0, none, none);
}

static void out_tens(Out *o, const TestModelShape *s, uint32_t ic)
{
    const uint16_t zero = 0, one = 0x3c00;
    const uint32_t g = s->gdn_channels, m = s->latent_channels;
    const uint32_t a0w[4] = {g, ic, 1, 1}, a0b[1] = {g}, gamma[2] = {g, g}, a2w[4] = {m, g, 1, 1}, a2b[1] = {m},
                   s0w[4] = {4 * ic, m, 1, 1}, s0b[1] = {4 * ic};
    out_u32(o, 8);
    out_tensor(o, "a0.w", 4, a0w, one);
    out_tensor(o, "a0.b", 1, a0b, zero);
    out_tensor(o, "a1.beta", 1, a0b, one);
    out_tensor(o, "a1.gamma", 2, gamma, zero);
    out_tensor(o, "a2.w", 4, a2w, one);
    out_tensor(o, "a2.b", 1, a2b, zero);
    out_tensor(o, "s0.w", 4, s0w, one);
    out_tensor(o, "s0.b", 1, s0b, zero);
}

/* The layer records and tensor entries of the 3x3 layout, gathered before ARCH and TENS are written. */
typedef struct Layers {
    Out records, tensors;
    uint32_t layer_count, tensor_count, rng;
} Layers;

static void add_conv(Layers *l, uint8_t net, uint32_t cin, uint32_t cout, uint32_t k, uint32_t stride)
{
    char name[32];
    const uint32_t w[4] = {cout, cin, k, k}, b[1] = {cout};
    const float bound = sqrtf(3.0f / (float)(cin * k * k)); /* unit variance gain */
    snprintf(name, sizeof name, "l%u.weight", l->layer_count);
    out_tensor_random(&l->tensors, name, 4, w, -bound, bound, &l->rng);
    snprintf(name, sizeof name, "l%u.bias", l->layer_count);
    out_tensor_random(&l->tensors, name, 1, b, -0.1f, 0.1f, &l->rng);
    out_layer(&l->records, net, MODEL_OP_CONV, cin, cout, k, stride, l->tensor_count, l->tensor_count + 1);
    l->tensor_count += 2;
    l->layer_count++;
}

static void add_gdn(Layers *l, uint8_t net, uint8_t op, uint32_t c)
{
    char name[32];
    const uint32_t beta[1] = {c}, gamma[2] = {c, c};
    snprintf(name, sizeof name, "l%u.beta", l->layer_count);
    out_tensor_random(&l->tensors, name, 1, beta, 0.5f, 1.5f, &l->rng);
    snprintf(name, sizeof name, "l%u.gamma", l->layer_count);
    out_tensor_random(&l->tensors, name, 2, gamma, 0.0f, 0.2f, &l->rng);
    out_layer(&l->records, net, op, c, 0, 0, 0, l->tensor_count, l->tensor_count + 1);
    l->tensor_count += 2;
    l->layer_count++;
}

static void add_shuffle(Layers *l)
{
    out_layer(&l->records, 1, MODEL_OP_PIXEL_SHUFFLE, 2, 0, 0, 0, 0xffffffffu, 0xffffffffu);
    l->layer_count++;
}

/* The 3x3 layout (model_builder.h): ARCH into arch, TENS into tens. */
static void out_layered(Out *arch, Out *tens, const TestModelShape *s, uint32_t ic)
{
    const uint32_t g = s->gdn_channels, m = s->latent_channels, last = s->stages - 1;
    Layers l = {.rng = 0x2545f491u};
    for (uint32_t i = 0; i <= last; i++) {
        add_conv(&l, 0, i ? g : ic, i < last ? g : m, 5, 2);
        if (i < last)
            add_gdn(&l, 0, MODEL_OP_GDN, g);
    }
    for (uint32_t i = 0; i <= last; i++) {
        add_conv(&l, 1, i ? g : m, 4 * (i < last || s->direct_output ? g : ic), 3, 1);
        add_shuffle(&l);
        if (i < last || s->direct_output)
            add_gdn(&l, 1, MODEL_OP_IGDN, g);
    }
    if (s->direct_output)
        add_conv(&l, 1, g, ic, 3, 1);
    out_u32(arch, ic), out_u32(arch, m), out_u32(arch, 1u << s->stages), out_u32(arch, l.layer_count);
    out_bytes(arch, l.records.p, l.records.n);
    out_u32(tens, l.tensor_count);
    out_bytes(tens, l.tensors.p, l.tensors.n);
    free(l.records.p);
    free(l.tensors.p);
}

static void out_rate(Out *o, const TestModelShape *s)
{
    out_u32(o, MODEL_QUALITIES), out_u32(o, s->latent_channels);
    for (int q = 0; q < MODEL_QUALITIES; q++)
        for (int field = 0; field < 3; field++) /* gain, inverse gain, offset */
            for (uint32_t c = 0; c < s->latent_channels; c++)
                out_u32(o, field < 2 ? 0x3f800000u : 0);
}

/* One uniform table over -(S/2) .. S-1-(S/2) plus the escape, shared by every quality and channel. */
static void out_cdfs(Out *o, const TestModelShape *s)
{
    const uint32_t n = s->symbols + 1, total = 1u << s->precision;
    out_u32(o, s->precision), out_u32(o, MODEL_QUALITIES), out_u32(o, s->latent_channels), out_u32(o, n);
    for (uint32_t i = 0; i < MODEL_QUALITIES * s->latent_channels; i++)
        out_u32(o, (uint32_t) - (int32_t)(s->symbols / 2)), out_u32(o, s->symbols), out_u32(o, 0);
    for (uint32_t k = 0; k < n; k++)
        out_u16(o, (uint16_t)(k + 1 < n ? total / n : total - (n - 1) * (total / n)));
}

uint8_t *test_model_build(const TestModelShape *shape, size_t *size)
{
    Out meta = {0}, arch = {0}, tens = {0}, rate = {0}, cdfs = {0}, file = {0};
    out_bytes(&meta, "name=test-built\n", 16);
    if (shape->meta)
        out_bytes(&meta, shape->meta, strlen(shape->meta));
    const uint32_t ic = shape->image_channels ? shape->image_channels : 3;
    if (shape->stages) {
        out_layered(&arch, &tens, shape, ic);
    } else {
        out_arch(&arch, shape, ic);
        out_tens(&tens, shape, ic);
    }
    out_rate(&rate, shape);
    out_cdfs(&cdfs, shape);
    out_bytes(&file, "\x89" "AECM\r\n\x1a", 8);
    out_u32(&file, 1), out_u32(&file, 5);
    out_section(&file, "META", &meta);
    out_section(&file, "ARCH", &arch);
    out_section(&file, "TENS", &tens);
    out_section(&file, "RATE", &rate);
    out_section(&file, "CDFS", &cdfs);
    uint8_t digest[32];
    sha256(file.p, file.n, digest);
    out_bytes(&file, digest, 32);
    *size = file.n;
    return file.p;
}

void test_model_write(char *templ, const uint8_t *data, size_t size)
{
    int fd = mkstemp(templ);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, size), (ssize_t)size);
    assert_int_equal(close(fd), 0);
}
