/*
 * QEMU NVM Express: Computational Programs (CP) I/O command set
 *
 * A compute namespace (nvme-compute-ns) holds program slots: the first are
 * the device-defined programs of cp-programs.c, the others take downloaded
 * eBPF programs, verified when their last byte arrives and run by the eBPF
 * machine of util/bpf-vm.c.  A host activates a program, describes the
 * memory of the subsystem local memory it may use with a memory range set
 * (its ranges mapped through the memory window of slm.h), and runs it with
 * Execute Program.  Programs run on compute engines (worker threads of the
 * namespace), never on the main loop, within a time budget, and stop when
 * the command is aborted or its queue deleted.
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
#include "qemu/host-utils.h"
#include "qemu/main-loop.h"
#include "qemu/thread.h"
#include "qemu/bpf-vm.h"
#include "qapi/error.h"
#include "hw/qdev-properties.h"
#include "block/nvme-csd.h"
#include "block/nvme-bpf.h"

#include "nvme.h"
#include "cp.h"
#include "slm.h"
#include "trace.h"

#define TYPE_NVME_COMPUTE_NS "nvme-compute-ns"
OBJECT_DECLARE_SIMPLE_TYPE(NvmeComputeNamespace, NVME_COMPUTE_NS)

/* Parameter data of Execute Program, at most */
#define NVME_CP_MAX_DLEN    (64 * KiB)

/*
 * Compute namespace state
 */

typedef struct NvmeCpSlot {
    uint8_t                 peocc;
    bool                    active;
    uint8_t                 ptype;
    uint8_t                 pit;
    uint64_t                puid;
    NvmeCpFn                builtin;
    BpfVmProg               *bpf;
    unsigned                running;

    /* a download in progress (load) or done: its size counts to MAXPB */
    uint8_t                 *load;
    uint32_t                psize;
    uint32_t                loaded;
} NvmeCpSlot;

typedef struct NvmeCpMrs {
    bool                used;
    int                 nranges;
    NvmeMemRangeDescr   *descr;     /* as created, for the log page */
    NvmeMemWindow       *win;       /* the ranges, mapped */
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
        OnOffAuto   jit;
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
    return ns ? (NvmeComputeNamespace *)
        object_dynamic_cast(OBJECT(ns), TYPE_NVME_COMPUTE_NS) : NULL;
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
 * within NVME_CP_STEP bytes of work or BPF_VM_POLL_INSNS instructions.
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
    NvmeCpFn                builtin;
    BpfVmProg               *bpf;   /* a reference */
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

/* The helpers of block/nvme-bpf.h are the machine's standard ones */
QEMU_BUILD_BUG_ON(NVME_BPF_HELPER_MEMCPY != BPF_VM_HELPER_MEMCPY);
QEMU_BUILD_BUG_ON(NVME_BPF_HELPER_MEMSET != BPF_VM_HELPER_MEMSET);
QEMU_BUILD_BUG_ON(NVME_BPF_HELPER_CRC32C != BPF_VM_HELPER_CRC32C);

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
    g_autofree BpfVmRegion *regions = NULL;
    BpfVmRun run = {
        .nregions = NVME_CP_BPF_RANGE0 + ctx->nranges,
        .budget = job->budget_insns,
        .poll = nvme_cp_bpf_poll,
        .opaque = ctx,
    };
    uint16_t status;

    bctx->cparam1 = cpu_to_le64(ctx->cparam1);
    bctx->cparam2 = cpu_to_le64(ctx->cparam2);
    bctx->data = cpu_to_le64(bpf_vm_addr(NVME_CP_BPF_PDATA, 0));
    bctx->data_len = cpu_to_le32(ctx->plen);
    bctx->nranges = cpu_to_le32(ctx->nranges);

    regions = g_new0(BpfVmRegion, run.nregions);
    regions[NVME_CP_BPF_CTX] = (BpfVmRegion) {
        (uint8_t *)bctx, ctx_len, false,
    };
    regions[NVME_CP_BPF_PDATA] = (BpfVmRegion) {
        ctx->pdata, ctx->plen, false,
    };
    for (int i = 0; i < ctx->nranges; i++) {
        bctx->ranges[i].addr =
            cpu_to_le64(bpf_vm_addr(NVME_CP_BPF_RANGE0 + i, 0));
        bctx->ranges[i].len = cpu_to_le64(ctx->ranges[i].len);
        regions[NVME_CP_BPF_RANGE0 + i] = (BpfVmRegion) {
            ctx->ranges[i].ptr, ctx->ranges[i].len, true,
        };
    }
    run.regions = regions;
    run.args[0] = bpf_vm_addr(NVME_CP_BPF_CTX, 0);

    switch (bpf_vm_run(job->bpf, &run)) {
    case BPF_VM_OK:
        job->result = run.r0;
        return NVME_SUCCESS;
    case BPF_VM_ESTOPPED:
        /* aborted, or out of time */
        status = nvme_cp_check(ctx);
        break;
    case BPF_VM_EBUDGET:
        status = NVME_INSUFF_PROG_RESOURCES | NVME_DNR;
        break;
    default:
        /* a bad access: DW0 says where, DW1 why */
        status = NVME_INVALID_PROG_DATA | NVME_DNR;
        job->result = run.pc | (uint64_t)run.error << 32;
        break;
    }

    trace_pci_nvme_err_cp_bpf(job->cid, run.pc, bpf_vm_strerror(run.error));
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
    bpf_vm_free(job->bpf);
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
                job->builtin(&job->ctx, &job->result) :
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

/*
 * Map the @numr memory range descriptors @descr of compute namespace @cp
 * into @win: each one a range of a memory namespace that @cp reaches, in
 * multiples of the granularity, overlapping no other.  Memory range sets
 * and the ranges given inline to Execute Program have the same rules.
 */
static uint16_t nvme_cp_map_ranges(NvmeCtrl *n, NvmeRequest *req,
                                   NvmeComputeNamespace *cp,
                                   const NvmeMemRangeDescr *descr, int numr,
                                   NvmeMemWindow *win)
{
    uint64_t gran = 1ULL << cp->params.mrsg;
    uint16_t status;
    int i, j;

    for (i = 0; i < numr; i++) {
        uint64_t sb = le64_to_cpu(descr[i].sb);
        uint64_t len = le32_to_cpu(descr[i].len);

        status = nvme_mem_window(n, &cp->ns, le32_to_cpu(descr[i].mnsid), sb,
                                 len, gran, NVME_INVALID_MRS | NVME_DNR,
                                 &win[i]);
        for (j = 0; !status && j < i; j++) {
            if (win[j].nsid == win[i].nsid &&
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

    return NVME_SUCCESS;
}

static uint16_t nvme_cp_exec(NvmeCtrl *n, NvmeRequest *req)
{
    NvmeExecProgramCmd *cmd = (NvmeExecProgramCmd *)&req->cmd;
    NvmeComputeNamespace *cp = nvme_cp_ns(req->ns);
    uint16_t pind = le16_to_cpu(cmd->pind);
    uint16_t rsid = le16_to_cpu(cmd->rsid);
    uint32_t numr = le32_to_cpu(cmd->numr);
    uint32_t dlen = le32_to_cpu(cmd->dlen);
    g_autofree uint8_t *data = NULL;
    g_autofree NvmeMemWindow *inline_win = NULL;
    NvmeMemWindow *win = NULL;
    NvmeCpMrs *mrs = NULL;
    size_t xlen;
    NvmeCpSlot *slot;
    NvmeCpJob *job;
    uint16_t status;

    trace_pci_nvme_cp_exec(nvme_cid(req), nvme_nsid(req->ns), pind, rsid,
                           numr, le64_to_cpu(cmd->cparam1),
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

    /* the ranges come from a memory range set, or inline, or none */
    if (numr && rsid) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    if (numr > cp->params.maxmemr) {
        return NVME_MAX_MEM_RANGES_EXCEEDED | NVME_DNR;
    }

    if (rsid) {
        if (rsid > cp->params.maxmemrs || !cp->mrs[rsid - 1].used) {
            trace_pci_nvme_err_cp_rsid(rsid);
            return NVME_INVALID_MRSID | NVME_DNR;
        }
        mrs = &cp->mrs[rsid - 1];
        win = mrs->win;
    }

    /* the data: the inline ranges, then the parameter data */
    if (dlen > NVME_CP_MAX_DLEN) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    xlen = numr * sizeof(NvmeMemRangeDescr) + dlen;
    status = nvme_check_mdts(n, xlen);
    if (status) {
        return status;
    }

    /* a host that queues more must retry later */
    if (cp->njobs >= NVME_CP_MAX_JOBS) {
        trace_pci_nvme_err_cp_jobs(nvme_cid(req), cp->njobs);
        return NVME_INSUFFICIENT_RESOURCES;
    }

    if (xlen) {
        data = g_malloc(xlen);
        status = nvme_h2c(n, data, xlen, req);
        if (status) {
            return status;
        }
    }

    if (numr) {
        win = inline_win = g_new(NvmeMemWindow, numr);
        status = nvme_cp_map_ranges(n, req, cp, (NvmeMemRangeDescr *)data,
                                    numr, win);
        if (status) {
            return status;
        }
    }

    job = g_new0(NvmeCpJob, 1);
    job->cp = cp;
    job->slot = slot;
    job->mrs = mrs;
    job->builtin = slot->builtin;
    job->bpf = slot->bpf ? bpf_vm_ref(slot->bpf) : NULL;
    job->budget_insns = cp->params.budget_insns;
    job->cid = nvme_cid(req);
    job->ctx = (NvmeCpCtx) {
        .cparam1 = le64_to_cpu(cmd->cparam1),
        .cparam2 = le64_to_cpu(cmd->cparam2),
        .pdata = dlen ? g_memdup2(data + xlen - dlen, dlen) : NULL,
        .plen = dlen,
        .deadline = qemu_clock_get_ns(QEMU_CLOCK_REALTIME) +
                    (int64_t)cp->params.budget_ms * SCALE_MS,
    };
    if (win) {
        job->slm = nvme_slm_ref(cp->ns.subsys);
        job->ctx.nranges = mrs ? mrs->nranges : numr;
        job->ctx.ranges = g_new(NvmeCpRange, job->ctx.nranges);
        for (int i = 0; i < job->ctx.nranges; i++) {
            job->ctx.ranges[i].ptr = win[i].ptr;
            job->ctx.ranges[i].len = win[i].len;
        }
    }
    if (mrs) {
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

static const uint32_t nvme_cse_acs_cp[256] = {
    [NVME_ADM_CMD_LOAD_PROGRAM]     = NVME_CMD_EFF_CSUPP,
    [NVME_ADM_CMD_PROGRAM_ACT]      = NVME_CMD_EFF_CSUPP,
    [NVME_ADM_CMD_MEM_RANGE_SET]    = NVME_CMD_EFF_CSUPP,
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
    bpf_vm_free(slot->bpf);
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
    if (psize > BPF_VM_MAX_INSNS * 8) {
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

    slot->bpf = bpf_vm_load(slot->load, psize, &bpf_vm_std_helpers,
                            1 << 1, &why);
    g_free(slot->load);
    slot->load = NULL;
    if (!slot->bpf) {
        trace_pci_nvme_err_cp_verify(pind, why);
        nvme_cp_unload(cp, slot);
        return NVME_INVALID_PROG_DATA | NVME_DNR;
    }

    /* the JIT where it is on; a program too large for it is interpreted */
    if (cp->params.jit != ON_OFF_AUTO_OFF && !bpf_vm_jit(slot->bpf, &why)) {
        trace_pci_nvme_cp_interpreted(pind, why);
    }

    slot->peocc = NVME_PEOCC_DOWNLOADED;
    trace_pci_nvme_cp_loaded(pind, bpf_vm_len(slot->bpf), slot->puid,
                             bpf_vm_jitted(slot->bpf) ? "jit" : "interpreter");
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
    g_autofree NvmeMemRangeDescr *descr = NULL;
    g_autofree NvmeMemWindow *win = NULL;
    NvmeCpMrs *mrs = NULL;
    uint16_t status;
    int i;

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

    win = g_new(NvmeMemWindow, numr);
    status = nvme_cp_map_ranges(n, req, cp, descr, numr, win);
    if (status) {
        return status;
    }

    mrs->used = true;
    mrs->nranges = numr;
    mrs->descr = g_steal_pointer(&descr);
    mrs->win = g_steal_pointer(&win);
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
        g_free(mrs->win);
        *mrs = (NvmeCpMrs) {};
        return NVME_SUCCESS;

    default:
        return NVME_INVALID_FIELD | NVME_DNR;
    }
}

static uint16_t nvme_cp_admin_cmd(NvmeCtrl *n, NvmeRequest *req)
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

static uint16_t nvme_cp_log(NvmeCtrl *n, uint8_t lid, NvmeRequest *req,
                            GByteArray *buf)
{
    uint32_t nsid = le32_to_cpu(req->cmd.nsid);
    NvmeComputeNamespace *cp;
    NvmeProgramTypesLog types = { .numd = cpu_to_le32(1) };
    NvmeProgramTypeDescr ebpf = {
        .ptype = NVME_PTYPE_EBPF,
        .ver = 1,
        .tsi = { cpu_to_le32(BPF_VM_MAX_INSNS),
                 cpu_to_le32(BPF_VM_STACK_SIZE) },
    };

    trace_pci_nvme_cp_log(nvme_cid(req), lid, nsid);

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

    return NVME_SUCCESS;
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

/* compute=on implies slm=on, unless the subsystem has an SLM */
static void nvme_cp_prepare_ctrl(NvmeCtrl *n)
{
    if (n->params.compute && !nvme_subsys_has_slm(n->subsys)) {
        n->params.slm = true;
    }
}

/* compute=on: a compute namespace, after the memory namespace of slm=on */
static bool nvme_cp_realize_ctrl(NvmeCtrl *n, Error **errp)
{
    DeviceState *dev;

    if (pci_is_vf(PCI_DEVICE(n)) || !n->params.compute) {
        return true;
    }

    dev = qdev_new(TYPE_NVME_COMPUTE_NS);
    qdev_prop_set_uint32(dev, "nsid", n->params.compute_nsid);

    return qdev_realize_and_unref(dev, &n->bus.parent_bus, errp);
}

const NvmeCommandSet nvme_cs_cp = {
    .csi            = NVME_CSI_CP,
    .needs_ns       = true,
    .iocs           = nvme_cse_iocs_cp,
    .io_cmd         = nvme_cp_io_cmd,
    .identify_ns    = nvme_cp_identify_ns,
    .acs            = nvme_cse_acs_cp,
    .admin_cmd      = nvme_cp_admin_cmd,
    .lids           = { NVME_LOG_PROGRAM_LIST, NVME_LOG_DL_PROGRAM_TYPES,
                        NVME_LOG_MEM_RANGE_SETS },
    .get_log        = nvme_cp_log,
    .prepare_ctrl   = nvme_cp_prepare_ctrl,
    .realize_ctrl   = nvme_cp_realize_ctrl,
};

/*
 * nvme-compute-ns: a compute namespace
 */

static void nvme_compute_ns_realize(DeviceState *dev, Error **errp)
{
    NvmeComputeNamespace *cp = NVME_COMPUTE_NS(dev);
    NvmeNamespace *ns = &cp->ns;
    BusState *s = qdev_get_parent_bus(dev);
    NvmeCtrl *n = NVME(s->parent);
    unsigned ndefined = NVME_CP_NR_DEFINED;

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
    if (cp->params.jit == ON_OFF_AUTO_ON && !bpf_vm_jit_available()) {
        error_setg(errp, "jit=on: this host has no eBPF JIT (it has one on "
                   "x86-64 Linux); use jit=auto or jit=off");
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
        cp->slots[i].builtin = nvme_cp_programs[i];
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
        g_free(cp->mrs[i].win);
    }
    g_free(cp->mrs);
}

static const Property nvme_compute_ns_props[] = {
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
    DEFINE_PROP_ON_OFF_AUTO("jit", NvmeComputeNamespace, params.jit,
                            ON_OFF_AUTO_AUTO),
};

static void nvme_compute_ns_class_init(ObjectClass *oc, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(oc);

    dc->realize = nvme_compute_ns_realize;
    dc->unrealize = nvme_compute_ns_unrealize;
    device_class_set_props(dc, nvme_compute_ns_props);
    dc->desc = "Virtual NVMe compute namespace (computational programs)";
}

static const TypeInfo nvme_compute_ns_info = {
    .name = TYPE_NVME_COMPUTE_NS,
    .parent = TYPE_NVME_NS_BASE,
    .class_init = nvme_compute_ns_class_init,
    .instance_size = sizeof(NvmeComputeNamespace),
};

static void nvme_cp_register_types(void)
{
    type_register_static(&nvme_compute_ns_info);
}

type_init(nvme_cp_register_types)
