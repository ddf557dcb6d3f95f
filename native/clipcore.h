/*
 * What the three parts of the native clip core share (native/clipcore.c says what the core
 * does): the status codes, PIL's bilinear resampling (resample.c) and a JPEG band decoder
 * (jpeg_band.c), both used by clipcore.c to make a clip.
 */
#ifndef CLIPCORE_H
#define CLIPCORE_H

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <jpeglib.h>

#define PRECISION_BITS 22          /* PIL's fixed point for 8-bit images: 32 - 8 - 2 */
#define MAX_PIXELS (1L << 26)      /* larger frames go to the Python path */

enum { CC_OK = 0, CC_FALLBACK = 1, CC_NOMEM = 2 };

/* The parts' own functions stay inside the library (only the cc_ ones are its interface). */
#define INTERNAL __attribute__((visibility("hidden")))

/* -- resample.c: PIL's bilinear resampling ----------------------------------------------- */

typedef struct {
    int taps;           /* weights per output pixel (PIL's ksize) */
    int *first;         /* first input index of each output pixel */
    int *count;         /* weights used by each output pixel */
    int32_t *weight;    /* taps per output pixel */
    /* The same weights for the AVX2 pass: `even` (taps rounded up to even) per output
     * pixel from `even_first` (moved left near the end so that every read is inside),
     * each pair expanded to 8 lanes (w0 x 4, w1 x 4) for two 4-byte pixels. NULL where
     * the input is narrower than `even`. Zero weights add nothing: the sums are PIL's. */
    int even;
    int *even_first;
    int32_t *lanes;
} Kernel;

/* Weights that map in_size input pixels onto out_total output pixels, for the out_size
 * outputs from out_first on (a window of the resized image; the others are not computed). */
INTERNAL int kernel_make(Kernel *k, int in_size, int out_total, int out_first, int out_size);
INTERNAL void kernel_free(Kernel *k);
/* rows x out_w RGB pixels into dst from rows of `bpp`-byte pixels (src_stride apart)
 * whose first column is the input's column col0. With the AVX2 code a step reads 8 bytes:
 * src has 2 bytes to spare after its last row, and dst 1 after its last pixel. */
INTERNAL void pass_horizontal(const uint8_t *src, long src_stride, int col0, int rows,
                     const Kernel *kh, int out_w, int bpp, uint8_t *dst);
/* out_h rows of `bytes` bytes each from src rows (src_stride apart, row 0 = kv's index
 * `row0`). */
INTERNAL void pass_vertical(const uint8_t *src, long src_stride, int row0, const Kernel *kv,
                   int out_h, int bytes, uint8_t *dst);
int cc_use_simd(int on);

/* -- jpeg_band.c: a band of a JPEG frame ------------------------------------------------- */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
} ErrorTrap;

typedef struct {
    struct jpeg_decompress_struct cinfo;
    ErrorTrap trap;
    uint8_t *file;
    long file_cap;
    uint8_t *band;
    long band_cap;
} Decoder;

INTERNAL int decoder_open(Decoder *d);
INTERNAL void decoder_close(Decoder *d);
/* A file's bytes into d->file; their number, or -1 (unreadable, empty or too large). */
INTERNAL long decoder_read_file(Decoder *d, const char *path);
/* Decode rows [top, bottom) of columns around [left, right) of the JPEG in data[0, n),
 * which must be width x height. On CC_OK, *pixels points at (top, left) in the band (4
 * bytes a pixel) and *stride is the band's row length in bytes. */
INTERNAL int decode_band(Decoder *d, const uint8_t *data, long n, int width, int height,
                         int left, int top, int right, int bottom, const uint8_t **pixels,
                         long *stride);
int cc_jpeg_size(const char *path, int *width, int *height);
int cc_jpeg_size_buffer(const uint8_t *data, long n, int *width, int *height);

#endif
