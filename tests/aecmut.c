/* aecmut.c: makes damaged and edge-case .aec files and test images for the conformance corpus
 * (tests/conformance/generate.sh) and the mutation test (tests/cli_mutate.sh).
 *
 *   aecmut chunks FILE                         one line per chunk: TYPE OFFSET LENGTH (offset of the
 *                                              chunk's length field; the data starts 8 bytes later)
 *   aecmut set FILE OUT TYPE OFFSET HEX        overwrite data bytes of the first TYPE chunk from
 *                                              OFFSET with HEX ("00ff..."), then repair its CRC
 *   aecmut length FILE OUT TYPE VALUE          set the length field of the first TYPE chunk (no repair)
 *   aecmut crc FILE OUT TYPE                   invert the lowest bit of the first TYPE chunk's CRC
 *   aecmut fix FILE OUT TYPE                   recompute the CRC of the first TYPE chunk
 *   aecmut insert FILE OUT BEFORE TYPE HEX     insert a chunk TYPE with data HEX (may be "-", empty)
 *                                              before the first BEFORE chunk, with a correct CRC
 *   aecmut drop FILE OUT TYPE                  remove the first TYPE chunk
 *   aecmut flip FILE OUT BIT                   invert bit BIT (0: lowest bit of the first byte)
 *   aecmut truncate FILE OUT SIZE              keep the first SIZE bytes
 *   aecmut append FILE OUT HEX                 add bytes at the end
 *   aecmut payload FILE OUT TYPE SKIP          the data of the first TYPE chunk from byte SKIP on
 *   aecmut cset FILE OUT OFFSET HEX            compact form (version 2): overwrite bytes from file
 *                                              offset OFFSET with HEX, then repair both CRCs
 *   aecmut image W H CHANNELS MAXVAL OUT       a PAM test image: smooth gradients and some texture,
 *                                              alpha varying; samples of 2 bytes when MAXVAL > 255
 *
 * OUT "-" is standard output.  Exit status 0, or 1 with a message.
 *
 * It does not use the library: its chunk walk and CRC-32 follow doc/container.md on their own, so
 * that the files it makes do not depend on the code they test. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIGNATURE_SIZE 8

static uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* CRC-32/ISO-HDLC bit by bit: reflected polynomial 0xEDB88320, initial and final XOR all ones. */
static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = crc >> 1 ^ (0xedb88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "aecmut: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(1);
}

typedef struct Buf {
    uint8_t *p;
    size_t n;
} Buf;

static Buf read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open %s", path);
    Buf b = {NULL, 0};
    size_t cap = 0;
    for (;;) {
        if (b.n == cap) {
            cap = cap ? 2 * cap : 65536;
            b.p = realloc(b.p, cap);
            if (!b.p)
                die("out of memory reading %s", path);
        }
        size_t got = fread(b.p + b.n, 1, cap - b.n, f);
        if (got == 0)
            break;
        b.n += got;
    }
    if (ferror(f))
        die("cannot read %s", path);
    fclose(f);
    return b;
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
    if (!f)
        die("cannot create %s", path);
    if ((n && fwrite(p, 1, n, f) != n) || fflush(f) != 0)
        die("cannot write %s", path);
    if (f != stdout && fclose(f) != 0)
        die("cannot write %s", path);
}

static unsigned long long number(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || !*s)
        die("not a number: %s", s);
    return v;
}

static Buf hex(const char *s)
{
    Buf b = {NULL, 0};
    if (strcmp(s, "-") == 0)
        return b;
    size_t len = strlen(s);
    if (len % 2)
        die("odd number of hex digits: %s", s);
    b.p = malloc(len / 2 + 1);
    if (!b.p)
        die("out of memory for %s", s);
    for (size_t i = 0; i < len; i += 2) {
        unsigned v;
        if (sscanf(s + i, "%2x", &v) != 1)
            die("not hex: %s", s);
        b.p[b.n++] = (uint8_t)v;
    }
    return b;
}

/* Offset of the first chunk of this type (its length field); the walk stops where framing ends. */
static size_t find_chunk(const Buf *b, const char *type)
{
    if (strlen(type) != 4)
        die("a chunk type has four letters: %s", type);
    size_t pos = SIGNATURE_SIZE;
    while (pos + 12 <= b->n) {
        uint32_t len = load_be32(b->p + pos);
        if (memcmp(b->p + pos + 4, type, 4) == 0)
            return pos;
        if (len > b->n - pos - 12)
            break;
        pos += 12 + (size_t)len;
    }
    die("no %s chunk", type);
    return 0;
}

static void repair_crc(Buf *b, size_t pos)
{
    uint32_t len = load_be32(b->p + pos);
    if (len > b->n - pos - 12)
        die("the chunk to repair runs past the end%s", "");
    store_be32(b->p + pos + 8 + len, crc32_of(b->p + pos + 4, (size_t)len + 4));
}

static size_t skip_varint(const Buf *b, size_t pos)
{
    while (pos < b->n && (b->p[pos] & 0x80))
        pos++;
    if (pos >= b->n)
        die("a varint runs past the end%s", "");
    return pos + 1;
}

static uint32_t read_varint(const Buf *b, size_t *pos)
{
    uint32_t v = 0;
    for (int shift = 0; *pos < b->n && shift < 35; shift += 7) {
        uint8_t byte = b->p[(*pos)++];
        v |= (uint32_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return v;
    }
    die("a bad varint%s", "");
    return 0;
}

/* Recomputes the header and body CRCs of a compact file (doc/container.md section 9.2), walking
 * its header as the table says. */
static void repair_compact(Buf *b)
{
    const size_t fixed_end = 25;
    if (b->n < fixed_end + 9 || b->p[8] < 0x80)
        die("not a compact file%s", "");
    size_t pos = fixed_end;
    uint32_t count = read_varint(b, &pos);
    for (uint32_t i = 0; i < count; i++)
        pos = skip_varint(b, pos);
    unsigned channels = b->p[13] & 7;
    if (channels == 2 || channels == 4)
        pos = skip_varint(b, pos + 1);
    if (b->p[13] & 0x80)
        pos = skip_varint(b, pos + 1);
    if (pos + 8 > b->n)
        die("the header runs past the end%s", "");
    store_be32(b->p + pos, crc32_of(b->p + 8, pos - 8));
    store_be32(b->p + b->n - 4, crc32_of(b->p + pos + 4, b->n - 4 - (pos + 4)));
}

/* A PAM image whose content has gradients, edges and texture: a plausible photo for a codec. */
static int make_image(char **argv)
{
    unsigned long long w = number(argv[2]), h = number(argv[3]), ch = number(argv[4]), maxval = number(argv[5]);
    static const char *const tuple[4] = {"GRAYSCALE", "GRAYSCALE_ALPHA", "RGB", "RGB_ALPHA"};
    if (w < 1 || h < 1 || w > 4096 || h > 4096 || ch < 1 || ch > 4 || maxval < 1 || maxval > 65535)
        die("bad image parameters%s", "");
    FILE *f = strcmp(argv[6], "-") == 0 ? stdout : fopen(argv[6], "wb");
    if (!f)
        die("cannot create %s", argv[6]);
    fprintf(f, "P7\nWIDTH %llu\nHEIGHT %llu\nDEPTH %llu\nMAXVAL %llu\nTUPLTYPE %s\nENDHDR\n", w, h, ch, maxval,
            tuple[ch - 1]);
    uint32_t seed = 12345;
    for (unsigned long long y = 0; y < h; y++)
        for (unsigned long long x = 0; x < w; x++)
            for (unsigned long long c = 0; c < ch; c++) {
                seed = seed * 1103515245u + 12345u;
                double v;
                if (c == ch - 1 && (ch == 2 || ch == 4))
                    v = (double)((x * 37 + y * 11) % 256) / 255.0; /* alpha */
                else
                    v = 0.45 * (double)x / (double)w + 0.35 * (double)y / (double)h + 0.1 * (double)c / 3.0 +
                        ((x / 4 + y / 4) % 2 ? 0.08 : 0.0) + (double)(seed >> 24) / 255.0 * 0.04;
                unsigned long long s = (unsigned long long)(v * (double)maxval + 0.5);
                s = s > maxval ? maxval : s;
                if (maxval > 255)
                    fputc((int)(s >> 8), f);
                fputc((int)(s & 0xff), f);
            }
    if (fflush(f) != 0 || ferror(f) || (f != stdout && fclose(f) != 0))
        die("cannot write %s", argv[6]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 7 && strcmp(argv[1], "image") == 0)
        return make_image(argv);
    if (argc < 3)
        die("usage: see the comment at the top of tests/aecmut.c%s", "");
    const char *cmd = argv[1];
    Buf b = read_file(argv[2]);
    if (strcmp(cmd, "chunks") == 0) {
        size_t pos = SIGNATURE_SIZE;
        while (pos + 12 <= b.n) {
            uint32_t len = load_be32(b.p + pos);
            printf("%.4s %zu %u\n", (const char *)b.p + pos + 4, pos, len);
            if (len > b.n - pos - 12)
                break;
            pos += 12 + (size_t)len;
        }
        free(b.p);
        return 0;
    }
    if (argc < 4)
        die("%s needs an output file", cmd);
    const char *out = argv[3];
    if (strcmp(cmd, "set") == 0 && argc == 7) {
        size_t pos = find_chunk(&b, argv[4]);
        unsigned long long off = number(argv[5]);
        Buf bytes = hex(argv[6]);
        uint32_t len = load_be32(b.p + pos);
        if (off > len || bytes.n > len - off)
            die("bytes past the end of the %s chunk", argv[4]);
        memcpy(b.p + pos + 8 + off, bytes.p, bytes.n);
        free(bytes.p);
        repair_crc(&b, pos);
    } else if (strcmp(cmd, "cset") == 0 && argc == 6) {
        unsigned long long off = number(argv[4]);
        Buf bytes = hex(argv[5]);
        if (off > b.n || bytes.n > b.n - off)
            die("bytes past the end of %s", argv[2]);
        memcpy(b.p + off, bytes.p, bytes.n);
        free(bytes.p);
        repair_compact(&b);
    } else if (strcmp(cmd, "length") == 0 && argc == 6) {
        store_be32(b.p + find_chunk(&b, argv[4]), (uint32_t)number(argv[5]));
    } else if (strcmp(cmd, "crc") == 0 && argc == 5) {
        size_t pos = find_chunk(&b, argv[4]);
        b.p[pos + 8 + load_be32(b.p + pos) + 3] ^= 1;
    } else if (strcmp(cmd, "fix") == 0 && argc == 5) {
        repair_crc(&b, find_chunk(&b, argv[4]));
    } else if (strcmp(cmd, "insert") == 0 && argc == 7) {
        size_t pos = find_chunk(&b, argv[4]);
        Buf data = hex(argv[6]);
        if (strlen(argv[5]) != 4)
            die("a chunk type has four letters: %s", argv[5]);
        Buf nb = {malloc(b.n + 12 + data.n), b.n + 12 + data.n};
        if (!nb.p)
            die("out of memory%s", "");
        memcpy(nb.p, b.p, pos);
        store_be32(nb.p + pos, (uint32_t)data.n);
        memcpy(nb.p + pos + 4, argv[5], 4);
        if (data.n)
            memcpy(nb.p + pos + 8, data.p, data.n);
        memcpy(nb.p + pos + 12 + data.n, b.p + pos, b.n - pos);
        repair_crc(&nb, pos);
        free(data.p);
        free(b.p);
        b = nb;
    } else if (strcmp(cmd, "drop") == 0 && argc == 5) {
        size_t pos = find_chunk(&b, argv[4]), len = 12 + (size_t)load_be32(b.p + pos);
        memmove(b.p + pos, b.p + pos + len, b.n - pos - len);
        b.n -= len;
    } else if (strcmp(cmd, "flip") == 0 && argc == 5) {
        unsigned long long bit = number(argv[4]);
        if (bit / 8 >= b.n)
            die("bit %s is past the end", argv[4]);
        b.p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    } else if (strcmp(cmd, "truncate") == 0 && argc == 5) {
        unsigned long long n = number(argv[4]);
        b.n = n < b.n ? (size_t)n : b.n;
    } else if (strcmp(cmd, "payload") == 0 && argc == 6) {
        size_t pos = find_chunk(&b, argv[4]);
        unsigned long long skip = number(argv[5]);
        uint32_t len = load_be32(b.p + pos);
        if (len > b.n - pos - 12 || skip > len)
            die("the %s chunk is shorter than that", argv[4]);
        memmove(b.p, b.p + pos + 8 + skip, len - skip);
        b.n = len - skip;
    } else if (strcmp(cmd, "append") == 0 && argc == 5) {
        Buf more = hex(argv[4]);
        b.p = realloc(b.p, b.n + more.n + 1);
        if (!b.p)
            die("out of memory%s", "");
        if (more.n)
            memcpy(b.p + b.n, more.p, more.n);
        b.n += more.n;
        free(more.p);
    } else {
        die("unknown command or wrong arguments: %s", cmd);
    }
    write_file(out, b.p, b.n);
    free(b.p);
    return 0;
}
