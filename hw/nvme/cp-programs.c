/*
 * QEMU NVM Express: the device-defined programs of compute namespaces
 *
 * Each program runs on a compute engine of cp.c with an execution context:
 * its parameters and the memory ranges of its memory range set.  Programs
 * touch memory only through those ranges, and check for a stop (time
 * budget, Abort, queue deletion, reset) after every NVME_CP_STEP bytes of
 * work.  docs/system/devices/nvme-csd.rst gives each program's contract.
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qemu/crc32c.h"
#include "qemu/timer.h"
#include <zlib.h>

#include "nvme.h"
#include "cp.h"

uint16_t nvme_cp_check(NvmeCpCtx *ctx)
{
    if (qatomic_read(&ctx->cancel)) {
        return NVME_CMD_ABORT_REQ;
    }

    if (qemu_clock_get_ns(QEMU_CLOCK_REALTIME) > ctx->deadline) {
        return NVME_INSUFF_PROG_RESOURCES | NVME_DNR;
    }

    return NVME_SUCCESS;
}

/*
 * The work meter: a program accounts for the @bytes of work it just did
 * (at most NVME_CP_STEP at a time); every NVME_CP_STEP bytes, check for a
 * stop.
 */
static uint16_t nvme_cp_work(NvmeCpCtx *ctx, uint64_t bytes)
{
    ctx->work += bytes;
    if (ctx->work < NVME_CP_STEP) {
        return NVME_SUCCESS;
    }
    ctx->work = 0;
    return nvme_cp_check(ctx);
}

/* Range @i of the set, or NULL: programs touch memory through this only. */
static NvmeCpRange *nvme_cp_range(NvmeCpCtx *ctx, int i)
{
    return i < ctx->nranges ? &ctx->ranges[i] : NULL;
}

/*
 * The chunk iterator: @fn on the successive pieces of @len bytes, each at
 * most NVME_CP_STEP bytes (or one @unit, if larger) and a multiple of
 * @unit, metered as work; stops at the first status.
 */
typedef uint16_t (*NvmeCpChunkFn)(NvmeCpCtx *ctx, uint64_t off,
                                  uint64_t len, void *opaque);

static uint16_t nvme_cp_chunks(NvmeCpCtx *ctx, uint64_t len, uint64_t unit,
                               NvmeCpChunkFn fn, void *opaque)
{
    uint64_t step = MAX(QEMU_ALIGN_DOWN(NVME_CP_STEP, unit), unit);
    uint64_t off, n;
    uint16_t status;

    for (off = 0; off < len; off += n) {
        n = MIN(len - off, step);
        status = fn(ctx, off, n, opaque);
        if (!status) {
            status = nvme_cp_work(ctx, n);
        }
        if (status) {
            return status;
        }
    }

    return NVME_SUCCESS;
}

/*
 * Device-defined programs.  Each returns an NVMe status and sets *result,
 * the 64-bit return value of Execute Program.  Invalid Field in Command
 * reports parameters or ranges that do not fit the contract.
 */

enum {
    NVME_CP_REDUCE_SUM      = 0,
    NVME_CP_REDUCE_MIN      = 1,
    NVME_CP_REDUCE_MAX      = 2,
    NVME_CP_REDUCE_COUNT    = 3,
};

typedef struct NvmeCpReduce {
    const uint8_t   *in;
    unsigned        op;
    unsigned        width;
    uint64_t        acc;
} NvmeCpReduce;

static uint16_t nvme_cp_reduce_chunk(NvmeCpCtx *ctx, uint64_t off,
                                     uint64_t len, void *opaque)
{
    NvmeCpReduce *r = opaque;
    uint64_t i;

    for (i = off; i < off + len; i += r->width) {
        uint64_t v = r->width == 4 ? (uint32_t)ldl_le_p(r->in + i) :
                                     ldq_le_p(r->in + i);

        switch (r->op) {
        case NVME_CP_REDUCE_SUM:
            r->acc += v;
            break;
        case NVME_CP_REDUCE_MIN:
            r->acc = MIN(r->acc, v);
            break;
        case NVME_CP_REDUCE_MAX:
            r->acc = MAX(r->acc, v);
            break;
        case NVME_CP_REDUCE_COUNT:
            r->acc += v == ctx->cparam2;
            break;
        }
    }

    return NVME_SUCCESS;
}

/*
 * reduce: range 0 holds little-endian unsigned integers of CPARAM1 bits
 * 15:8 bytes (4 or 8); CPARAM1 bits 7:0 select sum (0, modulo 2^64), min
 * (1), max (2) or the count of elements equal to CPARAM2 (3).
 */
static uint16_t nvme_cp_reduce(NvmeCpCtx *ctx, uint64_t *result)
{
    NvmeCpRange *in = nvme_cp_range(ctx, 0);
    NvmeCpReduce r = {
        .op = ctx->cparam1 & 0xff,
        .width = (ctx->cparam1 >> 8) & 0xff,
    };
    uint16_t status;

    if (!in || (r.width != 4 && r.width != 8) || in->len % r.width ||
        r.op > NVME_CP_REDUCE_COUNT) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    if (!in->len &&
        (r.op == NVME_CP_REDUCE_MIN || r.op == NVME_CP_REDUCE_MAX)) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }

    r.in = in->ptr;
    r.acc = r.op == NVME_CP_REDUCE_MIN ? UINT64_MAX : 0;
    status = nvme_cp_chunks(ctx, in->len, r.width, nvme_cp_reduce_chunk, &r);
    *result = r.acc;
    return status;
}

static uint16_t nvme_cp_crc32c_chunk(NvmeCpCtx *ctx, uint64_t off,
                                     uint64_t len, void *opaque)
{
    uint32_t *crc = opaque;

    /* crc32c() returns the final, inverted value: undo that */
    *crc = crc32c(*crc, ctx->ranges[0].ptr + off, len) ^ 0xffffffff;
    return NVME_SUCCESS;
}

/* crc32c: the CRC-32C (Castagnoli) of range 0 */
static uint16_t nvme_cp_crc32c(NvmeCpCtx *ctx, uint64_t *result)
{
    NvmeCpRange *in = nvme_cp_range(ctx, 0);
    uint32_t crc = 0xffffffff;
    uint16_t status;

    if (!in) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }

    status = nvme_cp_chunks(ctx, in->len, 1, nvme_cp_crc32c_chunk, &crc);
    *result = crc ^ 0xffffffff;
    return status;
}

static uint16_t nvme_cp_sha256_chunk(NvmeCpCtx *ctx, uint64_t off,
                                     uint64_t len, void *opaque)
{
    g_checksum_update(opaque, ctx->ranges[0].ptr + off, len);
    return NVME_SUCCESS;
}

/* sha256: the SHA-256 digest of range 0 into the first 32 bytes of range 1 */
static uint16_t nvme_cp_sha256(NvmeCpCtx *ctx, uint64_t *result)
{
    NvmeCpRange *in = nvme_cp_range(ctx, 0), *out = nvme_cp_range(ctx, 1);
    g_autoptr(GChecksum) sum = NULL;
    gsize len = 32;
    uint16_t status;

    if (!in || !out || out->len < 32) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }

    sum = g_checksum_new(G_CHECKSUM_SHA256);
    status = nvme_cp_chunks(ctx, in->len, 1, nvme_cp_sha256_chunk, sum);
    if (status) {
        return status;
    }
    g_checksum_get_digest(sum, out->ptr, &len);

    *result = len;
    return NVME_SUCCESS;
}

enum {
    NVME_CP_FILTER_EQ = 0, NVME_CP_FILTER_NE, NVME_CP_FILTER_LT,
    NVME_CP_FILTER_LE, NVME_CP_FILTER_GT, NVME_CP_FILTER_GE,
};

typedef struct NvmeCpFilter {
    uint32_t    rsz, foff, fsz;
    unsigned    op;
    /* which of "greater", "less" and "equal" (bits 0-2) match */
    unsigned    truth;
    uint64_t    matched;
} NvmeCpFilter;

static const uint8_t nvme_cp_filter_truth[] = {
    [NVME_CP_FILTER_EQ] = 4, [NVME_CP_FILTER_NE] = 3,
    [NVME_CP_FILTER_LT] = 2, [NVME_CP_FILTER_LE] = 6,
    [NVME_CP_FILTER_GT] = 1, [NVME_CP_FILTER_GE] = 5,
};

#define NVME_CP_FILTER_AHEAD    1024

static inline uint64_t nvme_cp_field(const uint8_t *p, unsigned fsz)
{
    switch (fsz) {
    case 1:
        return *p;
    case 2:
        return lduw_le_p(p);
    case 4:
        return ldl_le_p(p);
    default:
        return ldq_le_p(p);
    }
}

/*
 * The records of [@off, @off + @len) of range 0 whose field matches,
 * appended to range 1.  The callers pass the field size @fsz and, for the
 * common record sizes, @crsz as constants (@crsz 0: any record size), so
 * that each common shape of record gets a loop of its own.
 */
static inline uint16_t QEMU_ALWAYS_INLINE
nvme_cp_filter_records(NvmeCpCtx *ctx, uint64_t off, uint64_t len,
                       NvmeCpFilter *f, unsigned fsz, uint32_t crsz)
{
    /* in locals: stores to the output range may alias anything */
    const uint32_t rsz = crsz ?: f->rsz, foff = f->foff;
    const uint8_t *in = ctx->ranges[0].ptr + foff;
    uint8_t *out = ctx->ranges[1].ptr + f->matched * rsz;
    uint8_t *end = ctx->ranges[1].ptr + ctx->ranges[1].len;
    const uint64_t x = ctx->cparam2;
    const unsigned truth = f->truth;
    uint16_t status = NVME_SUCCESS;
    uint64_t i;

    for (i = off; i < off + len; i += rsz) {
        uint64_t v = nvme_cp_field(in + i, fsz);

        /* a read ahead: the record loads are what a filter waits for */
        __builtin_prefetch(in + i + NVME_CP_FILTER_AHEAD);

        if (!((truth >> ((v < x) | (v == x) << 1)) & 1)) {
            continue;
        }
        if (end - out < rsz) {
            status = NVME_INVALID_FIELD | NVME_DNR;
            break;
        }
        memcpy(out, in + i - foff, rsz);
        out += rsz;
    }

    f->matched = (out - ctx->ranges[1].ptr) / rsz;
    return status;
}

#define NVME_CP_FILTER_RECORDS(fsz)                                         \
    switch (f->rsz) {                                                       \
    case 16:                                                                \
        return nvme_cp_filter_records(ctx, off, len, f, fsz, 16);           \
    case 32:                                                                \
        return nvme_cp_filter_records(ctx, off, len, f, fsz, 32);           \
    case 64:                                                                \
        return nvme_cp_filter_records(ctx, off, len, f, fsz, 64);           \
    default:                                                                \
        return nvme_cp_filter_records(ctx, off, len, f, fsz, 0);            \
    }

static uint16_t nvme_cp_filter_chunk(NvmeCpCtx *ctx, uint64_t off,
                                     uint64_t len, void *opaque)
{
    NvmeCpFilter *f = opaque;

    switch (f->fsz) {
    case 1:
        NVME_CP_FILTER_RECORDS(1);
    case 2:
        NVME_CP_FILTER_RECORDS(2);
    case 4:
        NVME_CP_FILTER_RECORDS(4);
    default:
        NVME_CP_FILTER_RECORDS(8);
    }
}

/*
 * filter: range 0 holds records of CPARAM1 bits 15:0 bytes; each record
 * whose little-endian unsigned field at byte CPARAM1 bits 31:16, of CPARAM1
 * bits 39:32 bytes (1, 2, 4 or 8), compares with CPARAM2 by CPARAM1 bits
 * 47:40 (0 ==, 1 !=, 2 <, 3 <=, 4 >, 5 >=) is appended to range 1.
 * Returns the number of records written.
 */
static uint16_t nvme_cp_filter(NvmeCpCtx *ctx, uint64_t *result)
{
    NvmeCpRange *in = nvme_cp_range(ctx, 0), *out = nvme_cp_range(ctx, 1);
    NvmeCpFilter f = {
        .rsz = ctx->cparam1 & 0xffff,
        .foff = (ctx->cparam1 >> 16) & 0xffff,
        .fsz = (ctx->cparam1 >> 32) & 0xff,
        .op = (ctx->cparam1 >> 40) & 0xff,
    };
    uint16_t status;

    if (!in || !out || !f.rsz || in->len % f.rsz || !is_power_of_2(f.fsz) ||
        f.fsz > 8 || f.foff + f.fsz > f.rsz || f.op > NVME_CP_FILTER_GE) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }

    f.truth = nvme_cp_filter_truth[f.op];
    /* records read plus those written: at most twice the bytes metered */
    status = nvme_cp_chunks(ctx, in->len, f.rsz, nvme_cp_filter_chunk, &f);
    *result = f.matched;
    return status;
}

static uint16_t nvme_cp_copy_chunk(NvmeCpCtx *ctx, uint64_t off,
                                   uint64_t len, void *opaque)
{
    memmove(ctx->ranges[1].ptr + off, ctx->ranges[0].ptr + off, len);
    return NVME_SUCCESS;
}

/* copy: range 0 to the start of range 1; returns the bytes copied */
static uint16_t nvme_cp_copy(NvmeCpCtx *ctx, uint64_t *result)
{
    NvmeCpRange *in = nvme_cp_range(ctx, 0), *out = nvme_cp_range(ctx, 1);
    uint16_t status;

    if (!in || !out || out->len < in->len) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }

    status = nvme_cp_chunks(ctx, in->len, 1, nvme_cp_copy_chunk, NULL);
    *result = in->len;
    return status;
}

/*
 * compress and decompress: range 0 to range 1 as a zlib stream (RFC 1950),
 * at the compression level in CPARAM1 (0 to 9; the default 6 for values
 * above).  Return the number of bytes written to range 1.  An output range
 * too small, or input that is not a zlib stream, is Invalid Field.  Each
 * step consumes and produces at most NVME_CP_STEP bytes.
 */
static uint16_t nvme_cp_zlib(NvmeCpCtx *ctx, uint64_t *result, bool deflating)
{
    NvmeCpRange *in = nvme_cp_range(ctx, 0), *out = nvme_cp_range(ctx, 1);
    int level = ctx->cparam1 <= 9 ? ctx->cparam1 : Z_DEFAULT_COMPRESSION;
    z_stream zs = {};
    uint16_t status = NVME_SUCCESS;
    int ret;

    if (!in || !out || in->len > UINT32_MAX || out->len > UINT32_MAX) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }

    ret = deflating ? deflateInit(&zs, level) : inflateInit(&zs);
    if (ret != Z_OK) {
        return NVME_INTERNAL_DEV_ERROR;
    }

    zs.next_out = out->ptr;
    zs.next_in = in->ptr;
    do {
        uint64_t in_left = in->len - (zs.next_in - in->ptr);
        uint64_t out_left = out->len - (zs.next_out - out->ptr);
        uint32_t in_step = MIN(in_left, NVME_CP_STEP);
        uint32_t out_step = MIN(out_left, NVME_CP_STEP);
        bool last = in_step == in_left;

        zs.avail_in = in_step;
        zs.avail_out = out_step;
        if (deflating) {
            ret = deflate(&zs, last ? Z_FINISH : Z_NO_FLUSH);
        } else {
            ret = inflate(&zs, Z_NO_FLUSH);
        }
        if (ret == Z_STREAM_END) {
            break;
        }
        /*
         * An error, no room left in range 1, or no progress possible
         * with room to write: all input was consumed (or the stream is
         * broken) before its end
         */
        if ((ret != Z_OK && ret != Z_BUF_ERROR) ||
            zs.next_out == out->ptr + out->len ||
            (ret == Z_BUF_ERROR && zs.avail_out)) {
            status = NVME_INVALID_FIELD | NVME_DNR;
            break;
        }
        status = nvme_cp_work(ctx, in_step - zs.avail_in +
                                   out_step - zs.avail_out);
    } while (!status);

    *result = zs.total_out;
    if (deflating) {
        deflateEnd(&zs);
    } else {
        inflateEnd(&zs);
    }

    return status;
}

static uint16_t nvme_cp_compress(NvmeCpCtx *ctx, uint64_t *result)
{
    return nvme_cp_zlib(ctx, result, true);
}

static uint16_t nvme_cp_decompress(NvmeCpCtx *ctx, uint64_t *result)
{
    return nvme_cp_zlib(ctx, result, false);
}

/*
 * count: the (possibly overlapping) occurrences of range 1, the pattern of
 * at most NVME_CP_STEP bytes, in range 0.  Each search looks at a window
 * of NVME_CP_STEP starting positions and is metered as the bytes it may
 * compare; each occurrence found costs the pattern's length.
 */
static uint16_t nvme_cp_count(NvmeCpCtx *ctx, uint64_t *result)
{
    NvmeCpRange *in = nvme_cp_range(ctx, 0), *pat = nvme_cp_range(ctx, 1);
    const uint8_t *p, *end;
    uint64_t count = 0;
    uint16_t status = NVME_SUCCESS;

    if (!in || !pat || !pat->len || pat->len > NVME_CP_STEP) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }

    p = in->ptr;
    end = in->ptr + in->len;
    while (!status && end - p >= pat->len) {
        size_t window = MIN(end - p, NVME_CP_STEP + pat->len - 1);
        const uint8_t *hit = memmem(p, window, pat->ptr, pat->len);

        if (hit) {
            count++;
            status = nvme_cp_work(ctx, hit - p + pat->len);
            p = hit + 1;
        } else {
            status = nvme_cp_work(ctx, window);
            p += window - pat->len + 1;
        }
    }

    *result = count;
    return status;
}

/*
 * wait: run for CPARAM1 milliseconds without touching memory, as a stand-in
 * for a long program when testing aborts, resets and budgets.  Returns the
 * milliseconds waited.
 */
static uint16_t nvme_cp_wait(NvmeCpCtx *ctx, uint64_t *result)
{
    int64_t start = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);
    int64_t end = start + MIN(ctx->cparam1, INT32_MAX);
    uint16_t status;

    while (qemu_clock_get_ms(QEMU_CLOCK_REALTIME) < end) {
        status = nvme_cp_check(ctx);
        if (status) {
            return status;
        }
        g_usleep(1000);
    }

    *result = qemu_clock_get_ms(QEMU_CLOCK_REALTIME) - start;
    return NVME_SUCCESS;
}

/* The device-defined programs, by program slot */
const NvmeCpFn nvme_cp_programs[NVME_CP_NR_DEFINED] = {
    [NVME_CP_PIND_REDUCE] = nvme_cp_reduce,
    [NVME_CP_PIND_CRC32C] = nvme_cp_crc32c,
    [NVME_CP_PIND_SHA256] = nvme_cp_sha256,
    [NVME_CP_PIND_FILTER] = nvme_cp_filter,
    [NVME_CP_PIND_COPY] = nvme_cp_copy,
    [NVME_CP_PIND_COMPRESS] = nvme_cp_compress,
    [NVME_CP_PIND_DECOMPRESS] = nvme_cp_decompress,
    [NVME_CP_PIND_COUNT] = nvme_cp_count,
    [NVME_CP_PIND_WAIT] = nvme_cp_wait,
};
