/*
 * clipcore: a training clip in one call, from JPEG frame files or from decoded frames.
 *
 * Per frame: decode only the rows of the crop box and a band of columns around it
 * (libjpeg-turbo's jpeg_crop_scanline / jpeg_skip_scanlines), resize the box to
 * size x size exactly as PIL's Image.resize(BILINEAR) does for an 8-bit RGB image, flip,
 * and write (value / norm - mean) / std into a C x T x size x size float clip.
 *
 * Exactness, and why each choice is made:
 * - Decoding: the slow integer IDCT and fancy upsampling, PIL's defaults. The band keeps
 *   BAND_MARGIN extra columns on each side (libjpeg widens it to whole iMCUs): fancy
 *   upsampling treats the band's edges as the image's, which changes the columns next to
 *   them; it reads one chroma sample beyond a pixel, so a margin of 1 pixel is identical
 *   (the tests find differences at 0), and 4 keeps two 4:2:0 samples. Rows need no margin
 *   (skipping keeps the context).
 * - Resize: PIL's two passes (horizontal on the rows the vertical pass reads, then
 *   vertical), its triangle weights normalised in double and rounded to PRECISION_BITS
 *   fixed-point bits, the same rounding of each pass to a byte.
 * - Conversion: float32 division and subtraction in the order ToTensor and Normalize do
 *   them, each skipped where they skip it.
 * Anything else (progressive or arithmetic-coded JPEGs, other colour spaces, a frame of
 * another size than the first, any libjpeg error or warning, a file that does not end in
 * an EOI marker or holds a marker inside its scan) returns CC_FALLBACK and the caller takes the Python path, which gives the
 * same tensors or names the damage as it always did. No error ends the process: libjpeg's
 * errors come back through its error manager.
 */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <jpeglib.h>

#define PRECISION_BITS 22          /* PIL's fixed point for 8-bit images: 32 - 8 - 2 */
#define BAND_MARGIN 4              /* two 4:2:0 chroma samples; one is enough (tests) */
#define MAX_PIXELS (1L << 26)      /* larger frames go to the Python path */
#define MAX_FILE_BYTES (64L << 20)

enum { CC_OK = 0, CC_FALLBACK = 1, CC_NOMEM = 2 };

/* -- PIL's bilinear resampling weights ------------------------------------------------ */

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

static double triangle(double x)
{
    if (x < 0.0)
        x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static void kernel_free(Kernel *k)
{
    free(k->first);
    free(k->count);
    free(k->weight);
    free(k->even_first);
    free(k->lanes);
    memset(k, 0, sizeof *k);
}

static int kernel_lanes(Kernel *k, int in_size, int out_size)
{
    int o, i;
    k->even = (k->taps + 1) & ~1;
    if (in_size < k->even)
        return CC_OK;
    k->even_first = malloc(sizeof(int) * out_size);
    k->lanes = calloc((size_t)out_size * k->even * 4, sizeof(int32_t));
    if (!k->even_first || !k->lanes)
        return CC_NOMEM;
    for (o = 0; o < out_size; o++) {
        int start = k->first[o] + k->even > in_size ? in_size - k->even : k->first[o];
        int shift = k->first[o] - start;
        int32_t *lane = k->lanes + (size_t)o * k->even * 4;
        k->even_first[o] = start;
        for (i = 0; i < k->count[o]; i++) {
            int j = i + shift;   /* tap j of the padded kernel */
            int32_t *v = lane + (j / 2) * 8 + (j % 2) * 4;
            v[0] = v[1] = v[2] = v[3] = k->weight[(size_t)o * k->taps + i];
        }
    }
    return CC_OK;
}

/* Weights that map in_size input pixels onto out_total output pixels, for the n outputs
 * from out_first on (a window of the resized image; the others are not computed). */
static int kernel_make(Kernel *k, int in_size, int out_total, int out_first, int out_size)
{
    double scale = (double)in_size / out_total;
    double filter_scale = scale < 1.0 ? 1.0 : scale;
    double support = filter_scale;   /* the triangle's support is 1 */
    double *w;
    int o;

    memset(k, 0, sizeof *k);
    k->taps = (int)ceil(support) * 2 + 1;
    k->first = malloc(sizeof(int) * out_size);
    k->count = malloc(sizeof(int) * out_size);
    k->weight = calloc((size_t)out_size * k->taps, sizeof(int32_t));
    w = malloc(sizeof(double) * k->taps);
    if (!k->first || !k->count || !k->weight || !w) {
        free(w);
        kernel_free(k);
        return CC_NOMEM;
    }
    for (o = 0; o < out_size; o++) {
        double center = (out_first + o + 0.5) * scale, total = 0.0;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5), n, i;
        if (lo < 0)
            lo = 0;
        if (hi > in_size)
            hi = in_size;
        n = hi - lo;
        for (i = 0; i < n; i++) {
            w[i] = triangle((i + lo - center + 0.5) / filter_scale);
            total += w[i];
        }
        for (i = 0; i < n; i++) {
            double v = total != 0.0 ? w[i] / total : w[i];
            v *= (double)(1 << PRECISION_BITS);
            k->weight[(size_t)o * k->taps + i] = (int32_t)(v < 0 ? v - 0.5 : v + 0.5);
        }
        k->first[o] = lo;
        k->count[o] = n;
    }
    free(w);
    if (kernel_lanes(k, in_size, out_size)) {
        kernel_free(k);
        return CC_NOMEM;
    }
    return CC_OK;
}

static inline uint8_t to_byte(int32_t acc)
{
    acc >>= PRECISION_BITS;
    return acc < 0 ? 0 : acc > 255 ? 255 : (uint8_t)acc;
}

/* -- the two passes ------------------------------------------------------------------- */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(CLIPCORE_SCALAR_ONLY)
#include <immintrin.h>
#define HAVE_AVX2_CODE 1
#define CLONED __attribute__((target_clones("avx2", "default")))
#else
#define HAVE_AVX2_CODE 0
#define CLONED
#endif

static int simd = -1;   /* use the AVX2 code: decided on first use, or by cc_use_simd */

/* rows x out_w RGB pixels into dst from src rows src_stride apart of `bpp`-byte pixels
 * (3: RGB, 4: RGBX). */
static void pass_horizontal_scalar(const uint8_t *src, long src_stride, int col0, int rows,
                                   const Kernel *kh, int out_w, int bpp, uint8_t *dst)
{
    int r, x, i, c;
    for (r = 0; r < rows; r++) {
        const uint8_t *row = src + r * src_stride;
        uint8_t *out = dst + (long)r * out_w * 3;
        for (x = 0; x < out_w; x++) {
            const int32_t *w = kh->weight + (size_t)x * kh->taps;
            const uint8_t *p = row + (long)(kh->first[x] - col0) * bpp;
            int32_t acc[3];
            for (c = 0; c < 3; c++)
                acc[c] = 1 << (PRECISION_BITS - 1);
            for (i = 0; i < kh->count[x]; i++)
                for (c = 0; c < 3; c++)
                    acc[c] += p[bpp * i + c] * w[i];
            for (c = 0; c < 3; c++)
                out[3 * x + c] = to_byte(acc[c]);
        }
    }
}

#if HAVE_AVX2_CODE
/* The same, two input pixels (8 lanes) a step, into 3-byte pixels (each written with 4
 * bytes, the next overwriting the fourth: dst has a byte to spare). A step reads 8 bytes:
 * with 3-byte pixels, 2 past the pair, so src has 2 bytes to spare after its last row. */
__attribute__((target("avx2")))
static inline void horizontal_avx2(const uint8_t *src, long src_stride, int col0, int rows,
                                   const Kernel *kh, int out_w, int bpp, uint8_t *dst)
{
    const __m128i half = _mm_set1_epi32(1 << (PRECISION_BITS - 1));
    const __m128i spread = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, -1, -1, -1, -1, -1, -1,
                                         -1, -1);
    int r, x, j, pairs = kh->even / 2;
    for (r = 0; r < rows; r++) {
        const uint8_t *row = src + r * src_stride;
        uint8_t *out = dst + (long)r * out_w * 3;
        for (x = 0; x < out_w; x++) {
            const uint8_t *p = row + (long)(kh->even_first[x] - col0) * bpp;
            const __m256i *w = (const __m256i *)(kh->lanes + (size_t)x * kh->even * 4);
            __m256i acc = _mm256_setzero_si256();
            __m128i sum;
            uint32_t rgbx;
            for (j = 0; j < pairs; j++) {
                __m128i two = _mm_loadl_epi64((const __m128i *)(p + 2 * bpp * j));
                if (bpp == 3)
                    two = _mm_shuffle_epi8(two, spread);
                acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(two),
                                                               _mm256_loadu_si256(w + j)));
            }
            sum = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
            sum = _mm_srai_epi32(_mm_add_epi32(sum, half), PRECISION_BITS);
            sum = _mm_packus_epi16(_mm_packs_epi32(sum, sum), sum);
            rgbx = (uint32_t)_mm_cvtsi128_si32(sum);
            memcpy(out + 3 * x, &rgbx, 4);
        }
    }
}

__attribute__((target("avx2")))
static void pass_horizontal_avx2(const uint8_t *src, long src_stride, int col0, int rows,
                                 const Kernel *kh, int out_w, int bpp, uint8_t *dst)
{
    if (bpp == 4)   /* two copies, each with its bytes per pixel a constant */
        horizontal_avx2(src, src_stride, col0, rows, kh, out_w, 4, dst);
    else
        horizontal_avx2(src, src_stride, col0, rows, kh, out_w, 3, dst);
}
#endif

/* rows x out_w RGB pixels into dst from rows of `bpp`-byte pixels (src_stride apart)
 * whose first column is the input's column col0. */
static void pass_horizontal(const uint8_t *src, long src_stride, int col0, int rows,
                            const Kernel *kh, int out_w, int bpp, uint8_t *dst)
{
#if HAVE_AVX2_CODE
    if (simd < 0)
        simd = __builtin_cpu_supports("avx2") ? 1 : 0;
    if (simd && kh->lanes) {
        pass_horizontal_avx2(src, src_stride, col0, rows, kh, out_w, bpp, dst);
        return;
    }
#endif
    pass_horizontal_scalar(src, src_stride, col0, rows, kh, out_w, bpp, dst);
}

/* Whether the AVX2 code runs (on = 1 or 0; -1 leaves it): for tests and benchmarks. */
int cc_use_simd(int on)
{
#if HAVE_AVX2_CODE
    if (simd < 0)
        simd = __builtin_cpu_supports("avx2") ? 1 : 0;
    if (on >= 0)
        simd = on && __builtin_cpu_supports("avx2");
    return simd;
#else
    (void)on;
    return 0;
#endif
}

/* out_h rows of `bytes` bytes each from src rows (src_stride apart, row 0 = kv's index
 * `row0`), VBLOCK bytes at a time so that the sums stay in registers across the taps.
 * Vectorised by the compiler, for AVX2 too. */
#define VBLOCK 32
CLONED static void pass_vertical(const uint8_t *src, long src_stride, int row0,
                                 const Kernel *kv, int out_h, int bytes, uint8_t *dst)
{
    int y, i, j, b;
    for (y = 0; y < out_h; y++) {
        const int32_t *w = kv->weight + (size_t)y * kv->taps;
        const uint8_t *base = src + (long)(kv->first[y] - row0) * src_stride;
        uint8_t *out = dst + (long)y * bytes;
        for (j = 0; j + VBLOCK <= bytes; j += VBLOCK) {
            int32_t acc[VBLOCK];
            for (b = 0; b < VBLOCK; b++)
                acc[b] = 1 << (PRECISION_BITS - 1);
            for (i = 0; i < kv->count[y]; i++) {
                const uint8_t *row = base + i * src_stride + j;
                int32_t wi = w[i];
                for (b = 0; b < VBLOCK; b++)
                    acc[b] += row[b] * wi;
            }
            for (b = 0; b < VBLOCK; b++)
                out[j + b] = to_byte(acc[b]);
        }
        for (; j < bytes; j++) {
            int32_t acc = 1 << (PRECISION_BITS - 1);
            for (i = 0; i < kv->count[y]; i++)
                acc += base[i * src_stride + j] * w[i];
            out[j] = to_byte(acc);
        }
    }
}

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

/* -- JPEG frames ---------------------------------------------------------------------- */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
} ErrorTrap;

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

typedef struct {
    struct jpeg_decompress_struct cinfo;
    ErrorTrap trap;
    uint8_t *file;
    long file_cap;
    uint8_t *band;
    long band_cap;
} Decoder;

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

static int decoder_open(Decoder *d)
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

/* Decode rows [top, bottom) of columns around [left, right) of the JPEG at path, which
 * must be width x height. On CC_OK, *pixels points at (top, left) in the band and
 * *stride is the band's row length in bytes. */
static int decode_band(Decoder *d, const char *path, int width, int height, int left,
                       int top, int right, int bottom, const uint8_t **pixels, long *stride)
{
    struct jpeg_decompress_struct *ci = &d->cinfo;
    long n = read_file(path, &d->file, &d->file_cap);
    JDIMENSION x0, w;
    int r;

    if (n < 0 || d->file[0] != 0xFF || d->file[1] != 0xD8 || d->file[n - 2] != 0xFF ||
        d->file[n - 1] != 0xD9)
        return CC_FALLBACK;
    if (setjmp(d->trap.jump)) {
        jpeg_abort_decompress(ci);
        return CC_FALLBACK;
    }
    jpeg_mem_src(ci, d->file, (unsigned long)n);
    if (jpeg_read_header(ci, TRUE) != JPEG_HEADER_OK || (int)ci->image_width != width ||
        (int)ci->image_height != height || ci->num_components != 3 ||
        ci->jpeg_color_space != JCS_YCbCr || ci->progressive_mode || ci->arith_code) {
        jpeg_abort_decompress(ci);
        return CC_FALLBACK;
    }
    if (marker_damage(ci->src->next_input_byte, d->file + n - 2)) {
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

/* The width and height a JPEG file declares; CC_FALLBACK where it is not a JPEG this core
 * decodes. */
int cc_jpeg_size(const char *path, int *width, int *height)
{
    FILE *f = fopen(path, "rb");
    struct jpeg_decompress_struct cinfo;
    ErrorTrap trap;
    int status = CC_FALLBACK;

    if (!f)
        return CC_FALLBACK;
    cinfo.err = jpeg_std_error(&trap.pub);
    trap.pub.error_exit = trap_error;
    trap.pub.emit_message = trap_warning;
    if (setjmp(trap.jump)) {
        jpeg_destroy_decompress(&cinfo);
        fclose(f);
        return CC_FALLBACK;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f);
    if (jpeg_read_header(&cinfo, TRUE) == JPEG_HEADER_OK &&
        (long)cinfo.image_width * cinfo.image_height <= MAX_PIXELS) {
        *width = (int)cinfo.image_width;
        *height = (int)cinfo.image_height;
        status = CC_OK;
    }
    jpeg_destroy_decompress(&cinfo);
    fclose(f);
    return status;
}

/*
 * A clip from the JPEG files `paths` (n_frames of them; equal numbers[] mark a frame
 * repeated by loop padding), each width x height. geometry: the box (left, top, right,
 * bottom) resized to scaled_w x scaled_h, of which the size x size window at (win_x,
 * win_y) is kept (see Resizer). params: norm, mean[3], std[3]. out: 3 x n_frames x size
 * x size floats. Returns CC_OK, CC_FALLBACK (take the Python path for this clip) or
 * CC_NOMEM; on CC_FALLBACK, *failed_frame is the frame that caused it (-1: the geometry).
 */
int cc_clip_from_jpegs(const char *const *paths, const int *numbers, int n_frames, int width,
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
        const uint8_t *pixels;
        long stride;
        if (copy_of_earlier(numbers, t, out, n_frames, size))
            continue;
        status = decode_band(&d, paths[t], width, height, left + c0, top + first, left + c1,
                             top + last, &pixels, &stride);
        if (status == CC_OK)
            resize_convert(&z, pixels, stride, first, c0, out, t, n_frames);
        else
            *failed_frame = t;
    }
    jpeg_destroy_decompress(&d.cinfo);
    free(d.file);
    free(d.band);
    resizer_free(&z);
    return status;
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
