/*
 * QTest testcases for an NVMe controller served over vfio-user: what
 * happens when the client or the server goes away
 *
 * The suites of nvme-*-test.c already run over vfio-user (see
 * qnvme_add_tests()); these tests are about the two processes' lifetimes.
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
#include "hw/pci/pci_regs.h"
#include "block/nvme-csd.h"

#define QID             1
#define NSID_NVM        1
#define NSID_MEM        2
#define NSID_CP         3
#define LBA_SIZE        512

static char *server_args(GString *cmd_line)
{
    g_autofree char *image = NULL;

    image = g_strdup(qnvme_test_image(cmd_line, "nvm0", 1 * MiB));
    g_string_append(cmd_line,
                    " -device nvme,id=vfu-nvme,serial=vfu,drive=nvm0,"
                    "compute=on,slm.size=1M");
    return g_steal_pointer(&image);
}

/* Write or read @len bytes of @data at @slba of the NVM namespace */
static uint16_t rw(QNvme *n, uint8_t opcode, uint64_t slba, void *data,
                   size_t len)
{
    uint64_t buf = qnvme_alloc(n, len);
    uint16_t status;

    if (opcode == NVME_CMD_WRITE) {
        qnvme_memwrite(n, buf, data, len);
    }
    status = qnvme_rw(n, QID, opcode, NSID_NVM, slba, len / LBA_SIZE, buf,
                      len);
    if (opcode == NVME_CMD_READ) {
        qnvme_memread(n, buf, data, len);
    }
    qnvme_free(n, buf);
    return status;
}

/* Activate the device-defined wait program and start a 60 s run of it */
static uint16_t start_long_program(QNvme *n)
{
    NvmeExecProgramCmd exec = {
        .opcode = NVME_CMD_EXEC_PROGRAM,
        .nsid = cpu_to_le32(NSID_CP),
        .pind = cpu_to_le16(NVME_CP_PIND_WAIT),
        .cparam1 = cpu_to_le64(60000),
    };
    NvmeCmd act = {
        .opcode = NVME_ADM_CMD_PROGRAM_ACT,
        .nsid = cpu_to_le32(NSID_CP),
        .cdw10 = cpu_to_le32(NVME_CP_PIND_WAIT),
    };

    g_assert_cmphex(qnvme_cmd(n, 0, &act, NULL), ==, NVME_SUCCESS);
    return qnvme_submit(n, QID, (NvmeCmd *)&exec);
}

/*
 * A client goes away, in the middle of a long program; the server resets
 * the controller and serves the next client, with the data the first one
 * wrote.
 */
static void test_reconnect(void)
{
    g_autoptr(GString) args = g_string_new(NULL);
    g_autofree char *image = server_args(args);
    uint8_t out[4 * LBA_SIZE], in[sizeof(out)];
    QNvmeVfu v;

    qnvme_pattern(out, sizeof(out), 1);
    qnvme_vfu_start_server(&v, args->str);

    for (int client = 0; client < 3; client++) {
        qnvme_vfu_start_client(&v);
        /* a fresh controller: not ready until enabled */
        g_assert_cmphex(qnvme_readl(&v.n, NVME_REG_CSTS) & NVME_CSTS_READY,
                        ==, 0);
        qnvme_enable(&v.n, NVME_CC_CSS_ALL);
        qnvme_create_ioq(&v.n, QID);
        if (client) {
            g_assert_cmphex(rw(&v.n, NVME_CMD_READ, 8 * client - 8, in,
                               sizeof(in)), ==, NVME_SUCCESS);
            g_assert_cmpmem(in, sizeof(in), out, sizeof(out));
        }
        qnvme_pattern(out, sizeof(out), client + 1);
        g_assert_cmphex(rw(&v.n, NVME_CMD_WRITE, 8 * client, out,
                           sizeof(out)), ==, NVME_SUCCESS);

        /* leave with a program running and a program active */
        start_long_program(&v.n);
        qnvme_vfu_stop_client(&v);
    }

    qnvme_vfu_stop(&v);
}

/*
 * The server dies with a command outstanding: the client QEMU keeps
 * running and answers, and the controller reads as gone, its registers
 * and its configuration space all ones, which is how a host driver sees a
 * surprise removal; writing to it does no harm.
 */
static void test_server_dies(void)
{
    g_autoptr(GString) args = g_string_new(NULL);
    g_autofree char *image = server_args(args);
    QNvmeVfu v;
    uint16_t cid;
    gint64 deadline;

    qnvme_vfu_start_server(&v, args->str);
    qnvme_vfu_start_client(&v);
    qnvme_enable(&v.n, NVME_CC_CSS_ALL);
    qnvme_create_ioq(&v.n, QID);
    cid = start_long_program(&v.n);

    qtest_kill_qemu(v.server);
    qtest_quit(v.server);
    v.server = NULL;

    /* the client notices within the timeout, and keeps running */
    deadline = g_get_monotonic_time() + QNVME_TIMEOUT_US;
    while (qnvme_readl(&v.n, NVME_REG_CSTS) != 0xffffffff) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
    }
    g_assert_cmphex(qpci_config_readw(&v.n.dev, PCI_VENDOR_ID), ==, 0xffff);
    g_assert_cmphex(qnvme_readl(&v.n, offsetof(NvmeBar, cap)), ==,
                    0xffffffff);
    qnvme_writel(&v.n, 0x1000 + 2 * QID * v.n.db_stride, cid + 1);
    qtest_qmp_assert_success(v.client->qts, "{ 'execute': 'query-status' }");

    qnvme_vfu_stop(&v);
}

/* The client's ACPI PCI hotplug registers (pc machine) and its slot */
#define ACPI_PCIHP_ADDR     0xae00
#define PCI_DOWN_BASE       0x0004
#define PCI_EJ_BASE         0x0008
#define CLIENT_SLOT         4

/*
 * When the server dies, the client asks the guest to release the device:
 * on the pc machine, a removal request of its slot that the guest sees in
 * the ACPI hotplug registers.  Ejecting it (what the guest's ACPI code
 * does) removes the device, and the client goes on.
 */
static void test_server_dies_unplug(void)
{
    g_autoptr(GString) args = g_string_new(NULL);
    g_autofree char *image = server_args(args);
    QTestState *qts;
    QNvmeVfu v;
    gint64 deadline;

    qnvme_vfu_start_server(&v, args->str);
    qnvme_vfu_start_client(&v);
    qts = v.client->qts;
    qnvme_enable(&v.n, NVME_CC_CSS_ALL);
    g_assert_cmphex(qtest_inl(qts, ACPI_PCIHP_ADDR + PCI_DOWN_BASE) &
                    BIT(CLIENT_SLOT), ==, 0);

    qtest_kill_qemu(v.server);
    qtest_quit(v.server);
    v.server = NULL;

    deadline = g_get_monotonic_time() + QNVME_TIMEOUT_US;
    while (!(qtest_inl(qts, ACPI_PCIHP_ADDR + PCI_DOWN_BASE) &
             BIT(CLIENT_SLOT))) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
    }
    qtest_outl(qts, ACPI_PCIHP_ADDR + PCI_EJ_BASE, BIT(CLIENT_SLOT));
    qtest_qmp_eventwait(qts, "DEVICE_DELETED");
    g_assert_cmphex(qpci_config_readw(&v.n.dev, PCI_VENDOR_ID), ==, 0xffff);
    qtest_qmp_assert_success(qts, "{ 'execute': 'query-status' }");

    qnvme_vfu_stop(&v);
}

static void nvme_vfu_register_tests(void)
{
    if (!qtest_has_machine("x-remote") ||
        !qtest_has_device("vfio-user-pci")) {
        return;
    }
    qtest_add_func("vfio-user/nvme/lifetime/reconnect", test_reconnect);
    qtest_add_func("vfio-user/nvme/lifetime/server-dies", test_server_dies);
    qtest_add_func("vfio-user/nvme/lifetime/server-dies-unplug",
                   test_server_dies_unplug);
}

libqos_init(nvme_vfu_register_tests);
