/* jpeg_io.c: JPEG decoding from memory with libjpeg(-turbo), when configure found it. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "imageio/imageio.h"
#include "imageio/imageio_internal.h"

#ifdef HAVE_JPEG

#include <limits.h>
#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE */
#include <stdlib.h>

#include <jpeglib.h>
#include <jerror.h>

/* libjpeg reports fatal errors through error_exit, which must not return: it longjmps here. */
typedef struct JpegError {
    struct jpeg_error_mgr mgr; /* first, so a j_common_ptr's err converts to a JpegError */
    jmp_buf jump;
    char *err;
    size_t err_size;
} JpegError;

/* Each scan of a progressive file may cost a pass over every block of the image while taking a few
 * bytes of the file (an end-of-band run covers 32767 blocks), so a small file with thousands of
 * scans takes minutes to decode.  libjpeg-turbo's advice (libjpeg.txt, its example programs) is to
 * refuse such files with a progress monitor; real files have about 10 scans. */
#define JPEG_MAX_SCANS 500

/* State of one decode.  It lives in imageio_read_jpeg's frame, not in the frame that calls setjmp,
 * so whatever decode_jpeg stores in it stays valid after a longjmp (no volatile needed). */
typedef struct JpegReader {
    struct jpeg_decompress_struct cinfo;
    JpegError error;
    struct jpeg_progress_mgr progress;
    uint64_t max_pixels;
    AecimgImage out;
} JpegReader;

static void on_error(j_common_ptr cinfo)
{
    JpegError *e = (JpegError *)cinfo->err;
    char msg[JMSG_LENGTH_MAX];
    e->mgr.format_message(cinfo, msg);
    imageio_set_error(e->err, e->err_size, "JPEG: %s", msg);
    longjmp(e->jump, 1);
}

static void on_progress(j_common_ptr cinfo)
{
    JpegError *e = (JpegError *)cinfo->err;
    if (cinfo->is_decompressor && ((j_decompress_ptr)cinfo)->input_scan_number > JPEG_MAX_SCANS) {
        imageio_set_error(e->err, e->err_size, "JPEG: more than %d scans", JPEG_MAX_SCANS);
        longjmp(e->jump, 1);
    }
}

/* libjpeg only warns about damaged entropy-coded data, then invents the missing coefficients (gray
 * for a short file, or for a header that claims more rows than the data holds).  Those warnings
 * are fatal here: we refuse a damaged file rather than encode made-up pixels.  The other warnings
 * leave the decoded data intact (unknown JFIF revision or Adobe transform, a bad ICC marker, stray
 * bytes between segments, odd scan parameters that libjpeg ignores) and stay silent, as do trace
 * messages. */
static int damages_pixels(int msg_code)
{
    switch (msg_code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC:
        return 1;
    default:
        return 0;
    }
}

static void on_message(j_common_ptr cinfo, int level)
{
    if (level < 0 && damages_pixels(cinfo->err->msg_code))
        cinfo->err->error_exit(cinfo);
}

/* Gray stays gray, YCbCr and RGB become RGB.  CMYK and YCCK (Adobe) files are refused rather than
 * converted: without their ICC profile, a naive CMYK to RGB conversion gives wrong colours. */
static int choose_output(JpegReader *r)
{
    switch (r->cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
        r->cinfo.out_color_space = JCS_GRAYSCALE;
        return 0;
    case JCS_CMYK:
    case JCS_YCCK:
        imageio_set_error(r->error.err, r->error.err_size, "JPEG: CMYK images are not supported");
        return -1;
    default:
        r->cinfo.out_color_space = JCS_RGB;
        return 0;
    }
}

/* Rows allocated before the first scanline: enough for most images in one go. */
#define JPEG_FIRST_ROWS 256u

/* Grows the pixel buffer (doubling) as scanlines arrive rather than sizing it from the header, so a
 * short file that claims a huge image runs out of data before it costs the whole allocation.
 * (realloc of a large block remaps pages rather than copying them.) */
static int reserve_rows(JpegReader *r, uint32_t *capacity)
{
    uint32_t rows = *capacity ? *capacity * 2 : JPEG_FIRST_ROWS;
    if (rows > r->out.height)
        rows = r->out.height;
    /* 65535 * 65535 * 3 bytes fits 64 bits but not a 32-bit size_t. */
    uint64_t bytes = (uint64_t)r->out.width * r->out.channels * rows;
    uint8_t *grown = bytes <= SIZE_MAX ? realloc(r->out.pixels, (size_t)bytes) : NULL;
    if (!grown) {
        imageio_set_error(r->error.err, r->error.err_size, "JPEG: out of memory for a %ux%u image",
                          r->out.width, r->out.height);
        return -1;
    }
    r->out.pixels = grown;
    *capacity = rows;
    return 0;
}

/* Huffman coding spends at least one bit on the DC coefficient of every block of every component,
 * baseline and progressive alike, so a file of n bytes holds at most 8n blocks.  Refusing a shorter
 * file before jpeg_start_decompress keeps a few hostile bytes from costing the whole-image
 * coefficient buffer that libjpeg allocates for a progressive file.  Arithmetic coding has no such
 * floor; there the pixel limit is the only bound. */
static int check_data_size(JpegReader *r, size_t size)
{
    if (r->cinfo.arith_code)
        return 0;
    uint64_t blocks = 0;
    for (int i = 0; i < r->cinfo.num_components; i++)
        blocks += (uint64_t)r->cinfo.comp_info[i].width_in_blocks * r->cinfo.comp_info[i].height_in_blocks;
    if (blocks <= (uint64_t)size * 8)
        return 0;
    imageio_set_error(r->error.err, r->error.err_size, "JPEG: a file of %zu bytes cannot hold a %ux%u image",
                      size, (unsigned)r->cinfo.image_width, (unsigned)r->cinfo.image_height);
    return -1;
}

static int decode_jpeg(JpegReader *r, const uint8_t *data, size_t size)
{
    if (setjmp(r->error.jump))
        return -1;
    jpeg_create_decompress(&r->cinfo);
    r->progress.progress_monitor = on_progress;
    r->cinfo.progress = &r->progress; /* after jpeg_create_decompress, which clears the field */
    jpeg_mem_src(&r->cinfo, data, (unsigned long)size);
    jpeg_save_markers(&r->cinfo, JPEG_APP0 + 2, 0xffff); /* APP2 holds the ICC profile */
    jpeg_read_header(&r->cinfo, TRUE);
    if (imageio_check_size("JPEG", r->cinfo.image_width, r->cinfo.image_height, r->max_pixels,
                           r->error.err, r->error.err_size) < 0 ||
        check_data_size(r, size) < 0 || choose_output(r) < 0)
        return -1;
    JOCTET *icc;
    unsigned int icc_size;
    if (jpeg_read_icc_profile(&r->cinfo, &icc, &icc_size)) {
        r->out.icc = icc; /* malloc'd by libjpeg-turbo, freed with the image */
        r->out.icc_size = icc_size;
    }
    r->out.source_bit_depth = (uint32_t)r->cinfo.data_precision;

    jpeg_start_decompress(&r->cinfo);
    r->out.width = r->cinfo.output_width;
    r->out.height = r->cinfo.output_height;
    r->out.channels = (uint32_t)r->cinfo.output_components;
    size_t stride = (size_t)r->out.width * r->out.channels;
    uint32_t capacity = 0;
    while (r->cinfo.output_scanline < r->cinfo.output_height) {
        if (r->cinfo.output_scanline == capacity && reserve_rows(r, &capacity) < 0)
            return -1;
        JSAMPROW row = r->out.pixels + r->cinfo.output_scanline * stride;
        /* A memory source never suspends, so each call delivers a line or fails. */
        if (jpeg_read_scanlines(&r->cinfo, &row, 1) != 1) {
            imageio_set_error(r->error.err, r->error.err_size, "JPEG: decoder stalled");
            return -1;
        }
    }
    jpeg_finish_decompress(&r->cinfo);
    return 0;
}

int imageio_read_jpeg(const uint8_t *data, size_t size, uint64_t max_pixels, AecimgImage *img,
                      char *err, size_t err_size)
{
#if SIZE_MAX > ULONG_MAX
    if (size > ULONG_MAX) {
        imageio_set_error(err, err_size, "JPEG: file too large");
        return -1;
    }
#endif
    JpegReader r = {.error = {.err = err, .err_size = err_size}, .max_pixels = max_pixels};
    r.cinfo.err = jpeg_std_error(&r.error.mgr);
    r.error.mgr.error_exit = on_error;
    r.error.mgr.emit_message = on_message;
    int rc = decode_jpeg(&r, data, size);
    jpeg_destroy_decompress(&r.cinfo);
    if (rc < 0) {
        aecimg_image_free(&r.out);
        return -1;
    }
    *img = r.out;
    return 0;
}

int imageio_have_jpeg(void)
{
    return 1;
}

#else /* !HAVE_JPEG */

int imageio_read_jpeg(const uint8_t *data, size_t size, uint64_t max_pixels, AecimgImage *img,
                      char *err, size_t err_size)
{
    (void)data;
    (void)size;
    (void)max_pixels;
    (void)img;
    imageio_set_error(err, err_size, "JPEG input not compiled in");
    return -1;
}

int imageio_have_jpeg(void)
{
    return 0;
}

#endif
