/* compress.c — gzip and zstd behind compress.h: zlib inflates gzip, libdeflate
 * compresses it, libzstd does both for zstd.
 *
 * libdeflate inflates only into an output buffer sized in advance: bounding untrusted
 * input with it would mean allocating max_out for every request, or inflating again
 * each time the buffer grows. zlib streams into a buffer that grows with the data, so
 * it stays for decompression. Decompression writes into a buffer that starts at a size guessed from the input and
 * doubles up to max_out. When the buffer is full the decoder is given a one-byte probe
 * instead of more memory: if the probe is filled the output really is longer, and the
 * buffer grows or the call fails with TOO_LARGE; if not, the stream ended exactly at the
 * buffer's end. So memory grows only for output that exists, and never past max_out. */
#define ZLIB_CONST
#include "base/compress.h"

#include <libdeflate.h>
#include <limits.h>
#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#define FIRST_GUESS 4096

/* zstd encoders commonly use windows up to 8 MiB when they do not know the content
 * size up front; smaller limits would refuse such frames even when their output fits. */
#define ZSTD_WINDOW_LOG_FLOOR 23
#define ZSTD_WINDOW_LOG_CEIL 27

struct outbuf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max;
};

static int outbuf_init(struct outbuf *b, size_t first, size_t max)
{
    b->cap = first < max ? first : max;
    b->len = 0;
    b->max = max;
    /* One byte even when cap is 0, so a successful result is never NULL. */
    b->data = malloc(b->cap > 0 ? b->cap : 1);
    return b->data != NULL ? COMPRESS_OK : COMPRESS_ERR_NOMEM;
}

static int outbuf_grow(struct outbuf *b)
{
    if (b->cap >= b->max)
        return COMPRESS_ERR_TOO_LARGE;
    size_t cap = b->cap < FIRST_GUESS ? FIRST_GUESS : b->cap;
    cap = cap > b->max / 2 ? b->max : cap * 2;
    uint8_t *data = realloc(b->data, cap);
    if (data == NULL)
        return COMPRESS_ERR_NOMEM;
    b->data = data;
    b->cap = cap;
    return COMPRESS_OK;
}

/* Hands the buffer to the caller on success, frees it otherwise. */
static int outbuf_finish(struct outbuf *b, int err, uint8_t **out, size_t *out_len)
{
    if (err != COMPRESS_OK) {
        free(b->data);
        return err;
    }
    *out = b->data;
    *out_len = b->len;
    return COMPRESS_OK;
}

/* Gives back the slack of a bound-sized buffer; the original is kept if realloc fails. */
static uint8_t *shrink(uint8_t *buf, size_t len)
{
    uint8_t *smaller = realloc(buf, len > 0 ? len : 1);
    return smaller != NULL ? smaller : buf;
}

/* zlib counts in uInt; larger buffers are fed in pieces. */
static uInt zchunk(size_t n)
{
    return n > UINT_MAX ? UINT_MAX : (uInt)n;
}

/* The gzip trailer ends with the last member's length mod 2^32: right for the usual
 * single member, and a wrong value only costs a reallocation or a buffer that is
 * too large but still within max_out. */
static size_t gunzip_guess(const uint8_t *in, size_t len)
{
    if (len < 18)
        return FIRST_GUESS;
    const uint8_t *p = in + len - 4;
    size_t isize = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
    return isize > 0 ? isize : FIRST_GUESS;
}

static int gunzip_run(z_stream *zs, const uint8_t *in, size_t len, struct outbuf *b)
{
    size_t left = len;
    uint8_t probe;

    for (;;) {
        int probing = b->len == b->cap;
        uInt in_chunk = zchunk(left);
        uInt out_chunk = probing ? 1 : zchunk(b->cap - b->len);
        zs->next_in = in;
        zs->avail_in = in_chunk;
        zs->next_out = probing ? &probe : b->data + b->len;
        zs->avail_out = out_chunk;

        int ret = inflate(zs, Z_NO_FLUSH);

        size_t consumed = in_chunk - zs->avail_in;
        in += consumed;
        left -= consumed;
        size_t made = out_chunk - zs->avail_out;
        if (probing && made == 1) {
            int err = outbuf_grow(b);
            if (err != COMPRESS_OK)
                return err;
            b->data[b->len++] = probe;
        } else if (!probing) {
            b->len += made;
        }

        switch (ret) {
        case Z_OK:
            break;
        case Z_STREAM_END:
            if (left == 0)
                return COMPRESS_OK;
            /* More bytes: they must be another gzip member, or inflate reports them. */
            if (inflateReset(zs) != Z_OK)
                return COMPRESS_ERR_INTERNAL;
            break;
        case Z_MEM_ERROR:
            return COMPRESS_ERR_NOMEM;
        default:
            /* Z_BUF_ERROR: no progress with output space available, i.e. the input
             * ended mid-stream. Z_DATA_ERROR, Z_NEED_DICT: bad data. */
            return COMPRESS_ERR_CORRUPT;
        }
    }
}

int compress_gunzip(const uint8_t *in, size_t len, size_t max_out,
                    uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;

    struct outbuf b;
    if (outbuf_init(&b, gunzip_guess(in, len), max_out) != COMPRESS_OK)
        return COMPRESS_ERR_NOMEM;

    z_stream zs = { 0 };
    int ret = inflateInit2(&zs, 16 + MAX_WBITS);
    if (ret != Z_OK) {
        free(b.data);
        return ret == Z_MEM_ERROR ? COMPRESS_ERR_NOMEM : COMPRESS_ERR_INTERNAL;
    }
    int err = gunzip_run(&zs, in, len, &b);
    inflateEnd(&zs);
    return outbuf_finish(&b, err, out, out_len);
}

static int zstd_error(size_t ret)
{
    switch (ZSTD_getErrorCode(ret)) {
    case ZSTD_error_memory_allocation:
        return COMPRESS_ERR_NOMEM;
    case ZSTD_error_frameParameter_windowTooLarge:
        return COMPRESS_ERR_TOO_LARGE;
    default:
        return COMPRESS_ERR_CORRUPT;
    }
}

/* The first frame's declared size when it has one; a lie is bounded by max_out. */
static size_t unzstd_guess(const uint8_t *in, size_t len)
{
    unsigned long long size = ZSTD_getFrameContentSize(in, len);
    if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR || size > SIZE_MAX)
        return FIRST_GUESS;
    return (size_t)size;
}

/* The decoder allocates its window from the frame header, before any output exists;
 * without a limit a 20-byte frame could ask for 128 MiB. */
static int unzstd_window_log(size_t max_out)
{
    int log = ZSTD_WINDOW_LOG_FLOOR;
    while (log < ZSTD_WINDOW_LOG_CEIL && ((size_t)1 << log) < max_out)
        log++;
    return log;
}

static int unzstd_run(ZSTD_DCtx *dctx, const uint8_t *in, size_t len, struct outbuf *b)
{
    ZSTD_inBuffer src = { in, len, 0 };
    uint8_t probe;

    for (;;) {
        int probing = b->len == b->cap;
        ZSTD_outBuffer dst;
        if (probing)
            dst = (ZSTD_outBuffer){ &probe, 1, 0 };
        else
            dst = (ZSTD_outBuffer){ b->data + b->len, b->cap - b->len, 0 };

        size_t ret = ZSTD_decompressStream(dctx, &dst, &src);
        if (ZSTD_isError(ret))
            return zstd_error(ret);

        if (probing && dst.pos == 1) {
            int err = outbuf_grow(b);
            if (err != COMPRESS_OK)
                return err;
            b->data[b->len++] = probe;
        } else if (!probing) {
            b->len += dst.pos;
        }

        /* 0: a frame ended and everything is flushed; any further input is a new frame. */
        if (ret == 0 && src.pos == src.size)
            return COMPRESS_OK;
        /* Room left in the output means the decoder is waiting for input that is not there. */
        if (src.pos == src.size && dst.pos < dst.size)
            return COMPRESS_ERR_CORRUPT;
    }
}

int compress_unzstd(const uint8_t *in, size_t len, size_t max_out,
                    uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;

    struct outbuf b;
    if (outbuf_init(&b, unzstd_guess(in, len), max_out) != COMPRESS_OK)
        return COMPRESS_ERR_NOMEM;

    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    if (dctx == NULL) {
        free(b.data);
        return COMPRESS_ERR_NOMEM;
    }
    int err = COMPRESS_ERR_INTERNAL;
    size_t ret = ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, unzstd_window_log(max_out));
    if (!ZSTD_isError(ret))
        err = unzstd_run(dctx, in, len, &b);
    ZSTD_freeDCtx(dctx);
    return outbuf_finish(&b, err, out, out_len);
}

/* libdeflate compresses a whole buffer in one call, at about three times zlib's speed
 * for the same level and a similar ratio (make bench), and writes standard gzip. */
int compress_gzip(const uint8_t *in, size_t len, int level, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (level < -1 || level > 9)
        return COMPRESS_ERR_LEVEL;

    struct libdeflate_compressor *c = libdeflate_alloc_compressor(level < 0 ? 6 : level);
    if (c == NULL)
        return COMPRESS_ERR_NOMEM;
    size_t cap = libdeflate_gzip_compress_bound(c, len);
    uint8_t *buf = malloc(cap);
    if (buf == NULL) {
        libdeflate_free_compressor(c);
        return COMPRESS_ERR_NOMEM;
    }
    /* The buffer is the compressor's own bound, so it always fits. */
    size_t made = libdeflate_gzip_compress(c, in, len, buf, cap);
    libdeflate_free_compressor(c);
    if (made == 0) {
        free(buf);
        return COMPRESS_ERR_INTERNAL;
    }
    *out = shrink(buf, made);
    *out_len = made;
    return COMPRESS_OK;
}

static int zstd_compress_error(size_t ret)
{
    return ZSTD_getErrorCode(ret) == ZSTD_error_memory_allocation ? COMPRESS_ERR_NOMEM
                                                                   : COMPRESS_ERR_INTERNAL;
}

static size_t zstd_run(ZSTD_CCtx *cctx, const uint8_t *in, size_t len, int level,
                       uint8_t *buf, size_t cap)
{
    size_t ret = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
    if (!ZSTD_isError(ret))
        ret = ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    if (!ZSTD_isError(ret))
        ret = ZSTD_compress2(cctx, buf, cap, in, len);
    return ret;
}

int compress_zstd(const uint8_t *in, size_t len, int level, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
        return COMPRESS_ERR_LEVEL;

    size_t cap = ZSTD_compressBound(len);
    if (ZSTD_isError(cap) || cap == 0)
        return COMPRESS_ERR_NOMEM;
    uint8_t *buf = malloc(cap);
    if (buf == NULL)
        return COMPRESS_ERR_NOMEM;
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    if (cctx == NULL) {
        free(buf);
        return COMPRESS_ERR_NOMEM;
    }
    size_t made = zstd_run(cctx, in, len, level, buf, cap);
    ZSTD_freeCCtx(cctx);
    if (ZSTD_isError(made)) {
        free(buf);
        return zstd_compress_error(made);
    }
    *out = shrink(buf, made);
    *out_len = made;
    return COMPRESS_OK;
}

const char *compress_strerror(int err)
{
    switch (err) {
    case COMPRESS_OK:
        return "success";
    case COMPRESS_ERR_TOO_LARGE:
        return "output too large";
    case COMPRESS_ERR_CORRUPT:
        return "corrupt or truncated data";
    case COMPRESS_ERR_NOMEM:
        return "out of memory";
    case COMPRESS_ERR_LEVEL:
        return "compression level out of range";
    case COMPRESS_ERR_INTERNAL:
        return "compression library failure";
    default:
        return "unknown error";
    }
}
