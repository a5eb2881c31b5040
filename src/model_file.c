/* model_file.c: reads an aec model file, checks every size, shape and checksum before use. */
#define _DEFAULT_SOURCE /* MAP_POPULATE */
#include "model_file.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <cpuid.h>
#include <immintrin.h>
#define MODEL_X86 1
#else
#define MODEL_X86 0
#endif

#include "internal.h"
#include "nn/nn.h"
#include "sha256.h"

#define SECTION_COUNT 5
#define MAX_MODEL_FILE_SIZE (1u << 30)

static const uint8_t SIGNATURE[8] = {0x89, 'A', 'E', 'C', 'M', 0x0D, 0x0A, 0x1A};

typedef struct Section {
    const uint8_t *data;
    size_t size;
} Section;

/* A bounds-checked cursor over one section's payload. */
typedef struct Reader {
    const uint8_t *p;
    size_t left;
} Reader;

static int take(Reader *r, size_t n, const uint8_t **out)
{
    RETURN_ERROR_IF(n > r->left, AECIMG_ERR_MODEL_INVALID);
    *out = r->p;
    r->p += n;
    r->left -= n;
    return 0;
}

static int take_u32(Reader *r, uint32_t *v)
{
    const uint8_t *p;
    FORWARD_IF_ERROR(take(r, 4, &p));
    *v = load_le32(p);
    return 0;
}

static float f32_from_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Exact for every finite half, subnormals included (Giesen's conversion): the exponent is rebased,
 * and a subnormal is renormalized by subtracting the magic value its bits were offset by. */
static float f32_from_f16(uint16_t h)
{
    const uint32_t shifted_exp = 0x7c00u << 13;
    uint32_t o = (uint32_t)(h & 0x7fff) << 13, exp = o & shifted_exp;
    o += (uint32_t)(127 - 15) << 23;
    float f;
    if (exp == shifted_exp) {
        o += (uint32_t)(128 - 16) << 23; /* infinity or NaN */
        f = f32_from_bits(o);
    } else if (exp == 0) {
        f = f32_from_bits(o + (1u << 23)) - f32_from_bits(113u << 23);
    } else {
        f = f32_from_bits(o);
    }
    return (h & 0x8000) ? -f : f;
}

/* Little-endian halves to floats; 0, or -1 if one of them is infinite or NaN. */
static int halves_to_floats_c(const uint8_t *p, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++) {
        const uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
        if ((h & 0x7c00) == 0x7c00)
            return -1;
        out[i] = f32_from_f16(h);
    }
    return 0;
}

#if MODEL_X86
/* The same with F16C, eight at a time (vcvtph2ps is exact). */
__attribute__((target("avx,f16c"))) static int halves_to_floats_f16c(const uint8_t *p, size_t n, float *out)
{
    size_t i = 0;
    __m128i bad = _mm_setzero_si128();
    const __m128i exp = _mm_set1_epi16(0x7c00);
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(p + 2 * i));
        bad = _mm_or_si128(bad, _mm_cmpeq_epi16(_mm_and_si128(h, exp), exp));
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
    }
    if (_mm_movemask_epi8(bad))
        return -1;
    return halves_to_floats_c(p + 2 * i, n - i, out + i);
}
#endif

#if MODEL_X86
/* F16C is CPUID leaf 1, ECX bit 29; asked directly because clang's __builtin_cpu_supports does not
 * know the name.  AVX (whose state the OS must save) is checked by the builtin. */
static int cpu_has_f16c(void)
{
    unsigned a, b, c, d;
    return __builtin_cpu_supports("avx") && __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1);
}
#endif

static int halves_to_floats(const uint8_t *p, size_t n, float *out)
{
#if MODEL_X86
    if (cpu_has_f16c())
        return halves_to_floats_f16c(p, n, out);
#endif
    return halves_to_floats_c(p, n, out);
}

static int find_sections(const uint8_t *data, size_t size, Section sec[SECTION_COUNT])
{
    static const char *const tags[SECTION_COUNT] = {"META", "ARCH", "TENS", "RATE", "CDFS"};
    RETURN_ERROR_IF(size < 16 + 32, AECIMG_ERR_MODEL_INVALID);
    RETURN_ERROR_IF(memcmp(data, SIGNATURE, 8) != 0, AECIMG_ERR_MODEL_INVALID);
    RETURN_ERROR_IF(load_le32(data + 8) != 1, AECIMG_ERR_MODEL_INVALID);
    uint32_t count = load_le32(data + 12);
    RETURN_ERROR_IF(count != SECTION_COUNT, AECIMG_ERR_MODEL_INVALID);
    size_t pos = 16, end = size - 32;
    memset(sec, 0, sizeof(Section) * SECTION_COUNT);
    for (uint32_t i = 0; i < count; i++) {
        RETURN_ERROR_IF(end - pos < 16, AECIMG_ERR_MODEL_INVALID);
        const uint8_t *h = data + pos;
        uint64_t len = load_le64(h + 8);
        RETURN_ERROR_IF(load_le32(h + 4) != 0, AECIMG_ERR_MODEL_INVALID);
        pos += 16;
        RETURN_ERROR_IF(len > end - pos, AECIMG_ERR_MODEL_INVALID);
        int which = -1;
        for (int t = 0; t < SECTION_COUNT; t++)
            if (memcmp(h, tags[t], 4) == 0)
                which = t;
        RETURN_ERROR_IF(which < 0 || sec[which].data, AECIMG_ERR_MODEL_INVALID);
        sec[which].data = data + pos;
        sec[which].size = (size_t)len;
        pos += (size_t)len;
        size_t pad = (8 - pos % 8) % 8;
        RETURN_ERROR_IF(pad > end - pos, AECIMG_ERR_MODEL_INVALID);
        pos += pad;
    }
    RETURN_ERROR_IF(pos != end, AECIMG_ERR_MODEL_INVALID);
    for (int t = 0; t < SECTION_COUNT; t++)
        RETURN_ERROR_IF(!sec[t].data, AECIMG_ERR_MODEL_INVALID);
    return 0;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* 64 lowercase hex digits -> 32 bytes; -1 unless the text is exactly that. */
static int parse_hash(const char *text, uint8_t hash[32])
{
    if (strlen(text) != 64)
        return -1;
    for (int i = 0; i < 32; i++) {
        int hi = hex_digit(text[2 * i]), lo = hex_digit(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        hash[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* META `decoder` (with `decoder_name`) names the model whose decoder this one shares; without it the
 * model is its own decoder. */
static int parse_decoder_identity(ModelFile *m)
{
    char hex[72];
    memcpy(m->decoder_hash, m->hash, 32);
    memcpy(m->decoder_name, m->name, sizeof m->name);
    if (model_file_meta(m, "decoder", hex, sizeof hex) < 0)
        return 0;
    RETURN_ERROR_IF(parse_hash(hex, m->decoder_hash) < 0, AECIMG_ERR_MODEL_INVALID);
    RETURN_ERROR_IF(model_file_meta(m, "decoder_name", m->decoder_name, sizeof m->decoder_name) < 0,
                    AECIMG_ERR_MODEL_INVALID);
    RETURN_ERROR_IF(m->decoder_name[0] == '\0', AECIMG_ERR_MODEL_INVALID);
    for (const char *c = m->decoder_name; *c; c++)
        RETURN_ERROR_IF(*c < 0x20 || *c > 0x7e, AECIMG_ERR_MODEL_INVALID);
    return 0;
}

int model_file_decodes(const ModelFile *m, const uint8_t *hash, size_t hash_size)
{
    if (hash_size == 0 || hash_size > 32)
        return 0;
    return memcmp(hash, m->hash, hash_size) == 0 || memcmp(hash, m->decoder_hash, hash_size) == 0;
}

static int parse_meta(const Section *s, ModelFile *m)
{
    m->meta = malloc(s->size + 1);
    RETURN_ERROR_IF(!m->meta, AECIMG_ERR_NO_MEMORY);
    memcpy(m->meta, s->data, s->size);
    m->meta[s->size] = '\0';
    RETURN_ERROR_IF(strlen(m->meta) != s->size, AECIMG_ERR_MODEL_INVALID);
    RETURN_ERROR_IF(model_file_meta(m, "name", m->name, sizeof m->name) < 0, AECIMG_ERR_MODEL_INVALID);
    RETURN_ERROR_IF(m->name[0] == '\0', AECIMG_ERR_MODEL_INVALID);
    for (const char *c = m->name; *c; c++)
        RETURN_ERROR_IF(*c < 0x20 || *c > 0x7e, AECIMG_ERR_MODEL_INVALID);
    return parse_decoder_identity(m);
}

/* A tensor's header; its raw values stay in the file (*raw, *type) until parse_tensors converts them. */
static int parse_tensor(Reader *r, ModelTensor *t, const uint8_t **raw, int *type)
{
    const uint8_t *p;
    FORWARD_IF_ERROR(take(r, 2, &p));
    size_t name_len = (size_t)p[0] | (size_t)p[1] << 8;
    RETURN_ERROR_IF(name_len == 0 || name_len >= sizeof t->name, AECIMG_ERR_MODEL_INVALID);
    FORWARD_IF_ERROR(take(r, name_len, &p));
    memcpy(t->name, p, name_len);
    t->name[name_len] = '\0';
    FORWARD_IF_ERROR(take(r, 2, &p));
    *type = p[0];
    t->ndim = p[1];
    RETURN_ERROR_IF(*type != 1 && *type != 2, AECIMG_ERR_MODEL_INVALID);
    RETURN_ERROR_IF(t->ndim < 1 || t->ndim > 4, AECIMG_ERR_MODEL_INVALID);
    size_t count = 1;
    for (uint32_t d = 0; d < t->ndim; d++) {
        FORWARD_IF_ERROR(take_u32(r, &t->dims[d]));
        RETURN_ERROR_IF(t->dims[d] == 0 || t->dims[d] > (1u << 24), AECIMG_ERR_MODEL_INVALID);
        count *= t->dims[d];
        RETURN_ERROR_IF(count > (1u << 28), AECIMG_ERR_MODEL_INVALID);
    }
    size_t elem = *type == 1 ? 4 : 2;
    FORWARD_IF_ERROR(take(r, count * elem, raw));
    t->count = count;
    return 0;
}

static int convert_tensor(ModelTensor *t, const uint8_t *raw, int type)
{
    if (type == 2)
        return halves_to_floats(raw, t->count, t->data) < 0 ? AECIMG_ERR_MODEL_INVALID : 0;
    for (size_t i = 0; i < t->count; i++) {
        const float v = f32_from_bits(load_le32(raw + 4 * i));
        RETURN_ERROR_IF(!isfinite(v), AECIMG_ERR_MODEL_INVALID);
        t->data[i] = v;
    }
    return 0;
}

/* Headers first, then every tensor's floats into one array (nn_alloc_packed: zero pages from the kernel,
 * huge pages where they fit), so that converting the weights costs a few page faults, not thousands. */
static int parse_tensors(const Section *s, ModelFile *m)
{
    Reader r = {s->data, s->size};
    FORWARD_IF_ERROR(take_u32(&r, &m->tensor_count));
    RETURN_ERROR_IF(m->tensor_count < 1 || m->tensor_count > MODEL_MAX_TENSORS, AECIMG_ERR_MODEL_INVALID);
    m->tensors = calloc(m->tensor_count, sizeof *m->tensors);
    const uint8_t **raw = calloc(m->tensor_count, sizeof *raw);
    int *type = calloc(m->tensor_count, sizeof *type);
    int err = m->tensors && raw && type ? 0 : AECIMG_ERR_NO_MEMORY;
    size_t total = 0;
    for (uint32_t i = 0; err == 0 && i < m->tensor_count; i++) {
        err = parse_tensor(&r, &m->tensors[i], &raw[i], &type[i]);
        total += err == 0 ? m->tensors[i].count : 0;
        size_t used = s->size - r.left;
        const uint8_t *pad;
        if (err == 0)
            err = take(&r, (4 - used % 4) % 4, &pad);
    }
    if (err == 0 && r.left != 0)
        err = AECIMG_ERR_MODEL_INVALID;
    if (err == 0 && !(m->arena = nn_alloc_packed(total * sizeof(float))))
        err = AECIMG_ERR_NO_MEMORY;
    size_t at = 0;
    for (uint32_t i = 0; err == 0 && i < m->tensor_count; i++) {
        m->tensors[i].data = m->arena + at;
        at += m->tensors[i].count;
        err = convert_tensor(&m->tensors[i], raw[i], type[i]);
    }
    free(raw);
    free(type);
    return err;
}

static int tensor_has_shape(const ModelTensor *t, uint32_t ndim, const uint32_t *dims)
{
    if (!t || t->ndim != ndim)
        return 0;
    for (uint32_t i = 0; i < ndim; i++)
        if (t->dims[i] != dims[i])
            return 0;
    return 1;
}

/* Checks one layer's parameters and tensor shapes; updates the running channel count and scale. */
static int check_layer(const ModelLayer *l, uint32_t *channels, uint32_t *scale)
{
    switch (l->op) {
    case MODEL_OP_CONV: {
        uint32_t cin = l->p[0], cout = l->p[1], k = l->p[2], stride = l->p[3];
        RETURN_ERROR_IF(cin != *channels || cout < 1 || cout > MODEL_MAX_CHANNELS, AECIMG_ERR_MODEL_INVALID);
        RETURN_ERROR_IF(k < 1 || k > 7 || k % 2 == 0, AECIMG_ERR_MODEL_INVALID);
        RETURN_ERROR_IF(stride != 1 && !(stride == 2 && l->net == MODEL_NET_ANALYSIS), AECIMG_ERR_MODEL_INVALID);
        uint32_t wdims[4] = {cout, cin, k, k};
        RETURN_ERROR_IF(!tensor_has_shape(l->t[0], 4, wdims), AECIMG_ERR_MODEL_INVALID);
        RETURN_ERROR_IF(!tensor_has_shape(l->t[1], 1, &cout), AECIMG_ERR_MODEL_INVALID);
        *channels = cout;
        *scale *= stride;
        return 0;
    }
    case MODEL_OP_GDN:
    case MODEL_OP_IGDN: {
        uint32_t c = l->p[0];
        uint32_t gdims[2] = {c, c};
        RETURN_ERROR_IF(c != *channels, AECIMG_ERR_MODEL_INVALID);
        /* The kernels keep a pixel's channels on the stack; a wider GDN is no model of this codec. */
        RETURN_ERROR_IF(c > NN_GDN_MAX_CHANNELS, AECIMG_ERR_MODEL_INVALID);
        RETURN_ERROR_IF(!tensor_has_shape(l->t[0], 1, &c), AECIMG_ERR_MODEL_INVALID);
        RETURN_ERROR_IF(!tensor_has_shape(l->t[1], 2, gdims), AECIMG_ERR_MODEL_INVALID);
        for (size_t i = 0; i < c; i++)
            RETURN_ERROR_IF(!(l->t[0]->data[i] > 0), AECIMG_ERR_MODEL_INVALID); /* sqrt of a positive norm */
        for (size_t i = 0; i < (size_t)c * c; i++)
            RETURN_ERROR_IF(l->t[1]->data[i] < 0, AECIMG_ERR_MODEL_INVALID);
        return 0;
    }
    case MODEL_OP_PIXEL_SHUFFLE:
        RETURN_ERROR_IF(l->p[0] != 2 || l->net != MODEL_NET_SYNTHESIS, AECIMG_ERR_MODEL_INVALID);
        RETURN_ERROR_IF(*channels % 4 != 0, AECIMG_ERR_MODEL_INVALID);
        RETURN_ERROR_IF(l->t[0] || l->t[1], AECIMG_ERR_MODEL_INVALID);
        *channels /= 4;
        *scale *= 2;
        return 0;
    default:
        return AECIMG_ERR_MODEL_INVALID;
    }
}

static int check_network(const ModelFile *m, uint32_t net, uint32_t from, uint32_t to)
{
    uint32_t channels = from, scale = 1, layers = 0;
    for (uint32_t i = 0; i < m->layer_count; i++) {
        if (m->layers[i].net != net)
            continue;
        FORWARD_IF_ERROR(check_layer(&m->layers[i], &channels, &scale));
        layers++;
    }
    RETURN_ERROR_IF(layers == 0 || channels != to || scale != m->stride, AECIMG_ERR_MODEL_INVALID);
    return 0;
}

static int parse_arch(const Section *s, ModelFile *m)
{
    Reader r = {s->data, s->size};
    FORWARD_IF_ERROR(take_u32(&r, &m->image_channels));
    FORWARD_IF_ERROR(take_u32(&r, &m->latent_channels));
    FORWARD_IF_ERROR(take_u32(&r, &m->stride));
    FORWARD_IF_ERROR(take_u32(&r, &m->layer_count));
    /* Gray models (one channel) and color models (three); alpha is coded beside the network. */
    RETURN_ERROR_IF(m->image_channels != 1 && m->image_channels != 3, AECIMG_ERR_MODEL_INVALID);
    RETURN_ERROR_IF(m->latent_channels < 1 || m->latent_channels > MODEL_MAX_CHANNELS, AECIMG_ERR_MODEL_INVALID);
    RETURN_ERROR_IF(m->stride < 1 || m->stride > 64, AECIMG_ERR_MODEL_INVALID);
    RETURN_ERROR_IF(m->layer_count < 2 || m->layer_count > MODEL_MAX_LAYERS, AECIMG_ERR_MODEL_INVALID);
    for (uint32_t i = 0; i < m->layer_count; i++) {
        const uint8_t *p;
        FORWARD_IF_ERROR(take(&r, 28, &p));
        ModelLayer *l = &m->layers[i];
        l->net = p[0];
        l->op = p[1];
        RETURN_ERROR_IF(l->net > 1 || p[2] || p[3], AECIMG_ERR_MODEL_INVALID);
        for (int k = 0; k < 4; k++)
            l->p[k] = load_le32(p + 4 + 4 * k);
        for (int k = 0; k < 2; k++) {
            uint32_t idx = load_le32(p + 20 + 4 * k);
            RETURN_ERROR_IF(idx != 0xffffffffu && idx >= m->tensor_count, AECIMG_ERR_MODEL_INVALID);
            l->t[k] = idx == 0xffffffffu ? NULL : &m->tensors[idx];
        }
    }
    RETURN_ERROR_IF(r.left != 0, AECIMG_ERR_MODEL_INVALID);
    FORWARD_IF_ERROR(check_network(m, MODEL_NET_ANALYSIS, m->image_channels, m->latent_channels));
    return check_network(m, MODEL_NET_SYNTHESIS, m->latent_channels, m->image_channels);
}

static int parse_rates(const Section *s, ModelFile *m)
{
    Reader r = {s->data, s->size};
    uint32_t channels;
    FORWARD_IF_ERROR(take_u32(&r, &m->quality_count));
    FORWARD_IF_ERROR(take_u32(&r, &channels));
    RETURN_ERROR_IF(m->quality_count != MODEL_QUALITIES || channels != m->latent_channels, AECIMG_ERR_MODEL_INVALID);
    size_t count = (size_t)m->quality_count * 3 * channels;
    const uint8_t *p;
    FORWARD_IF_ERROR(take(&r, count * 4, &p));
    RETURN_ERROR_IF(r.left != 0, AECIMG_ERR_MODEL_INVALID);
    m->rates = malloc(count * sizeof(float));
    RETURN_ERROR_IF(!m->rates, AECIMG_ERR_NO_MEMORY);
    for (size_t i = 0; i < count; i++) {
        m->rates[i] = f32_from_bits(load_le32(p + 4 * i));
        RETURN_ERROR_IF(!isfinite(m->rates[i]), AECIMG_ERR_MODEL_INVALID);
    }
    for (uint32_t q = 0; q < m->quality_count; q++)
        for (uint32_t c = 0; c < channels; c++)
            RETURN_ERROR_IF(!(model_gain(m, q)[c] > 0 && model_inv_gain(m, q)[c] > 0), AECIMG_ERR_MODEL_INVALID);
    return 0;
}

static int check_table(const ModelCdf *t, uint32_t precision)
{
    uint32_t sum = 0;
    for (uint32_t i = 0; i <= t->count; i++) {
        RETURN_ERROR_IF(t->freq[i] == 0, AECIMG_ERR_MODEL_INVALID);
        sum += t->freq[i];
    }
    RETURN_ERROR_IF(sum != 1u << precision, AECIMG_ERR_MODEL_INVALID);
    /* Symbols and their distance from the first must stay far from int32 overflow. */
    RETURN_ERROR_IF(t->first < -(1 << 24) || t->first > (1 << 24), AECIMG_ERR_MODEL_INVALID);
    return 0;
}

static int parse_cdfs(const Section *s, ModelFile *m)
{
    Reader r = {s->data, s->size};
    uint32_t qualities, channels, total;
    FORWARD_IF_ERROR(take_u32(&r, &m->precision));
    FORWARD_IF_ERROR(take_u32(&r, &qualities));
    FORWARD_IF_ERROR(take_u32(&r, &channels));
    FORWARD_IF_ERROR(take_u32(&r, &total));
    RETURN_ERROR_IF(m->precision < 12 || m->precision > 16, AECIMG_ERR_MODEL_INVALID);
    RETURN_ERROR_IF(qualities != m->quality_count || channels != m->latent_channels, AECIMG_ERR_MODEL_INVALID);
    size_t tables = (size_t)qualities * channels;
    const uint8_t *index, *freq;
    FORWARD_IF_ERROR(take(&r, tables * 12, &index));
    RETURN_ERROR_IF(total > (1u << 28), AECIMG_ERR_MODEL_INVALID);
    FORWARD_IF_ERROR(take(&r, (size_t)total * 2, &freq));
    RETURN_ERROR_IF(r.left != 0, AECIMG_ERR_MODEL_INVALID);
    m->freqs = malloc((size_t)total * sizeof(uint16_t) + 1);
    m->cdfs = malloc(tables * sizeof *m->cdfs);
    RETURN_ERROR_IF(!m->freqs || !m->cdfs, AECIMG_ERR_NO_MEMORY);
    for (size_t i = 0; i < total; i++)
        m->freqs[i] = (uint16_t)(freq[2 * i] | freq[2 * i + 1] << 8);
    for (size_t i = 0; i < tables; i++) {
        ModelCdf *t = &m->cdfs[i];
        uint32_t offset = load_le32(index + 12 * i + 8);
        t->first = (int32_t)load_le32(index + 12 * i);
        t->count = load_le32(index + 12 * i + 4);
        RETURN_ERROR_IF(t->count < 1 || t->count > MODEL_MAX_SYMBOLS, AECIMG_ERR_MODEL_INVALID);
        RETURN_ERROR_IF(offset > total || total - offset < t->count + 1, AECIMG_ERR_MODEL_INVALID);
        t->freq = m->freqs + offset;
        FORWARD_IF_ERROR(check_table(t, m->precision));
    }
    return 0;
}

static int parse_all(const uint8_t *data, size_t size, ModelFile *m)
{
    Section sec[SECTION_COUNT];
    FORWARD_IF_ERROR(find_sections(data, size, sec));
    uint8_t digest[32];
    sha256(data, size - 32, digest);
    RETURN_ERROR_IF(memcmp(digest, data + size - 32, 32) != 0, AECIMG_ERR_MODEL_INVALID);
    memcpy(m->hash, digest, 32);
    FORWARD_IF_ERROR(parse_meta(&sec[0], m));
    FORWARD_IF_ERROR(parse_tensors(&sec[2], m));
    FORWARD_IF_ERROR(parse_arch(&sec[1], m));
    FORWARD_IF_ERROR(parse_rates(&sec[3], m));
    return parse_cdfs(&sec[4], m);
}

int model_file_parse(const uint8_t *data, size_t size, ModelFile *m)
{
    memset(m, 0, sizeof *m);
    int err = parse_all(data, size, m);
    if (err < 0)
        model_file_free(m);
    return err;
}

/* The file mapped rather than read: the page cache's pages, mapped in one go, instead of a copy into
 * fresh memory that faults page by page.  Where it cannot be mapped it is read. */
static int load_read(int fd, size_t size, ModelFile *m)
{
    uint8_t *buf = malloc(size ? size : 1);
    RETURN_ERROR_IF(!buf, AECIMG_ERR_NO_MEMORY);
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    int err = got == size ? model_file_parse(buf, size, m) : AECIMG_ERR_IO;
    free(buf);
    return err;
}

int model_file_load(const char *path, ModelFile *m)
{
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? AECIMG_ERR_MODEL_NOT_FOUND : AECIMG_ERR_IO;
    struct stat st;
    int err = fstat(fd, &st) == 0 && st.st_size >= 0 ? AECIMG_OK : AECIMG_ERR_IO;
    if (err == AECIMG_OK && (uint64_t)st.st_size > MAX_MODEL_FILE_SIZE)
        err = AECIMG_ERR_MODEL_INVALID;
    if (err == AECIMG_OK) {
        const size_t size = (size_t)st.st_size;
        void *map = size && S_ISREG(st.st_mode) ? mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0)
                                                : MAP_FAILED;
        if (map != MAP_FAILED) {
            err = model_file_parse(map, size, m);
            munmap(map, size);
        } else {
            err = load_read(fd, size, m);
        }
    }
    close(fd);
    return err;
}

void model_file_free(ModelFile *m)
{
    nn_free_packed(m->arena);
    free(m->tensors);
    free(m->meta);
    free(m->rates);
    free(m->cdfs);
    free(m->freqs);
    memset(m, 0, sizeof *m);
}

int model_file_meta(const ModelFile *m, const char *key, char *buf, size_t buf_size)
{
    size_t key_len = strlen(key);
    for (const char *line = m->meta; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > key_len && line[key_len] == '=' && memcmp(line, key, key_len) == 0) {
            size_t vlen = len - key_len - 1;
            if (vlen >= buf_size)
                return -1;
            memcpy(buf, line + key_len + 1, vlen);
            buf[vlen] = '\0';
            return 0;
        }
        line = end ? end + 1 : NULL;
    }
    return -1;
}

#define MODEL_MAX_LAMBDAS 64

static int parse_lambdas(const ModelFile *m, double *v)
{
    char text[1024];
    if (model_file_meta(m, "lambdas", text, sizeof text) < 0)
        return -1;
    int n = 0;
    for (const char *p = text; n < MODEL_MAX_LAMBDAS;) {
        char *end;
        double x = strtod(p, &end);
        if (end == p || !(x > 0) || !isfinite(x) || (n > 0 && !(x > v[n - 1])))
            return -1;
        v[n++] = x;
        if (*end == '\0')
            return n >= 2 ? n : -1;
        if (*end != ',')
            return -1;
        p = end + 1;
    }
    return -1;
}

int model_file_lambda(const ModelFile *m, int q, double *lambda)
{
    double v[MODEL_MAX_LAMBDAS];
    int n = parse_lambdas(m, v);
    RETURN_ERROR_IF(n < 0 || q < 0 || q >= MODEL_QUALITIES, AECIMG_ERR_UNSUPPORTED);
    double t = q / (double)(MODEL_QUALITIES - 1) * (n - 1);
    int i = (int)floor(t);
    if (i > n - 2)
        i = n - 2;
    double a = t - i;
    *lambda = exp((1 - a) * log(v[i]) + a * log(v[i + 1]));
    return 0;
}
