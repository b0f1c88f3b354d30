/*
 * An NVMe controller in process and over vfio-user, side by side
 *
 * The same controller (an NVM namespace on a 64 MiB image, SLM with a
 * memory namespace, a compute namespace) runs in the QEMU under qtest, then
 * in a second QEMU process attached with vfio-user-pci.  Measured in one
 * run for each: 4 KiB random reads at queue depth 1 and 32, and Execute
 * Program round trips (the device-defined reduce over 4 KiB of SLM).
 * Commands go through the qtest protocol in both cases, which adds the
 * same cost to each; the ratio shows what vfio-user adds.
 *
 *   QTEST_QEMU_BINARY=.../qemu-system-x86_64 nvme-vfu-bench [commands]
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "libqtest.h"
#include "libqos/libqos-pc.h"
#include "libqos/nvme-vfu.h"
#include "block/nvme-csd.h"

#define IMAGE_SIZE      (64 * MiB)
#define LBA_SIZE        512
#define IO_SIZE         4096
#define QID             1
#define NSID_NVM        1
#define NSID_MEM        2
#define NSID_CP         3
#define QD_MAX          32

#define CONTROLLER \
    "-device nvme,%sserial=bench,drive=nvm0,compute=on,slm.size=1M " \
    "-drive id=nvm0,if=none,file=%s,format=raw "

typedef struct Result {
    double  read_qd1;       /* commands per second */
    double  read_qd32;
    double  exec;
} Result;

static uint32_t seed = 1;

/* qos-test's, which the libqos NVMe driver calls; no qos graph here */
void qos_invalidate_command_line(void)
{
}

static uint64_t random_lba(void)
{
    seed = seed * 1103515245 + 12345;
    return (seed >> 8) % (IMAGE_SIZE / IO_SIZE) * (IO_SIZE / LBA_SIZE);
}

static double now(void)
{
    return g_get_monotonic_time() / 1e6;
}

static NvmeCmd read_cmd(QNvme *n, uint64_t buf)
{
    uint64_t slba = random_lba();
    NvmeCmd cmd = {
        .opcode = NVME_CMD_READ,
        .nsid = cpu_to_le32(NSID_NVM),
        .cdw10 = cpu_to_le32(slba),
        .cdw11 = cpu_to_le32(slba >> 32),
        .cdw12 = cpu_to_le32(IO_SIZE / LBA_SIZE - 1),
    };

    qnvme_map(n, &cmd, buf, IO_SIZE);
    return cmd;
}

/* @count random reads, @qd at a time: reads per second */
static double bench_reads(QNvme *n, int count, int qd)
{
    uint64_t bufs[QD_MAX];
    uint16_t cids[QD_MAX];
    double start;

    for (int i = 0; i < qd; i++) {
        bufs[i] = qnvme_alloc(n, IO_SIZE);
    }

    start = now();
    for (int done = 0; done < count; done += qd) {
        for (int i = 0; i < qd; i++) {
            NvmeCmd cmd = read_cmd(n, bufs[i]);

            cids[i] = qnvme_submit(n, QID, &cmd);
        }
        for (int i = 0; i < qd; i++) {
            g_assert_cmphex(qnvme_wait(n, QID, cids[i], NULL), ==,
                            NVME_SUCCESS);
        }
    }
    start = now() - start;

    for (int i = 0; i < qd; i++) {
        qnvme_free(n, bufs[i]);
    }
    return count / start;
}

/* @count executions of reduce (sum) over 4 KiB: executions per second */
static double bench_exec(QNvme *n, int count)
{
    NvmeMemRangeDescr r = {
        .mnsid = cpu_to_le32(NSID_MEM),
        .len = cpu_to_le32(4096),
    };
    NvmeCmd act = {
        .opcode = NVME_ADM_CMD_PROGRAM_ACT,
        .nsid = cpu_to_le32(NSID_CP),
        .cdw10 = cpu_to_le32(NVME_CP_PIND_REDUCE),
    };
    NvmeCmd mrs = {
        .opcode = NVME_ADM_CMD_MEM_RANGE_SET,
        .nsid = cpu_to_le32(NSID_CP),
        .cdw10 = cpu_to_le32(NVME_MRS_CREATE),
        .cdw11 = cpu_to_le32(1),
    };
    NvmeExecProgramCmd exec = {
        .opcode = NVME_CMD_EXEC_PROGRAM,
        .nsid = cpu_to_le32(NSID_CP),
        .pind = cpu_to_le16(NVME_CP_PIND_REDUCE),
        .cparam1 = cpu_to_le64(4 << 8),         /* sum of u32 */
    };
    NvmeCqe cqe;
    double start;

    g_assert_cmphex(qnvme_cmd(n, 0, &act, NULL), ==, NVME_SUCCESS);
    g_assert_cmphex(qnvme_cmd_data(n, 0, &mrs, &r, sizeof(r), true, &cqe),
                    ==, NVME_SUCCESS);
    exec.rsid = cpu_to_le16(le32_to_cpu(cqe.result));

    start = now();
    for (int i = 0; i < count; i++) {
        g_assert_cmphex(qnvme_cmd(n, QID, (NvmeCmd *)&exec, NULL), ==,
                        NVME_SUCCESS);
    }
    return count / (now() - start);
}

static void bench(QNvme *n, int count, Result *res)
{
    qnvme_enable(n, NVME_CC_CSS_ALL);
    qnvme_create_ioq(n, QID);
    res->read_qd1 = bench_reads(n, count, 1);
    res->read_qd32 = bench_reads(n, count, QD_MAX);
    res->exec = bench_exec(n, count);
    qnvme_disable(n);
}

static void row(const char *name, double local, double vfu)
{
    printf("%-26s %12.0f %12.0f %8.3f\n", name, local, vfu, vfu / local);
}

int main(int argc, char **argv)
{
    int count = argc > 1 ? atoi(argv[1]) : 2048;
    g_autofree char *image = NULL;
    g_autoptr(GString) args = g_string_new(NULL);
    Result local, vfu;
    QOSState *qs;
    QNvme n;
    QNvmeVfu v;
    int fd;

    g_test_init(&argc, &argv, NULL);
    if (count < QD_MAX || count % QD_MAX) {
        fprintf(stderr, "commands: a multiple of %d\n", QD_MAX);
        return 1;
    }

    fd = g_file_open_tmp("nvme-bench.XXXXXX", &image, NULL);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, IMAGE_SIZE), ==, 0);
    close(fd);

    qs = qtest_pc_boot(CONTROLLER, "addr=04.0,", image);
    qnvme_init(&n, qs->pcibus, &qs->alloc, QPCI_DEVFN(4, 0));
    bench(&n, count, &local);
    qnvme_cleanup(&n);
    qtest_shutdown(qs);

    g_string_printf(args, CONTROLLER, "id=vfu-nvme,", image);
    qnvme_vfu_start_server(&v, args->str);
    qnvme_vfu_start_client(&v);
    bench(&v.n, count, &vfu);
    qnvme_vfu_stop(&v);
    unlink(image);

    printf("NVMe in process and over vfio-user, %d commands each, "
           "through qtest\n", count);
    printf("%-26s %12s %12s %8s\n", "per second", "in process", "vfio-user",
           "ratio");
    row("4 KiB random reads, QD1", local.read_qd1, vfu.read_qd1);
    row("4 KiB random reads, QD32", local.read_qd32, vfu.read_qd32);
    row("Execute Program (4 KiB)", local.exec, vfu.exec);
    return 0;
}
