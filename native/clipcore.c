/*
 * clipcore: a training clip in one call, from JPEG frame files or from decoded frames.
 *
 * Per frame: decode only the rows of the crop box and a band of columns around it
 * (libjpeg-turbo's jpeg_crop_scanline / jpeg_skip_scanlines), resize the box to
 * size x size exactly as PIL's Image.resize(BILINEAR) does for an 8-bit RGB image, flip,
 * and write (value / norm - mean) / std into a C x T x size x size float clip.
 *
 * Exactness, and why each choice is made:
 * - Decoding (jpeg_band.c): libjpeg-turbo with PIL's defaults, only the band of the frame
 *   the window needs.
 * - Resize (resample.c): PIL's two passes and its weights, recomputed exactly.
 * - Conversion (here): float32 division and subtraction in the order ToTensor and
 *   Normalize do them, each skipped where they skip it.
 * Anything else (a JPEG the band decoder does not take exactly as PIL would, a frame of
 * another size than the first, a geometry outside the frame) returns CC_FALLBACK and the
 * caller takes the Python path, which gives the same tensors or names the damage as it
 * always did.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clipcore.h"

/* -- one frame: resize, flip, convert ------------------------------------------------- */

/* What a clip's frames go through: the box (crop_w x crop_h pixels) resized to
 * scaled_w x scaled_h as PIL resizes, of which the size x size window at (win_x, win_y)
 * is kept (training: scaled = the window = size x size; Scale then a crop: the frame
 * scaled, a window of it), flipped and converted. */
typedef struct {
    int size, flip, bpp;    /* bpp: bytes per input pixel, 3 (RGB) or 4 (RGBX) */
    float norm, mean[3], std[3];
    int crop_w, crop_h, scaled_w, scaled_h, win_x, win_y;
    Kernel kh, kv;          /* for the window's columns and rows */
    uint8_t *wide;      /* after the horizontal pass: rows x size RGB pixels */
    uint8_t *resized;   /* size x size pixels (RGB after a horizontal pass, else bpp) */
} Resizer;

/* PIL's need_horizontal and need_vertical: a pass runs where the size changes. */
#define H_PASS(z) ((z)->scaled_w != (z)->crop_w)
#define V_PASS(z) ((z)->scaled_h != (z)->crop_h)

static void resizer_free(Resizer *z)
{
    kernel_free(&z->kh);
    kernel_free(&z->kv);
    free(z->wide);
    free(z->resized);
}

/* geometry: the box (left, top, right, bottom), scaled_w, scaled_h, win_x, win_y. */
static int resizer_init(Resizer *z, const int *geometry, int size, int flip, int bpp,
                        const float *params)
{
    memset(z, 0, sizeof *z);
    z->size = size;
    z->flip = flip;
    z->bpp = bpp;
    z->crop_w = geometry[2] - geometry[0];
    z->crop_h = geometry[3] - geometry[1];
    z->scaled_w = geometry[4];
    z->scaled_h = geometry[5];
    z->win_x = geometry[6];
    z->win_y = geometry[7];
    z->norm = params[0];
    memcpy(z->mean, params + 1, sizeof z->mean);
    memcpy(z->std, params + 4, sizeof z->std);
    if (kernel_make(&z->kh, z->crop_w, z->scaled_w, z->win_x, size) ||
        kernel_make(&z->kv, z->crop_h, z->scaled_h, z->win_y, size))
        goto nomem;
    z->wide = malloc((size_t)z->crop_h * size * 3 + 1);   /* + 1: see horizontal_avx2 */
    z->resized = malloc((size_t)size * size * bpp);
    if (!z->wide || !z->resized)
        goto nomem;
    return CC_OK;
nomem:
    resizer_free(z);
    return CC_NOMEM;
}

/* Whether a geometry is one this core computes: a box inside the frame, a window inside
 * the scaled box, sizes that stay small. */
static int geometry_valid(const int *g, int width, int height, int size)
{
    return size >= 1 && size <= 4096 && g[0] >= 0 && g[1] >= 0 && g[2] <= width &&
           g[3] <= height && g[2] > g[0] && g[3] > g[1] && g[4] >= size && g[5] >= size &&
           g[4] <= 16384 && g[5] <= 16384 && g[6] >= 0 && g[7] >= 0 &&
           g[6] + size <= g[4] && g[7] + size <= g[5];
}

/* The first and one-past-last rows of the box that the window needs. */
static void rows_read(const Resizer *z, int *first, int *last)
{
    int n = z->size;
    if (!V_PASS(z)) {
        *first = z->win_y;
        *last = z->win_y + n;
        return;
    }
    *first = z->kv.first[0];
    *last = z->kv.first[n - 1] + z->kv.count[n - 1];
}

/* The same for the columns. */
static void cols_read(const Resizer *z, int *first, int *last)
{
    int n = z->size;
    if (!H_PASS(z)) {
        *first = z->win_x;
        *last = z->win_x + n;
        return;
    }
    *first = z->kh.first[0];
    *last = z->kh.first[n - 1] + z->kh.count[n - 1];
    if (z->kh.lanes && z->kh.even_first[0] < *first)   /* the AVX2 pass's reads */
        *first = z->kh.even_first[0];
    if (z->kh.lanes && z->kh.even_first[n - 1] + z->kh.even > *last)
        *last = z->kh.even_first[n - 1] + z->kh.even;
}

/* A resized frame's pixels (`bpp` bytes each) into three planes of floats, flipped or
 * not: one pass over the pixels, in which the compiler reads the channels together. */
static inline void deinterleave(const uint8_t *img, int n, int bpp, int flip, float *r,
                                float *g, float *b)
{
    int y, x;
    for (y = 0; y < n; y++) {
        const uint8_t *p = img + (long)y * n * bpp;
        float *q0 = r + (long)y * n, *q1 = g + (long)y * n, *q2 = b + (long)y * n;
        if (flip)
            for (x = 0; x < n; x++) {
                q0[n - 1 - x] = (float)p[bpp * x];
                q1[n - 1 - x] = (float)p[bpp * x + 1];
                q2[n - 1 - x] = (float)p[bpp * x + 2];
            }
        else
            for (x = 0; x < n; x++) {
                q0[x] = (float)p[bpp * x];
                q1[x] = (float)p[bpp * x + 1];
                q2[x] = (float)p[bpp * x + 2];
            }
    }
}

/* ToTensor's division and Normalize's subtraction and division of one channel's plane,
 * each in float32 and skipped where they skip it. */
static void normalise_plane(float *q, long count, float norm, float m, float s)
{
    long i;
    if (norm != 1.0f)
        for (i = 0; i < count; i++)
            q[i] = q[i] / norm;
    if (m != 0.0f)
        for (i = 0; i < count; i++)
            q[i] = q[i] - m;
    if (s != 1.0f)
        for (i = 0; i < count; i++)
            q[i] = q[i] / s;
}

/* The box's pixels from row row0 and column col0 on at src (rows src_stride bytes apart;
 * rows_read and cols_read say which must be there) resized, flipped and converted into
 * frame t of out. */
static void resize_convert(Resizer *z, const uint8_t *src, long src_stride, int row0,
                           int col0, float *out, int t, int n_frames)
{
    int n = z->size, bpp = z->bpp, first, last, c, y;
    const uint8_t *rows;
    long rows_stride = src_stride;
    const uint8_t *img;
    long plane = (long)n * n;

    rows_read(z, &first, &last);
    if (H_PASS(z)) {   /* PIL passes horizontally only the rows it will read */
        pass_horizontal(src + (long)(first - row0) * src_stride, src_stride, col0,
                        last - first, &z->kh, n, bpp, z->wide);
        rows = z->wide;
        rows_stride = (long)n * 3;
        row0 = first;
        bpp = 3;
    } else {
        rows = src + (long)(z->win_x - col0) * bpp;
    }
    if (V_PASS(z)) {
        pass_vertical(rows, rows_stride, row0, &z->kv, n, n * bpp, z->resized);
        img = z->resized;
    } else if (rows == z->wide) {
        img = z->wide;
    } else {
        for (y = 0; y < n; y++)
            memcpy(z->resized + (long)y * n * bpp,
                   rows + (long)(z->win_y + y - row0) * rows_stride, (size_t)n * bpp);
        img = z->resized;
    }
    {
        float *r = out + (long)t * plane, *g = r + n_frames * plane, *b = g + n_frames * plane;
        if (bpp == 3)   /* two copies, each with its bytes per pixel a constant */
            deinterleave(img, n, 3, z->flip, r, g, b);
        else
            deinterleave(img, n, 4, z->flip, r, g, b);
    }
    for (c = 0; c < 3; c++)
        normalise_plane(out + (c * (long)n_frames + t) * plane, plane, z->norm, z->mean[c],
                        z->std[c]);
}

/* A frame repeated by loop padding is resized once: the copy of its first appearance. */
static int copy_of_earlier(const int *numbers, int t, float *out, int n_frames, int size)
{
    long plane = (long)size * size;
    int e, c;
    for (e = 0; e < t; e++)
        if (numbers[e] == numbers[t]) {
            for (c = 0; c < 3; c++)
                memcpy(out + (c * (long)n_frames + t) * plane,
                       out + (c * (long)n_frames + e) * plane, sizeof(float) * plane);
            return 1;
        }
    return 0;
}

/* -- the clips --------------------------------------------------------------------------- */

/*
 * A clip from n_frames JPEGs (equal numbers[] mark a frame repeated by loop padding), each
 * width x height: the files `paths`, or where paths is NULL the bytes data[t][0,
 * lengths[t]) (frames an HDF5 file holds). geometry: the box (left, top, right, bottom)
 * resized to scaled_w x scaled_h, of which the size x size window at (win_x, win_y) is
 * kept (see Resizer). params: norm, mean[3], std[3]. out: 3 x n_frames x size x size
 * floats. Returns CC_OK, CC_FALLBACK (take the Python path for this clip) or CC_NOMEM; on
 * CC_FALLBACK, *failed_frame is the frame that caused it (-1: the geometry).
 */
static int clip_from(const char *const *paths, const uint8_t *const *data,
                     const long *lengths, const int *numbers, int n_frames, int width,
                     int height, const int *geometry, int size, int flip,
                     const float *params, float *out, int *failed_frame)
{
    int left = geometry[0], top = geometry[1], first, last, c0, c1, t;
    int status = CC_OK;
    Resizer z;
    Decoder d;

    *failed_frame = -1;
    if (n_frames < 1 || width < 1 || height < 1 || (long)width * height > MAX_PIXELS ||
        !geometry_valid(geometry, width, height, size))
        return CC_FALLBACK;
    if (resizer_init(&z, geometry, size, flip, 4, params))
        return CC_NOMEM;
    if (decoder_open(&d)) {
        resizer_free(&z);
        return CC_NOMEM;
    }
    rows_read(&z, &first, &last);
    cols_read(&z, &c0, &c1);
    for (t = 0; t < n_frames && status == CC_OK; t++) {
        const uint8_t *pixels, *bytes;
        long stride, n;
        if (copy_of_earlier(numbers, t, out, n_frames, size))
            continue;
        if (paths) {
            n = decoder_read_file(&d, paths[t]);
            bytes = d.file;
        } else {
            n = lengths[t];
            bytes = data[t];
        }
        status = n < 0 || !bytes ? CC_FALLBACK :
            decode_band(&d, bytes, n, width, height, left + c0, top + first, left + c1,
                        top + last, &pixels, &stride);
        if (status == CC_OK)
            resize_convert(&z, pixels, stride, first, c0, out, t, n_frames);
        else
            *failed_frame = t;
    }
    decoder_close(&d);
    resizer_free(&z);
    return status;
}

int cc_clip_from_jpegs(const char *const *paths, const int *numbers, int n_frames, int width,
                       int height, const int *geometry, int size, int flip,
                       const float *params, float *out, int *failed_frame)
{
    return clip_from(paths, NULL, NULL, numbers, n_frames, width, height, geometry, size,
                     flip, params, out, failed_frame);
}

int cc_clip_from_buffers(const uint8_t *const *data, const long *lengths, const int *numbers,
                         int n_frames, int width, int height, const int *geometry, int size,
                         int flip, const float *params, float *out, int *failed_frame)
{
    return clip_from(NULL, data, lengths, numbers, n_frames, width, height, geometry, size,
                     flip, params, out, failed_frame);
}

/*
 * A clip from decoded RGB frames: frame t's pixel (y, x) channel c is at
 * frames[t * st + y * sy + x * 3 + c] (channels adjacent), with 2 bytes readable after the
 * last frame's last pixel; numbers, geometry and the rest as above.
 */
int cc_clip_from_frames(const uint8_t *frames, const int *numbers, int n_frames, int width,
                        int height, long st, long sy, const int *geometry, int size,
                        int flip, const float *params, float *out)
{
    int t;
    Resizer z;

    if (n_frames < 1 || !geometry_valid(geometry, width, height, size))
        return CC_FALLBACK;
    if (resizer_init(&z, geometry, size, flip, 3, params))
        return CC_NOMEM;
    for (t = 0; t < n_frames; t++)
        if (!copy_of_earlier(numbers, t, out, n_frames, size))
            resize_convert(&z, frames + t * st + geometry[1] * sy + (long)geometry[0] * 3,
                           sy, 0, 0, out, t, n_frames);
    resizer_free(&z);
    return CC_OK;
}
