/*
 * libqos driver for NVMe controllers
 *
 * A qos graph node ("nvme", on "pci-bus" and "pcie-bus") and a small polled
 * driver: controller enable and reset, admin and I/O queues, PRP lists, and
 * submission of any command with a timeout on every wait.
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/module.h"
#include "../libqtest.h"
#include "libqos-malloc.h"
#include "hw/pci/pci_regs.h"
#include "nvme.h"

#define NVME_REG_DBS    0x1000

QTestState *qnvme_qts(QNvme *n)
{
    return n->dev.bus->qts;
}

uint32_t qnvme_readl(QNvme *n, uint64_t off)
{
    return qpci_io_readl(&n->dev, n->bar, off);
}

void qnvme_writel(QNvme *n, uint64_t off, uint32_t val)
{
    qpci_io_writel(&n->dev, n->bar, off, val);
}

uint64_t qnvme_alloc(QNvme *n, size_t len)
{
    uint64_t addr = guest_alloc(n->alloc, ROUND_UP(len, QNVME_PAGE_SIZE));

    g_assert(addr && QEMU_IS_ALIGNED(addr, QNVME_PAGE_SIZE));
    return addr;
}

void qnvme_free(QNvme *n, uint64_t addr)
{
    guest_free(n->alloc, addr);
}

void qnvme_memwrite(QNvme *n, uint64_t addr, const void *buf, size_t len)
{
    qtest_memwrite(qnvme_qts(n), addr, buf, len);
}

void qnvme_memread(QNvme *n, uint64_t addr, void *buf, size_t len)
{
    qtest_memread(qnvme_qts(n), addr, buf, len);
}

static void qnvme_wait_ready(QNvme *n, bool ready)
{
    gint64 deadline = g_get_monotonic_time() + QNVME_TIMEOUT_US;
    uint32_t csts;

    for (;;) {
        csts = qnvme_readl(n, offsetof(NvmeBar, csts));
        if (NVME_CSTS_RDY(csts) == ready) {
            return;
        }
        g_assert_cmpint(NVME_CSTS_CFS(csts), ==, 0);
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
    }
}

static void qnvme_queue_init(QNvme *n, uint16_t qid, uint16_t size)
{
    QNvmeQueue *q = &n->q[qid];

    g_assert_cmpint(qid, <, QNVME_MAX_QUEUES);
    g_assert_cmpint(q->size, ==, 0);
    q->size = size;
    q->sq = qnvme_alloc(n, size * sizeof(NvmeCmd));
    q->cq = qnvme_alloc(n, size * sizeof(NvmeCqe));
    qtest_memset(qnvme_qts(n), q->cq, 0, size * sizeof(NvmeCqe));
    q->sq_tail = 0;
    q->cq_head = 0;
    q->phase = true;
    q->vector = qid == 0 && n->irq_msgs ? 0 : -1;
    q->busy = g_new0(bool, size);
    q->done = g_new0(bool, size);
    q->cqes = g_new0(NvmeCqe, size);
    q->prp_lists = g_new0(uint64_t, size);
}

static void qnvme_queue_free(QNvme *n, uint16_t qid)
{
    QNvmeQueue *q = &n->q[qid];
    int i;

    if (!q->size) {
        return;
    }
    for (i = 0; i < q->size; i++) {
        if (q->prp_lists[i]) {
            qnvme_free(n, q->prp_lists[i]);
        }
    }
    qnvme_free(n, q->sq);
    qnvme_free(n, q->cq);
    g_free(q->busy);
    g_free(q->done);
    g_free(q->cqes);
    g_free(q->prp_lists);
    memset(q, 0, sizeof(*q));
}

void qnvme_disable(QNvme *n)
{
    int i;

    if (!n->bar_mapped) {
        return;
    }
    qnvme_writel(n, offsetof(NvmeBar, cc), 0);
    qnvme_wait_ready(n, false);
    for (i = 0; i < QNVME_MAX_QUEUES; i++) {
        qnvme_queue_free(n, i);
    }
}

/*
 * Enable MSI-X, its vectors masked, so that qpci_msix_pending() tells
 * which fired.  The table is in BAR0, which MSI-X maps for both.
 */
void qnvme_msix_enable(QNvme *n)
{
    if (n->bar_mapped) {
        qpci_iounmap(&n->dev, n->bar);
    } else {
        qpci_device_enable(&n->dev);
    }
    qpci_msix_enable(&n->dev);
    n->bar = n->dev.msix_table_bar;
    n->bar_mapped = true;
}

/* The message data of @vector: its number, tagged */
static uint32_t qnvme_irq_data(uint16_t vector)
{
    return 0x4e560000 | vector;
}

void qnvme_irq_enable(QNvme *n, unsigned nvectors)
{
    QTestState *qts = qnvme_qts(n);
    uint64_t entry;
    unsigned v;

    g_assert_cmpint(nvectors, <=, QNVME_IRQ_VECTORS);
    qnvme_msix_enable(n);
    g_assert_cmpint(qpci_msix_table_size(&n->dev), >=, nvectors);
    if (!n->irq_msgs) {
        n->irq_msgs = qnvme_alloc(n, QNVME_IRQ_VECTORS * 4);
    }
    qtest_memset(qts, n->irq_msgs, 0, QNVME_IRQ_VECTORS * 4);
    for (v = 0; v < nvectors; v++) {
        entry = n->dev.msix_table_off + v * PCI_MSIX_ENTRY_SIZE;
        qpci_io_writel(&n->dev, n->dev.msix_table_bar,
                       entry + PCI_MSIX_ENTRY_LOWER_ADDR, n->irq_msgs + v * 4);
        qpci_io_writel(&n->dev, n->dev.msix_table_bar,
                       entry + PCI_MSIX_ENTRY_UPPER_ADDR,
                       (n->irq_msgs + v * 4) >> 32);
        qpci_io_writel(&n->dev, n->dev.msix_table_bar,
                       entry + PCI_MSIX_ENTRY_DATA, qnvme_irq_data(v));
        qnvme_irq_mask(n, v, false);
    }
}

void qnvme_irq_mask(QNvme *n, uint16_t vector, bool masked)
{
    qpci_io_writel(&n->dev, n->dev.msix_table_bar,
                   n->dev.msix_table_off + vector * PCI_MSIX_ENTRY_SIZE +
                   PCI_MSIX_ENTRY_VECTOR_CTRL,
                   masked ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0);
}

bool qnvme_irq_take(QNvme *n, uint16_t vector)
{
    QTestState *qts = qnvme_qts(n);
    uint64_t addr = n->irq_msgs + vector * 4;
    uint32_t data;

    g_assert(n->irq_msgs && vector < QNVME_IRQ_VECTORS);
    data = qtest_readl(qts, addr);
    if (!data) {
        return false;
    }
    g_assert_cmphex(data, ==, qnvme_irq_data(vector));
    qtest_writel(qts, addr, 0);
    return true;
}

void qnvme_enable(QNvme *n, uint8_t css)
{
    uint32_t cc = 0;

    if (!n->bar_mapped) {
        qpci_device_enable(&n->dev);
        n->bar = qpci_iomap(&n->dev, 0, NULL);
        n->bar_mapped = true;
    }
    qnvme_disable(n);

    n->cap = qpci_io_readq(&n->dev, n->bar, offsetof(NvmeBar, cap));
    n->db_stride = 4 << NVME_CAP_DSTRD(n->cap);

    qnvme_queue_init(n, 0, QNVME_ADMIN_QUEUE_SIZE);
    qnvme_writel(n, offsetof(NvmeBar, aqa),
                 (QNVME_ADMIN_QUEUE_SIZE - 1) << 16 |
                 (QNVME_ADMIN_QUEUE_SIZE - 1));
    qpci_io_writeq(&n->dev, n->bar, offsetof(NvmeBar, asq), n->q[0].sq);
    qpci_io_writeq(&n->dev, n->bar, offsetof(NvmeBar, acq), n->q[0].cq);

    NVME_SET_CC_EN(cc, 1);
    NVME_SET_CC_CSS(cc, css);
    NVME_SET_CC_MPS(cc, 0);         /* 4 KiB pages */
    NVME_SET_CC_IOSQES(cc, 6);      /* 64-byte SQ entries */
    NVME_SET_CC_IOCQES(cc, 4);      /* 16-byte CQ entries */
    qnvme_writel(n, offsetof(NvmeBar, cc), cc);
    qnvme_wait_ready(n, true);
}

void qnvme_map(QNvme *n, NvmeCmd *cmd, uint64_t addr, size_t len)
{
    uint64_t first = QNVME_PAGE_SIZE - (addr % QNVME_PAGE_SIZE);
    uint64_t page, *list;
    size_t npages, i;

    g_assert_cmpint(n->pending_prp_list, ==, 0);
    cmd->dptr.prp1 = cpu_to_le64(addr);
    cmd->dptr.prp2 = 0;
    if (len <= first) {
        return;
    }
    page = addr + first;
    if (len - first <= QNVME_PAGE_SIZE) {
        cmd->dptr.prp2 = cpu_to_le64(page);
        return;
    }

    npages = DIV_ROUND_UP(len - first, QNVME_PAGE_SIZE);
    /* One list page is enough for the buffers tests use (2 MiB). */
    g_assert_cmpint(npages, <=, QNVME_PAGE_SIZE / sizeof(uint64_t));
    list = g_new(uint64_t, npages);
    for (i = 0; i < npages; i++) {
        list[i] = cpu_to_le64(page + i * QNVME_PAGE_SIZE);
    }
    n->pending_prp_list = qnvme_alloc(n, QNVME_PAGE_SIZE);
    qnvme_memwrite(n, n->pending_prp_list, list, npages * sizeof(uint64_t));
    cmd->dptr.prp2 = cpu_to_le64(n->pending_prp_list);
    g_free(list);
}

uint16_t qnvme_submit(QNvme *n, uint16_t qid, NvmeCmd *cmd)
{
    QNvmeQueue *q;
    uint16_t cid;

    g_assert_cmpint(qid, <, QNVME_MAX_QUEUES);
    q = &n->q[qid];
    g_assert_cmpint(q->size, >, 0);

    cid = q->sq_tail;
    g_assert_false(q->busy[cid]);       /* queue full: a test bug */
    q->busy[cid] = true;
    q->done[cid] = false;
    q->prp_lists[cid] = n->pending_prp_list;
    n->pending_prp_list = 0;

    cmd->cid = cpu_to_le16(cid);
    qnvme_memwrite(n, q->sq + cid * sizeof(NvmeCmd), cmd, sizeof(*cmd));
    q->sq_tail = (q->sq_tail + 1) % q->size;
    qnvme_writel(n, NVME_REG_DBS + 2 * qid * n->db_stride, q->sq_tail);
    return cid;
}

/* Move the completions the controller posted into q->cqes; true if any. */
static bool qnvme_reap(QNvme *n, uint16_t qid)
{
    QNvmeQueue *q = &n->q[qid];
    bool any = false;
    NvmeCqe cqe;
    uint16_t cid;

    for (;;) {
        qnvme_memread(n, q->cq + q->cq_head * sizeof(NvmeCqe), &cqe,
                      sizeof(cqe));
        if ((le16_to_cpu(cqe.status) & 1) != q->phase) {
            break;
        }
        cid = le16_to_cpu(cqe.cid);
        g_assert_cmpint(cid, <, q->size);
        g_assert_true(q->busy[cid]);
        g_assert_cmpint(le16_to_cpu(cqe.sq_id), ==, qid);
        q->cqes[cid] = cqe;
        q->done[cid] = true;

        q->cq_head = (q->cq_head + 1) % q->size;
        if (q->cq_head == 0) {
            q->phase = !q->phase;
        }
        any = true;
    }
    if (any) {
        qnvme_writel(n, NVME_REG_DBS + (2 * qid + 1) * n->db_stride,
                     q->cq_head);
    }
    return any;
}

uint16_t qnvme_wait(QNvme *n, uint16_t qid, uint16_t cid, NvmeCqe *cqe)
{
    gint64 deadline = g_get_monotonic_time() + QNVME_TIMEOUT_US;
    QNvmeQueue *q = &n->q[qid];

    g_assert_cmpint(qid, <, QNVME_MAX_QUEUES);
    g_assert_cmpint(cid, <, q->size);
    g_assert_true(q->busy[cid]);

    /*
     * Polled, reap whenever; interrupt-driven, only after a message of the
     * queue's vector (one message may stand for several completions).
     */
    while (!q->done[cid]) {
        if ((q->vector >= 0 && !qnvme_irq_take(n, q->vector)) ||
            !qnvme_reap(n, qid)) {
            uint32_t csts = qnvme_readl(n, offsetof(NvmeBar, csts));

            g_assert_cmpint(NVME_CSTS_CFS(csts), ==, 0);
            g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        }
    }

    q->busy[cid] = false;
    q->done[cid] = false;
    if (q->prp_lists[cid]) {
        qnvme_free(n, q->prp_lists[cid]);
        q->prp_lists[cid] = 0;
    }
    if (cqe) {
        *cqe = q->cqes[cid];
    }
    return le16_to_cpu(q->cqes[cid].status) >> 1;
}

bool qnvme_done(QNvme *n, uint16_t qid, uint16_t cid)
{
    g_assert_cmpint(qid, <, QNVME_MAX_QUEUES);
    g_assert_cmpint(cid, <, n->q[qid].size);
    g_assert_true(n->q[qid].busy[cid]);

    qnvme_reap(n, qid);
    return n->q[qid].done[cid];
}

uint16_t qnvme_cmd(QNvme *n, uint16_t qid, NvmeCmd *cmd, NvmeCqe *cqe)
{
    return qnvme_wait(n, qid, qnvme_submit(n, qid, cmd), cqe);
}

uint16_t qnvme_cmd_data(QNvme *n, uint16_t qid, NvmeCmd *cmd, void *buf,
                        size_t len, bool to_dev, NvmeCqe *cqe)
{
    uint64_t addr = qnvme_alloc(n, len);
    uint16_t status;

    if (to_dev) {
        qnvme_memwrite(n, addr, buf, len);
    } else {
        qtest_memset(qnvme_qts(n), addr, 0, len);
    }
    qnvme_map(n, cmd, addr, len);
    status = qnvme_cmd(n, qid, cmd, cqe);
    if (!to_dev) {
        qnvme_memread(n, addr, buf, len);
    }
    qnvme_free(n, addr);
    return status;
}

uint16_t qnvme_identify(QNvme *n, uint8_t cns, uint32_t nsid, uint16_t cntid,
                        uint8_t csi, void *buf)
{
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_IDENTIFY,
        .nsid = cpu_to_le32(nsid),
        .cdw10 = cpu_to_le32((uint32_t)cntid << 16 | cns),
        .cdw11 = cpu_to_le32((uint32_t)csi << 24),
    };

    return qnvme_cmd_data(n, 0, &cmd, buf, NVME_IDENTIFY_DATA_SIZE, false,
                          NULL);
}

uint16_t qnvme_get_log(QNvme *n, uint8_t lid, uint32_t nsid, uint8_t csi,
                       uint64_t offset, void *buf, size_t len)
{
    uint32_t numd = len / 4 - 1;
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_GET_LOG_PAGE,
        .nsid = cpu_to_le32(nsid),
        .cdw10 = cpu_to_le32((numd & 0xffff) << 16 | lid),
        .cdw11 = cpu_to_le32(numd >> 16),
        .cdw12 = cpu_to_le32(offset),
        .cdw13 = cpu_to_le32(offset >> 32),
        .cdw14 = cpu_to_le32((uint32_t)csi << 24),
    };

    g_assert(len >= 4 && len % 4 == 0);
    return qnvme_cmd_data(n, 0, &cmd, buf, len, false, NULL);
}

static uint16_t qnvme_features(QNvme *n, uint8_t opcode, uint8_t fid,
                               uint32_t nsid, uint32_t cdw11,
                               uint32_t *result)
{
    NvmeCmd cmd = {
        .opcode = opcode,
        .nsid = cpu_to_le32(nsid),
        .cdw10 = cpu_to_le32(fid),
        .cdw11 = cpu_to_le32(cdw11),
    };
    NvmeCqe cqe;
    uint16_t status = qnvme_cmd(n, 0, &cmd, &cqe);

    if (result) {
        *result = le32_to_cpu(cqe.result);
    }
    return status;
}

uint16_t qnvme_get_features(QNvme *n, uint8_t fid, uint32_t nsid,
                            uint32_t cdw11, uint32_t *result)
{
    return qnvme_features(n, NVME_ADM_CMD_GET_FEATURES, fid, nsid, cdw11,
                          result);
}

uint16_t qnvme_set_features(QNvme *n, uint8_t fid, uint32_t nsid,
                            uint32_t cdw11, uint32_t *result)
{
    return qnvme_features(n, NVME_ADM_CMD_SET_FEATURES, fid, nsid, cdw11,
                          result);
}

uint16_t qnvme_create_cq(QNvme *n, uint16_t qid, uint16_t size)
{
    return qnvme_create_cq_irq(n, qid, size, -1);
}

uint16_t qnvme_create_cq_irq(QNvme *n, uint16_t qid, uint16_t size,
                             int vector)
{
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_CREATE_CQ,
        .cdw10 = cpu_to_le32((uint32_t)(size - 1) << 16 | qid),
        /* physically contiguous; interrupts enabled on @vector, if any */
        .cdw11 = cpu_to_le32(vector < 0 ? 1 :
                             (uint32_t)vector << 16 | 1 << 1 | 1),
    };
    uint16_t status;

    qnvme_queue_init(n, qid, size);
    if (n->irq_msgs && vector >= 0) {
        n->q[qid].vector = vector;
    }
    cmd.dptr.prp1 = cpu_to_le64(n->q[qid].cq);
    status = qnvme_cmd(n, 0, &cmd, NULL);
    if (status) {
        qnvme_queue_free(n, qid);
    }
    return status;
}

uint16_t qnvme_create_sq(QNvme *n, uint16_t qid, uint16_t cqid,
                         uint16_t size)
{
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_CREATE_SQ,
        .cdw10 = cpu_to_le32((uint32_t)(size - 1) << 16 | qid),
        .cdw11 = cpu_to_le32((uint32_t)cqid << 16 | 1),
    };

    /* The SQ shares the QNvmeQueue of the CQ with the same identifier. */
    g_assert_cmpint(qid, ==, cqid);
    g_assert_cmpint(n->q[qid].size, ==, size);
    cmd.dptr.prp1 = cpu_to_le64(n->q[qid].sq);
    return qnvme_cmd(n, 0, &cmd, NULL);
}

static uint16_t qnvme_delete_queue(QNvme *n, uint8_t opcode, uint16_t qid)
{
    NvmeCmd cmd = {
        .opcode = opcode,
        .cdw10 = cpu_to_le32(qid),
    };

    return qnvme_cmd(n, 0, &cmd, NULL);
}

uint16_t qnvme_delete_sq(QNvme *n, uint16_t qid)
{
    return qnvme_delete_queue(n, NVME_ADM_CMD_DELETE_SQ, qid);
}

uint16_t qnvme_delete_cq(QNvme *n, uint16_t qid)
{
    uint16_t status = qnvme_delete_queue(n, NVME_ADM_CMD_DELETE_CQ, qid);

    if (!status) {
        qnvme_queue_free(n, qid);
    }
    return status;
}

void qnvme_create_ioq(QNvme *n, uint16_t qid)
{
    g_assert_cmphex(qnvme_create_cq(n, qid, QNVME_IO_QUEUE_SIZE), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(qnvme_create_sq(n, qid, qid, QNVME_IO_QUEUE_SIZE), ==,
                    NVME_SUCCESS);
}

uint16_t qnvme_rw(QNvme *n, uint16_t qid, uint8_t opcode, uint32_t nsid,
                  uint64_t slba, uint32_t nlb, uint64_t addr, size_t len)
{
    NvmeCmd cmd = {
        .opcode = opcode,
        .nsid = cpu_to_le32(nsid),
        .cdw10 = cpu_to_le32(slba),
        .cdw11 = cpu_to_le32(slba >> 32),
        .cdw12 = cpu_to_le32(nlb - 1),
    };

    qnvme_map(n, &cmd, addr, len);
    return qnvme_cmd(n, qid, &cmd, NULL);
}

void qnvme_assert_nslist(QNvme *n, uint8_t cns, uint8_t csi,
                         const uint32_t *want, int nwant)
{
    uint32_t list[NVME_IDENTIFY_DATA_SIZE / 4];

    g_assert_cmphex(qnvme_identify(n, cns, 0, 0, csi, list), ==,
                    NVME_SUCCESS);
    for (int i = 0; i < nwant; i++) {
        g_assert_cmpint(le32_to_cpu(list[i]), ==, want[i]);
    }
    g_assert_cmpint(list[nwant], ==, 0);
}

void qnvme_pattern(void *buf, size_t len, unsigned seed)
{
    uint8_t *p = buf;

    for (size_t i = 0; i < len; i++) {
        p[i] = (i * 131 + seed * 17 + (i >> 7) * 3) & 0xff;
    }
}

/* qos graph node */

static void *qnvme_get_driver(void *obj, const char *interface)
{
    QNvme *n = obj;

    if (!g_strcmp0(interface, "pci-device")) {
        return &n->dev;
    }

    fprintf(stderr, "%s not present in nvme\n", interface);
    g_assert_not_reached();
}

void qnvme_init(QNvme *n, QPCIBus *bus, QGuestAllocator *alloc, int devfn)
{
    QPCIAddress addr = { .devfn = devfn };

    memset(n, 0, sizeof(*n));
    qpci_device_init(&n->dev, bus, &addr);
    n->alloc = alloc;
}

void qnvme_cleanup(QNvme *n)
{
    int i;

    for (i = 0; i < QNVME_MAX_QUEUES; i++) {
        qnvme_queue_free(n, i);
    }
    if (n->pending_prp_list) {
        qnvme_free(n, n->pending_prp_list);
        n->pending_prp_list = 0;
    }
    if (n->irq_msgs) {
        qnvme_free(n, n->irq_msgs);
        n->irq_msgs = 0;
    }
    if (n->bar_mapped) {
        qpci_iounmap(&n->dev, n->bar);
        n->bar_mapped = false;
    }
}

static void qnvme_destructor(QOSGraphObject *obj)
{
    qnvme_cleanup((QNvme *)obj);
}

static void *qnvme_create(void *pci_bus, QGuestAllocator *alloc, void *addr)
{
    QNvme *n = g_new0(QNvme, 1);

    qnvme_init(n, pci_bus, alloc, ((QPCIAddress *)addr)->devfn);
    n->obj.get_driver = qnvme_get_driver;
    n->obj.destructor = qnvme_destructor;
    return &n->obj;
}

static void qnvme_register_nodes(void)
{
    QOSGraphEdgeOptions opts = {
        .extra_device_opts = "addr=04.0,serial=foo",
        .before_cmd_line = "-drive id=drv0,if=none,file=null-co://,"
                           "file.read-zeroes=on,format=raw "
                           "-object memory-backend-ram,id=pmr0,"
                           "share=on,size=16",
    };

    add_qpci_address(&opts, &(QPCIAddress) { .devfn = QPCI_DEVFN(4, 0) });

    qos_node_create_driver("nvme", qnvme_create);
    qos_node_consumes("nvme", "pci-bus", &opts);
    qos_node_consumes("nvme", "pcie-bus", &opts);
    qos_node_produces("nvme", "pci-device");
}

libqos_init(qnvme_register_nodes);
