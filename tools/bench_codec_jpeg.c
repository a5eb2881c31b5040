/* bench_codec_jpeg.c: the JPEG anchor, libjpeg-turbo with 4:2:0 and optimized Huffman tables. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <limits.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h> /* jpeglib.h needs FILE */
#include <stdlib.h>

#include <jpeglib.h>

#include "bench_codecs.h"
#include "imageio/imageio.h"

/* libjpeg reports fatal errors through error_exit, which must not return: it longjmps here. */
typedef struct JpegError {
    struct jpeg_error_mgr mgr; /* first, so that a j_common_ptr's err converts to a JpegError */
    jmp_buf jump;
    char *err;
    size_t err_size;
} JpegError;

/* State of one encode or decode.  It lives in the frame of the function that calls the one that
 * calls setjmp, so that what is stored in it survives a longjmp. */
typedef struct JpegJob {
    struct jpeg_compress_struct enc;
    struct jpeg_decompress_struct dec;
    JpegError error;
    unsigned char *file;
    unsigned long file_size;
} JpegJob;

static void on_error(j_common_ptr cinfo)
{
    JpegError *e = (JpegError *)cinfo->err;
    char msg[JMSG_LENGTH_MAX];

    e->mgr.format_message(cinfo, msg);
    bench_fail(e->err, e->err_size, "JPEG: %s", msg);
    longjmp(e->jump, 1);
}

static void init_error(JpegJob *job, char *err, size_t err_size)
{
    job->error.err = err;
    job->error.err_size = err_size;
    job->enc.err = job->dec.err = jpeg_std_error(&job->error.mgr);
    job->error.mgr.error_exit = on_error;
}

/* The settings cjpeg -quality Q -baseline -optimize -sample 2x2 would use. */
static void set_parameters(struct jpeg_compress_struct *c, const AecimgImage *img, int quality)
{
    c->image_width = img->width;
    c->image_height = img->height;
    c->input_components = (int)img->channels;
    c->in_color_space = img->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(c);
    jpeg_set_quality(c, quality, TRUE);
    if (img->channels == 3) {
        c->comp_info[0].h_samp_factor = c->comp_info[0].v_samp_factor = 2;
        for (int i = 1; i < 3; i++)
            c->comp_info[i].h_samp_factor = c->comp_info[i].v_samp_factor = 1;
    }
    c->optimize_coding = TRUE;
    c->dct_method = JDCT_ISLOW;
}

static int compress(JpegJob *job, const AecimgImage *img, int quality)
{
    size_t stride = (size_t)img->width * img->channels;

    if (setjmp(job->error.jump))
        return -1;
    jpeg_create_compress(&job->enc);
    jpeg_mem_dest(&job->enc, &job->file, &job->file_size);
    set_parameters(&job->enc, img, quality);
    jpeg_start_compress(&job->enc, TRUE);
    while (job->enc.next_scanline < job->enc.image_height) {
        JSAMPROW row = img->pixels + job->enc.next_scanline * stride;
        jpeg_write_scanlines(&job->enc, &row, 1);
    }
    jpeg_finish_compress(&job->enc);
    return 0;
}

static int jpeg_encode(BenchSession *s, const AecimgImage *img, int quality, uint8_t **out,
                       size_t *out_size, char *err, size_t err_size)
{
    JpegJob job = {0};
    int rc;

    (void)s;
    init_error(&job, err, err_size);
    rc = compress(&job, img, quality);
    jpeg_destroy_compress(&job.enc);
    if (rc != 0) {
        free(job.file); /* jpeg_mem_dest's buffer is malloc'd */
        return -1;
    }
    *out = job.file;
    *out_size = job.file_size;
    return 0;
}

static int decompress(JpegJob *job, const uint8_t *data, size_t size, AecimgImage *img)
{
    JpegError *e = &job->error;

    if (setjmp(e->jump))
        return -1;
    jpeg_create_decompress(&job->dec);
    jpeg_mem_src(&job->dec, data, (unsigned long)size);
    jpeg_read_header(&job->dec, TRUE);
    job->dec.out_color_space = job->dec.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    job->dec.dct_method = JDCT_ISLOW;
    jpeg_start_decompress(&job->dec);
    if (bench_alloc_image(img, job->dec.output_width, job->dec.output_height,
                          (uint32_t)job->dec.output_components, e->err, e->err_size) != 0)
        return -1;
    size_t stride = (size_t)img->width * img->channels;
    while (job->dec.output_scanline < job->dec.output_height) {
        JSAMPROW row = img->pixels + job->dec.output_scanline * stride;
        jpeg_read_scanlines(&job->dec, &row, 1);
    }
    jpeg_finish_decompress(&job->dec);
    return 0;
}

static int jpeg_decode(BenchSession *s, const uint8_t *data, size_t size, AecimgImage *img,
                       char *err, size_t err_size)
{
    JpegJob job = {0};
    int rc;

    (void)s;
#if SIZE_MAX > ULONG_MAX
    if (size > ULONG_MAX)
        return bench_fail(err, err_size, "JPEG: file too large");
#endif
    init_error(&job, err, err_size);
    rc = decompress(&job, data, size, img);
    jpeg_destroy_decompress(&job.dec);
    if (rc != 0)
        aecimg_image_free(img);
    return rc;
}

/* The tools' JPEG reader: libjpeg again, but through code written separately from the above. */
static int jpeg_decode_check(BenchSession *s, const uint8_t *data, size_t size, AecimgImage *img,
                             char *err, size_t err_size)
{
    (void)s;
    return imageio_read(data, size, AECIMG_DEFAULT_MAX_PIXELS, img, err, err_size);
}

static void library_name(char *buf, size_t size)
{
#ifdef LIBJPEG_TURBO_VERSION_NUMBER
    snprintf(buf, size, "libjpeg-turbo %d.%d.%d (libjpeg API %d)",
             LIBJPEG_TURBO_VERSION_NUMBER / 1000000, LIBJPEG_TURBO_VERSION_NUMBER / 1000 % 1000,
             LIBJPEG_TURBO_VERSION_NUMBER % 1000, JPEG_LIB_VERSION);
#else
    snprintf(buf, size, "libjpeg (API %d)", JPEG_LIB_VERSION);
#endif
}

static int jpeg_open(BenchSession *s, const BenchConfig *cfg, char *err, size_t err_size)
{
    char lib[64];

    (void)cfg;
    (void)err;
    (void)err_size;
    library_name(lib, sizeof lib);
    s->threads = 1;
    snprintf(s->settings, sizeof s->settings,
             "%s: jpeg_set_quality(Q, force_baseline), YCbCr 4:2:0 (gray: 1 component), "
             "optimize_coding (optimized Huffman), baseline sequential, islow DCT, JFIF header; "
             "decode: islow IDCT, fancy upsampling",
             lib);
    snprintf(s->check, sizeof s->check, "decode again with the aec tools' JPEG reader");
    return 0;
}

const BenchCodec bench_codec_jpeg = {
    .name = "jpeg",
    .gray = 1,
    .qualities = BENCH_QUALITIES_JPEG,
    .open = jpeg_open,
    .encode = jpeg_encode,
    .decode = jpeg_decode,
    .decode_check = jpeg_decode_check,
};
