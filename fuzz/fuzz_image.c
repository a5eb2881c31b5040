/* fuzz_image.c: the PNG, PNM/PAM and JPEG readers of tools/imageio.
 *
 * imageio_read picks the reader from the first bytes, as aec-encode does.  The first byte of the
 * input is not part of the image: its low bit selects the pixel limit, so that both the limit check
 * and the decoding behind it are reached, and its next two bits may hand the rest to the PNG or the
 * JPEG reader directly, bypassing the sniffing (those two check their own signatures; the PNM
 * reader relies on imageio_read having seen "Pn"). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "imageio/imageio.h"
#include "imageio/imageio_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t mode = data[0];
    const uint64_t max_pixels = mode & 1 ? 4096 : 1u << 20;
    data++;
    size--;
    AecimgImage img;
    char err[256] = "";
    int rc;
    memset(&img, 0, sizeof img);
    switch (mode >> 1 & 3) {
    case 2:
        rc = imageio_read_png(data, size, max_pixels, &img, err, sizeof err);
        break;
    case 3:
        rc = imageio_read_jpeg(data, size, max_pixels, &img, err, sizeof err);
        break;
    default:
        rc = imageio_read(data, size, max_pixels, &img, err, sizeof err);
        break;
    }
    if (rc != 0) {
        /* Failure: an empty image and a one-line reason. */
        if (img.pixels || img.icc || rc != -1 || err[0] == '\0' || strchr(err, '\n'))
            abort();
        return 0;
    }
    if (img.width < 1 || img.height < 1 || img.channels < 1 || img.channels > 4 ||
        (uint64_t)img.width * img.height > max_pixels || img.source_bit_depth < 1 ||
        img.source_bit_depth > 16 || (img.icc_size && !img.icc))
        abort();
    fuzz_touch_image(&img);
    aecimg_image_free(&img);
    return 0;
}
