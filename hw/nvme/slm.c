/*
 * QEMU NVM Express: Subsystem Local Memory (SLM) I/O command set
 *
 * The SLM of an NVM subsystem is a host memory backend; a memory namespace
 * (nvme-mem-ns) is a byte window of it.  Hosts move data with Memory Read,
 * Write, Fill and Copy on memory namespaces, and with NVM Copy descriptor
 * format 4h from a memory namespace to an NVM namespace.  Which namespaces
 * may exchange data is described by reachability (reach.c).  Other parts
 * of the device reach memory namespaces through the memory window (slm.h).
 *
 * Layouts only the SLM specification defines are in block/nvme-csd.h.
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qemu/range.h"
#include "qapi/error.h"
#include "qom/object_interfaces.h"
#include "system/hostmem.h"
#include "system/block-backend.h"
#include "hw/qdev-properties.h"
#include "hw/pci/pci_device.h"
#include "block/nvme-csd.h"

#include "nvme.h"
#include "slm.h"
#include "trace.h"


/* Host accesses to memory namespaces are dword aligned and granular. */
#define NVME_SLM_HOST_ALIGN     4

/* The BAR of a host addressable SLM (BAR 2 is the CMB's, 0 the registers) */
#define NVME_SLM_BIR            4

/* Work done in one main loop iteration by fills and copies. */
#define NVME_SLM_CHUNK          (1 * MiB)

static const uint32_t nvme_cse_iocs_slm[256] = {
    [NVME_CMD_MEM_COPY]         = NVME_CMD_EFF_CSUPP,
    [NVME_CMD_MEM_READ]         = NVME_CMD_EFF_CSUPP,
    [NVME_CMD_MEM_FILL]         = NVME_CMD_EFF_CSUPP,
    [NVME_CMD_MEM_WRITE]        = NVME_CMD_EFF_CSUPP,
};

static inline uint8_t *nvme_slm_ptr(NvmeNamespace *ns, uint64_t offset)
{
    return ns->subsys->slm.ptr + NVME_MEM_NS(ns)->offset + offset;
}

/* The size of memory namespace @ns */
static inline uint64_t nvme_mem_size(NvmeNamespace *ns)
{
    return NVME_MEM_NS(ns)->size;
}

/*
 * Fills and copies run in steps off the request's submission, one chunk per
 * main loop iteration for memory, one block layer request at a time for NVM
 * namespaces, and are cancelled like any other request (Abort, deletion of
 * the submission queue, controller reset).
 */

typedef enum NvmeSlmOp {
    NVME_SLM_FILL,          /* zero dst */
    NVME_SLM_MOVE,          /* src to dst, both in SLM */
    NVME_SLM_BLK_READ,      /* blk at offset to dst */
    NVME_SLM_BLK_WRITE,     /* src to blk at offset */
} NvmeSlmOp;

typedef struct NvmeSlmSeg {
    NvmeSlmOp       op;
    uint8_t         *dst;
    const uint8_t   *src;
    BlockBackend    *blk;
    int64_t         offset;
    uint64_t        len;
} NvmeSlmSeg;

typedef struct NvmeSlmAIOCB {
    BlockAIOCB      common;
    BlockAIOCB      *aiocb;
    NvmeRequest     *req;
    int             ret;
    NvmeSlmSeg      *segs;
    int             nsegs;
    int             idx;
    uint64_t        done;
    QEMUIOVector    iov;
} NvmeSlmAIOCB;

static void nvme_slm_cancel(BlockAIOCB *acb)
{
    NvmeSlmAIOCB *iocb = container_of(acb, NvmeSlmAIOCB, common);

    iocb->ret = -ECANCELED;

    if (iocb->aiocb) {
        blk_aio_cancel_async(iocb->aiocb);
        iocb->aiocb = NULL;
    }
}

static const AIOCBInfo nvme_slm_aiocb_info = {
    .aiocb_size   = sizeof(NvmeSlmAIOCB),
    .cancel_async = nvme_slm_cancel,
};

static void nvme_slm_step(void *opaque);

static void nvme_slm_blk_cb(void *opaque, int ret)
{
    NvmeSlmAIOCB *iocb = opaque;
    NvmeSlmSeg *seg = &iocb->segs[iocb->idx];

    iocb->aiocb = NULL;

    if (ret < 0) {
        iocb->ret = ret;
        iocb->req->status = seg->op == NVME_SLM_BLK_READ ?
            NVME_UNRECOVERED_READ : NVME_WRITE_FAULT;
    } else {
        iocb->done += iocb->iov.size;
    }

    nvme_slm_step(iocb);
}

static void nvme_slm_step(void *opaque)
{
    NvmeSlmAIOCB *iocb = opaque;
    NvmeSlmSeg *seg;
    uint64_t chunk;

    if (iocb->ret < 0) {
        goto done;
    }

    if (iocb->idx < iocb->nsegs && iocb->done == iocb->segs[iocb->idx].len) {
        iocb->idx++;
        iocb->done = 0;
    }

    if (iocb->idx == iocb->nsegs) {
        goto done;
    }

    seg = &iocb->segs[iocb->idx];
    chunk = MIN(seg->len - iocb->done, NVME_SLM_CHUNK);

    switch (seg->op) {
    case NVME_SLM_FILL:
        memset(seg->dst + iocb->done, 0, chunk);
        break;
    case NVME_SLM_MOVE:
        memmove(seg->dst + iocb->done, seg->src + iocb->done, chunk);
        break;
    case NVME_SLM_BLK_READ:
        qemu_iovec_reset(&iocb->iov);
        qemu_iovec_add(&iocb->iov, seg->dst + iocb->done, chunk);
        iocb->aiocb = blk_aio_preadv(seg->blk, seg->offset + iocb->done,
                                     &iocb->iov, 0, nvme_slm_blk_cb, iocb);
        return;
    case NVME_SLM_BLK_WRITE:
        qemu_iovec_reset(&iocb->iov);
        qemu_iovec_add(&iocb->iov, (void *)(seg->src + iocb->done), chunk);
        iocb->aiocb = blk_aio_pwritev(seg->blk, seg->offset + iocb->done,
                                      &iocb->iov, 0, nvme_slm_blk_cb, iocb);
        return;
    }

    iocb->done += chunk;
    aio_bh_schedule_oneshot(qemu_get_aio_context(), nvme_slm_step, iocb);
    return;

done:
    trace_pci_nvme_slm_done(nvme_cid(iocb->req), iocb->ret);
    qemu_iovec_destroy(&iocb->iov);
    g_free(iocb->segs);
    iocb->common.cb(iocb->common.opaque, iocb->ret);
    qemu_aio_unref(iocb);
}

/* Run @nsegs segments (the iocb takes @segs) and complete @req after them. */
static uint16_t nvme_slm_submit(NvmeRequest *req, NvmeSlmSeg *segs,
                                int nsegs)
{
    NvmeSlmAIOCB *iocb = qemu_aio_get(&nvme_slm_aiocb_info, NULL,
                                      nvme_misc_cb, req);

    iocb->aiocb = NULL;
    iocb->req = req;
    iocb->ret = 0;
    iocb->segs = segs;
    iocb->nsegs = nsegs;
    iocb->idx = 0;
    iocb->done = 0;
    qemu_iovec_init(&iocb->iov, 1);

    req->aiocb = &iocb->common;
    aio_bh_schedule_oneshot(qemu_get_aio_context(), nvme_slm_step, iocb);

    return NVME_NO_COMPLETE;
}

/*
 * Memory namespace I/O commands
 */

/*
 * Whether @len bytes at byte @sb of memory namespace @ns are inside it, in
 * multiples of @gran, and not none
 */
static bool nvme_mem_aligned(NvmeNamespace *ns, uint64_t sb, uint64_t len,
                             uint64_t gran)
{
    if (!len || sb % gran || len % gran) {
        trace_pci_nvme_err_mem_align(nvme_nsid(ns), sb, len, gran);
        return false;
    }
    return true;
}

static bool nvme_mem_inside(NvmeNamespace *ns, uint64_t sb, uint64_t len)
{
    uint64_t size = nvme_mem_size(ns);

    if (sb > size || len > size - sb) {
        trace_pci_nvme_err_mem_range(nvme_nsid(ns), sb, len, size);
        return false;
    }
    return true;
}

/* A host access of @len bytes at @sb of memory namespace @ns */
static uint16_t nvme_mem_check_range(NvmeNamespace *ns, uint64_t sb,
                                     uint64_t len)
{
    if (!nvme_mem_aligned(ns, sb, len, NVME_SLM_HOST_ALIGN)) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }
    if (!nvme_mem_inside(ns, sb, len)) {
        return NVME_LBA_RANGE | NVME_DNR;
    }
    return NVME_SUCCESS;
}

uint16_t nvme_mem_window(NvmeCtrl *n, NvmeNamespace *user, uint32_t nsid,
                         uint64_t sb, uint64_t len, uint64_t gran,
                         uint16_t range_status, NvmeMemWindow *w)
{
    NvmeNamespace *ns = nsid <= NVME_MAX_NAMESPACES ? nvme_ns(n, nsid) : NULL;

    if (!ns || ns->csi != NVME_CSI_SLM) {
        return NVME_INVALID_MEMORY_NS | NVME_DNR;
    }

    if (!nvme_ns_reachable(n->subsys, user, ns)) {
        trace_pci_nvme_err_ns_not_reachable(nvme_nsid(user), nsid);
        return NVME_NS_NOT_REACHABLE | NVME_DNR;
    }

    if (!nvme_mem_aligned(ns, sb, len, gran) ||
        !nvme_mem_inside(ns, sb, len)) {
        return range_status;
    }

    *w = (NvmeMemWindow) {
        .nsid = nsid,
        .ptr = nvme_slm_ptr(ns, sb),
        .len = len,
    };

    return NVME_SUCCESS;
}

Object *nvme_slm_ref(NvmeSubsystem *subsys)
{
    return object_ref(OBJECT(subsys->slm.dev));
}

static uint16_t nvme_mem_rw(NvmeCtrl *n, NvmeRequest *req, bool write)
{
    NvmeMemRwCmd *cmd = (NvmeMemRwCmd *)&req->cmd;
    NvmeNamespace *ns = req->ns;
    uint64_t sb = le64_to_cpu(cmd->sb);
    uint32_t len = le32_to_cpu(cmd->len);
    uint16_t status;

    trace_pci_nvme_mem_rw(nvme_cid(req), write ? "write" : "read",
                          nvme_nsid(ns), sb, len);

    status = nvme_mem_check_range(ns, sb, len);
    if (status) {
        return status;
    }

    status = nvme_check_mdts(n, len);
    if (status) {
        return status;
    }

    if (write) {
        return nvme_h2c(n, nvme_slm_ptr(ns, sb), len, req);
    }

    return nvme_c2h(n, nvme_slm_ptr(ns, sb), len, req);
}

static uint16_t nvme_mem_fill(NvmeCtrl *n, NvmeRequest *req)
{
    NvmeMemRwCmd *cmd = (NvmeMemRwCmd *)&req->cmd;
    NvmeNamespace *ns = req->ns;
    uint64_t sb = le64_to_cpu(cmd->sb);
    uint32_t len = le32_to_cpu(cmd->len);
    NvmeSlmSeg *seg;
    uint16_t status;

    trace_pci_nvme_mem_fill(nvme_cid(req), nvme_nsid(ns), sb, len);

    status = nvme_mem_check_range(ns, sb, len);
    if (status) {
        return status;
    }

    seg = g_new0(NvmeSlmSeg, 1);
    seg->op = NVME_SLM_FILL;
    seg->dst = nvme_slm_ptr(ns, sb);
    seg->len = len;

    return nvme_slm_submit(req, seg, 1);
}

/* Check that @src of namespace @dst's subsystem may be read for it. */
static uint16_t nvme_slm_source_ns(NvmeCtrl *n, NvmeNamespace *dst,
                                   uint32_t snsid, NvmeNamespace **src)
{
    if (!snsid || snsid > NVME_MAX_NAMESPACES) {
        return NVME_INVALID_NSID | NVME_DNR;
    }

    *src = nvme_ns(n, snsid);
    if (!*src) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }

    if (!nvme_ns_reachable(n->subsys, dst, *src)) {
        trace_pci_nvme_err_ns_not_reachable(nvme_nsid(dst), snsid);
        return NVME_NS_NOT_REACHABLE | NVME_DNR;
    }

    return NVME_SUCCESS;
}

/* A format 2h or 3h source: logical blocks of an NVM namespace. */
static uint16_t nvme_mem_copy_lba_source(NvmeCtrl *n, NvmeNamespace *dst,
                                         uint8_t format, const void *range,
                                         NvmeSlmSeg *seg)
{
    /* the fields used are at the same offsets in both formats */
    const NvmeCopySourceRangeFormat0_2 *r = range;
    uint32_t snsid = le32_to_cpu(r->sparams);
    uint64_t slba = le64_to_cpu(r->slba);
    uint32_t nlb = le16_to_cpu(r->nlb) + 1;
    NvmeNamespace *src;
    uint16_t status;

    status = nvme_slm_source_ns(n, dst, snsid, &src);
    if (status) {
        return status;
    }

    /* Only data is copied to memory: no metadata, no protection info. */
    if (!nvme_ns_has_blk(src) || src->lbaf.ms ||
        (format == NVME_COPY_FORMAT_2) != (src->pif == 0)) {
        return NVME_CMD_INCOMP_NS_OR_FMT | NVME_DNR;
    }

    if (le16_to_cpu(r->sopt) & NVME_COPY_SOPT_FCO) {
        return NVME_FAST_COPY_NOT_POSSIBLE | NVME_DNR;
    }

    if (slba + nlb > le64_to_cpu(src->id_ns.nsze) || slba + nlb < slba) {
        return NVME_LBA_RANGE | NVME_DNR;
    }

    seg->op = NVME_SLM_BLK_READ;
    seg->blk = src->blkconf.blk;
    seg->offset = nvme_l2b(src, slba);
    seg->len = nvme_l2b(src, nlb);

    return NVME_SUCCESS;
}

/* A format 4h source: bytes of a memory namespace. */
static uint16_t nvme_slm_source(NvmeCtrl *n, NvmeNamespace *dst,
                                const NvmeCopySourceRangeFormat4 *r,
                                NvmeSlmSeg *seg, NvmeNamespace **srcp)
{
    uint32_t snsid = le32_to_cpu(r->snsid);
    uint64_t saddr = le64_to_cpu(r->saddr);
    uint32_t nbyte = le32_to_cpu(r->nbyte);
    NvmeNamespace *src;
    uint16_t status;

    status = nvme_slm_source_ns(n, dst, snsid, &src);
    if (status) {
        return status;
    }

    if (src->csi != NVME_CSI_SLM) {
        return NVME_CMD_INCOMP_NS_OR_FMT | NVME_DNR;
    }

    if (le16_to_cpu(r->sopt) & NVME_COPY_SOPT_FCO) {
        return NVME_FAST_COPY_NOT_POSSIBLE | NVME_DNR;
    }

    status = nvme_mem_check_range(src, saddr, nbyte);
    if (status) {
        return status;
    }

    seg->src = nvme_slm_ptr(src, saddr);
    seg->len = nbyte;
    *srcp = src;

    return NVME_SUCCESS;
}

static uint16_t nvme_mem_copy(NvmeCtrl *n, NvmeRequest *req)
{
    NvmeMemCopyCmd *cmd = (NvmeMemCopyCmd *)&req->cmd;
    NvmeNamespace *ns = req->ns;
    uint64_t len = le64_to_cpu(cmd->len);
    uint64_t sdaddr = le64_to_cpu(cmd->sdaddr);
    uint8_t format = NVME_MEM_COPY_DESFMT(cmd->control[0]);
    int nr = cmd->nr + 1;
    size_t dlen;
    g_autofree uint8_t *ranges = NULL;
    g_autofree NvmeSlmSeg *segs = NULL;
    uint64_t total = 0;
    uint16_t status;
    int i;

    trace_pci_nvme_mem_copy(nvme_cid(req), nvme_nsid(ns), sdaddr, len, nr,
                            format);

    switch (format) {
    case NVME_COPY_FORMAT_2:
        dlen = sizeof(NvmeCopySourceRangeFormat0_2);
        break;
    case NVME_COPY_FORMAT_4:
        dlen = sizeof(NvmeCopySourceRangeFormat4);
        break;
    case NVME_COPY_FORMAT_3:
        dlen = sizeof(NvmeCopySourceRangeFormat1_3);
        break;
    default:
        trace_pci_nvme_err_copy_invalid_format(format);
        return NVME_INVALID_FIELD | NVME_DNR;
    }

    status = nvme_mem_check_range(ns, sdaddr, len);
    if (status) {
        return status;
    }

    ranges = g_malloc(nr * dlen);
    status = nvme_h2c(n, ranges, nr * dlen, req);
    if (status) {
        return status;
    }

    segs = g_new0(NvmeSlmSeg, nr);
    for (i = 0; i < nr; i++) {
        NvmeSlmSeg *seg = &segs[i];
        NvmeNamespace *src = NULL;

        if (format == NVME_COPY_FORMAT_4) {
            seg->op = NVME_SLM_MOVE;
            status = nvme_slm_source(n, ns, (void *)(ranges + i * dlen), seg,
                                     &src);
        } else {
            status = nvme_mem_copy_lba_source(n, ns, format,
                                              ranges + i * dlen, seg);
        }
        if (status) {
            trace_pci_nvme_err_copy_source(nvme_cid(req), i, status);
            req->cqe.result = cpu_to_le32(i);
            return status;
        }

        if (seg->len > len - total) {
            break;
        }
        seg->dst = nvme_slm_ptr(ns, sdaddr + total);

        if (src == ns &&
            ranges_overlap(seg->src - nvme_slm_ptr(ns, 0), seg->len,
                           sdaddr, len)) {
            trace_pci_nvme_err_copy_source(nvme_cid(req), i,
                                           NVME_CMD_OVERLAP_IO_RANGE);
            req->cqe.result = cpu_to_le32(i);
            return NVME_CMD_OVERLAP_IO_RANGE | NVME_DNR;
        }

        total += seg->len;
    }

    if (i < nr || total != len) {
        trace_pci_nvme_err_mem_copy_len(nvme_cid(req), len);
        return NVME_INVALID_FIELD | NVME_DNR;
    }

    return nvme_slm_submit(req, g_steal_pointer(&segs), nr);
}

static uint16_t nvme_slm_io_cmd(NvmeCtrl *n, NvmeRequest *req)
{
    switch (req->cmd.opcode) {
    case NVME_CMD_MEM_READ:
        return nvme_mem_rw(n, req, false);
    case NVME_CMD_MEM_WRITE:
        return nvme_mem_rw(n, req, true);
    case NVME_CMD_MEM_FILL:
        return nvme_mem_fill(n, req);
    case NVME_CMD_MEM_COPY:
        return nvme_mem_copy(n, req);
    }

    return NVME_INVALID_OPCODE | NVME_DNR;
}

/*
 * NVM Copy with descriptor format 4h: memory namespace bytes to logical
 * blocks of the NVM namespace the command is issued to.
 */
static uint16_t nvme_copy_from_slm(NvmeCtrl *n, NvmeRequest *req)
{
    NvmeCopyCmd *copy = (NvmeCopyCmd *)&req->cmd;
    NvmeNamespace *ns = req->ns;
    uint64_t sdlba = le64_to_cpu(copy->sdlba);
    int nr = copy->nr + 1;
    g_autofree NvmeCopySourceRangeFormat4 *ranges = NULL;
    g_autofree NvmeSlmSeg *segs = NULL;
    uint64_t nlb = 0;
    uint16_t status;
    int i;

    trace_pci_nvme_copy_from_slm(nvme_cid(req), nvme_nsid(ns), sdlba, nr);

    if (!(le16_to_cpu(n->id_ctrl.ocfs) & NVME_OCFS_COPY_FORMAT_4) ||
        !(n->features.hbs.cdfe & NVME_OCFS_COPY_FORMAT_4)) {
        trace_pci_nvme_err_copy_invalid_format(NVME_COPY_FORMAT_4);
        return NVME_INVALID_FIELD | NVME_DNR;
    }

    /* SLM holds data only: no metadata, no zone write pointer to keep. */
    if (ns->lbaf.ms || ns->params.zoned) {
        return NVME_CMD_INCOMP_NS_OR_FMT | NVME_DNR;
    }

    if (nr > ns->id_ns.msrc + 1) {
        return NVME_CMD_SIZE_LIMIT | NVME_DNR;
    }

    ranges = g_new(NvmeCopySourceRangeFormat4, nr);
    status = nvme_h2c(n, ranges, nr * sizeof(*ranges), req);
    if (status) {
        return status;
    }

    segs = g_new0(NvmeSlmSeg, nr);
    for (i = 0; i < nr; i++) {
        NvmeSlmSeg *seg = &segs[i];
        NvmeNamespace *src;
        uint64_t seg_nlb;

        status = nvme_slm_source(n, ns, &ranges[i], seg, &src);
        if (!status && !QEMU_IS_ALIGNED(seg->len, ns->lbasz)) {
            status = NVME_INVALID_FIELD | NVME_DNR;
        }
        seg_nlb = seg->len / ns->lbasz;
        if (!status && seg_nlb > le16_to_cpu(ns->id_ns.mssrl)) {
            status = NVME_CMD_SIZE_LIMIT | NVME_DNR;
        }
        if (status) {
            trace_pci_nvme_err_copy_source(nvme_cid(req), i, status);
            req->cqe.result = cpu_to_le32(i);
            return status;
        }

        seg->op = NVME_SLM_BLK_WRITE;
        seg->blk = ns->blkconf.blk;
        seg->offset = nvme_l2b(ns, sdlba + nlb);
        nlb += seg_nlb;
    }

    if (nlb > le32_to_cpu(ns->id_ns.mcl)) {
        return NVME_CMD_SIZE_LIMIT | NVME_DNR;
    }

    if (sdlba + nlb > le64_to_cpu(ns->id_ns.nsze) || sdlba + nlb < sdlba) {
        return NVME_LBA_RANGE | NVME_DNR;
    }

    return nvme_slm_submit(req, g_steal_pointer(&segs), nr);
}

/*
 * Identify
 */

static uint16_t nvme_slm_identify_ns(NvmeCtrl *n, NvmeNamespace *ns,
                                     NvmeRequest *req)
{
    NvmeIdNsSlm id = {};

    if (ns->csi != NVME_CSI_SLM) {
        return NVME_INVALID_FIELD | NVME_DNR;
    }

    id.msz = cpu_to_le64(nvme_mem_size(ns));

    return nvme_c2h(n, &id, sizeof(id), req);
}

/* Whether the SLM is a BAR of @n (SR-IOV virtual functions have none) */
static bool nvme_slm_in_bar(NvmeCtrl *n)
{
    return n->subsys && n->subsys->slm.bar && !pci_is_vf(PCI_DEVICE(n));
}

static uint16_t nvme_slm_identify_ctrl(NvmeCtrl *n, NvmeRequest *req)
{
    NvmeIdCtrlSlm id = {};

    if (nvme_slm_in_bar(n)) {
        id.hamat = NVME_HOST_ACCESS_BAR;
        id.habir = NVME_SLM_BIR;
        id.habsz = cpu_to_le64(n->subsys->slm.size);
    }

    return nvme_c2h(n, &id, sizeof(id), req);
}

/*
 * Host addressable SLM: with slm.bar=on the SLM is BAR NVME_SLM_BIR of
 * each controller of the subsystem, from its first byte, so that a memory
 * namespace is at its offset in the SLM.  Loads and stores of the host and
 * DMA of other devices reach the memory itself; data pointers of a command
 * into the controller's own BAR are served here, as for the CMB.
 */

/* Host Addressable Namespaces: the memory namespaces of @n, in the BAR */
static uint16_t nvme_slm_log(NvmeCtrl *n, uint8_t lid, NvmeRequest *req,
                             GByteArray *buf)
{
    NvmeHostAddrNsLog hdr = {};
    bool in_bar = nvme_slm_in_bar(n);
    int nents = 0;

    g_byte_array_append(buf, (uint8_t *)&hdr, sizeof(hdr));

    for (uint32_t nsid = 1; nsid <= NVME_MAX_NAMESPACES; nsid++) {
        NvmeNamespace *ns = nvme_ns(n, nsid);
        NvmeHostAddrNsDescr d = {};

        if (!in_bar || !ns || ns->csi != NVME_CSI_SLM) {
            continue;
        }
        d.nsid = cpu_to_le32(nsid);
        d.mat = NVME_HOST_ACCESS_BAR;
        d.memo = cpu_to_le64(NVME_MEM_NS(ns)->offset);
        g_byte_array_append(buf, (uint8_t *)&d, sizeof(d));
        nents++;
    }

    trace_pci_nvme_slm_log_ha(nvme_cid(req), nents);
    ((NvmeHostAddrNsLog *)buf->data)->nents = cpu_to_le16(nents);

    return NVME_SUCCESS;
}

/* The offset of @addr in the SLM BAR of @n; false if not in it */
static bool nvme_slm_bar_offset(NvmeCtrl *n, hwaddr addr, hwaddr *off)
{
    pcibus_t base;

    if (!nvme_slm_in_bar(n)) {
        return false;
    }

    base = pci_get_bar_addr(PCI_DEVICE(n), NVME_SLM_BIR);
    *off = addr - base;

    return base != PCI_BAR_UNMAPPED && addr >= base &&
           *off < n->subsys->slm.size;
}

bool nvme_addr_is_slm(NvmeCtrl *n, hwaddr addr)
{
    hwaddr off;

    return nvme_slm_bar_offset(n, addr, &off);
}

/* The SLM at @len bytes from @addr of the controller's BAR; NULL if not */
void *nvme_slm_bar_ptr(NvmeCtrl *n, hwaddr addr, size_t len)
{
    NvmeSlm *slm = &n->subsys->slm;
    hwaddr off;

    if (!nvme_slm_bar_offset(n, addr, &off) || len > slm->size - off) {
        trace_pci_nvme_err_slm_bar(addr, len);
        return NULL;
    }

    return slm->ptr + off;
}

uint16_t nvme_map_addr_slm(NvmeCtrl *n, QEMUIOVector *iov, hwaddr addr,
                           size_t len)
{
    void *ptr;

    trace_pci_nvme_map_addr_slm(addr, len);

    ptr = nvme_slm_bar_ptr(n, addr, len);
    if (!ptr) {
        return NVME_DATA_TRAS_ERROR;
    }

    qemu_iovec_add(iov, ptr, len);

    return NVME_SUCCESS;
}

/*
 * Subsystem and controller set-up
 */

static bool nvme_slm_map(NvmeSlm *slm, Error **errp)
{
    MemoryRegion *mr;

    if (host_memory_backend_is_mapped(slm->dev)) {
        error_setg(errp, "memory backend '%s' is already in use",
                   object_get_canonical_path_component(OBJECT(slm->dev)));
        return false;
    }

    host_memory_backend_set_mapped(slm->dev, true);
    mr = host_memory_backend_get_memory(slm->dev);
    slm->ptr = memory_region_get_ram_ptr(mr);
    slm->size = memory_region_size(mr);

    return true;
}

bool nvme_slm_realize_subsys(NvmeSubsystem *subsys, Error **errp)
{
    NvmeSlm *slm = &subsys->slm;

    if (!slm->dev) {
        if (subsys->reach.assoc || slm->bar) {
            error_setg(errp, "%s needs a subsystem local memory (slm)",
                       slm->bar ? "slm.bar" : "reach.assoc");
            return false;
        }
        return true;
    }

    return nvme_slm_map(slm, errp);
}

/* BAR NVME_SLM_BIR of @n: the SLM, without a copy */
static bool nvme_slm_init_bar(NvmeCtrl *n, Error **errp)
{
    NvmeSlm *slm = &n->subsys->slm;
    MemoryRegion *mr = host_memory_backend_get_memory(slm->dev);

    if (!is_power_of_2(slm->size)) {
        error_setg(errp, "slm.bar: the size of the subsystem local memory "
                   "(0x%" PRIx64 ") must be a power of 2", slm->size);
        return false;
    }

    if (n->pmr.dev || n->params.msix_exclusive_bar) {
        error_setg(errp, "slm.bar: BAR %d is taken (pmrdev or "
                   "msix-exclusive-bar)", NVME_SLM_BIR);
        return false;
    }

    memory_region_init_alias(&n->slm_bar, OBJECT(n), "nvme-slm", mr, 0,
                             slm->size);
    pci_register_bar(PCI_DEVICE(n), NVME_SLM_BIR,
                     PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64 |
                     PCI_BASE_ADDRESS_MEM_PREFETCH, &n->slm_bar);

    return true;
}

/* slm=on: a RAM SLM for the subsystem and one memory namespace in it. */
static bool nvme_slm_create(NvmeCtrl *n, Error **errp)
{
    NvmeSlm *slm = &n->subsys->slm;
    uint64_t ns_size = n->params.slm_ns_size ?: n->params.slm_size;
    Object *obj;
    DeviceState *dev;

    if (slm->dev) {
        error_setg(errp, "slm=on: the subsystem already has a subsystem "
                   "local memory");
        return false;
    }
    slm->bar = n->params.slm_bar;

    obj = object_new(TYPE_MEMORY_BACKEND_RAM);
    if (!object_property_set_uint(obj, "size", n->params.slm_size, errp)) {
        object_unref(obj);
        return false;
    }
    object_property_add_child(OBJECT(n->subsys), "slm-ram", obj);
    if (!user_creatable_complete(USER_CREATABLE(obj), errp)) {
        object_unref(obj);
        return false;
    }

    /* the subsystem's strong "slm" link takes over this reference */
    slm->dev = MEMORY_BACKEND(obj);
    if (!nvme_slm_map(slm, errp)) {
        return false;
    }

    dev = qdev_new(TYPE_NVME_MEM_NS);
    qdev_prop_set_uint64(dev, "size", ns_size);
    qdev_prop_set_uint32(dev, "nsid", n->params.slm_nsid);

    return qdev_realize_and_unref(dev, &n->bus.parent_bus, errp);
}

/* What a controller reports once its subsystem has an SLM. */
static void nvme_slm_init_ctrl(NvmeCtrl *n)
{
    uint16_t ocfs = le16_to_cpu(n->id_ctrl.ocfs);

    if (nvme_subsys_has_slm(n->subsys)) {
        n->id_ctrl.crcap |= NVME_CRCAP_RRSUP;
        n->id_ctrl.ocfs = cpu_to_le16(ocfs | NVME_OCFS_COPY_FORMAT_4);
    }
}

static bool nvme_slm_realize_ctrl(NvmeCtrl *n, Error **errp)
{
    if (pci_is_vf(PCI_DEVICE(n))) {
        return true;
    }

    if (n->params.slm && !nvme_slm_create(n, errp)) {
        return false;
    }

    if (n->params.slm_bar && !n->params.slm) {
        error_setg(errp, "slm.bar=on goes with slm=on; a subsystem's local "
                   "memory is in BARs with nvme-subsys slm.bar=on");
        return false;
    }

    if (n->subsys->slm.bar && !nvme_slm_init_bar(n, errp)) {
        return false;
    }

    nvme_slm_init_ctrl(n);

    return true;
}

const NvmeCommandSet nvme_cs_slm = {
    .csi            = NVME_CSI_SLM,
    .needs_ns       = true,
    .iocs           = nvme_cse_iocs_slm,
    .io_cmd         = nvme_slm_io_cmd,
    .identify_ns    = nvme_slm_identify_ns,
    .identify_ctrl  = nvme_slm_identify_ctrl,
    .lids           = { NVME_LOG_HOST_ADDR_NS },
    .get_log        = nvme_slm_log,
    .copy_formats   = 1 << NVME_COPY_FORMAT_4,
    .copy           = nvme_copy_from_slm,
    .realize_ctrl   = nvme_slm_realize_ctrl,
};

/*
 * nvme-mem-ns: a memory namespace
 */

static void nvme_mem_ns_realize(DeviceState *dev, Error **errp)
{
    NvmeMemNamespace *mem = NVME_MEM_NS(dev);
    BusState *s = qdev_get_parent_bus(dev);
    NvmeCtrl *n = NVME(s->parent);
    NvmeSlm *slm = &n->subsys->slm;
    uint64_t offset = mem->offset, size = mem->size;

    if (!slm->dev) {
        error_setg(errp, "the NVM subsystem has no subsystem local memory: "
                   "give nvme-subsys an slm memory backend, or nvme slm=on");
        return;
    }

    if (!size) {
        size = mem->size = slm->size - MIN(offset, slm->size);
    }

    if (!size || !QEMU_IS_ALIGNED(offset | size, NVME_SLM_HOST_ALIGN)) {
        error_setg(errp, "memory namespace offset and size must be non-zero "
                   "multiples of %d bytes", NVME_SLM_HOST_ALIGN);
        return;
    }

    if (offset > slm->size || size > slm->size - offset) {
        error_setg(errp, "memory namespace [0x%" PRIx64 ", 0x%" PRIx64 ") "
                   "is outside the subsystem local memory of 0x%" PRIx64
                   " bytes", offset, offset + size, slm->size);
        return;
    }

    for (int i = 1; i <= NVME_MAX_NAMESPACES; i++) {
        NvmeNamespace *other = nvme_subsys_ns(n->subsys, i);

        if (other && other->csi == NVME_CSI_SLM &&
            ranges_overlap(offset, size, NVME_MEM_NS(other)->offset,
                           NVME_MEM_NS(other)->size)) {
            error_setg(errp, "memory namespace [0x%" PRIx64 ", 0x%" PRIx64
                       ") overlaps namespace %d", offset, offset + size, i);
            return;
        }
    }

    nvme_ns_register_blkless(n, &mem->parent_obj, NVME_CSI_SLM, errp);
}

static const Property nvme_mem_ns_props[] = {
    DEFINE_PROP_SIZE("offset", NvmeMemNamespace, offset, 0),
    DEFINE_PROP_SIZE("size", NvmeMemNamespace, size, 0),
};

static void nvme_mem_ns_class_init(ObjectClass *oc, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(oc);

    dc->realize = nvme_mem_ns_realize;
    device_class_set_props(dc, nvme_mem_ns_props);
    dc->desc = "Virtual NVMe memory namespace (subsystem local memory)";
}

static const TypeInfo nvme_mem_ns_info = {
    .name = TYPE_NVME_MEM_NS,
    .parent = TYPE_NVME_NS_BASE,
    .class_init = nvme_mem_ns_class_init,
    .instance_size = sizeof(NvmeMemNamespace),
};

static void nvme_slm_register_types(void)
{
    type_register_static(&nvme_mem_ns_info);
}

type_init(nvme_slm_register_types)
