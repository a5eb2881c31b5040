/* fuzz_decode.c: .aec parsing and full decoding with the tiny model.
 *
 * Every input goes through aecimg_read_info and aecimg_read_icc (the container alone),
 * aecimg_decode_latents (container, model checks, entropy stage, quantizer), aecimg_decode_rate_map (the
 * same symbols measured against the tables) and aecimg_decode (all that, synthesis, alpha, ICC).  They must
 * agree: a file the container reader refuses cannot decode, a decoded image has the size and channels the
 * header says, and a file that decodes has finite latents and a finite, nonnegative rate map of the
 * header's shape (in the compact form, which does not store it, a shape within the image's).
 *
 * Every chunk carries a CRC-32, which random changes almost never keep right, so each input is
 * decoded twice: as it is (the framing and CRC checks), and with the CRC of every complete chunk
 * recomputed (in the compact form, the header and body CRCs), so that the parsers and the entropy
 * stages see the mutated bytes. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "container.h"
#include "fuzz_common.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static AecimgContext *ctx;

/* Stores crc at p; 1 if that changed the bytes. */
static int put_crc(uint8_t *p, uint32_t crc)
{
    if (load_be32(p) == crc)
        return 0;
    store_be32(p, crc);
    return 1;
}

/* The offset after the varint at pos, or size if it runs past the end. */
static size_t skip_varint(const uint8_t *data, size_t size, size_t pos, uint32_t *value)
{
    uint32_t v = 0;
    for (unsigned shift = 0; pos < size; shift += 7) {
        const uint8_t b = data[pos++];
        v |= shift < 32 ? (uint32_t)(b & 0x7f) << shift : 0;
        if (!(b & 0x80)) {
            *value = v;
            return pos;
        }
    }
    return size;
}

/* The compact form's two CRCs, where the header as the mutated bytes lay it out fits in the data
 * (doc/container.md section 9.2). */
static int repair_compact_crcs(uint8_t *data, size_t size)
{
    const size_t fixed_end = 25;
    uint32_t count = 0, v;
    if (size < fixed_end + 9)
        return 0;
    size_t pos = skip_varint(data, size, fixed_end, &count);
    for (uint32_t i = 0; i < count && i < AEC_MAX_STREAMS && pos < size; i++)
        pos = skip_varint(data, size, pos, &v);
    const unsigned channels = data[13] & 7;
    if ((channels == 2 || channels == 4) && pos < size)
        pos = skip_varint(data, size, pos + 1, &v);
    if ((data[13] & 0x80) && pos < size)
        pos = skip_varint(data, size, pos + 1, &v);
    if (pos > size || size - pos < 8)
        return 0;
    int changed = put_crc(data + pos, container_crc32(0, data + AEC_SIGNATURE_SIZE, pos - AEC_SIGNATURE_SIZE));
    return put_crc(data + size - 4, container_crc32(0, data + pos + 4, size - 4 - (pos + 4))) | changed;
}

/* Rewrites the CRC of each chunk that lies wholly within the data; 1 if any changed. */
static int repair_crcs(uint8_t *data, size_t size)
{
    if (size > AEC_SIGNATURE_SIZE && data[AEC_SIGNATURE_SIZE] >= AEC_FORM_COMPACT)
        return repair_compact_crcs(data, size);
    int changed = 0;
    size_t pos = AEC_SIGNATURE_SIZE;
    while (pos <= size && size - pos >= 12) {
        uint32_t length = load_be32(data + pos);
        if (length > size - pos - 12)
            break;
        uint32_t crc = container_crc32(0, data + pos + 4, (size_t)length + 4);
        if (load_be32(data + pos + 8 + length) != crc) {
            store_be32(data + pos + 8 + length, crc);
            changed = 1;
        }
        pos += 12 + (size_t)length;
    }
    return changed;
}

static void check_decode(const uint8_t *data, size_t size);
static int check_latents(const uint8_t *data, size_t size, const AecimgInfo *info, int info_err);
static int check_rate_map(const uint8_t *data, size_t size, const AecimgInfo *info, int info_err);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx)
        ctx = fuzz_open_tiny();
    check_decode(data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    if (size)
        memcpy(copy, data, size);
    if (repair_crcs(copy, size))
        check_decode(copy, size);
    free(copy);
    return 0;
}

static void check_decode(const uint8_t *data, size_t size)
{
    AecimgInfo info;
    int info_err = aecimg_read_info(data, size, &info);
    if (info_err > 0)
        abort();
    const uint8_t *icc;
    size_t icc_size;
    if (aecimg_read_icc(data, size, &icc, &icc_size) != info_err ||
        (info_err == 0 && icc_size != info.icc_size) || (!icc) != (icc_size == 0))
        abort();
    int latents_err = check_latents(data, size, &info, info_err);
    if (check_rate_map(data, size, &info, info_err) != latents_err)
        abort();
    AecimgImage img;
    int err = aecimg_decode(ctx, data, size, &img);
    if (err > 0 || (err == 0 && (info_err != 0 || latents_err != 0)))
        abort();
    if (err < 0) {
        /* A failed decode leaves an empty image. */
        if (img.pixels || img.icc || img.width || img.height)
            abort();
        return;
    }
    if (img.width != info.width || img.height != info.height || img.channels != info.channels ||
        img.icc_size != info.icc_size || (img.icc_size && !img.icc))
        abort();
    fuzz_touch_image(&img);
    aecimg_image_free(&img);
}

/* The latents: an error leaves a zeroed tensor; success needs a valid container and gives its shape. */
static int check_latents(const uint8_t *data, size_t size, const AecimgInfo *info, int info_err)
{
    AecimgLatents lat;
    int err = aecimg_decode_latents(ctx, data, size, &lat);
    if (err > 0 || (err == 0 && info_err != 0))
        abort();
    if (err < 0) {
        if (lat.data || lat.channels || lat.height || lat.width)
            abort();
        return err;
    }
    /* The compact form leaves the shape to the model (0 in the header): it must still fit the image. */
    const int compact = info->format_version == AEC_FORMAT_VERSION_COMPACT;
    if (compact && (info->latent_channels || info->latent_height || info->latent_width || !lat.channels ||
                    !lat.height || lat.height > info->height || !lat.width || lat.width > info->width))
        abort();
    if (!compact && (lat.channels != info->latent_channels || lat.height != info->latent_height ||
                     lat.width != info->latent_width))
        abort();
    for (size_t i = 0; i < (size_t)lat.channels * lat.height * lat.width; i++)
        if (!isfinite(lat.data[i]))
            abort();
    aecimg_latents_free(&lat);
    return 0;
}

/* The rate map: an error leaves a zeroed map; success gives the latents' shape and bits that add up. */
static int check_rate_map(const uint8_t *data, size_t size, const AecimgInfo *info, int info_err)
{
    AecimgRateMap map;
    int err = aecimg_decode_rate_map(ctx, data, size, &map);
    if (err > 0 || (err == 0 && info_err != 0))
        abort();
    if (err < 0) {
        if (map.bits || map.width || map.height || map.total_bits != 0.0)
            abort();
        return err;
    }
    /* As for the latents: the compact form leaves the shape to the model. */
    const int compact = info->format_version == AEC_FORMAT_VERSION_COMPACT;
    if (compact ? !map.width || map.width > info->width || !map.height || map.height > info->height
                : map.width != info->latent_width || map.height != info->latent_height)
        abort();
    if (map.image_width != info->width || map.image_height != info->height || !isfinite(map.total_bits) ||
        map.total_bits < 0.0)
        abort();
    for (size_t i = 0; i < (size_t)map.width * map.height; i++)
        if (!isfinite(map.bits[i]) || map.bits[i] < 0.0f)
            abort();
    aecimg_rate_map_free(&map);
    return 0;
}
