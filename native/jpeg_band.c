/*
 * A band of a JPEG frame, decoded by libjpeg-turbo: only the rows of a crop box and a band
 * of columns around it (jpeg_crop_scanline / jpeg_skip_scanlines), with the slow integer
 * IDCT and fancy upsampling, PIL's defaults.
 *
 * The band keeps BAND_MARGIN extra columns on each side (libjpeg widens it to whole iMCUs):
 * fancy upsampling treats the band's edges as the image's, which changes the columns next
 * to them; it reads one chroma sample beyond a pixel, so a margin of 1 pixel is identical
 * (the tests find differences at 0), and 4 keeps two 4:2:0 samples. Rows need no margin
 * (skipping keeps the context). A file this decoder does not take exactly as PIL would
 * (progressive or arithmetic-coded, another colour space, any libjpeg error or warning, no
 * EOI marker at its end, a marker inside its scan) returns CC_FALLBACK. No error ends the
 * process: libjpeg's errors come back through its error manager.
 */
#include <stdlib.h>
#include <string.h>

#include "clipcore.h"

#define BAND_MARGIN 4              /* two 4:2:0 chroma samples; one is enough (tests) */
#define MAX_FILE_BYTES (64L << 20)

static void trap_error(j_common_ptr cinfo)
{
    longjmp(((ErrorTrap *)cinfo->err)->jump, 1);
}

static void trap_warning(j_common_ptr cinfo, int level)
{
    if (level < 0)   /* corrupt data: the Python path decides what it is */
        longjmp(((ErrorTrap *)cinfo->err)->jump, 1);
}

/* The whole file in *buf (grown as needed); its length, or -1. */
static long read_file(const char *path, uint8_t **buf, long *cap)
{
    FILE *f = fopen(path, "rb");
    long n;
    if (!f)
        return -1;
    if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 4 || n > MAX_FILE_BYTES ||
        fseek(f, 0, SEEK_SET)) {
        fclose(f);
        return -1;
    }
    if (n > *cap) {
        uint8_t *grown = realloc(*buf, n);
        if (!grown) {
            fclose(f);
            return -1;
        }
        *buf = grown;
        *cap = n;
    }
    if (fread(*buf, 1, n, f) != (size_t)n)
        n = -1;
    fclose(f);
    return n;
}

/*
 * Whether the entropy-coded data in [p, end) (from the first scan's data to the final EOI)
 * holds a marker other than a restart: a second scan, a table, an unknown marker, a
 * misplaced SOI or EOI. Those are where libjpeg raises an error rather than a warning when
 * it reaches them (so PIL calls the file damaged), and rows below the box are not decoded
 * here: such a file goes to the Python path. Damage inside the Huffman data gives only
 * warnings, which PIL ignores; where it touches the box's rows the trap sends the file to
 * the Python path too, and below them it cannot change the box's pixels.
 */
static int marker_damage(const uint8_t *p, const uint8_t *end)
{
    while (p < end && (p = memchr(p, 0xFF, (size_t)(end - p))) != NULL) {
        uint8_t next;
        while (++p < end && *p == 0xFF)   /* fill bytes */
            ;
        if (p >= end)
            return 1;
        next = *p;
        if (next != 0x00 && (next < 0xD0 || next > 0xD7))
            return 1;
    }
    return 0;
}

int decoder_open(Decoder *d)
{
    memset(d, 0, sizeof *d);
    d->cinfo.err = jpeg_std_error(&d->trap.pub);
    d->trap.pub.error_exit = trap_error;
    d->trap.pub.emit_message = trap_warning;
    if (setjmp(d->trap.jump))   /* out of memory */
        return CC_NOMEM;
    jpeg_create_decompress(&d->cinfo);
    return CC_OK;
}

long decoder_read_file(Decoder *d, const char *path)
{
    return read_file(path, &d->file, &d->file_cap);
}

int decode_band(Decoder *d, const uint8_t *data, long n, int width, int height, int left,
                int top, int right, int bottom, const uint8_t **pixels, long *stride)
{
    struct jpeg_decompress_struct *ci = &d->cinfo;
    JDIMENSION x0, w;
    int r;

    if (n < 4 || n > MAX_FILE_BYTES || data[0] != 0xFF || data[1] != 0xD8 ||
        data[n - 2] != 0xFF || data[n - 1] != 0xD9)
        return CC_FALLBACK;
    if (setjmp(d->trap.jump)) {
        jpeg_abort_decompress(ci);
        return CC_FALLBACK;
    }
    jpeg_mem_src(ci, data, (unsigned long)n);
    if (jpeg_read_header(ci, TRUE) != JPEG_HEADER_OK || (int)ci->image_width != width ||
        (int)ci->image_height != height || ci->num_components != 3 ||
        ci->jpeg_color_space != JCS_YCbCr || ci->progressive_mode || ci->arith_code) {
        jpeg_abort_decompress(ci);
        return CC_FALLBACK;
    }
    if (marker_damage(ci->src->next_input_byte, data + n - 2)) {
        jpeg_abort_decompress(ci);
        return CC_FALLBACK;
    }
    ci->out_color_space = JCS_EXT_RGBX;   /* the same RGB values, 4 bytes a pixel */
    ci->dct_method = JDCT_ISLOW;
    ci->do_fancy_upsampling = TRUE;
    ci->do_block_smoothing = TRUE;
    jpeg_start_decompress(ci);
    x0 = left > BAND_MARGIN ? left - BAND_MARGIN : 0;
    w = (right + BAND_MARGIN < width ? right + BAND_MARGIN : width) - x0;
    if (x0 > 0 || (int)w < width)
        jpeg_crop_scanline(ci, &x0, &w);   /* widens to whole iMCUs */
    *stride = (long)ci->output_width * 4;
    if (*stride * (bottom - top) > d->band_cap) {
        uint8_t *grown = realloc(d->band, *stride * (bottom - top));
        if (!grown) {
            jpeg_abort_decompress(ci);
            return CC_NOMEM;
        }
        d->band = grown;
        d->band_cap = *stride * (bottom - top);
    }
    if (top > 0 && (int)jpeg_skip_scanlines(ci, top) != top) {
        jpeg_abort_decompress(ci);
        return CC_FALLBACK;
    }
    for (r = 0; r < bottom - top;) {
        JSAMPROW rows[8];
        int k, want = bottom - top - r < 8 ? bottom - top - r : 8;
        for (k = 0; k < want; k++)
            rows[k] = d->band + (r + k) * *stride;
        r += jpeg_read_scanlines(ci, rows, want);
    }
    /* Rows below the box are not decoded at all (libjpeg decodes in order, so they cannot
     * change the box). Damage there is judged by marker_damage() before decoding. */
    jpeg_abort_decompress(ci);
    *pixels = d->band + (long)(left - (int)x0) * 4;
    return CC_OK;
}

void decoder_close(Decoder *d)
{
    jpeg_destroy_decompress(&d->cinfo);
    free(d->file);
    free(d->band);
}

/* The width and height a JPEG declares, from the file f or (f NULL) the n bytes at data;
 * CC_FALLBACK where it is not a JPEG this core decodes. */
static int declared_size(FILE *f, const uint8_t *data, long n, int *width, int *height)
{
    struct jpeg_decompress_struct cinfo;
    ErrorTrap trap;
    volatile int status = CC_FALLBACK;   /* (kept across the longjmp) */

    cinfo.err = jpeg_std_error(&trap.pub);
    trap.pub.error_exit = trap_error;
    trap.pub.emit_message = trap_warning;
    if (setjmp(trap.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return CC_FALLBACK;
    }
    jpeg_create_decompress(&cinfo);
    if (f)
        jpeg_stdio_src(&cinfo, f);
    else
        jpeg_mem_src(&cinfo, data, (unsigned long)n);
    if (jpeg_read_header(&cinfo, TRUE) == JPEG_HEADER_OK &&
        (long)cinfo.image_width * cinfo.image_height <= MAX_PIXELS) {
        *width = (int)cinfo.image_width;
        *height = (int)cinfo.image_height;
        status = CC_OK;
    }
    jpeg_destroy_decompress(&cinfo);
    return status;
}

/* The width and height a JPEG file declares; CC_FALLBACK where it is not a JPEG this core
 * decodes. */
int cc_jpeg_size(const char *path, int *width, int *height)
{
    FILE *f = fopen(path, "rb");
    int status;

    if (!f)
        return CC_FALLBACK;
    status = declared_size(f, NULL, 0, width, height);
    fclose(f);
    return status;
}

/* The same for a JPEG held in memory (n bytes). */
int cc_jpeg_size_buffer(const uint8_t *data, long n, int *width, int *height)
{
    if (!data || n < 4 || n > MAX_FILE_BYTES)
        return CC_FALLBACK;
    return declared_size(NULL, data, n, width, height);
}
