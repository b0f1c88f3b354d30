/*
 * libqos driver for NVMe controllers
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIBQOS_NVME_H
#define LIBQOS_NVME_H

#include "qgraph.h"
#include "pci.h"
#include "libqos.h"
#include "block/nvme.h"

/* Every wait on the device gives up (and fails the test) after this. */
#define QNVME_TIMEOUT_US        (30 * G_USEC_PER_SEC)
#define QNVME_PAGE_SIZE         4096
#define QNVME_MAX_QUEUES        8
#define QNVME_ADMIN_QUEUE_SIZE  32
#define QNVME_IO_QUEUE_SIZE     64

typedef struct QNvmeQueue {
    uint16_t size;              /* entries; 0: queue not created */
    uint64_t sq;                /* guest address of the submission queue */
    uint64_t cq;                /* guest address of the completion queue */
    uint16_t sq_tail;
    uint16_t cq_head;
    bool phase;
    int vector;                 /* MSI-X vector waited for; -1: polled */
    /* indexed by command identifier, which is the SQ slot */
    bool *busy;
    bool *done;
    NvmeCqe *cqes;
    uint64_t *prp_lists;        /* PRP list page of the command, or 0 */
} QNvmeQueue;

typedef struct QNvme {
    QOSGraphObject obj;
    QPCIDevice dev;
    QGuestAllocator *alloc;
    QPCIBar bar;
    bool bar_mapped;
    uint64_t cap;
    uint32_t db_stride;         /* bytes between doorbells */
    QNvmeQueue q[QNVME_MAX_QUEUES];
    uint64_t pending_prp_list;  /* set by qnvme_map(), taken by submit */
    uint64_t irq_msgs;          /* where MSI-X messages land; 0: polled */
} QNvme;

/*
 * For a test's "before" hook: back drive @id with a new raw image of @size
 * bytes, deleted when the test ends.  Returns the image's path.  (Inline,
 * as qos_invalidate_command_line() belongs to qos-test, not libqos, which
 * the fuzzers link too.)
 */
static inline void qnvme_image_destroy(void *path)
{
    unlink(path);
    g_free(path);
    /* the next test must not reuse a QEMU holding the deleted image */
    qos_invalidate_command_line();
}

static inline const char *qnvme_test_image(GString *cmd_line, const char *id,
                                           size_t size)
{
    char *path;
    int fd = g_file_open_tmp("qtest-nvme.XXXXXX", &path, NULL);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, size), ==, 0);
    close(fd);
    g_test_queue_destroy(qnvme_image_destroy, path);

    g_string_append_printf(cmd_line,
                           " -drive id=%s,if=none,file=%s,format=raw",
                           id, path);
    return path;
}

/*
 * A controller outside the qos graph (a second controller of a subsystem,
 * or a test that starts QEMU itself) at @devfn of @bus.
 */
void qnvme_init(QNvme *n, QPCIBus *bus, QGuestAllocator *alloc, int devfn);
void qnvme_cleanup(QNvme *n);

/* Controller state. */
void qnvme_enable(QNvme *n, uint8_t css);
void qnvme_msix_enable(QNvme *n);

/*
 * Interrupt-driven completions: enable MSI-X with vectors 0 to
 * @nvectors - 1 unmasked, each writing its message to a word of guest
 * memory the driver watches.  From then on qnvme_wait() looks at the admin
 * queue, and at I/O queues created with a vector, only after the queue's
 * vector delivered a message, and fails the test if none arrives within
 * QNVME_TIMEOUT_US.
 */
#define QNVME_IRQ_VECTORS       8
void qnvme_irq_enable(QNvme *n, unsigned nvectors);
void qnvme_irq_mask(QNvme *n, uint16_t vector, bool masked);
/* Whether @vector's message arrived since the last call; takes it. */
bool qnvme_irq_take(QNvme *n, uint16_t vector);
void qnvme_disable(QNvme *n);
uint32_t qnvme_readl(QNvme *n, uint64_t off);
void qnvme_writel(QNvme *n, uint64_t off, uint32_t val);
QTestState *qnvme_qts(QNvme *n);

/* Guest buffers: page-aligned, freed by qnvme_free(). */
uint64_t qnvme_alloc(QNvme *n, size_t len);
void qnvme_free(QNvme *n, uint64_t addr);
void qnvme_memwrite(QNvme *n, uint64_t addr, const void *buf, size_t len);
void qnvme_memread(QNvme *n, uint64_t addr, void *buf, size_t len);

/*
 * Point @cmd's PRP1/PRP2 at @len bytes of guest memory at @addr, with a PRP
 * list when the buffer spans more than two pages.  The list is freed when
 * the command completes.
 */
void qnvme_map(QNvme *n, NvmeCmd *cmd, uint64_t addr, size_t len);

/*
 * Submit @cmd (any opcode, any dwords) on queue @qid; returns the command
 * identifier it was given.  qnvme_wait() polls for that command's
 * completion, fails the test after QNVME_TIMEOUT_US, and returns the status
 * field (SCT, SC, CRD, M and DNR bits, as hw/nvme's NVME_* status values).
 */
uint16_t qnvme_submit(QNvme *n, uint16_t qid, NvmeCmd *cmd);
uint16_t qnvme_wait(QNvme *n, uint16_t qid, uint16_t cid, NvmeCqe *cqe);
uint16_t qnvme_cmd(QNvme *n, uint16_t qid, NvmeCmd *cmd, NvmeCqe *cqe);
/* Whether command @cid of queue @qid has completed; does not wait. */
bool qnvme_done(QNvme *n, uint16_t qid, uint16_t cid);

/*
 * Submit @cmd with @len bytes of host data @buf: copied to the guest before
 * submission for host-to-controller transfers (@to_dev), back into @buf
 * after completion otherwise.
 */
uint16_t qnvme_cmd_data(QNvme *n, uint16_t qid, NvmeCmd *cmd, void *buf,
                        size_t len, bool to_dev, NvmeCqe *cqe);

/* Admin commands.  Each returns the completion status. */
uint16_t qnvme_identify(QNvme *n, uint8_t cns, uint32_t nsid, uint16_t cntid,
                        uint8_t csi, void *buf);
uint16_t qnvme_get_log(QNvme *n, uint8_t lid, uint32_t nsid, uint8_t csi,
                       uint64_t offset, void *buf, size_t len);
uint16_t qnvme_get_features(QNvme *n, uint8_t fid, uint32_t nsid,
                            uint32_t cdw11, uint32_t *result);
uint16_t qnvme_set_features(QNvme *n, uint8_t fid, uint32_t nsid,
                            uint32_t cdw11, uint32_t *result);
uint16_t qnvme_create_cq(QNvme *n, uint16_t qid, uint16_t size);
/* ... with interrupts on MSI-X @vector (none if negative) */
uint16_t qnvme_create_cq_irq(QNvme *n, uint16_t qid, uint16_t size,
                             int vector);
uint16_t qnvme_create_sq(QNvme *n, uint16_t qid, uint16_t cqid,
                         uint16_t size);
uint16_t qnvme_delete_sq(QNvme *n, uint16_t qid);
uint16_t qnvme_delete_cq(QNvme *n, uint16_t qid);

/* Create (and assert success of) I/O queue pair @qid. */
void qnvme_create_ioq(QNvme *n, uint16_t qid);

/* NVM Read or Write of @nlb blocks at @slba to or from guest @addr. */
uint16_t qnvme_rw(QNvme *n, uint16_t qid, uint8_t opcode, uint32_t nsid,
                  uint64_t slba, uint32_t nlb, uint64_t addr, size_t len);

/* Assert that Identify @cns (a namespace list) for @csi lists @want. */
void qnvme_assert_nslist(QNvme *n, uint8_t cns, uint8_t csi,
                         const uint32_t *want, int nwant);

/* Test data: @len bytes of pattern @seed, different for each seed. */
void qnvme_pattern(void *buf, size_t len, unsigned seed);

#endif
