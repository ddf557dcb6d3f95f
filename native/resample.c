/*
 * PIL's Image.resize(BILINEAR) of an 8-bit RGB image, recomputed exactly: its triangle
 * weights normalised in double and rounded to PRECISION_BITS fixed-point bits, its two
 * passes (horizontal on the rows the vertical pass reads, then vertical), the same rounding
 * of each pass to a byte. The horizontal pass has an AVX2 version (the same sums); the
 * vertical one is vectorised by the compiler.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clipcore.h"

/* -- PIL's bilinear resampling weights ------------------------------------------------ */

static double triangle(double x)
{
    if (x < 0.0)
        x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

void kernel_free(Kernel *k)
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

int kernel_make(Kernel *k, int in_size, int out_total, int out_first, int out_size)
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

void pass_horizontal(const uint8_t *src, long src_stride, int col0, int rows,
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
CLONED void pass_vertical(const uint8_t *src, long src_stride, int row0, const Kernel *kv,
                          int out_h, int bytes, uint8_t *dst)
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
