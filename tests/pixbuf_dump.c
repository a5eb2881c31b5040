/* pixbuf_dump.c: loads an image with gdk_pixbuf_new_from_file, through the loaders that
 * GDK_PIXBUF_MODULE_FILE lists, and writes it to standard output as a PAM laid out as aec-decode
 * --format pam writes one, so that scripts compare a loader's pixels with cmp.
 * Usage: pixbuf_dump FILE.  Exit status 0, or 1 with the GError message on standard error. */
#include <stdio.h>

#include <gdk-pixbuf/gdk-pixbuf.h>

static int write_pam(const GdkPixbuf *pixbuf)
{
    int width = gdk_pixbuf_get_width(pixbuf), height = gdk_pixbuf_get_height(pixbuf);
    int channels = gdk_pixbuf_get_n_channels(pixbuf), stride = gdk_pixbuf_get_rowstride(pixbuf);
    const guint8 *pixels = gdk_pixbuf_read_pixels(pixbuf);

    printf("P7\nWIDTH %d\nHEIGHT %d\nDEPTH %d\nMAXVAL 255\nTUPLTYPE %s\nENDHDR\n", width, height,
           channels, channels == 4 ? "RGB_ALPHA" : "RGB");
    for (int y = 0; y < height; y++)
        if (fwrite(pixels + (gsize)y * stride, 1, (gsize)width * channels, stdout) != (gsize)width * channels)
            return -1;
    return fflush(stdout);
}

int main(int argc, char **argv)
{
    GError *error = NULL;

    if (argc != 2) {
        fprintf(stderr, "usage: pixbuf_dump FILE\n");
        return 2;
    }
    GdkPixbuf *pixbuf = gdk_pixbuf_new_from_file(argv[1], &error);
    if (!pixbuf) {
        fprintf(stderr, "pixbuf_dump: %s: %s\n", argv[1], error ? error->message : "no error message");
        g_clear_error(&error);
        return 1;
    }
    int rc = write_pam(pixbuf);
    g_object_unref(pixbuf);
    if (rc != 0) {
        fprintf(stderr, "pixbuf_dump: write error\n");
        return 1;
    }
    return 0;
}
