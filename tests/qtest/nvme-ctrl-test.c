/*
 * QTest testcases for the NVMe controller, through the libqos NVMe driver
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/module.h"
#include "qemu/units.h"
#include "libqtest.h"
#include "libqos/qgraph.h"
#include "libqos/nvme-vfu.h"

#define TEST_IMAGE_SIZE     (4 * MiB)
#define TEST_LBA_SIZE       512
#define TEST_NSID           1

/* Back namespace 1 with a fresh raw image; the test gets its path. */
static void *nvme_ctrl_test_setup(GString *cmd_line, void *arg)
{
    return (void *)qnvme_test_image(cmd_line, "nvm0", TEST_IMAGE_SIZE);
}

static void assert_padded(const uint8_t *field, size_t len, const char *str)
{
    size_t n = strlen(str);
    size_t i;

    g_assert_cmpmem(field, n, str, n);
    for (i = n; i < len; i++) {
        g_assert_cmphex(field[i], ==, ' ');
    }
}

static void test_identify_ctrl(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    NvmeIdCtrl id;
    NvmeIdNs ns;
    uint32_t list[NVME_IDENTIFY_DATA_SIZE / 4];

    qnvme_enable(n, NVME_CC_CSS_NVM);

    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CTRL, 0, 0, 0, &id), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(le16_to_cpu(id.vid), ==, 0x1b36);
    g_assert_cmphex(le16_to_cpu(id.ssvid), ==, 0x1af4);
    assert_padded(id.sn, sizeof(id.sn), "foo");
    assert_padded(id.mn, sizeof(id.mn), "QEMU NVMe Ctrl");
    g_assert_cmphex(le32_to_cpu(id.ver), ==, 0x00010400);
    g_assert_cmpint(id.cntrltype, ==, 1);               /* I/O controller */
    g_assert_cmpint(id.mdts, ==, 7);
    g_assert_cmphex(id.sqes, ==, 0x66);
    g_assert_cmphex(id.cqes, ==, 0x44);
    g_assert_cmpint(le32_to_cpu(id.nn), ==, 256);
    g_assert_cmphex(le16_to_cpu(id.oncs) & NVME_ONCS_COPY, ==,
                    NVME_ONCS_COPY);

    /* Namespace 1 is the 4 MiB image in 512-byte blocks. */
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_NS, TEST_NSID, 0, 0, &ns),
                    ==, NVME_SUCCESS);
    g_assert_cmpint(le64_to_cpu(ns.nsze), ==, TEST_IMAGE_SIZE / TEST_LBA_SIZE);
    g_assert_cmpint(le64_to_cpu(ns.ncap), ==, TEST_IMAGE_SIZE / TEST_LBA_SIZE);

    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_NS_ACTIVE_LIST, 0, 0, 0,
                                   list), ==, NVME_SUCCESS);
    g_assert_cmpint(le32_to_cpu(list[0]), ==, TEST_NSID);
    g_assert_cmpint(le32_to_cpu(list[1]), ==, 0);

    /* An inactive namespace identifies as all zeroes. */
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_NS, 2, 0, 0, &ns), ==,
                    NVME_SUCCESS);
    g_assert_cmpint(le64_to_cpu(ns.nsze), ==, 0);

    qnvme_disable(n);
}

static void test_rw_prp(void *obj, void *data, QGuestAllocator *alloc)
{
    /* Buffer sizes and offsets that take each PRP form. */
    static const struct {
        size_t len;
        size_t offset;
    } cases[] = {
        { TEST_LBA_SIZE, 0 },               /* PRP1 only */
        { 4 * KiB, 0 },
        { 8 * KiB, 0 },                     /* PRP1 + PRP2 */
        { 4 * KiB, 2 * KiB },               /* PRP1 with offset + PRP2 */
        { 64 * KiB, 0 },                    /* PRP list */
        { 3 * 4 * KiB, TEST_LBA_SIZE },     /* PRP1 with offset + list */
        { 256 * KiB, 0 },
    };
    QNvme *n = obj;
    const char *image = data;
    uint64_t slba = 0;
    size_t i;

    qnvme_enable(n, NVME_CC_CSS_NVM);
    qnvme_create_ioq(n, 1);

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        size_t len = cases[i].len;
        size_t total = len + cases[i].offset;
        uint32_t nlb = len / TEST_LBA_SIZE;
        g_autofree uint8_t *out = g_malloc(len);
        g_autofree uint8_t *in = g_malloc(len);
        g_autofree uint8_t *disk = g_malloc(len);
        uint64_t wbuf = qnvme_alloc(n, total);
        uint64_t rbuf = qnvme_alloc(n, total);
        size_t j;
        int fd;

        for (j = 0; j < len; j++) {
            out[j] = (j * 7 + i * 13 + (j >> 9)) & 0xff;
        }
        qnvme_memwrite(n, wbuf + cases[i].offset, out, len);
        g_assert_cmphex(qnvme_rw(n, 1, NVME_CMD_WRITE, TEST_NSID, slba, nlb,
                                 wbuf + cases[i].offset, len), ==,
                        NVME_SUCCESS);

        /* Read back through another buffer... */
        qtest_memset(qnvme_qts(n), rbuf, 0, total);
        g_assert_cmphex(qnvme_rw(n, 1, NVME_CMD_READ, TEST_NSID, slba, nlb,
                                 rbuf + cases[i].offset, len), ==,
                        NVME_SUCCESS);
        qnvme_memread(n, rbuf + cases[i].offset, in, len);
        g_assert_cmpmem(in, len, out, len);

        /* ...and check the image file itself. */
        fd = open(image, O_RDONLY);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(pread(fd, disk, len, slba * TEST_LBA_SIZE), ==, len);
        close(fd);
        g_assert_cmpmem(disk, len, out, len);

        qnvme_free(n, wbuf);
        qnvme_free(n, rbuf);
        slba += nlb;
    }

    /* Past the end of the namespace. */
    {
        uint64_t buf = qnvme_alloc(n, 4 * KiB);

        g_assert_cmphex(qnvme_rw(n, 1, NVME_CMD_READ, TEST_NSID,
                                 TEST_IMAGE_SIZE / TEST_LBA_SIZE - 1, 8, buf,
                                 4 * KiB), ==,
                        NVME_LBA_RANGE | NVME_DNR);
        qnvme_free(n, buf);
    }

    qnvme_disable(n);
}

static void test_css(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    uint64_t vec[NVME_IDENTIFY_DATA_SIZE / 8];
    NvmeEffectsLog effects;
    uint32_t result;
    size_t i;

    qnvme_enable(n, NVME_CC_CSS_ALL);

    /* The controller supports the NVM command set and I/O command sets. */
    g_assert_cmphex(NVME_CAP_CSS(n->cap), ==,
                    NVME_CAP_CSS_NCSS | NVME_CAP_CSS_IOCSS);
    g_assert_cmpint(NVME_CC_CSS(qnvme_readl(n, offsetof(NvmeBar, cc))), ==,
                    NVME_CC_CSS_ALL);

    /* One command set combination: NVM and Zoned Namespace. */
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_IO_COMMAND_SET, 0, 0, 0,
                                   vec), ==, NVME_SUCCESS);
    g_assert_cmphex(le64_to_cpu(vec[0]), ==,
                    1 << NVME_CSI_NVM | 1 << NVME_CSI_ZONED);
    for (i = 1; i < ARRAY_SIZE(vec); i++) {
        g_assert_cmphex(vec[i], ==, 0);
    }

    /* I/O Command Set Profile: index 0 is selected; others do not exist. */
    g_assert_cmphex(qnvme_get_features(n, NVME_COMMAND_SET_PROFILE, 0, 0,
                                       &result), ==, NVME_SUCCESS);
    g_assert_cmphex(result, ==, 0);
    g_assert_cmphex(qnvme_set_features(n, NVME_COMMAND_SET_PROFILE, 0, 0,
                                       NULL), ==, NVME_SUCCESS);
    g_assert_cmphex(qnvme_set_features(n, NVME_COMMAND_SET_PROFILE, 0, 1,
                                       NULL), ==,
                    NVME_IOCS_COMBINATION_REJECTED | NVME_DNR);

    /* Commands Supported and Effects of the NVM command set. */
    g_assert_cmphex(qnvme_get_log(n, NVME_LOG_CMD_EFFECTS, 0, NVME_CSI_NVM,
                                  0, &effects, sizeof(effects)), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(le32_to_cpu(effects.acs[NVME_ADM_CMD_IDENTIFY]) &
                    NVME_CMD_EFF_CSUPP, ==, NVME_CMD_EFF_CSUPP);
    g_assert_cmphex(le32_to_cpu(effects.iocs[NVME_CMD_READ]) &
                    NVME_CMD_EFF_CSUPP, ==, NVME_CMD_EFF_CSUPP);
    g_assert_cmphex(le32_to_cpu(effects.iocs[NVME_CMD_WRITE]) &
                    NVME_CMD_EFF_CSUPP, ==, NVME_CMD_EFF_CSUPP);
    g_assert_cmphex(le32_to_cpu(effects.iocs[NVME_CMD_ZONE_APPEND]), ==, 0);

    qnvme_disable(n);
}

/*
 * The namespace of the controller's drive property has the copy limits of
 * an nvme-ns, and NVM Copy (format 0h) works on it.
 */
static void test_copy(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    NvmeIdNs ns;
    NvmeCopySourceRangeFormat0_2 r[2] = {
        { .slba = cpu_to_le64(8), .nlb = cpu_to_le16(3) },      /* 4 */
        { .slba = cpu_to_le64(0), .nlb = cpu_to_le16(7) },      /* 8 */
    };
    NvmeCopyCmd copy = {
        .opcode = NVME_CMD_COPY,
        .nsid = cpu_to_le32(TEST_NSID),
        .sdlba = cpu_to_le64(64),
        .nr = 1,
    };
    NvmeCopySourceRangeFormat0_2 many[129] = { };
    uint8_t out[12 * TEST_LBA_SIZE], in[12 * TEST_LBA_SIZE];
    uint64_t buf;

    qnvme_enable(n, NVME_CC_CSS_NVM);
    qnvme_create_ioq(n, 1);
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_NS, TEST_NSID, 0, 0, &ns),
                    ==, NVME_SUCCESS);
    g_assert_cmpint(le16_to_cpu(ns.mssrl), ==, 128);
    g_assert_cmpint(le32_to_cpu(ns.mcl), ==, 128);
    g_assert_cmpint(ns.msrc, ==, 127);

    for (size_t i = 0; i < sizeof(out); i++) {
        out[i] = i * 5 + (i >> 9);
    }
    buf = qnvme_alloc(n, sizeof(out));
    qnvme_memwrite(n, buf, out, sizeof(out));
    g_assert_cmphex(qnvme_rw(n, 1, NVME_CMD_WRITE, TEST_NSID, 0, 12, buf,
                             sizeof(out)), ==, NVME_SUCCESS);
    g_assert_cmphex(qnvme_cmd_data(n, 1, (NvmeCmd *)&copy, r, sizeof(r),
                                   true, NULL), ==, NVME_SUCCESS);
    g_assert_cmphex(qnvme_rw(n, 1, NVME_CMD_READ, TEST_NSID, 64, 12, buf,
                             sizeof(in)), ==, NVME_SUCCESS);
    qnvme_memread(n, buf, in, sizeof(in));
    g_assert_cmpmem(in, 4 * TEST_LBA_SIZE, out + 8 * TEST_LBA_SIZE,
                    4 * TEST_LBA_SIZE);
    g_assert_cmpmem(in + 4 * TEST_LBA_SIZE, 8 * TEST_LBA_SIZE, out,
                    8 * TEST_LBA_SIZE);
    qnvme_free(n, buf);

    /* MSRC: at most 128 ranges */
    copy.nr = 128;
    g_assert_cmphex(qnvme_cmd_data(n, 1, (NvmeCmd *)&copy, many,
                                   sizeof(many), true, NULL), ==,
                    NVME_CMD_SIZE_LIMIT | NVME_DNR);
    qnvme_disable(n);
}

static void test_invalid_opcode(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    NvmeCmd admin = { .opcode = 0x3f };
    NvmeCmd io = { .opcode = 0x7f, .nsid = cpu_to_le32(TEST_NSID) };
    NvmeCmd zone = {
        .opcode = NVME_CMD_ZONE_MGMT_SEND,
        .nsid = cpu_to_le32(TEST_NSID),
    };

    qnvme_enable(n, NVME_CC_CSS_ALL);
    qnvme_create_ioq(n, 1);

    g_assert_cmphex(qnvme_cmd(n, 0, &admin, NULL), ==,
                    NVME_INVALID_OPCODE | NVME_DNR);
    g_assert_cmphex(qnvme_cmd(n, 1, &io, NULL), ==,
                    NVME_INVALID_OPCODE | NVME_DNR);
    /* A Zoned Namespace command on an NVM namespace. */
    g_assert_cmphex(qnvme_cmd(n, 1, &zone, NULL), ==,
                    NVME_INVALID_OPCODE | NVME_DNR);

    qnvme_disable(n);
}

/* Wait for MSI-X @vector (masked) to be pending */
static void wait_msix(QNvme *n, uint16_t vector)
{
    gint64 deadline = g_get_monotonic_time() + QNVME_TIMEOUT_US;

    while (!qpci_msix_pending(&n->dev, vector)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        qtest_clock_step(qnvme_qts(n), 1000);
    }
}

/*
 * MSI-X: completions on the admin queue raise vector 0, those on an I/O
 * completion queue the vector it was created with, several I/O queues.
 */
static void test_msix(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    NvmeCmd flush = { .opcode = NVME_CMD_FLUSH,
                      .nsid = cpu_to_le32(TEST_NSID) };
    uint8_t id[NVME_IDENTIFY_DATA_SIZE];

    qnvme_msix_enable(n);
    qnvme_enable(n, NVME_CC_CSS_NVM);
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CTRL, 0, 0, 0, id), ==,
                    NVME_SUCCESS);
    wait_msix(n, 0);

    for (uint16_t qid = 1; qid <= 3; qid++) {
        g_assert_cmphex(qnvme_create_cq_irq(n, qid, QNVME_IO_QUEUE_SIZE,
                                            qid), ==, NVME_SUCCESS);
        g_assert_cmphex(qnvme_create_sq(n, qid, qid, QNVME_IO_QUEUE_SIZE),
                        ==, NVME_SUCCESS);
        g_assert_false(qpci_msix_pending(&n->dev, qid));
        g_assert_cmphex(qnvme_cmd(n, qid, &flush, NULL), ==, NVME_SUCCESS);
        wait_msix(n, qid);
    }

    qnvme_disable(n);
}

/* Whether a message of a vector in [@first, @last] other than @v came */
static bool irq_elsewhere(QNvme *n, uint16_t first, uint16_t last, uint16_t v)
{
    bool any = false;

    for (uint16_t i = first; i <= last; i++) {
        if (i != v && qnvme_irq_take(n, i)) {
            any = true;
        }
    }
    return any;
}

/*
 * Interrupt-driven: admin commands and, on @nqueues I/O queues with a
 * vector each, a write and a read back, every completion waited for by its
 * MSI-X message, no message on the other queues' vectors.
 */
static void irq_queues(QNvme *n, uint16_t nqueues, uint8_t pattern)
{
    uint8_t id[NVME_IDENTIFY_DATA_SIZE];
    uint8_t out[TEST_LBA_SIZE], in[TEST_LBA_SIZE];
    uint64_t buf = qnvme_alloc(n, TEST_LBA_SIZE);

    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CTRL, 0, 0, 0, id), ==,
                    NVME_SUCCESS);
    for (uint16_t qid = 1; qid <= nqueues; qid++) {
        g_assert_cmphex(qnvme_create_cq_irq(n, qid, QNVME_IO_QUEUE_SIZE,
                                            qid), ==, NVME_SUCCESS);
        g_assert_cmphex(qnvme_create_sq(n, qid, qid, QNVME_IO_QUEUE_SIZE),
                        ==, NVME_SUCCESS);
        g_assert_false(irq_elsewhere(n, 1, nqueues, 0));

        memset(out, pattern + qid, sizeof(out));
        qnvme_memwrite(n, buf, out, sizeof(out));
        g_assert_cmphex(qnvme_rw(n, qid, NVME_CMD_WRITE, TEST_NSID, qid, 1,
                                 buf, sizeof(out)), ==, NVME_SUCCESS);
        qtest_memset(qnvme_qts(n), buf, 0, sizeof(in));
        g_assert_cmphex(qnvme_rw(n, qid, NVME_CMD_READ, TEST_NSID, qid, 1,
                                 buf, sizeof(in)), ==, NVME_SUCCESS);
        qnvme_memread(n, buf, in, sizeof(in));
        g_assert_cmpmem(in, sizeof(in), out, sizeof(out));
        g_assert_false(irq_elsewhere(n, 0, nqueues, qid));
    }
    qnvme_free(n, buf);
}

/*
 * Interrupts delivered: each completion's MSI-X message reaches guest
 * memory, on vector 0 for the admin queue and on one vector per I/O queue;
 * a masked vector holds its interrupt pending until it is unmasked; and
 * so again after a controller reset and after a reset of the machine.
 */
static void test_irq(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    NvmeCmd flush = { .opcode = NVME_CMD_FLUSH,
                      .nsid = cpu_to_le32(TEST_NSID) };
    gint64 deadline;
    uint16_t cid;

    qnvme_irq_enable(n, 4);
    qnvme_enable(n, NVME_CC_CSS_NVM);
    irq_queues(n, 3, 0x10);

    /* masked: no message, the vector pending; unmasked: the message */
    qnvme_irq_mask(n, 2, true);
    cid = qnvme_submit(n, 2, &flush);
    deadline = g_get_monotonic_time() + QNVME_TIMEOUT_US;
    while (!qpci_msix_pending(&n->dev, 2)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
    }
    g_assert_true(qnvme_done(n, 2, cid));
    g_assert_false(qnvme_irq_take(n, 2));
    qnvme_irq_mask(n, 2, false);
    deadline = g_get_monotonic_time() + QNVME_TIMEOUT_US;
    while (!qnvme_irq_take(n, 2)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
    }
    g_assert_false(qpci_msix_pending(&n->dev, 2));
    g_assert_cmphex(qnvme_wait(n, 2, cid, NULL), ==, NVME_SUCCESS);

    /* a controller reset (CC.EN cleared and set) */
    qnvme_enable(n, NVME_CC_CSS_NVM);
    irq_queues(n, 3, 0x20);

    /* vector 4, masked since MSI-X was enabled, holds its interrupt... */
    g_assert_cmphex(qnvme_create_cq_irq(n, 4, QNVME_IO_QUEUE_SIZE, 4), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(qnvme_create_sq(n, 4, 4, QNVME_IO_QUEUE_SIZE), ==,
                    NVME_SUCCESS);
    qnvme_submit(n, 4, &flush);
    deadline = g_get_monotonic_time() + QNVME_TIMEOUT_US;
    while (!qpci_msix_pending(&n->dev, 4)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
    }
    g_assert_false(qnvme_irq_take(n, 4));

    /* ...until a reset of the machine; MSI-X is set up again after it */
    qtest_system_reset(qnvme_qts(n));
    qnvme_cleanup(n);
    qnvme_irq_enable(n, 4);
    g_assert_false(qpci_msix_pending(&n->dev, 4));
    qnvme_enable(n, NVME_CC_CSS_NVM);
    irq_queues(n, 3, 0x30);

    qnvme_disable(n);
}

static const QNvmeTest nvme_ctrl_tests[] = {
    { "ctrl/identify", test_identify_ctrl, nvme_ctrl_test_setup, "drive=nvm0" },
    { "ctrl/rw-prp", test_rw_prp, nvme_ctrl_test_setup, "drive=nvm0" },
    { "ctrl/css", test_css, nvme_ctrl_test_setup, "drive=nvm0" },
    { "ctrl/copy", test_copy, nvme_ctrl_test_setup, "drive=nvm0" },
    { "ctrl/invalid-opcode", test_invalid_opcode, nvme_ctrl_test_setup,
      "drive=nvm0" },
    { "ctrl/msix", test_msix, nvme_ctrl_test_setup, "drive=nvm0" },
    { "ctrl/irq", test_irq, nvme_ctrl_test_setup, "drive=nvm0" },
    { }
};

static void nvme_ctrl_register_tests(void)
{
    qnvme_add_tests(nvme_ctrl_tests);
}

libqos_init(nvme_ctrl_register_tests);
