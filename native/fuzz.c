/*
 * The fuzzing driver of `make asan`: every file named on the command line goes through the
 * core as one frame of a clip (and as two, next to an intact frame first), at several
 * boxes and sizes and as a validation clip (the frame scaled, a window of it), with the
 * AVX2 code and without, and again from the file's bytes in memory (an HDF5 file's frames),
 * held in a buffer of exactly their size. Built with AddressSanitizer and
 * UndefinedBehaviorSanitizer, any bad read, write or overflow stops it with a report;
 * otherwise it prints how many calls the core made and what they returned.
 */
#include <stdio.h>
#include <stdlib.h>

int cc_jpeg_size(const char *path, int *width, int *height);
int cc_clip_from_jpegs(const char *const *paths, const int *numbers, int n_frames, int width,
                       int height, const int *geometry, int size, int flip,
                       const float *params, float *out, int *failed_frame);
int cc_clip_from_buffers(const unsigned char *const *data, const long *lengths,
                         const int *numbers, int n_frames, int width, int height,
                         const int *geometry, int size, int flip, const float *params,
                         float *out, int *failed_frame);
int cc_jpeg_size_buffer(const unsigned char *data, long n, int *width, int *height);
int cc_use_simd(int on);

/* A file's bytes in a buffer of exactly their size (NULL where it cannot be read). */
static unsigned char *read_all(const char *path, long *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data = NULL;
    if (!f)
        return NULL;
    if (!fseek(f, 0, SEEK_END) && (*n = ftell(f)) > 0 && !fseek(f, 0, SEEK_SET) &&
        (data = malloc(*n)) != NULL && fread(data, 1, *n, f) != (size_t)*n) {
        free(data);
        data = NULL;
    }
    fclose(f);
    return data;
}

static const int SIZES[] = {16, 112, 171};

int main(int argc, char **argv)
{
    const float params[7] = {1.0f, 114.8f, 107.7f, 99.6f, 1.0f, 1.0f, 1.0f};
    long calls = 0, returned[3] = {0, 0, 0};
    int f, s, b, simd, failed;
    float *out = malloc(sizeof(float) * 3 * 2 * 171 * 171);

    if (argc < 3 || !out) {
        fprintf(stderr, "usage: fuzz INTACT.jpg FILE...\n");
        return 2;
    }
    long n_intact;
    unsigned char *intact = read_all(argv[1], &n_intact);
    for (f = 2; f < argc; f++) {
        int w, h, wb, hb;
        long n_bytes = 0;
        unsigned char *bytes = read_all(argv[f], &n_bytes);
        if (cc_jpeg_size(argv[f], &w, &h) != 0) {   /* the first frame must have a size */
            returned[1]++;
            free(bytes);
            continue;
        }
        if (bytes && (cc_jpeg_size_buffer(bytes, n_bytes, &wb, &hb) != 0 || wb != w ||
                      hb != h)) {
            fprintf(stderr, "%s: its size in memory differs from its file's\n", argv[f]);
            return 1;
        }
        for (simd = 0; simd < 2; simd++) {
            cc_use_simd(simd);
            for (b = 0; b < 5; b++) {
                int side = (w < h ? w : h) * (b % 4 + 1) / 4, g[8];
                if (side < 1)
                    continue;
                g[0] = b % 2 ? w - side : 0;
                g[1] = b / 2 % 2 ? h - side : 0;
                g[2] = g[0] + side;
                g[3] = g[1] + side;
                for (s = 0; s < 3; s++) {
                    const char *one[1] = {argv[f]};
                    const char *two[2] = {argv[1], argv[f]};
                    int numbers[2] = {1, 2}, r, n = SIZES[s];
                    /* training: the box to n x n; b == 4: the frame scaled, a window */
                    g[4] = g[5] = n;
                    g[6] = g[7] = 0;
                    if (b == 4) {
                        g[0] = g[1] = 0;
                        g[2] = w;
                        g[3] = h;
                        g[4] = w < h ? n : n * w / h;
                        g[5] = w < h ? n * h / w : n;
                        g[6] = (g[4] - n) / 2;
                        g[7] = (g[5] - n) / 2;
                    }
                    r = cc_clip_from_jpegs(one, numbers, 1, w, h, g, n, b % 2, params, out,
                                           &failed);
                    returned[r]++;
                    r = cc_clip_from_jpegs(two, numbers, 2, w, h, g, n, 0, params, out,
                                           &failed);
                    returned[r]++;
                    calls += 2;
                    if (bytes && intact) {
                        const unsigned char *mem_one[1] = {bytes};
                        const unsigned char *mem_two[2] = {intact, bytes};
                        long len_one[1] = {n_bytes}, len_two[2] = {n_intact, n_bytes};
                        r = cc_clip_from_buffers(mem_one, len_one, numbers, 1, w, h, g, n,
                                                 b % 2, params, out, &failed);
                        returned[r]++;
                        r = cc_clip_from_buffers(mem_two, len_two, numbers, 2, w, h, g, n, 0,
                                                 params, out, &failed);
                        returned[r]++;
                        calls += 2;
                    }
                }
            }
        }
        free(bytes);
    }
    free(intact);
    printf("%d files, %ld calls: %ld made a clip, %ld left to Python, %ld out of memory\n",
           argc - 2, calls, returned[0], returned[1], returned[2]);
    free(out);
    return 0;
}
