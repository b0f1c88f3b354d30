/*
 * QTest testcases for the NVMe I/O Command Set plumbing: NVM and Zoned
 * Namespace command sets side by side, through the libqos NVMe driver
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

#define IMAGE_SIZE      (4 * MiB)
#define ZONE_SIZE       (1 * MiB)
#define LBA_SIZE        512
#define ZONE_LBAS       (ZONE_SIZE / LBA_SIZE)
#define NSID_NVM        1
#define NSID_ZONED      2
#define CSI_UNKNOWN     0x2f

/* Namespace 1 of the NVM command set, namespace 2 of the Zoned one. */
static void *nvme_cs_test_setup(GString *cmd_line, void *arg)
{
    qnvme_test_image(cmd_line, "nvm0", IMAGE_SIZE);
    qnvme_test_image(cmd_line, "zns0", IMAGE_SIZE);
    g_string_append_printf(cmd_line,
                           " -device nvme-ns,drive=zns0,nsid=%d,zoned=on,"
                           "zoned.zone_size=%d", NSID_ZONED, (int)ZONE_SIZE);
    return arg;
}

static uint32_t effects(QNvme *n, uint8_t csi, uint8_t opcode)
{
    NvmeEffectsLog log;

    g_assert_cmphex(qnvme_get_log(n, NVME_LOG_CMD_EFFECTS, 0, csi, 0, &log,
                                  sizeof(log)), ==, NVME_SUCCESS);
    return le32_to_cpu(log.iocs[opcode]);
}

static void test_identify(void *obj, void *data, QGuestAllocator *alloc)
{
    static const uint32_t nvm[] = { NSID_NVM };
    static const uint32_t zoned[] = { NSID_ZONED };
    static const uint32_t all[] = { NSID_NVM, NSID_ZONED };
    QNvme *n = obj;
    uint8_t buf[NVME_IDENTIFY_DATA_SIZE];
    NvmeIdNsZoned *id_zoned = (NvmeIdNsZoned *)buf;
    NvmeIdCtrlNvm *id_ctrl_nvm = (NvmeIdCtrlNvm *)buf;
    NvmeIdCtrlZoned *id_ctrl_zoned = (NvmeIdCtrlZoned *)buf;

    qnvme_enable(n, NVME_CC_CSS_ALL);

    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_IO_COMMAND_SET, 0, 0, 0,
                                   buf), ==, NVME_SUCCESS);
    g_assert_cmphex(ldq_le_p(buf), ==,
                    1 << NVME_CSI_NVM | 1 << NVME_CSI_ZONED);

    /* Active namespace lists, all and per command set (CNS 02h, 07h) */
    qnvme_assert_nslist(n, NVME_ID_CNS_NS_ACTIVE_LIST, 0, all, 2);
    qnvme_assert_nslist(n, NVME_ID_CNS_CS_NS_ACTIVE_LIST, NVME_CSI_NVM, nvm, 1);
    qnvme_assert_nslist(n, NVME_ID_CNS_CS_NS_ACTIVE_LIST, NVME_CSI_ZONED,
                        zoned, 1);
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CS_NS_ACTIVE_LIST, 0, 0,
                                   CSI_UNKNOWN, buf), ==,
                    NVME_INVALID_FIELD | NVME_DNR);

    /* I/O Command Set specific Identify Namespace (CNS 05h) */
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CS_NS, NSID_ZONED, 0,
                                   NVME_CSI_ZONED, buf), ==, NVME_SUCCESS);
    g_assert_cmphex(le32_to_cpu(id_zoned->mar), ==, 0xffffffff);
    g_assert_cmpint(le64_to_cpu(id_zoned->lbafe[0].zsze), ==, ZONE_LBAS);
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CS_NS, NSID_NVM, 0,
                                   NVME_CSI_ZONED, buf), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CS_NS, NSID_NVM, 0,
                                   NVME_CSI_NVM, buf), ==, NVME_SUCCESS);
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CS_NS, NSID_ZONED, 0,
                                   NVME_CSI_NVM, buf), ==, NVME_SUCCESS);
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CS_NS, NSID_NVM, 0,
                                   CSI_UNKNOWN, buf), ==,
                    NVME_INVALID_FIELD | NVME_DNR);

    /* I/O Command Set specific Identify Controller (CNS 06h) */
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CS_CTRL, 0, 0,
                                   NVME_CSI_NVM, buf), ==, NVME_SUCCESS);
    g_assert_cmpint(id_ctrl_nvm->vsl, ==, 7);
    g_assert_cmpint(id_ctrl_nvm->dmrl, ==, NVME_ID_CTRL_NVM_DMRL_MAX);
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CS_CTRL, 0, 0,
                                   NVME_CSI_ZONED, buf), ==, NVME_SUCCESS);
    g_assert_cmpint(id_ctrl_zoned->zasl, ==, 0);
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CS_CTRL, 0, 0,
                                   CSI_UNKNOWN, buf), ==,
                    NVME_INVALID_FIELD | NVME_DNR);

    /* Commands Supported and Effects, per command set */
    g_assert_cmphex(effects(n, NVME_CSI_ZONED, NVME_CMD_ZONE_APPEND), ==,
                    NVME_CMD_EFF_CSUPP | NVME_CMD_EFF_LBCC);
    g_assert_cmphex(effects(n, NVME_CSI_NVM, NVME_CMD_ZONE_APPEND), ==, 0);
    g_assert_cmphex(effects(n, NVME_CSI_NVM, NVME_CMD_READ), ==,
                    NVME_CMD_EFF_CSUPP);
    g_assert_cmphex(effects(n, CSI_UNKNOWN, NVME_CMD_READ), ==, 0);

    qnvme_disable(n);
}

static void test_zoned_io(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    const uint32_t nlb = 8;
    const size_t len = nlb * LBA_SIZE;
    g_autofree uint8_t *out = g_malloc(len);
    g_autofree uint8_t *in = g_malloc(len);
    uint64_t buf = qnvme_alloc(n, len);
    struct {
        NvmeZoneReportHeader hdr;
        NvmeZoneDescr zd[IMAGE_SIZE / ZONE_SIZE];
    } report;
    NvmeCmd append = {
        .opcode = NVME_CMD_ZONE_APPEND,
        .nsid = cpu_to_le32(NSID_ZONED),
        .cdw10 = cpu_to_le32(ZONE_LBAS),            /* zone 1 */
        .cdw12 = cpu_to_le32(nlb - 1),
    };
    NvmeCmd recv = {
        .opcode = NVME_CMD_ZONE_MGMT_RECV,
        .nsid = cpu_to_le32(NSID_ZONED),
        .cdw12 = cpu_to_le32(sizeof(report) / 4 - 1),
        .cdw13 = cpu_to_le32(NVME_ZONE_REPORT | NVME_ZONE_REPORT_ALL << 8),
    };
    NvmeCmd nvm_append = append;
    NvmeCqe cqe;
    size_t i;

    for (i = 0; i < len; i++) {
        out[i] = i * 3 + 1;
    }

    qnvme_enable(n, NVME_CC_CSS_ALL);
    qnvme_create_ioq(n, 1);

    /* Zone Append goes to the Zoned command set handler... */
    qnvme_memwrite(n, buf, out, len);
    qnvme_map(n, &append, buf, len);
    g_assert_cmphex(qnvme_cmd(n, 1, &append, &cqe), ==, NVME_SUCCESS);
    g_assert_cmpint(le32_to_cpu(cqe.result) |
                    (uint64_t)le32_to_cpu(cqe.dw1) << 32, ==, ZONE_LBAS);

    /* ...and Read, shared with the NVM command set, reads it back. */
    qtest_memset(qnvme_qts(n), buf, 0, len);
    g_assert_cmphex(qnvme_rw(n, 1, NVME_CMD_READ, NSID_ZONED, ZONE_LBAS, nlb,
                             buf, len), ==, NVME_SUCCESS);
    qnvme_memread(n, buf, in, len);
    g_assert_cmpmem(in, len, out, len);

    g_assert_cmphex(qnvme_cmd_data(n, 1, &recv, &report, sizeof(report),
                                   false, NULL), ==, NVME_SUCCESS);
    g_assert_cmpint(le64_to_cpu(report.hdr.nr_zones), ==,
                    IMAGE_SIZE / ZONE_SIZE);
    g_assert_cmpint(le64_to_cpu(report.zd[1].zslba), ==, ZONE_LBAS);
    g_assert_cmpint(le64_to_cpu(report.zd[1].wp), ==, ZONE_LBAS + nlb);
    g_assert_cmpint(report.zd[1].zs >> 4, ==,
                    NVME_ZONE_STATE_IMPLICITLY_OPEN);
    g_assert_cmpint(report.zd[0].zs >> 4, ==, NVME_ZONE_STATE_EMPTY);

    /* A Zoned command on the NVM namespace is not supported there. */
    nvm_append.nsid = cpu_to_le32(NSID_NVM);
    nvm_append.cdw10 = 0;
    qnvme_map(n, &nvm_append, buf, len);
    g_assert_cmphex(qnvme_cmd(n, 1, &nvm_append, NULL), ==,
                    NVME_INVALID_OPCODE | NVME_DNR);

    qnvme_free(n, buf);
    qnvme_disable(n);
}

static void test_nvm_only(void *obj, void *data, QGuestAllocator *alloc)
{
    static const uint32_t nvm[] = { NSID_NVM };
    QNvme *n = obj;
    uint64_t buf = qnvme_alloc(n, LBA_SIZE);

    /* With CC.CSS = NVM only, the zoned namespace is not attached. */
    qnvme_enable(n, NVME_CC_CSS_NVM);
    qnvme_create_ioq(n, 1);

    qnvme_assert_nslist(n, NVME_ID_CNS_NS_ACTIVE_LIST, 0, nvm, 1);
    g_assert_cmphex(qnvme_rw(n, 1, NVME_CMD_READ, NSID_ZONED, 0, 1, buf,
                             LBA_SIZE), ==, NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(qnvme_rw(n, 1, NVME_CMD_READ, NSID_NVM, 0, 1, buf,
                             LBA_SIZE), ==, NVME_SUCCESS);

    /* The effects log shows the NVM command set whatever CSI is asked. */
    g_assert_cmphex(effects(n, NVME_CSI_ZONED, NVME_CMD_ZONE_APPEND), ==, 0);
    g_assert_cmphex(effects(n, NVME_CSI_ZONED, NVME_CMD_READ), ==,
                    NVME_CMD_EFF_CSUPP);

    qnvme_free(n, buf);
    qnvme_disable(n);
}

static const QNvmeTest nvme_cs_tests[] = {
    { "cs/identify", test_identify, nvme_cs_test_setup, "drive=nvm0" },
    { "cs/zoned-io", test_zoned_io, nvme_cs_test_setup, "drive=nvm0" },
    { "cs/nvm-only", test_nvm_only, nvme_cs_test_setup, "drive=nvm0" },
    { }
};

static void nvme_cs_register_tests(void)
{
    qnvme_add_tests(nvme_cs_tests);
}

libqos_init(nvme_cs_register_tests);
