/*
 * QEMU NVM Express: Computational Programs (CP) I/O command set
 *
 * A compute namespace (nvme-compute-ns) holds program slots: the first are
 * the device-defined programs of this file, the others take downloaded
 * eBPF programs, verified when their last byte arrives and run by the
 * machine of bpf-vm.c.  A host activates a program, describes the memory of the
 * subsystem local memory it may use with a memory range set, and runs it
 * with Execute Program.  Programs run on compute engines (worker threads of
 * the namespace), never on the main loop, within a time budget, and stop
 * when the command is aborted or its queue deleted.
 *
 * Layouts only the CP specification defines are in block/nvme-csd.h.
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qemu/range.h"
#include "qemu/crc32c.h"
#include "qemu/host-utils.h"
#include "qemu/main-loop.h"
#include "qemu/thread.h"
#include "qapi/error.h"
#include "hw/qdev-properties.h"
#include "block/nvme-csd.h"
#include "block/nvme-bpf.h"
#include <zlib.h>

#include "nvme.h"
#include "bpf-vm.h"
#include "trace.h"

#define TYPE_NVME_COMPUTE_NS "nvme-compute-ns"
OBJECT_DECLARE_SIMPLE_TYPE(NvmeComputeNamespace, NVME_COMPUTE_NS)

/*
 * Work a program does between two checks for a stop, in bytes read or
 * written (or compared): this bounds how late a program notices its time
 * budget, an Abort or a reset.
 */
#define NVME_CP_STEP        (64 * KiB)

/* Parameter data of Execute Program, at most */
#define NVME_CP_MAX_DLEN    (64 * KiB)

/*
 * Execution context: what a program may touch, and when it must stop.
 */

typedef struct NvmeCpRange {
    uint8_t     *ptr;
    uint64_t    len;
} NvmeCpRange;

typedef struct NvmeCpCtx {
    NvmeCpRange *ranges;
    int         nranges;
    uint64_t    cparam1;
    uint64_t    cparam2;
    uint8_t     *pdata;
    uint32_t    plen;
    int64_t     deadline;       /* QEMU_CLOCK_REALTIME, ns */
    bool        cancel;
    uint64_t    work;           /* since the last check */
} NvmeCpCtx;

/*
 * Non-zero status when the execution must stop: aborted (by Abort, queue
 * deletion, controller reset) or out of its time budget.
 */
static uint16_t nvme_cp_check(NvmeCpCtx *ctx)
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

typedef uint16_t (*NvmeCpFn)(NvmeCpCtx *ctx, uint64_t *result);

typedef struct NvmeCpProgram {
    const char  *name;
    NvmeCpFn    fn;
} NvmeCpProgram;

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
    uint64_t    matched;
} NvmeCpFilter;

static uint16_t nvme_cp_filter_chunk(NvmeCpCtx *ctx, uint64_t off,
                                     uint64_t len, void *opaque)
{
    NvmeCpRange *in = &ctx->ranges[0], *out = &ctx->ranges[1];
    NvmeCpFilter *f = opaque;
    uint64_t i;

    for (i = off; i < off + len; i += f->rsz) {
        const uint8_t *rec = in->ptr + i;
        uint64_t v = 0;
        bool match = false;

        memcpy(&v, rec + f->foff, f->fsz);
        v = le64_to_cpu(v);
        switch (f->op) {
        case NVME_CP_FILTER_EQ:
            match = v == ctx->cparam2;
            break;
        case NVME_CP_FILTER_NE:
            match = v != ctx->cparam2;
            break;
        case NVME_CP_FILTER_LT:
            match = v < ctx->cparam2;
            break;
        case NVME_CP_FILTER_LE:
            match = v <= ctx->cparam2;
            break;
        case NVME_CP_FILTER_GT:
            match = v > ctx->cparam2;
            break;
        case NVME_CP_FILTER_GE:
            match = v >= ctx->cparam2;
            break;
        }

        if (match) {
            if ((f->matched + 1) * f->rsz > out->len) {
                return NVME_INVALID_FIELD | NVME_DNR;
            }
            memcpy(out->ptr + f->matched * f->rsz, rec, f->rsz);
            f->matched++;
        }
    }

    return NVME_SUCCESS;
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

/* The device-defined programs, in their program slots from index 0 on. */
static const NvmeCpProgram nvme_cp_programs[] = {
    { "reduce",     nvme_cp_reduce },
    { "crc32c",     nvme_cp_crc32c },
    { "sha256",     nvme_cp_sha256 },
    { "filter",     nvme_cp_filter },
    { "copy",       nvme_cp_copy },
    { "compress",   nvme_cp_compress },
    { "decompress", nvme_cp_decompress },
    { "count",      nvme_cp_count },
    { "wait",       nvme_cp_wait },
};

/*
 * Compute namespace state
 */

typedef struct NvmeCpSlot {
    uint8_t                 peocc;
    bool                    active;
    uint8_t                 ptype;
    uint8_t                 pit;
    uint64_t                puid;
    const NvmeCpProgram     *builtin;
    NvmeBpfProg             *bpf;
    unsigned                running;

    /* a download in progress (load) or done: its size counts to MAXPB */
    uint8_t                 *load;
    uint32_t                psize;
    uint32_t                loaded;
} NvmeCpSlot;

typedef struct NvmeCpMrs {
    bool                used;
    int                 nranges;
    NvmeMemRangeDescr   *descr;
    NvmeNamespace       **mns;
    unsigned            in_use;
} NvmeCpMrs;

typedef struct NvmeCpJob NvmeCpJob;
typedef struct NvmeCpEngines NvmeCpEngines;

struct NvmeComputeNamespace {
    NvmeNamespace   ns;

    struct {
        uint16_t    slots;
        uint16_t    maxact;
        uint16_t    maxmemrs;
        uint8_t     maxmemr;
        uint16_t    mrsg;
        uint64_t    maxpb;
        uint8_t     lpg;
        uint32_t    engines;
        uint32_t    budget_ms;
        uint64_t    budget_insns;
    } params;

    NvmeCpSlot      *slots;
    unsigned        nactive;
    uint64_t        pbytes;         /* bytes of downloaded programs */
    NvmeCpMrs       *mrs;           /* indexed by RSID - 1 */

    NvmeCpEngines   *engines;
    QLIST_HEAD(, NvmeCpJob) jobs;   /* queued, running or stopping */
    unsigned        njobs;
};

static NvmeComputeNamespace *nvme_cp_ns(NvmeNamespace *ns)
{
    return ns && ns->csi == NVME_CSI_CP ?
        container_of(ns, NvmeComputeNamespace, ns) : NULL;
}

/* The compute namespace that admin command @req names, if attached. */
static uint16_t nvme_cp_admin_ns(NvmeCtrl *n, NvmeRequest *req,
                                 NvmeComputeNamespace **cp)
{
    uint32_t nsid = le32_to_cpu(req->cmd.nsid);

    *cp = nsid <= NVME_MAX_NAMESPACES ? nvme_cp_ns(nvme_ns(n, nsid)) : NULL;
    if (!*cp) {
        trace_pci_nvme_err_cp_nsid(nvme_cid(req), nsid);
        return NVME_INVALID_NSID | NVME_DNR;
    }

    return NVME_SUCCESS;
}

static uint16_t nvme_cp_slot(NvmeComputeNamespace *cp, uint32_t pind,
                             NvmeCpSlot **slot)
{
    if (pind >= cp->params.slots) {
        trace_pci_nvme_err_cp_pind(pind);
        return NVME_INVALID_PROG_INDEX | NVME_DNR;
    }

    *slot = &cp->slots[pind];
    return NVME_SUCCESS;
}

/*
 * Execution.  An Execute Program command becomes a job for the compute
 * engines of its namespace, worker threads that take jobs from a queue,
 * and completes when its job is done.  Aborted (by Abort, by deleting its
 * queue, by a reset), it completes at once: a running job is detached from
 * its command and dropped by its engine when the program notices the stop,
 * within NVME_CP_STEP bytes of work or NVME_BPF_POLL_INSNS instructions.
 * A job holds references to what it runs on (its program, the SLM), and
 * the engines to what they share, so that neither the namespace nor the
 * controller ever waits for a running program to go away.
 */

/* Jobs a compute namespace holds at most; more get Insufficient Resources */
#define NVME_CP_MAX_JOBS    256

struct NvmeCpEngines {
    QemuMutex   lock;
    QemuCond    cond;
    QSIMPLEQ_HEAD(, NvmeCpJob) queue;
    bool        stopping;
    int         refs;           /* the namespace's, and each thread's */
};

typedef struct NvmeCpAIOCB {
    BlockAIOCB  common;
    NvmeRequest *req;
    NvmeCpJob   *job;
} NvmeCpAIOCB;

struct NvmeCpJob {
    NvmeCpAIOCB             *acb;   /* NULL once its command completed */
    NvmeComputeNamespace    *cp;    /* NULL once the namespace is gone */
    NvmeCpSlot              *slot;
    NvmeCpMrs               *mrs;
    const NvmeCpProgram     *builtin;
    NvmeBpfProg             *bpf;   /* a reference */
    Object                  *slm;   /* a reference, with a memory range set */
    uint64_t                budget_insns;
    uint16_t                cid;
    bool                    queued; /* in the engines' queue (their lock) */
    NvmeCpCtx               ctx;
    uint64_t                result;
    uint16_t                status;
    QSIMPLEQ_ENTRY(NvmeCpJob) next;
    QLIST_ENTRY(NvmeCpJob)  link;
};

/*
 * Downloaded programs: region 1 is the context, 2 the parameter data, 3 and
 * up the ranges of the memory range set (see block/nvme-bpf.h).
 */

enum {
    NVME_CP_BPF_CTX     = 1,
    NVME_CP_BPF_PDATA   = 2,
    NVME_CP_BPF_RANGE0  = 3,
};

static int nvme_cp_bpf_poll(void *opaque)
{
    return nvme_cp_check(opaque) != NVME_SUCCESS;
}

static uint16_t nvme_cp_bpf_exec(NvmeCpJob *job)
{
    NvmeCpCtx *ctx = &job->ctx;
    size_t ctx_len = sizeof(struct nvme_bpf_ctx) +
                     ctx->nranges * sizeof(struct nvme_bpf_range);
    g_autofree struct nvme_bpf_ctx *bctx = g_malloc0(ctx_len);
    g_autofree NvmeBpfRegion *regions = NULL;
    NvmeBpfRun run = {
        .nregions = NVME_CP_BPF_RANGE0 + ctx->nranges,
        .budget = job->budget_insns,
        .poll = nvme_cp_bpf_poll,
        .opaque = ctx,
    };
    uint16_t status;

    bctx->cparam1 = cpu_to_le64(ctx->cparam1);
    bctx->cparam2 = cpu_to_le64(ctx->cparam2);
    bctx->data = cpu_to_le64(nvme_bpf_addr(NVME_CP_BPF_PDATA, 0));
    bctx->data_len = cpu_to_le32(ctx->plen);
    bctx->nranges = cpu_to_le32(ctx->nranges);

    regions = g_new0(NvmeBpfRegion, run.nregions);
    regions[NVME_CP_BPF_CTX] = (NvmeBpfRegion) {
        (uint8_t *)bctx, ctx_len, false,
    };
    regions[NVME_CP_BPF_PDATA] = (NvmeBpfRegion) {
        ctx->pdata, ctx->plen, false,
    };
    for (int i = 0; i < ctx->nranges; i++) {
        bctx->ranges[i].addr =
            cpu_to_le64(nvme_bpf_addr(NVME_CP_BPF_RANGE0 + i, 0));
        bctx->ranges[i].len = cpu_to_le64(ctx->ranges[i].len);
        regions[NVME_CP_BPF_RANGE0 + i] = (NvmeBpfRegion) {
            ctx->ranges[i].ptr, ctx->ranges[i].len, true,
        };
    }
    run.regions = regions;
    run.args[0] = nvme_bpf_addr(NVME_CP_BPF_CTX, 0);

    switch (nvme_bpf_run(job->bpf, &run)) {
    case NVME_BPF_OK:
        job->result = run.r0;
        return NVME_SUCCESS;
    case NVME_BPF_ESTOPPED:
        /* aborted, or out of time */
        status = nvme_cp_check(ctx);
        break;
    case NVME_BPF_EBUDGET:
        status = NVME_INSUFF_PROG_RESOURCES | NVME_DNR;
        break;
    default:
        /* a bad access: DW0 says where, DW1 why */
        status = NVME_INVALID_PROG_DATA | NVME_DNR;
        job->result = run.pc | (uint64_t)run.error << 32;
        break;
    }

    trace_pci_nvme_err_cp_bpf(job->cid, run.pc, nvme_bpf_strerror(run.error));
    return status;
}

static void nvme_cp_engines_unref(NvmeCpEngines *eng)
{
    if (qatomic_fetch_dec(&eng->refs) == 1) {
        qemu_cond_destroy(&eng->cond);
        qemu_mutex_destroy(&eng->lock);
        g_free(eng);
    }
}

/* Complete the command of @job (on the main loop) */
static void nvme_cp_answer(NvmeCpJob *job, uint16_t status, uint64_t result)
{
    NvmeCpAIOCB *acb = job->acb;
    NvmeRequest *req = acb->req;

    trace_pci_nvme_cp_exec_done(job->cid, req->status ?: status, result);

    job->acb = NULL;
    req->cqe.result = cpu_to_le32(result);
    req->cqe.dw1 = cpu_to_le32(result >> 32);
    if (!req->status) {
        req->status = status;
    }
    acb->common.cb(acb->common.opaque, 0);
    qemu_aio_unref(acb);
}

/* Let @job go (on the main loop): it no longer runs, nor will */
static void nvme_cp_job_free(NvmeCpJob *job)
{
    if (job->cp) {
        job->slot->running--;
        if (job->mrs) {
            job->mrs->in_use--;
        }
        QLIST_REMOVE(job, link);
        job->cp->njobs--;
    }
    nvme_bpf_free(job->bpf);
    if (job->slm) {
        object_unref(job->slm);
    }
    g_free(job->ctx.ranges);
    g_free(job->ctx.pdata);
    g_free(job);
}

/* An engine is done with @job */
static void nvme_cp_job_done(void *opaque)
{
    NvmeCpJob *job = opaque;

    if (job->acb) {
        nvme_cp_answer(job, job->status, job->result);
    } else {
        trace_pci_nvme_cp_job_dropped(job->cid, job->status);
    }
    nvme_cp_job_free(job);
}

/* Take @job out of the engines' queue; false if an engine has it */
static bool nvme_cp_dequeue(NvmeCpEngines *eng, NvmeCpJob *job)
{
    bool queued;

    qemu_mutex_lock(&eng->lock);
    queued = job->queued;
    if (queued) {
        QSIMPLEQ_REMOVE(&eng->queue, job, NvmeCpJob, next);
        job->queued = false;
    }
    qemu_mutex_unlock(&eng->lock);

    return queued;
}

/*
 * Abort, queue deletion and reset: the command completes now (with the
 * status its canceller set, else Command Abort Requested); a job an engine
 * runs stops on its own, soon.
 */
static void nvme_cp_cancel(BlockAIOCB *common)
{
    NvmeCpAIOCB *acb = container_of(common, NvmeCpAIOCB, common);
    NvmeCpJob *job = acb->job;

    qatomic_set(&job->ctx.cancel, true);
    nvme_cp_answer(job, NVME_CMD_ABORT_REQ, 0);
    if (nvme_cp_dequeue(job->cp->engines, job)) {
        nvme_cp_job_free(job);
    }
}

static const AIOCBInfo nvme_cp_aiocb_info = {
    .aiocb_size   = sizeof(NvmeCpAIOCB),
    .cancel_async = nvme_cp_cancel,
};

static void *nvme_cp_engine(void *opaque)
{
    NvmeCpEngines *eng = opaque;
    NvmeCpJob *job;

    qemu_mutex_lock(&eng->lock);
    while (!eng->stopping) {
        job = QSIMPLEQ_FIRST(&eng->queue);
        if (!job) {
            qemu_cond_wait(&eng->cond, &eng->lock);
            continue;
        }
        QSIMPLEQ_REMOVE_HEAD(&eng->queue, next);
        job->queued = false;
        qemu_mutex_unlock(&eng->lock);

        job->status = nvme_cp_check(&job->ctx);
        if (!job->status) {
            job->status = job->builtin ?
                job->builtin->fn(&job->ctx, &job->result) :
                nvme_cp_bpf_exec(job);
        }
        aio_bh_schedule_oneshot(qemu_get_aio_context(), nvme_cp_job_done,
                                job);

        qemu_mutex_lock(&eng->lock);
    }
    qemu_mutex_unlock(&eng->lock);

    nvme_cp_engines_unref(eng);
    return NULL;
}

static uint16_t nvme_cp_exec(NvmeCtrl *n, NvmeRequest *req)
{
    NvmeExecProgramCmd *cmd = (NvmeExecProgramCmd *)&req->cmd;
    NvmeComputeNamespace *cp = nvme_cp_ns(req->ns);
    uint16_t pind = le16_to_cpu(cmd->pind);
    uint16_t rsid = le16_to_cpu(cmd->rsid);
    uint32_t dlen = le32_to_cpu(cmd->dlen);
    g_autofree uint8_t *pdata = NULL;
    NvmeCpMrs *mrs = NULL;
    NvmeCpSlot *slot;
    NvmeCpJob *job;
    uint16_t status;

    trace_pci_nvme_cp_exec(nvme_cid(req), nvme_nsid(req->ns), pind, rsid,
                           le64_to_cpu(cmd->cparam1),
                           le64_to_cpu(cmd->cparam2), dlen);

    status = nvme_cp_slot(cp, pind, &slot);
    if (status) {
        return status;
    }

    if (slot->peocc == NVME_PEOCC_EMPTY) {
        return NVME_NO_PROGRAM | NVME_DNR;
    }

    if (!slot->active) {
        return NVME_PROG_NOT_ACTIVATED | NVME_DNR;
    }

    /* ranges given inline, instead of a set, are not supported */
    if (le32_to_cpu(cmd->numr)) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }

    if (rsid) {
        if (rsid > cp->params.maxmemrs || !cp->mrs[rsid - 1].used) {
            trace_pci_nvme_err_cp_rsid(rsid);
            return NVME_INVALID_MRSID | NVME_DNR;
        }
        mrs = &cp->mrs[rsid - 1];
    }

    if (dlen > NVME_CP_MAX_DLEN) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    status = nvme_check_mdts(n, dlen);
    if (status) {
        return status;
    }

    /* a host that queues more must retry later */
    if (cp->njobs >= NVME_CP_MAX_JOBS) {
        trace_pci_nvme_err_cp_jobs(nvme_cid(req), cp->njobs);
        return NVME_INSUFFICIENT_RESOURCES;
    }

    if (dlen) {
        pdata = g_malloc(dlen);
        status = nvme_h2c(n, pdata, dlen, req);
        if (status) {
            return status;
        }
    }

    job = g_new0(NvmeCpJob, 1);
    job->cp = cp;
    job->slot = slot;
    job->mrs = mrs;
    job->builtin = slot->builtin;
    job->bpf = slot->bpf ? nvme_bpf_ref(slot->bpf) : NULL;
    job->budget_insns = cp->params.budget_insns;
    job->cid = nvme_cid(req);
    job->ctx = (NvmeCpCtx) {
        .cparam1 = le64_to_cpu(cmd->cparam1),
        .cparam2 = le64_to_cpu(cmd->cparam2),
        .pdata = g_steal_pointer(&pdata),
        .plen = dlen,
        .deadline = qemu_clock_get_ns(QEMU_CLOCK_REALTIME) +
                    (int64_t)cp->params.budget_ms * SCALE_MS,
    };
    if (mrs) {
        job->slm = object_ref(OBJECT(cp->ns.subsys->slm.dev));
        job->ctx.nranges = mrs->nranges;
        job->ctx.ranges = g_new(NvmeCpRange, mrs->nranges);
        for (int i = 0; i < mrs->nranges; i++) {
            NvmeNamespace *mns = mrs->mns[i];

            job->ctx.ranges[i].ptr = mns->subsys->slm.ptr + mns->mem.offset +
                                     le64_to_cpu(mrs->descr[i].sb);
            job->ctx.ranges[i].len = le32_to_cpu(mrs->descr[i].len);
        }
        mrs->in_use++;
    }
    slot->running++;
    QLIST_INSERT_HEAD(&cp->jobs, job, link);
    cp->njobs++;

    job->acb = qemu_aio_get(&nvme_cp_aiocb_info, NULL, nvme_misc_cb, req);
    job->acb->req = req;
    job->acb->job = job;
    req->aiocb = &job->acb->common;

    qemu_mutex_lock(&cp->engines->lock);
    QSIMPLEQ_INSERT_TAIL(&cp->engines->queue, job, next);
    job->queued = true;
    qemu_cond_signal(&cp->engines->cond);
    qemu_mutex_unlock(&cp->engines->lock);

    return NVME_NO_COMPLETE;
}

static const uint32_t nvme_cse_iocs_cp[256] = {
    [NVME_CMD_EXEC_PROGRAM]     = NVME_CMD_EFF_CSUPP,
};

static uint16_t nvme_cp_io_cmd(NvmeCtrl *n, NvmeRequest *req)
{
    if (req->cmd.opcode == NVME_CMD_EXEC_PROGRAM) {
        return nvme_cp_exec(n, req);
    }

    return NVME_INVALID_OPCODE | NVME_DNR;
}

/*
 * Admin commands
 */

/* Empty the slot of a downloaded program, or of a download in progress */
static void nvme_cp_unload(NvmeComputeNamespace *cp, NvmeCpSlot *slot)
{
    cp->pbytes -= slot->psize;
    nvme_bpf_free(slot->bpf);
    g_free(slot->load);
    *slot = (NvmeCpSlot) {};
}

/*
 * A chunk of a download: the first has LOFF 0 and starts it over, each
 * other continues where the previous one ended.  The last one, when LOFF +
 * NUMB reaches PSIZE, has the program verified.
 */
static uint16_t nvme_cp_load_chunk(NvmeCtrl *n, NvmeRequest *req,
                                   NvmeComputeNamespace *cp, uint32_t pind,
                                   NvmeCpSlot *slot)
{
    uint32_t cdw10 = le32_to_cpu(req->cmd.cdw10);
    uint32_t psize = le32_to_cpu(req->cmd.cdw11);
    uint32_t numb = le32_to_cpu(req->cmd.cdw14);
    uint32_t loff = le32_to_cpu(req->cmd.cdw15);
    uint8_t ptype = NVME_LOAD_PROG_PTYPE(cdw10);
    uint8_t pit = NVME_LOAD_PROG_PIT(cdw10);
    uint64_t gran = 1ULL << cp->params.lpg;
    g_autofree char *why = NULL;
    uint16_t status;

    trace_pci_nvme_cp_load_chunk(nvme_cid(req), pind, psize, loff, numb);

    if (ptype != NVME_PTYPE_EBPF) {
        trace_pci_nvme_err_cp_ptype(ptype);
        return NVME_INVALID_PROG_TYPE | NVME_DNR;
    }
    if (pit != NVME_PIT_NONE && pit != NVME_PIT_PUID) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    if (!psize || !numb || psize % gran || numb % gran || loff % gran ||
        numb > psize - MIN(loff, psize) || loff > psize) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    if (psize > NVME_BPF_MAX_INSNS * 8) {
        return NVME_PROG_TOO_BIG | NVME_DNR;
    }
    status = nvme_check_mdts(n, numb);
    if (status) {
        return status;
    }
    if (slot->active) {
        return NVME_PROG_IN_USE | NVME_DNR;
    }

    if (!loff) {
        /* a new download replaces what the slot had */
        nvme_cp_unload(cp, slot);
        if (psize > cp->params.maxpb - MIN(cp->pbytes, cp->params.maxpb)) {
            return NVME_MAX_PROG_BYTES_EXCEEDED | NVME_DNR;
        }
        slot->load = g_try_malloc(psize);
        if (!slot->load) {
            return NVME_INSUFF_PROG_RESOURCES | NVME_DNR;
        }
        slot->psize = psize;
        slot->ptype = ptype;
        slot->pit = pit;
        slot->puid = pit == NVME_PIT_PUID ?
            le32_to_cpu(req->cmd.cdw12) |
            (uint64_t)le32_to_cpu(req->cmd.cdw13) << 32 : 0;
        cp->pbytes += psize;
    } else if (!slot->load || slot->psize != psize || slot->loaded != loff) {
        trace_pci_nvme_err_cp_load(pind, psize, loff, numb);
        return NVME_INVALID_FIELD | NVME_DNR;
    }

    status = nvme_h2c(n, slot->load + loff, numb, req);
    if (status) {
        return status;
    }
    slot->loaded += numb;
    if (slot->loaded < psize) {
        return NVME_SUCCESS;
    }

    slot->bpf = nvme_bpf_load(slot->load, psize, &nvme_bpf_std_helpers,
                              1 << 1, &why);
    g_free(slot->load);
    slot->load = NULL;
    if (!slot->bpf) {
        trace_pci_nvme_err_cp_verify(pind, why);
        nvme_cp_unload(cp, slot);
        return NVME_INVALID_PROG_DATA | NVME_DNR;
    }

    slot->peocc = NVME_PEOCC_DOWNLOADED;
    trace_pci_nvme_cp_loaded(pind, nvme_bpf_len(slot->bpf), slot->puid);
    return NVME_SUCCESS;
}

static uint16_t nvme_cp_load_program(NvmeCtrl *n, NvmeRequest *req)
{
    uint32_t cdw10 = le32_to_cpu(req->cmd.cdw10);
    uint32_t pind = NVME_LOAD_PROG_PIND(cdw10);
    NvmeComputeNamespace *cp;
    NvmeCpSlot *slot;
    uint16_t status;

    trace_pci_nvme_cp_load_program(nvme_cid(req), le32_to_cpu(req->cmd.nsid),
                                   pind, NVME_LOAD_PROG_PTYPE(cdw10),
                                   NVME_LOAD_PROG_UNLOAD(cdw10));

    status = nvme_cp_admin_ns(n, req, &cp);
    if (!status) {
        status = nvme_cp_slot(cp, pind, &slot);
    }
    if (status) {
        return status;
    }

    if (slot->peocc == NVME_PEOCC_DEVICE_DEFINED) {
        return NVME_PROG_INDEX_NOT_DOWNLOADABLE | NVME_DNR;
    }

    if (!NVME_LOAD_PROG_UNLOAD(cdw10)) {
        return nvme_cp_load_chunk(n, req, cp, pind, slot);
    }

    if (slot->peocc == NVME_PEOCC_EMPTY && !slot->load) {
        return NVME_NO_PROGRAM | NVME_DNR;
    }
    if (slot->active) {
        return NVME_PROG_IN_USE | NVME_DNR;
    }
    nvme_cp_unload(cp, slot);

    return NVME_SUCCESS;
}

static uint16_t nvme_cp_program_act(NvmeCtrl *n, NvmeRequest *req)
{
    uint32_t cdw10 = le32_to_cpu(req->cmd.cdw10);
    uint32_t pind = NVME_PROG_ACT_PIND(cdw10);
    uint8_t sel = NVME_PROG_ACT_SEL(cdw10);
    NvmeComputeNamespace *cp;
    NvmeCpSlot *slot;
    uint16_t status;

    trace_pci_nvme_cp_program_act(nvme_cid(req), le32_to_cpu(req->cmd.nsid),
                                  pind, sel);

    status = nvme_cp_admin_ns(n, req, &cp);
    if (!status) {
        status = nvme_cp_slot(cp, pind, &slot);
    }
    if (status) {
        return status;
    }

    if (sel != NVME_PROG_ACT_ACTIVATE && sel != NVME_PROG_ACT_DEACTIVATE) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }

    if (slot->peocc == NVME_PEOCC_EMPTY) {
        return NVME_NO_PROGRAM | NVME_DNR;
    }

    if (sel == NVME_PROG_ACT_ACTIVATE) {
        if (!slot->active) {
            if (cp->nactive >= cp->params.maxact) {
                return NVME_MAX_PROGS_ACTIVATED | NVME_DNR;
            }
            slot->active = true;
            cp->nactive++;
        }
        return NVME_SUCCESS;
    }

    /* executions use it (stopping ones too): retry when they are done */
    if (slot->running) {
        return NVME_PROG_IN_USE;
    }
    if (slot->active) {
        slot->active = false;
        cp->nactive--;
    }

    return NVME_SUCCESS;
}

static uint16_t nvme_cp_mrs_create(NvmeCtrl *n, NvmeRequest *req,
                                   NvmeComputeNamespace *cp, int numr)
{
    uint64_t gran = 1ULL << cp->params.mrsg;
    g_autofree NvmeMemRangeDescr *descr = NULL;
    g_autofree NvmeNamespace **mns = NULL;
    NvmeCpMrs *mrs = NULL;
    uint16_t status;
    int i, j;

    /* a set of no ranges is no valid set */
    if (!numr) {
        return NVME_INVALID_MRS | NVME_DNR;
    }

    if (numr > cp->params.maxmemr) {
        return NVME_MAX_MEM_RANGES_EXCEEDED | NVME_DNR;
    }

    for (i = 0; i < cp->params.maxmemrs; i++) {
        if (!cp->mrs[i].used) {
            mrs = &cp->mrs[i];
            break;
        }
    }
    if (!mrs) {
        return NVME_MAX_MRS_EXCEEDED | NVME_DNR;
    }

    descr = g_new(NvmeMemRangeDescr, numr);
    status = nvme_h2c(n, descr, numr * sizeof(*descr), req);
    if (status) {
        return status;
    }

    mns = g_new(NvmeNamespace *, numr);
    for (i = 0; i < numr; i++) {
        uint32_t mnsid = le32_to_cpu(descr[i].mnsid);
        uint64_t sb = le64_to_cpu(descr[i].sb);
        uint64_t len = le32_to_cpu(descr[i].len);

        mns[i] = mnsid <= NVME_MAX_NAMESPACES ? nvme_ns(n, mnsid) : NULL;
        if (!mns[i] || mns[i]->csi != NVME_CSI_SLM) {
            status = NVME_INVALID_MEMORY_NS | NVME_DNR;
        } else if (!nvme_ns_reachable(n->subsys, &cp->ns, mns[i])) {
            status = NVME_NS_NOT_REACHABLE | NVME_DNR;
        } else if (!len || sb % gran || len % gran ||
                   sb > mns[i]->mem.size || len > mns[i]->mem.size - sb) {
            status = NVME_INVALID_MRS | NVME_DNR;
        }
        for (j = 0; !status && j < i; j++) {
            if (mns[j] == mns[i] &&
                ranges_overlap(sb, len, le64_to_cpu(descr[j].sb),
                               le32_to_cpu(descr[j].len))) {
                status = NVME_OVERLAP_MEM_RANGES | NVME_DNR;
            }
        }
        if (status) {
            trace_pci_nvme_err_cp_range(nvme_cid(req), i, status);
            req->cqe.result = cpu_to_le32(i);
            return status;
        }
    }

    mrs->used = true;
    mrs->nranges = numr;
    mrs->descr = g_steal_pointer(&descr);
    mrs->mns = g_steal_pointer(&mns);
    mrs->in_use = 0;
    req->cqe.result = cpu_to_le32(mrs - cp->mrs + 1);

    return NVME_SUCCESS;
}

static uint16_t nvme_cp_mrs_mgmt(NvmeCtrl *n, NvmeRequest *req)
{
    uint32_t cdw10 = le32_to_cpu(req->cmd.cdw10);
    uint32_t cdw11 = le32_to_cpu(req->cmd.cdw11);
    uint16_t rsid = NVME_MRS_RSID(cdw10);
    NvmeComputeNamespace *cp;
    NvmeCpMrs *mrs;
    uint16_t status;

    trace_pci_nvme_cp_mrs_mgmt(nvme_cid(req), le32_to_cpu(req->cmd.nsid),
                               NVME_MRS_SEL(cdw10), rsid,
                               NVME_MRS_NUMR(cdw11));

    status = nvme_cp_admin_ns(n, req, &cp);
    if (status) {
        return status;
    }

    switch (NVME_MRS_SEL(cdw10)) {
    case NVME_MRS_CREATE:
        return nvme_cp_mrs_create(n, req, cp, NVME_MRS_NUMR(cdw11));

    case NVME_MRS_DELETE:
        if (!rsid || rsid > cp->params.maxmemrs || !cp->mrs[rsid - 1].used) {
            trace_pci_nvme_err_cp_rsid(rsid);
            return NVME_INVALID_MRSID | NVME_DNR;
        }
        mrs = &cp->mrs[rsid - 1];
        /* executions use it (stopping ones too): retry when they are done */
        if (mrs->in_use) {
            return NVME_MRS_IN_USE;
        }
        g_free(mrs->descr);
        g_free(mrs->mns);
        *mrs = (NvmeCpMrs) {};
        return NVME_SUCCESS;

    default:
        return NVME_INVALID_FIELD | NVME_DNR;
    }
}

uint16_t nvme_cp_admin_cmd(NvmeCtrl *n, NvmeRequest *req)
{
    switch (req->cmd.opcode) {
    case NVME_ADM_CMD_LOAD_PROGRAM:
        return nvme_cp_load_program(n, req);
    case NVME_ADM_CMD_PROGRAM_ACT:
        return nvme_cp_program_act(n, req);
    case NVME_ADM_CMD_MEM_RANGE_SET:
        return nvme_cp_mrs_mgmt(n, req);
    }

    return NVME_INVALID_OPCODE | NVME_DNR;
}

/*
 * Log pages 82h, 83h, 84h of the compute namespace named by NSID
 */

static void nvme_cp_program_list(NvmeComputeNamespace *cp, GByteArray *buf)
{
    NvmeProgramListLog hdr = { .numd = cpu_to_le32(cp->params.slots) };

    g_byte_array_append(buf, (uint8_t *)&hdr, sizeof(hdr));
    for (int i = 0; i < cp->params.slots; i++) {
        NvmeCpSlot *slot = &cp->slots[i];
        NvmeProgramDescr d = {
            .flags = slot->peocc | (slot->active ? NVME_PROG_DESCR_ACT : 0) |
                     slot->pit << NVME_PROG_DESCR_PIT_SHIFT,
            .ptype = slot->ptype,
            .puid = cpu_to_le64(slot->puid),
        };

        g_byte_array_append(buf, (uint8_t *)&d, sizeof(d));
    }
}

static void nvme_cp_mrs_list(NvmeComputeNamespace *cp, GByteArray *buf)
{
    NvmeMrsListLog hdr = {};
    uint32_t numd = 0;

    g_byte_array_append(buf, (uint8_t *)&hdr, sizeof(hdr));
    for (int i = 0; i < cp->params.maxmemrs; i++) {
        NvmeCpMrs *mrs = &cp->mrs[i];
        NvmeMrsDescr d = {
            .rsid = cpu_to_le16(i + 1),
            .numr = mrs->nranges,
        };

        if (!mrs->used) {
            continue;
        }
        g_byte_array_append(buf, (uint8_t *)&d, sizeof(d));
        g_byte_array_append(buf, (uint8_t *)mrs->descr,
                            mrs->nranges * sizeof(*mrs->descr));
        numd++;
    }
    ((NvmeMrsListLog *)buf->data)->numd = cpu_to_le32(numd);
}

uint16_t nvme_cp_log(NvmeCtrl *n, uint8_t lid, uint32_t len, uint64_t off,
                     NvmeRequest *req)
{
    uint32_t nsid = le32_to_cpu(req->cmd.nsid);
    g_autoptr(GByteArray) buf = g_byte_array_new();
    NvmeComputeNamespace *cp;
    NvmeProgramTypesLog types = { .numd = cpu_to_le32(1) };
    NvmeProgramTypeDescr ebpf = {
        .ptype = NVME_PTYPE_EBPF,
        .ver = 1,
        .tsi = { cpu_to_le32(NVME_BPF_MAX_INSNS),
                 cpu_to_le32(NVME_BPF_STACK_SIZE) },
    };

    trace_pci_nvme_cp_log(nvme_cid(req), lid, nsid, len, off);

    cp = nsid <= NVME_MAX_NAMESPACES ? nvme_cp_ns(nvme_ns(n, nsid)) : NULL;
    if (!cp) {
        trace_pci_nvme_err_cp_nsid(nvme_cid(req), nsid);
        return NVME_INVALID_FIELD | NVME_DNR;
    }

    switch (lid) {
    case NVME_LOG_PROGRAM_LIST:
        nvme_cp_program_list(cp, buf);
        break;
    case NVME_LOG_DL_PROGRAM_TYPES:
        g_byte_array_append(buf, (uint8_t *)&types, sizeof(types));
        g_byte_array_append(buf, (uint8_t *)&ebpf, sizeof(ebpf));
        break;
    case NVME_LOG_MEM_RANGE_SETS:
        nvme_cp_mrs_list(cp, buf);
        break;
    }

    if (off >= buf->len) {
        trace_pci_nvme_err_invalid_log_page_offset(off, buf->len);
        return NVME_INVALID_FIELD | NVME_DNR;
    }

    return nvme_c2h(n, buf->data + off, MIN(buf->len - off, len), req);
}

/*
 * Identify and the command set
 */

static uint16_t nvme_cp_identify_ns(NvmeCtrl *n, NvmeNamespace *ns,
                                    NvmeRequest *req)
{
    NvmeComputeNamespace *cp = nvme_cp_ns(ns);
    NvmeIdNsCp id = {};

    if (!cp) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }

    id.maxact = cpu_to_le16(cp->params.maxact);
    id.maxmemrs = cpu_to_le16(cp->params.maxmemrs);
    id.mrsg = cpu_to_le16(cp->params.mrsg);
    id.maxmemr = cp->params.maxmemr;
    id.maxpb = cpu_to_le64(cp->params.maxpb);
    id.lpg = cp->params.lpg;

    return nvme_c2h(n, &id, sizeof(id), req);
}

static uint16_t nvme_cp_identify_ctrl(NvmeCtrl *n, NvmeRequest *req)
{
    uint8_t id[NVME_IDENTIFY_DATA_SIZE] = {};

    return nvme_c2h(n, id, sizeof(id), req);
}

static bool nvme_cp_subsys_has_ns(NvmeSubsystem *subsys)
{
    for (int i = 1; i <= NVME_MAX_NAMESPACES; i++) {
        NvmeNamespace *ns = nvme_subsys_ns(subsys, i);

        if (ns && ns->csi == NVME_CSI_CP) {
            return true;
        }
    }

    return false;
}

static bool nvme_cp_offered(NvmeCtrl *n)
{
    return nvme_cp_subsys_has_ns(n->subsys);
}

const NvmeCommandSet nvme_cs_cp = {
    .csi            = NVME_CSI_CP,
    .iocs           = nvme_cse_iocs_cp,
    .io_cmd         = nvme_cp_io_cmd,
    .identify_ns    = nvme_cp_identify_ns,
    .identify_ctrl  = nvme_cp_identify_ctrl,
    .offered        = nvme_cp_offered,
};

/* The CP admin commands are supported once the subsystem has a compute ns */
static void nvme_cp_enable_admin(NvmeCtrl *n)
{
    n->cse.acs[NVME_ADM_CMD_LOAD_PROGRAM] = NVME_CMD_EFF_CSUPP;
    n->cse.acs[NVME_ADM_CMD_PROGRAM_ACT] = NVME_CMD_EFF_CSUPP;
    n->cse.acs[NVME_ADM_CMD_MEM_RANGE_SET] = NVME_CMD_EFF_CSUPP;
}

bool nvme_cp_realize_ctrl(NvmeCtrl *n, Error **errp)
{
    DeviceState *dev;

    if (pci_is_vf(PCI_DEVICE(n))) {
        return true;
    }

    if (n->params.compute) {
        if (!n->subsys->slm.dev && !nvme_slm_create(n, errp)) {
            return false;
        }
        nvme_slm_init_ctrl(n);

        dev = qdev_new(TYPE_NVME_COMPUTE_NS);
        qdev_prop_set_uint32(dev, "nsid", n->params.compute_nsid);
        if (!qdev_realize_and_unref(dev, &n->bus.parent_bus, errp)) {
            return false;
        }
    }

    if (nvme_cp_subsys_has_ns(n->subsys)) {
        nvme_cp_enable_admin(n);
    }

    return true;
}

/*
 * nvme-compute-ns: a compute namespace
 */

static void nvme_compute_ns_realize(DeviceState *dev, Error **errp)
{
    NvmeComputeNamespace *cp = NVME_COMPUTE_NS(dev);
    NvmeNamespace *ns = &cp->ns;
    BusState *s = qdev_get_parent_bus(dev);
    NvmeCtrl *n = NVME(s->parent);
    unsigned ndefined = ARRAY_SIZE(nvme_cp_programs);

    if (cp->params.slots < ndefined) {
        error_setg(errp, "a compute namespace needs at least %u program "
                   "slots for its device-defined programs", ndefined);
        return;
    }
    if (!cp->params.maxact || !cp->params.maxmemrs || !cp->params.maxmemr ||
        !cp->params.engines || !cp->params.budget_ms) {
        error_setg(errp, "maxact, maxmemrs, maxmemr, engines and budget-ms "
                   "must not be 0");
        return;
    }
    if (cp->params.lpg < 2 || cp->params.lpg > 16) {
        error_setg(errp, "lpg is the log2 of the Load Program granularity "
                   "in bytes: 2 to 16");
        return;
    }
    if (cp->params.mrsg > 63) {
        error_setg(errp, "mrsg is the log2 of a granularity in bytes: at "
                   "most 63");
        return;
    }

    if (!nvme_ns_register_blkless(n, ns, NVME_CSI_CP, errp)) {
        return;
    }

    cp->slots = g_new0(NvmeCpSlot, cp->params.slots);
    for (unsigned i = 0; i < ndefined; i++) {
        cp->slots[i].peocc = NVME_PEOCC_DEVICE_DEFINED;
        cp->slots[i].builtin = &nvme_cp_programs[i];
    }
    cp->mrs = g_new0(NvmeCpMrs, cp->params.maxmemrs);

    QLIST_INIT(&cp->jobs);
    cp->engines = g_new0(NvmeCpEngines, 1);
    qemu_mutex_init(&cp->engines->lock);
    qemu_cond_init(&cp->engines->cond);
    QSIMPLEQ_INIT(&cp->engines->queue);
    cp->engines->refs = 1 + cp->params.engines;
    for (unsigned i = 0; i < cp->params.engines; i++) {
        QemuThread thread;

        qemu_thread_create(&thread, "nvme-cp-engine", nvme_cp_engine,
                           cp->engines, QEMU_THREAD_DETACHED);
    }

    /* every controller of the subsystem takes the CP admin commands now */
    for (int i = 0; i < NVME_MAX_CONTROLLERS; i++) {
        NvmeCtrl *ctrl = nvme_subsys_ctrl(n->subsys, i);

        if (ctrl && !pci_is_vf(PCI_DEVICE(ctrl))) {
            nvme_cp_enable_admin(ctrl);
        }
    }
}

/*
 * The namespace goes: its commands complete (aborted), jobs no engine
 * took go with them, running ones are left to their engines, which stop.
 */
static void nvme_compute_ns_unrealize(DeviceState *dev)
{
    NvmeComputeNamespace *cp = NVME_COMPUTE_NS(dev);
    NvmeCpJob *job, *next;

    QLIST_FOREACH_SAFE(job, &cp->jobs, link, next) {
        qatomic_set(&job->ctx.cancel, true);
        if (job->acb) {
            nvme_cp_answer(job, NVME_CMD_ABORT_REQ, 0);
        }
        if (nvme_cp_dequeue(cp->engines, job)) {
            nvme_cp_job_free(job);
        } else {
            QLIST_REMOVE(job, link);
            job->cp = NULL;
        }
    }

    qemu_mutex_lock(&cp->engines->lock);
    cp->engines->stopping = true;
    qemu_cond_broadcast(&cp->engines->cond);
    qemu_mutex_unlock(&cp->engines->lock);
    nvme_cp_engines_unref(cp->engines);

    for (unsigned i = 0; i < cp->params.slots; i++) {
        if (!cp->slots[i].builtin) {
            nvme_cp_unload(cp, &cp->slots[i]);
        }
    }
    g_free(cp->slots);
    for (unsigned i = 0; i < cp->params.maxmemrs; i++) {
        g_free(cp->mrs[i].descr);
        g_free(cp->mrs[i].mns);
    }
    g_free(cp->mrs);
}

static const Property nvme_compute_ns_props[] = {
    DEFINE_PROP_UINT32("nsid", NvmeComputeNamespace, ns.params.nsid, 0),
    DEFINE_PROP_BOOL("shared", NvmeComputeNamespace, ns.params.shared, true),
    DEFINE_PROP_BOOL("detached", NvmeComputeNamespace, ns.params.detached,
                     false),
    DEFINE_PROP_UINT32("rgrpid", NvmeComputeNamespace, ns.params.rgrpid, 1),
    DEFINE_PROP_UINT16("slots", NvmeComputeNamespace, params.slots, 16),
    DEFINE_PROP_UINT16("maxact", NvmeComputeNamespace, params.maxact, 8),
    DEFINE_PROP_UINT16("maxmemrs", NvmeComputeNamespace, params.maxmemrs,
                       16),
    DEFINE_PROP_UINT8("maxmemr", NvmeComputeNamespace, params.maxmemr, 16),
    DEFINE_PROP_UINT16("mrsg", NvmeComputeNamespace, params.mrsg, 0),
    DEFINE_PROP_SIZE("maxpb", NvmeComputeNamespace, params.maxpb, 1 * MiB),
    DEFINE_PROP_UINT8("lpg", NvmeComputeNamespace, params.lpg, 2),
    DEFINE_PROP_UINT32("engines", NvmeComputeNamespace, params.engines, 2),
    DEFINE_PROP_UINT32("budget-ms", NvmeComputeNamespace, params.budget_ms,
                       10000),
    DEFINE_PROP_UINT64("budget-insns", NvmeComputeNamespace,
                       params.budget_insns, 0),
};

static void nvme_compute_ns_class_init(ObjectClass *oc, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(oc);

    set_bit(DEVICE_CATEGORY_STORAGE, dc->categories);

    dc->bus_type = TYPE_NVME_BUS;
    dc->realize = nvme_compute_ns_realize;
    dc->unrealize = nvme_compute_ns_unrealize;
    device_class_set_props(dc, nvme_compute_ns_props);
    dc->desc = "Virtual NVMe compute namespace (computational programs)";
}

static const TypeInfo nvme_compute_ns_info = {
    .name = TYPE_NVME_COMPUTE_NS,
    .parent = TYPE_DEVICE,
    .class_init = nvme_compute_ns_class_init,
    .instance_size = sizeof(NvmeComputeNamespace),
};

static void nvme_cp_register_types(void)
{
    type_register_static(&nvme_compute_ns_info);
}

type_init(nvme_cp_register_types)
