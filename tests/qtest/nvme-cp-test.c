/*
 * QTest testcases for the NVMe Computational Programs command set (CSI
 * 04h): compute namespaces, program activation, memory range sets, Execute
 * Program, the device-defined programs and downloaded eBPF programs (built
 * from nvme-bpf/ with clang), through the libqos NVMe driver
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
#include "libqos/nvme-csd.h"
#include "libqos/nvme-vfu.h"
#include "block/nvme-csd.h"
#include "qemu/bpf-vm.h"
#include "nvme-bpf-progs.h"

#define IMAGE_SIZE      (4 * MiB)
#define LBA_SIZE        512
#define NSID_NVM        1
#define NSID_MEM        2       /* 4 MiB, reachability group 1 */
#define NSID_MEM_FAR    3       /* 1 MiB, group 2: unreachable */
#define NSID_CP         4       /* maxact 3, maxmemrs 4, maxmemr 4 */
#define NSID_CP_SMALL   5       /* mrsg 12, 200 ms, 10^6 insns, maxpb 4K */
#define QID             1

/* Downloadable slots, after the device-defined programs */
enum {
    PIND_EMPTY = NVME_CP_NR_DEFINED,
    PIND_BPF,
    PIND_BPF2,
};

#define SLOTS           16
#define LONG_WAIT_MS    60000

/*
 * How late a program may stop after its budget ran out or it was
 * cancelled, and how long a reset may take: a correctness limit (the
 * stalls these tests catch last seconds), not a measure of speed
 */
#define STOP_US         (1 * G_USEC_PER_SEC)

static void *cp_setup(GString *cmd_line, void *arg)
{
    g_string_prepend(cmd_line,
                     "-object memory-backend-ram,id=slm0,size=5M "
                     "-device nvme-subsys,id=subsys0,nqn=csd-cp,slm=slm0,"
                     "reach.assoc=1:2 ");
    qnvme_test_image(cmd_line, "nvm0", IMAGE_SIZE);
    g_string_append(cmd_line,
                    " -device nvme-ns,drive=nvm0,nsid=1"
                    " -device nvme-mem-ns,nsid=2,size=4M"
                    " -device nvme-mem-ns,nsid=3,offset=4M,size=1M,rgrpid=2"
                    " -device nvme-compute-ns,nsid=4,maxact=3,maxmemrs=4,"
                    "maxmemr=4,engines=2,budget-ms=120000"
                    " -device nvme-compute-ns,nsid=5,mrsg=12,budget-ms=200,"
                    "engines=1,budget-insns=1000000,maxpb=4096");
    return arg;
}

/* The compute namespaces of cp_setup() with jit=@jit */
static void *cp_setup_engine(GString *cmd_line, void *arg, const char *jit)
{
    g_autofree char *opt = g_strdup_printf("nvme-compute-ns,jit=%s,", jit);
    g_auto(GStrv) parts = NULL;
    g_autofree char *joined = NULL;

    cp_setup(cmd_line, arg);
    parts = g_strsplit(cmd_line->str, "nvme-compute-ns,", -1);
    joined = g_strjoinv(opt, parts);
    g_string_assign(cmd_line, joined);
    return arg;
}

/* Downloaded programs on the JIT (where the host has one) */
static void *cp_setup_jit(GString *cmd_line, void *arg)
{
    return cp_setup_engine(cmd_line, arg,
                           bpf_vm_jit_available() ? "on" : "auto");
}

/* ... and on the interpreter */
static void *cp_setup_interp(GString *cmd_line, void *arg)
{
    return cp_setup_engine(cmd_line, arg, "off");
}

static void start(QNvme *n)
{
    qnvme_enable(n, NVME_CC_CSS_ALL);
    qnvme_create_ioq(n, QID);
}

/*
 * The controller has taken the commands submitted to @qid so far from the
 * queue: it takes them in order, and a Memory Read submitted after them
 * completed.
 */
static void taken(QNvme *n, uint16_t qid)
{
    uint8_t buf[4];

    g_assert_cmphex(qnvme_mem_read(n, qid, NSID_MEM, 0, buf, sizeof(buf)), ==,
                    NVME_SUCCESS);
}

static uint16_t activate(QNvme *n, uint32_t nsid, uint32_t pind, uint8_t sel)
{
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_PROGRAM_ACT,
        .nsid = cpu_to_le32(nsid),
        .cdw10 = cpu_to_le32(pind | sel << 16),
    };

    return qnvme_cmd(n, 0, &cmd, NULL);
}

static NvmeMemRangeDescr range(uint32_t mnsid, uint64_t sb, uint32_t len)
{
    return (NvmeMemRangeDescr) {
        .mnsid = cpu_to_le32(mnsid),
        .sb = cpu_to_le64(sb),
        .len = cpu_to_le32(len),
    };
}

/* Create a memory range set; on success *rsid is its identifier. */
static uint16_t mrs_create(QNvme *n, uint32_t nsid,
                           const NvmeMemRangeDescr *r, int nr, uint16_t *rsid)
{
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_MEM_RANGE_SET,
        .nsid = cpu_to_le32(nsid),
        .cdw10 = cpu_to_le32(NVME_MRS_CREATE),
        .cdw11 = cpu_to_le32(nr),
    };
    NvmeCqe cqe;
    uint16_t status;

    status = qnvme_cmd_data(n, 0, &cmd, (void *)r, MAX(nr, 1) * sizeof(*r),
                            true, &cqe);
    if (rsid) {
        *rsid = le32_to_cpu(cqe.result);
    }
    return status;
}

static uint16_t mrs_delete(QNvme *n, uint32_t nsid, uint16_t rsid)
{
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_MEM_RANGE_SET,
        .nsid = cpu_to_le32(nsid),
        .cdw10 = cpu_to_le32(NVME_MRS_DELETE | (uint32_t)rsid << 16),
    };

    return qnvme_cmd(n, 0, &cmd, NULL);
}

/* Whether @status says an execution still holds what a command needs */
static bool stopping(uint16_t status, gint64 t0)
{
    if (status != NVME_MRS_IN_USE && status != NVME_PROG_IN_USE) {
        return false;
    }
    g_assert_cmpint(g_get_monotonic_time() - t0, <, STOP_US);
    return true;
}

/*
 * @call, a command, once the executions that an abort, a queue deletion or
 * a reset stopped have let go of what it needs: until then it gets Memory
 * Range Set In Use or Program In Use, without DNR, for STOP_US at most.
 */
#define WHEN_STOPPED(call)                                              \
    ({                                                                  \
        gint64 t0_ = g_get_monotonic_time();                            \
        uint16_t s_;                                                    \
                                                                        \
        do {                                                            \
            s_ = (call);                                                \
        } while (stopping(s_, t0_));                                    \
        s_;                                                             \
    })

static NvmeExecProgramCmd exec_cmd(uint32_t nsid, uint16_t pind,
                                   uint16_t rsid, uint64_t cparam1,
                                   uint64_t cparam2)
{
    return (NvmeExecProgramCmd) {
        .opcode = NVME_CMD_EXEC_PROGRAM,
        .nsid = cpu_to_le32(nsid),
        .pind = cpu_to_le16(pind),
        .rsid = cpu_to_le16(rsid),
        .cparam1 = cpu_to_le64(cparam1),
        .cparam2 = cpu_to_le64(cparam2),
    };
}

static uint64_t cqe_result(NvmeCqe *cqe)
{
    return le32_to_cpu(cqe->result) | (uint64_t)le32_to_cpu(cqe->dw1) << 32;
}

static uint16_t exec(QNvme *n, uint32_t nsid, uint16_t pind, uint16_t rsid,
                     uint64_t cparam1, uint64_t cparam2, uint64_t *result)
{
    NvmeExecProgramCmd cmd = exec_cmd(nsid, pind, rsid, cparam1, cparam2);
    NvmeCqe cqe;
    uint16_t status = qnvme_cmd(n, QID, (NvmeCmd *)&cmd, &cqe);

    if (result) {
        *result = cqe_result(&cqe);
    }
    return status;
}

static uint16_t exec_submit(QNvme *n, uint32_t nsid, uint16_t pind,
                            uint16_t rsid, uint64_t cparam1)
{
    NvmeExecProgramCmd cmd = exec_cmd(nsid, pind, rsid, cparam1, 0);

    return qnvme_submit(n, QID, (NvmeCmd *)&cmd);
}

/*
 * Reset the controller while command @cid of QID runs: the reset, timed
 * from the register write, is done within STOP_US and posts no completion
 * for the command.
 */
static void reset_running(QNvme *n, uint16_t cid)
{
    uint64_t cqe;
    bool phase;
    gint64 t0;

    taken(n, QID);
    g_assert_false(qnvme_done(n, QID, cid));
    cqe = n->q[QID].cq + n->q[QID].cq_head * sizeof(NvmeCqe);
    phase = n->q[QID].phase;
    t0 = g_get_monotonic_time();
    qnvme_disable(n);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, STOP_US);
    g_assert_cmpint(qtest_readw(qnvme_qts(n), cqe +
                                offsetof(NvmeCqe, status)) & 1, !=, phase);
}

/* Abort command @cid of QID, once the controller has taken it */
static void abort_cmd(QNvme *n, uint16_t cid)
{
    NvmeCmd abort = {
        .opcode = NVME_ADM_CMD_ABORT,
        .cdw10 = cpu_to_le32(QID | (uint32_t)cid << 16),
    };

    taken(n, QID);
    g_assert_cmphex(qnvme_cmd(n, 0, &abort, NULL), ==, NVME_SUCCESS);
}

/* Activate program @pind of NSID_CP and run it on a set of @r. */
static uint16_t run(QNvme *n, uint16_t pind, const NvmeMemRangeDescr *r,
                    int nr, uint64_t cparam1, uint64_t cparam2,
                    uint64_t *result)
{
    uint16_t rsid, status;

    g_assert_cmphex(activate(n, NSID_CP, pind, NVME_PROG_ACT_ACTIVATE), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(mrs_create(n, NSID_CP, r, nr, &rsid), ==, NVME_SUCCESS);
    status = exec(n, NSID_CP, pind, rsid, cparam1, cparam2, result);
    g_assert_cmphex(mrs_delete(n, NSID_CP, rsid), ==, NVME_SUCCESS);
    g_assert_cmphex(activate(n, NSID_CP, pind, NVME_PROG_ACT_DEACTIVATE), ==,
                    NVME_SUCCESS);
    return status;
}

static void test_identify(void *obj, void *data, QGuestAllocator *alloc)
{
    static const uint32_t cps[] = { NSID_CP, NSID_CP_SMALL };
    QNvme *n = obj;
    uint8_t buf[NVME_IDENTIFY_DATA_SIZE];
    NvmeIdNsCp *id = (NvmeIdNsCp *)buf;
    NvmeEffectsLog effects;

    start(n);

    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_IO_COMMAND_SET, 0, 0, 0,
                                   buf), ==, NVME_SUCCESS);
    g_assert_cmphex(ldq_le_p(buf), ==, 1 << NVME_CSI_NVM |
                    1 << NVME_CSI_ZONED | 1 << NVME_CSI_SLM |
                    1 << NVME_CSI_CP);
    qnvme_assert_nslist(n, NVME_ID_CNS_CS_NS_ACTIVE_LIST, NVME_CSI_CP, cps, 2);

    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CS_NS, NSID_CP, 0,
                                   NVME_CSI_CP, buf), ==, NVME_SUCCESS);
    g_assert_cmpint(le16_to_cpu(id->maxact), ==, 3);
    g_assert_cmpint(le16_to_cpu(id->maxmemrs), ==, 4);
    g_assert_cmpint(id->maxmemr, ==, 4);
    g_assert_cmpint(le16_to_cpu(id->mrsg), ==, 0);
    g_assert_cmpint(le64_to_cpu(id->maxpb), ==, 1 * MiB);
    g_assert_cmpint(id->lpg, ==, 2);
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CS_NS, NSID_CP_SMALL, 0,
                                   NVME_CSI_CP, buf), ==, NVME_SUCCESS);
    g_assert_cmpint(le16_to_cpu(id->mrsg), ==, 12);
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CS_NS, NSID_MEM, 0,
                                   NVME_CSI_CP, buf), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CS_CTRL, 0, 0,
                                   NVME_CSI_CP, buf), ==, NVME_SUCCESS);

    g_assert_cmphex(qnvme_get_log(n, NVME_LOG_CMD_EFFECTS, 0, NVME_CSI_CP,
                                  0, &effects, sizeof(effects)), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(le32_to_cpu(effects.iocs[NVME_CMD_EXEC_PROGRAM]), ==,
                    NVME_CMD_EFF_CSUPP);
    g_assert_cmphex(le32_to_cpu(effects.acs[NVME_ADM_CMD_LOAD_PROGRAM]), ==,
                    NVME_CMD_EFF_CSUPP);
    g_assert_cmphex(le32_to_cpu(effects.acs[NVME_ADM_CMD_PROGRAM_ACT]), ==,
                    NVME_CMD_EFF_CSUPP);
    g_assert_cmphex(le32_to_cpu(effects.acs[NVME_ADM_CMD_MEM_RANGE_SET]), ==,
                    NVME_CMD_EFF_CSUPP);

    qnvme_disable(n);
}

static void test_program_list(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    struct {
        NvmeProgramListLog hdr;
        NvmeProgramDescr d[SLOTS];
    } log;
    struct {
        NvmeProgramTypesLog hdr;
        NvmeProgramTypeDescr d;
    } types;

    start(n);
    g_assert_cmphex(activate(n, NSID_CP, NVME_CP_PIND_CRC32C,
                             NVME_PROG_ACT_ACTIVATE),
                    ==, NVME_SUCCESS);

    g_assert_cmphex(qnvme_get_log(n, NVME_LOG_PROGRAM_LIST, NSID_CP,
                                  NVME_CSI_CP, 0, &log, sizeof(log)), ==,
                    NVME_SUCCESS);
    g_assert_cmpint(le32_to_cpu(log.hdr.numd), ==, SLOTS);
    for (int i = 0; i < SLOTS; i++) {
        uint8_t want = i < NVME_CP_NR_DEFINED ? NVME_PEOCC_DEVICE_DEFINED :
                                        NVME_PEOCC_EMPTY;

        if (i == NVME_CP_PIND_CRC32C) {
            want |= NVME_PROG_DESCR_ACT;
        }
        g_assert_cmphex(log.d[i].flags, ==, want);
    }

    g_assert_cmphex(qnvme_get_log(n, NVME_LOG_DL_PROGRAM_TYPES, NSID_CP,
                                  NVME_CSI_CP, 0, &types, sizeof(types)), ==,
                    NVME_SUCCESS);
    g_assert_cmpint(le32_to_cpu(types.hdr.numd), ==, 1);
    g_assert_cmphex(types.d.ptype, ==, NVME_PTYPE_EBPF);
    g_assert_cmpint(types.d.ver, ==, 1);
    g_assert_cmpint(le32_to_cpu(types.d.tsi[0]), ==, 65536);
    g_assert_cmpint(le32_to_cpu(types.d.tsi[1]), ==, 512);

    /* an offset past the end of the log */
    g_assert_cmphex(qnvme_get_log(n, NVME_LOG_PROGRAM_LIST, NSID_CP,
                                  NVME_CSI_CP, sizeof(log), &log, 64), ==,
                    NVME_INVALID_FIELD | NVME_DNR);

    /* the logs of a namespace that is not a compute namespace */
    g_assert_cmphex(qnvme_get_log(n, NVME_LOG_PROGRAM_LIST, NSID_MEM,
                                  NVME_CSI_CP, 0, &log, sizeof(log)), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(activate(n, NSID_CP, NVME_CP_PIND_CRC32C,
                             NVME_PROG_ACT_DEACTIVATE), ==, NVME_SUCCESS);
    qnvme_disable(n);
}

static void test_activation(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    uint64_t result;
    uint16_t cid;

    start(n);

    /* maxact = 3 */
    for (int i = 0; i < 3; i++) {
        g_assert_cmphex(activate(n, NSID_CP, i, NVME_PROG_ACT_ACTIVATE), ==,
                        NVME_SUCCESS);
    }
    g_assert_cmphex(activate(n, NSID_CP, 3, NVME_PROG_ACT_ACTIVATE), ==,
                    NVME_MAX_PROGS_ACTIVATED | NVME_DNR);
    /* activating an active program again changes nothing */
    g_assert_cmphex(activate(n, NSID_CP, 2, NVME_PROG_ACT_ACTIVATE), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(activate(n, NSID_CP, 2, NVME_PROG_ACT_DEACTIVATE), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(activate(n, NSID_CP, NVME_CP_PIND_WAIT,
                             NVME_PROG_ACT_ACTIVATE),
                    ==, NVME_SUCCESS);

    g_assert_cmphex(activate(n, NSID_CP, SLOTS, NVME_PROG_ACT_ACTIVATE), ==,
                    NVME_INVALID_PROG_INDEX | NVME_DNR);
    g_assert_cmphex(activate(n, NSID_CP, PIND_EMPTY, NVME_PROG_ACT_ACTIVATE),
                    ==, NVME_NO_PROGRAM | NVME_DNR);
    g_assert_cmphex(activate(n, NSID_CP, 0, 5), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(activate(n, NSID_MEM, 0, NVME_PROG_ACT_ACTIVATE), ==,
                    NVME_INVALID_NSID | NVME_DNR);

    /* Execute Program needs an active program */
    g_assert_cmphex(exec(n, NSID_CP, 2, 0, 0, 0, NULL), ==,
                    NVME_PROG_NOT_ACTIVATED | NVME_DNR);
    g_assert_cmphex(exec(n, NSID_CP, PIND_EMPTY, 0, 0, 0, NULL), ==,
                    NVME_NO_PROGRAM | NVME_DNR);
    g_assert_cmphex(exec(n, NSID_CP, SLOTS, 0, 0, 0, NULL), ==,
                    NVME_INVALID_PROG_INDEX | NVME_DNR);

    /* a running program cannot be deactivated */
    cid = exec_submit(n, NSID_CP, NVME_CP_PIND_WAIT, 0, LONG_WAIT_MS);
    taken(n, QID);
    g_assert_cmphex(activate(n, NSID_CP, NVME_CP_PIND_WAIT,
                             NVME_PROG_ACT_DEACTIVATE), ==,
                    NVME_PROG_IN_USE);
    abort_cmd(n, cid);
    g_assert_cmphex(qnvme_wait(n, QID, cid, NULL), ==, NVME_CMD_ABORT_REQ);

    g_assert_cmphex(exec(n, NSID_CP, NVME_CP_PIND_WAIT, 0, 1, 0, &result), ==,
                    NVME_SUCCESS);
    g_assert_cmpint(result, >=, 1);
    for (int i = 0; i < 2; i++) {
        g_assert_cmphex(activate(n, NSID_CP, i, NVME_PROG_ACT_DEACTIVATE),
                        ==, NVME_SUCCESS);
    }
    g_assert_cmphex(activate(n, NSID_CP, NVME_CP_PIND_WAIT,
                             NVME_PROG_ACT_DEACTIVATE),
                    ==, NVME_SUCCESS);
    qnvme_disable(n);
}

static uint16_t load(QNvme *n, uint32_t nsid, uint32_t pind, uint8_t ptype,
                     bool unload)
{
    uint8_t code[8] = {};
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_LOAD_PROGRAM,
        .nsid = cpu_to_le32(nsid),
        .cdw10 = cpu_to_le32(pind | (uint32_t)ptype << 16 |
                             (uint32_t)unload << 24),
        .cdw11 = cpu_to_le32(sizeof(code)),
        .cdw14 = cpu_to_le32(sizeof(code)),
    };

    return qnvme_cmd_data(n, 0, &cmd, code, sizeof(code), true, NULL);
}

static void test_load(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;

    qnvme_enable(n, NVME_CC_CSS_ALL);
    g_assert_cmphex(load(n, NSID_CP, NVME_CP_PIND_REDUCE, 1, false), ==,
                    NVME_PROG_INDEX_NOT_DOWNLOADABLE | NVME_DNR);
    g_assert_cmphex(load(n, NSID_CP, NVME_CP_PIND_REDUCE, 0, true), ==,
                    NVME_PROG_INDEX_NOT_DOWNLOADABLE | NVME_DNR);
    g_assert_cmphex(load(n, NSID_CP, PIND_EMPTY, 0, true), ==,
                    NVME_NO_PROGRAM | NVME_DNR);
    g_assert_cmphex(load(n, NSID_CP, SLOTS, 1, false), ==,
                    NVME_INVALID_PROG_INDEX | NVME_DNR);
    /* eBPF is the only downloadable program type */
    g_assert_cmphex(load(n, NSID_CP, PIND_EMPTY, 2, false), ==,
                    NVME_INVALID_PROG_TYPE | NVME_DNR);
    g_assert_cmphex(load(n, NSID_CP, PIND_EMPTY, 0xc0, false), ==,
                    NVME_INVALID_PROG_TYPE | NVME_DNR);
    g_assert_cmphex(load(n, NSID_NVM, PIND_EMPTY, NVME_PTYPE_EBPF, false), ==,
                    NVME_INVALID_NSID | NVME_DNR);
    qnvme_disable(n);
}

static void test_mrs(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    NvmeMemRangeDescr r[5];
    uint16_t rsid, ids[4];
    NvmeCqe cqe;
    struct {
        NvmeMrsListLog hdr;
        NvmeMrsDescr d;
        NvmeMemRangeDescr r[2];
    } log;
    uint16_t cid;

    start(n);

    r[0] = range(NSID_MEM, 0, 4 * KiB);
    r[1] = range(NSID_MEM, 8 * KiB, 100);
    g_assert_cmphex(mrs_create(n, NSID_CP, r, 2, &rsid), ==, NVME_SUCCESS);
    g_assert_cmpint(rsid, ==, 1);
    g_assert_cmphex(qnvme_get_log(n, NVME_LOG_MEM_RANGE_SETS, NSID_CP,
                                  NVME_CSI_CP, 0, &log, sizeof(log)), ==,
                    NVME_SUCCESS);
    g_assert_cmpint(le32_to_cpu(log.hdr.numd), ==, 1);
    g_assert_cmpint(le16_to_cpu(log.d.rsid), ==, 1);
    g_assert_cmpint(log.d.numr, ==, 2);
    g_assert_cmpmem(log.r, sizeof(log.r), r, sizeof(log.r));

    /* creation errors; the result of a range error is its index */
    g_assert_cmphex(mrs_create(n, NSID_CP, r, 0, NULL), ==,
                    NVME_INVALID_MRS | NVME_DNR);
    for (int i = 0; i < 5; i++) {
        r[i] = range(NSID_MEM, i * 4 * KiB, 4 * KiB);
    }
    g_assert_cmphex(mrs_create(n, NSID_CP, r, 5, NULL), ==,
                    NVME_MAX_MEM_RANGES_EXCEEDED | NVME_DNR);
    r[1] = range(NSID_NVM, 0, 4 * KiB);
    g_assert_cmphex(qnvme_cmd_data(n, 0, &(NvmeCmd) {
                        .opcode = NVME_ADM_CMD_MEM_RANGE_SET,
                        .nsid = cpu_to_le32(NSID_CP),
                        .cdw11 = cpu_to_le32(2),
                    }, r, 2 * sizeof(*r), true, &cqe), ==,
                    NVME_INVALID_MEMORY_NS | NVME_DNR);
    g_assert_cmpint(le32_to_cpu(cqe.result), ==, 1);
    r[1] = range(NSID_MEM_FAR, 0, 4 * KiB);
    g_assert_cmphex(mrs_create(n, NSID_CP, r, 2, NULL), ==,
                    NVME_NS_NOT_REACHABLE | NVME_DNR);
    r[1] = range(NSID_MEM, 4 * MiB - 2 * KiB, 4 * KiB);
    g_assert_cmphex(mrs_create(n, NSID_CP, r, 2, NULL), ==,
                    NVME_INVALID_MRS | NVME_DNR);
    r[1] = range(NSID_MEM, 0, 0);
    g_assert_cmphex(mrs_create(n, NSID_CP, r, 2, NULL), ==,
                    NVME_INVALID_MRS | NVME_DNR);
    r[1] = range(NSID_MEM, 2 * KiB, 4 * KiB);
    g_assert_cmphex(mrs_create(n, NSID_CP, r, 2, NULL), ==,
                    NVME_OVERLAP_MEM_RANGES | NVME_DNR);
    /* granularity: 4 KiB on the small compute namespace */
    r[1] = range(NSID_MEM, 8 * KiB, 100);
    g_assert_cmphex(mrs_create(n, NSID_CP_SMALL, r, 2, NULL), ==,
                    NVME_INVALID_MRS | NVME_DNR);
    r[1] = range(NSID_MEM, 8 * KiB, 4 * KiB);
    g_assert_cmphex(mrs_create(n, NSID_CP_SMALL, r, 2, &rsid), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(mrs_delete(n, NSID_CP_SMALL, rsid), ==, NVME_SUCCESS);

    /* maxmemrs = 4: one exists, three more, then no more */
    for (int i = 0; i < 3; i++) {
        g_assert_cmphex(mrs_create(n, NSID_CP, r, 1, &ids[i]), ==,
                        NVME_SUCCESS);
    }
    g_assert_cmphex(mrs_create(n, NSID_CP, r, 1, NULL), ==,
                    NVME_MAX_MRS_EXCEEDED | NVME_DNR);

    /* a set in use by an execution cannot be deleted */
    g_assert_cmphex(activate(n, NSID_CP, NVME_CP_PIND_WAIT,
                             NVME_PROG_ACT_ACTIVATE),
                    ==, NVME_SUCCESS);
    cid = exec_submit(n, NSID_CP, NVME_CP_PIND_WAIT, ids[0], LONG_WAIT_MS);
    taken(n, QID);
    g_assert_cmphex(mrs_delete(n, NSID_CP, ids[0]), ==, NVME_MRS_IN_USE);
    abort_cmd(n, cid);
    g_assert_cmphex(qnvme_wait(n, QID, cid, NULL), ==, NVME_CMD_ABORT_REQ);

    g_assert_cmphex(WHEN_STOPPED(mrs_delete(n, NSID_CP, ids[0])), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(mrs_delete(n, NSID_CP, ids[0]), ==,
                    NVME_INVALID_MRSID | NVME_DNR);
    g_assert_cmphex(mrs_delete(n, NSID_CP, 0), ==,
                    NVME_INVALID_MRSID | NVME_DNR);
    g_assert_cmphex(mrs_delete(n, NSID_CP, 99), ==,
                    NVME_INVALID_MRSID | NVME_DNR);
    g_assert_cmphex(exec(n, NSID_CP, NVME_CP_PIND_WAIT, ids[0], 0, 0, NULL), ==,
                    NVME_INVALID_MRSID | NVME_DNR);
    g_assert_cmphex(qnvme_cmd(n, 0, &(NvmeCmd) {
                        .opcode = NVME_ADM_CMD_MEM_RANGE_SET,
                        .nsid = cpu_to_le32(NSID_CP),
                        .cdw10 = cpu_to_le32(7),
                    }, NULL), ==, NVME_INVALID_FIELD | NVME_DNR);

    qnvme_disable(n);
}

static uint32_t crc32c_ref(const uint8_t *p, size_t len)
{
    uint32_t crc = 0xffffffff;

    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++) {
            crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78 : crc >> 1;
        }
    }
    return crc ^ 0xffffffff;
}

static void test_reduce(void *obj, void *data, QGuestAllocator *alloc)
{
    const uint32_t len = 64 * KiB;
    QNvme *n = obj;
    g_autofree uint8_t *buf = g_malloc(len);
    NvmeMemRangeDescr r = range(NSID_MEM, 128 * KiB, len);
    uint64_t sum32 = 0, min32 = UINT64_MAX, max32 = 0, count32 = 0;
    uint64_t sum64 = 0, min64 = UINT64_MAX, max64 = 0;
    uint32_t needle;
    uint64_t result;

    qnvme_pattern(buf, len, 1);
    needle = ldl_le_p(buf + 40);
    for (uint32_t i = 0; i < len; i += 4) {
        uint64_t v = (uint32_t)ldl_le_p(buf + i);

        sum32 += v;
        min32 = MIN(min32, v);
        max32 = MAX(max32, v);
        count32 += v == needle;
    }
    for (uint32_t i = 0; i < len; i += 8) {
        uint64_t v = ldq_le_p(buf + i);

        sum64 += v;
        min64 = MIN(min64, v);
        max64 = MAX(max64, v);
    }

    start(n);
    g_assert_cmphex(qnvme_mem_write(n, QID, NSID_MEM, 128 * KiB, buf, len), ==,
                    NVME_SUCCESS);

    g_assert_cmphex(run(n, NVME_CP_PIND_REDUCE, &r, 1, 0 | 4 << 8, 0, &result),
                    ==, NVME_SUCCESS);
    g_assert_cmphex(result, ==, sum32);
    g_assert_cmphex(run(n, NVME_CP_PIND_REDUCE, &r, 1, 1 | 4 << 8, 0, &result),
                    ==, NVME_SUCCESS);
    g_assert_cmphex(result, ==, min32);
    g_assert_cmphex(run(n, NVME_CP_PIND_REDUCE, &r, 1, 2 | 4 << 8, 0, &result),
                    ==, NVME_SUCCESS);
    g_assert_cmphex(result, ==, max32);
    g_assert_cmphex(run(n, NVME_CP_PIND_REDUCE, &r, 1, 3 | 4 << 8, needle,
                        &result),
                    ==, NVME_SUCCESS);
    g_assert_cmphex(result, ==, count32);
    g_assert_cmpint(count32, >=, 1);
    g_assert_cmphex(run(n, NVME_CP_PIND_REDUCE, &r, 1, 0 | 8 << 8, 0, &result),
                    ==, NVME_SUCCESS);
    g_assert_cmphex(result, ==, sum64);
    g_assert_cmphex(run(n, NVME_CP_PIND_REDUCE, &r, 1, 1 | 8 << 8, 0, &result),
                    ==, NVME_SUCCESS);
    g_assert_cmphex(result, ==, min64);
    g_assert_cmphex(run(n, NVME_CP_PIND_REDUCE, &r, 1, 2 | 8 << 8, 0, &result),
                    ==, NVME_SUCCESS);
    g_assert_cmphex(result, ==, max64);

    /* outside the contract: width 3, unknown operation */
    g_assert_cmphex(run(n, NVME_CP_PIND_REDUCE, &r, 1, 0 | 3 << 8, 0, &result),
                    ==, NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(run(n, NVME_CP_PIND_REDUCE, &r, 1, 9 | 4 << 8, 0, &result),
                    ==, NVME_INVALID_FIELD | NVME_DNR);
    qnvme_disable(n);
}

/*
 * Stage data from the NVM namespace with Memory Copy, then checksum it:
 * CRC-32C against a known answer and a reference, SHA-256 likewise.
 */
static void test_checksums(void *obj, void *data, QGuestAllocator *alloc)
{
    static const uint8_t abc_sha256[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
        0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
        0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
    };
    const uint32_t len = 256 * KiB;
    QNvme *n = obj;
    g_autofree uint8_t *buf = g_malloc(len);
    uint8_t digest[32], want[32];
    gsize dlen = sizeof(want);
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    NvmeCopySourceRangeFormat0_2 src = {
        .sparams = cpu_to_le32(NSID_NVM),
        .slba = cpu_to_le64(16),
        .nlb = cpu_to_le16(len / LBA_SIZE - 1),
    };
    NvmeMemCopyCmd copy = {
        .opcode = NVME_CMD_MEM_COPY,
        .nsid = cpu_to_le32(NSID_MEM),
        .len = cpu_to_le64(len),
        .sdaddr = cpu_to_le64(1 * MiB),
        .control[0] = NVME_COPY_FORMAT_2,
    };
    NvmeCmd write = {
        .opcode = NVME_CMD_WRITE,
        .nsid = cpu_to_le32(NSID_NVM),
        .cdw10 = cpu_to_le32(16),
        .cdw12 = cpu_to_le32(len / LBA_SIZE - 1),
    };
    NvmeMemRangeDescr r[2];
    uint64_t result;

    start(n);

    /* known answers */
    g_assert_cmphex(qnvme_mem_write(n, QID, NSID_MEM, 0, "123456789abc", 12),
                    ==, NVME_SUCCESS);
    r[0] = range(NSID_MEM, 0, 9);
    g_assert_cmphex(run(n, NVME_CP_PIND_CRC32C, r, 1, 0, 0, &result), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(result, ==, 0xe3069283);
    r[0] = range(NSID_MEM, 9, 3);
    r[1] = range(NSID_MEM, 64, 32);
    g_assert_cmphex(run(n, NVME_CP_PIND_SHA256, r, 2, 0, 0, &result), ==,
                    NVME_SUCCESS);
    g_assert_cmpint(result, ==, 32);
    g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM, 64, digest, 32), ==,
                    NVME_SUCCESS);
    g_assert_cmpmem(digest, 32, abc_sha256, 32);

    /* 256 KiB written to the NVM namespace, staged into SLM */
    qnvme_pattern(buf, len, 2);
    g_assert_cmphex(qnvme_cmd_data(n, QID, &write, buf, len, true, NULL), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(qnvme_cmd_data(n, QID, (NvmeCmd *)&copy, &src,
                                   sizeof(src), true, NULL), ==,
                    NVME_SUCCESS);

    r[0] = range(NSID_MEM, 1 * MiB, len);
    g_assert_cmphex(run(n, NVME_CP_PIND_CRC32C, r, 1, 0, 0, &result), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(result, ==, crc32c_ref(buf, len));

    r[1] = range(NSID_MEM, 4 * KiB, 64);
    g_assert_cmphex(run(n, NVME_CP_PIND_SHA256, r, 2, 0, 0, &result), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM, 4 * KiB, digest, 32), ==,
                    NVME_SUCCESS);
    g_checksum_update(sum, buf, len);
    g_checksum_get_digest(sum, want, &dlen);
    g_assert_cmpmem(digest, 32, want, 32);

    /* SHA-256 needs a 32-byte output range */
    r[1] = range(NSID_MEM, 4 * KiB, 16);
    g_assert_cmphex(run(n, NVME_CP_PIND_SHA256, r, 2, 0, 0, &result), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(run(n, NVME_CP_PIND_SHA256, r, 1, 0, 0, &result), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    qnvme_disable(n);
}

/* The little-endian field of @fsz bytes at @p */
static uint64_t field(const uint8_t *p, uint32_t fsz)
{
    uint64_t v = 0;

    for (uint32_t i = 0; i < fsz; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

/* The filter program's comparison @op (0 ==, 1 !=, 2 <, 3 <=, 4 >, 5 >=) */
static bool filter_match(uint64_t v, uint32_t op, uint64_t x)
{
    switch (op) {
    case 0:
        return v == x;
    case 1:
        return v != x;
    case 2:
        return v < x;
    case 3:
        return v <= x;
    case 4:
        return v > x;
    default:
        return v >= x;
    }
}

/*
 * Filter the @nrec records of @rsz bytes at byte 0 of the memory namespace
 * (@recs, as written there) into byte 512 KiB, on the field of @fsz bytes
 * at byte 4 of each by comparison @op with @x, and check the records and
 * their number against a reference filter.  Returns that number.
 */
static uint64_t check_filter(QNvme *n, const uint8_t *recs, uint32_t nrec,
                             uint32_t rsz, uint32_t fsz, uint32_t op,
                             uint64_t x)
{
    g_autofree uint8_t *want = g_malloc0(nrec * rsz);
    g_autofree uint8_t *got = g_malloc0(nrec * rsz);
    NvmeMemRangeDescr r[2] = {
        range(NSID_MEM, 0, nrec * rsz),
        range(NSID_MEM, 512 * KiB, nrec * rsz),
    };
    uint64_t result, matched = 0;

    for (uint32_t i = 0; i < nrec; i++) {
        if (filter_match(field(recs + i * rsz + 4, fsz), op, x)) {
            memcpy(want + matched * rsz, recs + i * rsz, rsz);
            matched++;
        }
    }
    g_assert_cmphex(run(n, NVME_CP_PIND_FILTER, r, 2,
                        rsz | 4 << 16 | (uint64_t)fsz << 32 |
                        (uint64_t)op << 40, x, &result),
                    ==, NVME_SUCCESS);
    g_assert_cmpint(result, ==, matched);
    g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM, 512 * KiB, got,
                                   matched * rsz), ==,
                    NVME_SUCCESS);
    g_assert_cmpmem(got, matched * rsz, want, matched * rsz);
    return matched;
}

static void test_filter_copy_count(void *obj, void *data,
                                   QGuestAllocator *alloc)
{
    const uint32_t rsz = 16, nrec = 1024, len = rsz * nrec;
    QNvme *n = obj;
    g_autofree uint8_t *recs = g_malloc(len);
    g_autofree uint8_t *got = g_malloc0(len);
    NvmeMemRangeDescr r[2] = {
        range(NSID_MEM, 0, len),
        range(NSID_MEM, 512 * KiB, len),
    };
    /* records whose u32 at byte 4 is greater than 1000 */
    uint64_t cparam1 = rsz | 4 << 16 | 4ULL << 32 | 4ULL << 40;
    uint64_t result, count = 0;
    static const uint8_t pat[] = { 0x11, 0x22, 0x11, 0x22 };

    qnvme_pattern(recs, len, 3);
    for (uint32_t i = 0; i < nrec; i++) {
        stl_le_p(recs + i * rsz + 4, (i * 7919) % 2000);
    }
    /* a pattern, with overlapping occurrences, in the last record's tail */
    memcpy(recs + len - 6, "\x11\x22\x11\x22\x11\x22", 6);
    for (uint32_t i = 0; i + sizeof(pat) <= len; i++) {
        count += !memcmp(recs + i, pat, sizeof(pat));
    }

    start(n);
    g_assert_cmphex(qnvme_mem_write(n, QID, NSID_MEM, 0, recs, len), ==,
                    NVME_SUCCESS);

    /* the u32 at byte 4 above 1000 */
    g_assert_cmpint(check_filter(n, recs, nrec, rsz, 4, 4, 1000), >, 0);
    /* each comparison, on each field size, with a value some record has */
    for (uint32_t fsz = 1; fsz <= 8; fsz *= 2) {
        for (uint32_t op = 0; op <= 5; op++) {
            check_filter(n, recs, nrec, rsz, fsz, op,
                         field(recs + 5 * rsz + 4, fsz));
        }
    }
    /* records of another size: the same data as 682 records of 24 bytes, >= */
    g_assert_cmpint(check_filter(n, recs, len / 24, 24, 4, 5, 1000), >, 0);
    /* a field past the record, an output range too small */
    g_assert_cmphex(run(n, NVME_CP_PIND_FILTER, r, 2,
                        rsz | 14 << 16 | 4ULL << 32,
                        0, &result), ==, NVME_INVALID_FIELD | NVME_DNR);
    r[1] = range(NSID_MEM, 512 * KiB, rsz);
    g_assert_cmphex(run(n, NVME_CP_PIND_FILTER, r, 2, cparam1, 1000, &result),
                    ==, NVME_INVALID_FIELD | NVME_DNR);

    r[1] = range(NSID_MEM, 1 * MiB, len);
    g_assert_cmphex(run(n, NVME_CP_PIND_COPY, r, 2, 0, 0, &result), ==,
                    NVME_SUCCESS);
    g_assert_cmpint(result, ==, len);
    g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM, 1 * MiB, got, len), ==,
                    NVME_SUCCESS);
    g_assert_cmpmem(got, len, recs, len);
    r[1] = range(NSID_MEM, 1 * MiB, len - 4);
    g_assert_cmphex(run(n, NVME_CP_PIND_COPY, r, 2, 0, 0, &result), ==,
                    NVME_INVALID_FIELD | NVME_DNR);

    g_assert_cmphex(qnvme_mem_write(n, QID, NSID_MEM, 2 * MiB, pat,
                                    sizeof(pat)), ==,
                    NVME_SUCCESS);
    r[1] = range(NSID_MEM, 2 * MiB, sizeof(pat));
    g_assert_cmphex(run(n, NVME_CP_PIND_COUNT, r, 2, 0, 0, &result), ==,
                    NVME_SUCCESS);
    g_assert_cmpint(result, ==, count);
    g_assert_cmpint(count, >=, 2);
    qnvme_disable(n);
}

static void test_compress(void *obj, void *data, QGuestAllocator *alloc)
{
    const uint32_t len = 128 * KiB;
    QNvme *n = obj;
    g_autofree uint8_t *buf = g_malloc(len);
    g_autofree uint8_t *got = g_malloc(len);
    NvmeMemRangeDescr r[2];
    uint64_t clen, result;

    /* compressible: runs of repeated bytes */
    for (uint32_t i = 0; i < len; i++) {
        buf[i] = (i / 64) * 7;
    }

    start(n);
    g_assert_cmphex(qnvme_mem_write(n, QID, NSID_MEM, 0, buf, len), ==,
                    NVME_SUCCESS);

    r[0] = range(NSID_MEM, 0, len);
    r[1] = range(NSID_MEM, 1 * MiB, len);
    g_assert_cmphex(run(n, NVME_CP_PIND_COMPRESS, r, 2, 9, 0, &clen), ==,
                    NVME_SUCCESS);
    g_assert_cmpint(clen, >, 0);
    g_assert_cmpint(clen, <, len / 4);

    r[0] = range(NSID_MEM, 1 * MiB, clen);
    r[1] = range(NSID_MEM, 2 * MiB, len);
    g_assert_cmphex(run(n, NVME_CP_PIND_DECOMPRESS, r, 2, 0, 0, &result), ==,
                    NVME_SUCCESS);
    g_assert_cmpint(result, ==, len);
    g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM, 2 * MiB, got, len), ==,
                    NVME_SUCCESS);
    g_assert_cmpmem(got, len, buf, len);

    /* truncated or corrupt input, output too small */
    r[0] = range(NSID_MEM, 1 * MiB, clen - 4);
    g_assert_cmphex(run(n, NVME_CP_PIND_DECOMPRESS, r, 2, 0, 0, &result), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    r[0] = range(NSID_MEM, 0, 4 * KiB);
    g_assert_cmphex(run(n, NVME_CP_PIND_DECOMPRESS, r, 2, 0, 0, &result), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    r[0] = range(NSID_MEM, 0, len);
    r[1] = range(NSID_MEM, 1 * MiB, 16);
    g_assert_cmphex(run(n, NVME_CP_PIND_COMPRESS, r, 2, 9, 0, &result), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    qnvme_disable(n);
}

static void test_exec_errors(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    NvmeExecProgramCmd cmd = exec_cmd(NSID_CP, NVME_CP_PIND_WAIT, 0, 0, 0);
    char param[16] = "parameter data";

    start(n);
    g_assert_cmphex(activate(n, NSID_CP, NVME_CP_PIND_WAIT,
                             NVME_PROG_ACT_ACTIVATE),
                    ==, NVME_SUCCESS);

    /* parameter data at most 64 KiB */
    cmd.dlen = cpu_to_le32(64 * KiB + 4);
    g_assert_cmphex(qnvme_cmd(n, QID, (NvmeCmd *)&cmd, NULL), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    cmd.dlen = cpu_to_le32(16);
    g_assert_cmphex(qnvme_cmd_data(n, QID, (NvmeCmd *)&cmd, param,
                                   sizeof(param), true, NULL), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(exec(n, NSID_CP, NVME_CP_PIND_WAIT, 3, 0, 0, NULL), ==,
                    NVME_INVALID_MRSID | NVME_DNR);
    /* opcode 01h on a memory namespace is Memory Copy, and not this one */
    g_assert_cmphex(exec(n, NSID_MEM, NVME_CP_PIND_WAIT, 0, 0, 0, NULL), ==,
                    NVME_INVALID_FIELD | NVME_DNR);

    g_assert_cmphex(activate(n, NSID_CP, NVME_CP_PIND_WAIT,
                             NVME_PROG_ACT_DEACTIVATE),
                    ==, NVME_SUCCESS);
    qnvme_disable(n);
}

/*
 * Execute Program with @nr memory ranges @r given inline (NUMR), followed
 * by @dlen bytes of parameter data @pdata
 */
static uint16_t exec_inline(QNvme *n, uint32_t nsid, uint16_t pind,
                            uint16_t rsid, const NvmeMemRangeDescr *r, int nr,
                            const void *pdata, uint32_t dlen,
                            uint64_t cparam1, uint64_t cparam2, NvmeCqe *cqe)
{
    NvmeExecProgramCmd cmd = exec_cmd(nsid, pind, rsid, cparam1, cparam2);
    size_t rlen = nr * sizeof(*r);
    g_autofree uint8_t *buf = g_malloc(rlen + dlen);

    memcpy(buf, r, rlen);
    if (dlen) {
        memcpy(buf + rlen, pdata, dlen);
    }
    cmd.numr = cpu_to_le32(nr);
    cmd.dlen = cpu_to_le32(dlen);
    return qnvme_cmd_data(n, QID, (NvmeCmd *)&cmd, buf, rlen + dlen, true,
                          cqe);
}

/* Memory ranges inline: the checks and statuses of memory range sets */
static void test_exec_inline(void *obj, void *data, QGuestAllocator *alloc)
{
    const uint32_t len = 64 * KiB;
    QNvme *n = obj;
    g_autofree uint8_t *buf = g_malloc(len);
    g_autofree uint8_t *back = g_malloc(len);
    NvmeMemRangeDescr r[5];
    uint64_t sum = 0;
    uint16_t rsid;
    NvmeCqe cqe;

    qnvme_pattern(buf, len, 11);
    for (uint32_t i = 0; i < len; i += 4) {
        sum += (uint32_t)ldl_le_p(buf + i);
    }

    start(n);
    g_assert_cmphex(qnvme_mem_write(n, QID, NSID_MEM, 128 * KiB, buf, len), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(activate(n, NSID_CP, NVME_CP_PIND_REDUCE,
                             NVME_PROG_ACT_ACTIVATE), ==, NVME_SUCCESS);
    g_assert_cmphex(activate(n, NSID_CP, NVME_CP_PIND_COPY,
                             NVME_PROG_ACT_ACTIVATE), ==, NVME_SUCCESS);

    /* a sum over one range, a copy from the first range to the second */
    r[0] = range(NSID_MEM, 128 * KiB, len);
    g_assert_cmphex(exec_inline(n, NSID_CP, NVME_CP_PIND_REDUCE, 0, r, 1,
                                NULL, 0, 0 | 4 << 8, 0, &cqe), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(cqe_result(&cqe), ==, sum);
    r[1] = range(NSID_MEM, 512 * KiB, len);
    g_assert_cmphex(exec_inline(n, NSID_CP, NVME_CP_PIND_COPY, 0, r, 2,
                                NULL, 0, 0, 0, &cqe), ==, NVME_SUCCESS);
    g_assert_cmphex(cqe_result(&cqe), ==, len);
    g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM, 512 * KiB, back, len),
                    ==, NVME_SUCCESS);
    g_assert_cmpmem(back, len, buf, len);

    /* ranges inline and a memory range set at once */
    g_assert_cmphex(mrs_create(n, NSID_CP, r, 1, &rsid), ==, NVME_SUCCESS);
    g_assert_cmphex(exec_inline(n, NSID_CP, NVME_CP_PIND_REDUCE, rsid, r, 1,
                                NULL, 0, 0 | 4 << 8, 0, NULL), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(mrs_delete(n, NSID_CP, rsid), ==, NVME_SUCCESS);

    /* maxmemr = 4 */
    for (int i = 0; i < 5; i++) {
        r[i] = range(NSID_MEM, i * 4 * KiB, 4 * KiB);
    }
    g_assert_cmphex(exec_inline(n, NSID_CP, NVME_CP_PIND_REDUCE, 0, r, 5,
                                NULL, 0, 0 | 4 << 8, 0, NULL), ==,
                    NVME_MAX_MEM_RANGES_EXCEEDED | NVME_DNR);

    /* each range error, the result its index */
    r[1] = range(NSID_NVM, 0, 4 * KiB);
    g_assert_cmphex(exec_inline(n, NSID_CP, NVME_CP_PIND_REDUCE, 0, r, 2,
                                NULL, 0, 0 | 4 << 8, 0, &cqe), ==,
                    NVME_INVALID_MEMORY_NS | NVME_DNR);
    g_assert_cmpint(le32_to_cpu(cqe.result), ==, 1);
    r[1] = range(NSID_MEM_FAR, 0, 4 * KiB);
    g_assert_cmphex(exec_inline(n, NSID_CP, NVME_CP_PIND_REDUCE, 0, r, 2,
                                NULL, 0, 0 | 4 << 8, 0, NULL), ==,
                    NVME_NS_NOT_REACHABLE | NVME_DNR);
    r[1] = range(NSID_MEM, 4 * MiB - 2 * KiB, 4 * KiB);
    g_assert_cmphex(exec_inline(n, NSID_CP, NVME_CP_PIND_REDUCE, 0, r, 2,
                                NULL, 0, 0 | 4 << 8, 0, NULL), ==,
                    NVME_INVALID_MRS | NVME_DNR);
    r[1] = range(NSID_MEM, 8 * KiB, 0);
    g_assert_cmphex(exec_inline(n, NSID_CP, NVME_CP_PIND_REDUCE, 0, r, 2,
                                NULL, 0, 0 | 4 << 8, 0, NULL), ==,
                    NVME_INVALID_MRS | NVME_DNR);
    r[1] = range(NSID_MEM, 2 * KiB, 4 * KiB);
    g_assert_cmphex(exec_inline(n, NSID_CP, NVME_CP_PIND_REDUCE, 0, r, 2,
                                NULL, 0, 0 | 4 << 8, 0, &cqe), ==,
                    NVME_OVERLAP_MEM_RANGES | NVME_DNR);
    g_assert_cmpint(le32_to_cpu(cqe.result), ==, 1);

    /* granularity: 4 KiB on the small compute namespace */
    g_assert_cmphex(activate(n, NSID_CP_SMALL, NVME_CP_PIND_REDUCE,
                             NVME_PROG_ACT_ACTIVATE), ==, NVME_SUCCESS);
    r[1] = range(NSID_MEM, 8 * KiB, 100);
    g_assert_cmphex(exec_inline(n, NSID_CP_SMALL, NVME_CP_PIND_REDUCE, 0, r,
                                2, NULL, 0, 0 | 4 << 8, 0, NULL), ==,
                    NVME_INVALID_MRS | NVME_DNR);
    r[1] = range(NSID_MEM, 8 * KiB, 4 * KiB);
    g_assert_cmphex(exec_inline(n, NSID_CP_SMALL, NVME_CP_PIND_REDUCE, 0, r,
                                2, NULL, 0, 0 | 4 << 8, 0, NULL), ==,
                    NVME_SUCCESS);

    qnvme_disable(n);
}

/* Two engines: a short program completes while a long one runs. */
static void test_concurrency(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    NvmeMemRangeDescr r = range(NSID_MEM, 0, 1 * MiB);
    uint16_t rsid, slow, fast[4];
    NvmeCqe cqe;
    uint64_t sum = 0;
    g_autofree uint8_t *buf = g_malloc(1 * MiB);

    qnvme_pattern(buf, 1 * MiB, 4);
    for (uint32_t i = 0; i < 1 * MiB; i += 4) {
        sum += (uint32_t)ldl_le_p(buf + i);
    }

    start(n);
    for (uint32_t off = 0; off < 1 * MiB; off += 256 * KiB) {
        g_assert_cmphex(qnvme_mem_write(n, QID, NSID_MEM, off, buf + off,
                                        256 * KiB), ==,
                        NVME_SUCCESS);
    }
    g_assert_cmphex(activate(n, NSID_CP, NVME_CP_PIND_WAIT,
                             NVME_PROG_ACT_ACTIVATE),
                    ==, NVME_SUCCESS);
    g_assert_cmphex(activate(n, NSID_CP, NVME_CP_PIND_REDUCE,
                             NVME_PROG_ACT_ACTIVATE),
                    ==, NVME_SUCCESS);
    g_assert_cmphex(mrs_create(n, NSID_CP, &r, 1, &rsid), ==, NVME_SUCCESS);

    slow = exec_submit(n, NSID_CP, NVME_CP_PIND_WAIT, 0, LONG_WAIT_MS);
    for (int i = 0; i < ARRAY_SIZE(fast); i++) {
        NvmeExecProgramCmd cmd = exec_cmd(NSID_CP, NVME_CP_PIND_REDUCE, rsid,
                                          4 << 8,
                                          0);

        fast[i] = qnvme_submit(n, QID, (NvmeCmd *)&cmd);
    }
    for (int i = 0; i < ARRAY_SIZE(fast); i++) {
        g_assert_cmphex(qnvme_wait(n, QID, fast[i], &cqe), ==, NVME_SUCCESS);
        g_assert_cmphex(cqe_result(&cqe), ==, sum);
    }
    g_assert_false(qnvme_done(n, QID, slow));

    /* deleting the queue stops the long one; the device stays usable */
    g_assert_cmphex(qnvme_delete_sq(n, QID), ==, NVME_SUCCESS);
    g_assert_cmphex(qnvme_wait(n, QID, slow, NULL), ==, NVME_CMD_ABORT_SQ_DEL);
    g_assert_cmphex(qnvme_delete_cq(n, QID), ==, NVME_SUCCESS);
    qnvme_create_ioq(n, QID);
    g_assert_cmphex(exec(n, NSID_CP, NVME_CP_PIND_REDUCE, rsid, 4 << 8, 0,
                         NULL), ==,
                    NVME_SUCCESS);

    g_assert_cmphex(mrs_delete(n, NSID_CP, rsid), ==, NVME_SUCCESS);
    g_assert_cmphex(WHEN_STOPPED(activate(n, NSID_CP, NVME_CP_PIND_WAIT,
                                          NVME_PROG_ACT_DEACTIVATE)), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(activate(n, NSID_CP, NVME_CP_PIND_REDUCE,
                             NVME_PROG_ACT_DEACTIVATE), ==, NVME_SUCCESS);
    qnvme_disable(n);
}

/* The budget ends a long execution; a reset stops one. */
static void test_budget_reset(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    uint64_t result;

    start(n);
    g_assert_cmphex(activate(n, NSID_CP_SMALL, NVME_CP_PIND_WAIT,
                             NVME_PROG_ACT_ACTIVATE), ==, NVME_SUCCESS);
    g_assert_cmphex(exec(n, NSID_CP_SMALL, NVME_CP_PIND_WAIT, 0, LONG_WAIT_MS,
                         0,
                         NULL), ==, NVME_INSUFF_PROG_RESOURCES | NVME_DNR);
    g_assert_cmphex(exec(n, NSID_CP_SMALL, NVME_CP_PIND_WAIT, 0, 1, 0,
                         &result), ==,
                    NVME_SUCCESS);

    g_assert_cmphex(activate(n, NSID_CP, NVME_CP_PIND_WAIT,
                             NVME_PROG_ACT_ACTIVATE),
                    ==, NVME_SUCCESS);
    /* a reset ends it at once, as every outstanding command */
    reset_running(n, exec_submit(n, NSID_CP, NVME_CP_PIND_WAIT, 0,
                                 LONG_WAIT_MS));

    start(n);
    g_assert_cmphex(exec(n, NSID_CP, NVME_CP_PIND_WAIT, 0, 1, 0, &result), ==,
                    NVME_SUCCESS);
    /* a budget of 120 s is not cut to 2^32 ns (4.3 s) */
    g_assert_cmphex(exec(n, NSID_CP, NVME_CP_PIND_WAIT, 0, 4400, 0, &result),
                    ==, NVME_SUCCESS);
    g_assert_cmpint(result, >=, 4400);
    g_assert_cmphex(activate(n, NSID_CP, NVME_CP_PIND_WAIT,
                             NVME_PROG_ACT_DEACTIVATE),
                    ==, NVME_SUCCESS);
    g_assert_cmphex(activate(n, NSID_CP_SMALL, NVME_CP_PIND_WAIT,
                             NVME_PROG_ACT_DEACTIVATE), ==, NVME_SUCCESS);
    qnvme_disable(n);
}

/*
 * Downloaded eBPF programs
 */

/* One Load Program command: @numb bytes of @buf at offset @loff */
static uint16_t load_chunk(QNvme *n, uint32_t nsid, uint32_t pind,
                           uint8_t ptype, uint8_t pit, uint64_t puid,
                           uint32_t psize, uint32_t loff, const void *buf,
                           uint32_t numb)
{
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_LOAD_PROGRAM,
        .nsid = cpu_to_le32(nsid),
        .cdw10 = cpu_to_le32(pind | (uint32_t)ptype << 16 |
                             (uint32_t)pit << 25),
        .cdw11 = cpu_to_le32(psize),
        .cdw12 = cpu_to_le32(puid),
        .cdw13 = cpu_to_le32(puid >> 32),
        .cdw14 = cpu_to_le32(numb),
        .cdw15 = cpu_to_le32(loff),
    };

    return qnvme_cmd_data(n, 0, &cmd, (void *)buf, MAX(numb, 4), true, NULL);
}

/*
 * The eBPF programs of nvme-bpf/, built with clang: absent (and so are the
 * tests that download them) when QEMU was configured without clang.
 */
#if NVME_BPF_PROGS

/* Download @len bytes of @code in chunks of @chunk bytes */
static uint16_t load_prog(QNvme *n, uint32_t nsid, uint32_t pind,
                          const uint8_t *code, uint32_t len, uint32_t chunk)
{
    uint16_t status = NVME_SUCCESS;

    for (uint32_t off = 0; off < len && !status; off += chunk) {
        status = load_chunk(n, nsid, pind, NVME_PTYPE_EBPF, NVME_PIT_NONE, 0,
                            len, off, code + off, MIN(chunk, len - off));
    }
    return status;
}

static uint16_t unload(QNvme *n, uint32_t nsid, uint32_t pind)
{
    return load(n, nsid, pind, 0, true);
}

static NvmeProgramDescr program_descr(QNvme *n, uint32_t nsid, uint32_t pind)
{
    struct {
        NvmeProgramListLog hdr;
        NvmeProgramDescr d[SLOTS];
    } log;

    g_assert_cmphex(qnvme_get_log(n, NVME_LOG_PROGRAM_LIST, nsid, NVME_CSI_CP,
                                  0, &log, sizeof(log)), ==, NVME_SUCCESS);
    return log.d[pind];
}

static void test_bpf_load(void *obj, void *data, QGuestAllocator *alloc)
{
    static const uint8_t bad[16] = {
        0x95, 0, 0, 0, 0, 0, 0, 0,      /* exit: r0 was never set */
    };
    QNvme *n = obj;
    uint8_t big[8] = {};
    NvmeProgramDescr d;
    const uint32_t len = sizeof(nvme_bpf_sum);

    start(n);

    /* in 16-byte chunks, with a program unique identifier */
    for (uint32_t off = 0; off < len; off += 16) {
        g_assert_cmphex(load_chunk(n, NSID_CP, PIND_BPF, NVME_PTYPE_EBPF,
                                   NVME_PIT_PUID, 0x1122334455667788ULL, len,
                                   off, nvme_bpf_sum + off,
                                   MIN(16, len - off)), ==, NVME_SUCCESS);
        d = program_descr(n, NSID_CP, PIND_BPF);
        g_assert_cmphex(d.flags & 3, ==, off + 16 < len ?
                        NVME_PEOCC_EMPTY : NVME_PEOCC_DOWNLOADED);
    }
    g_assert_cmphex(d.flags, ==, NVME_PEOCC_DOWNLOADED |
                    NVME_PIT_PUID << NVME_PROG_DESCR_PIT_SHIFT);
    g_assert_cmphex(d.ptype, ==, NVME_PTYPE_EBPF);
    g_assert_cmphex(le64_to_cpu(d.puid), ==, 0x1122334455667788ULL);

    /* an active program can be neither replaced nor unloaded */
    g_assert_cmphex(activate(n, NSID_CP, PIND_BPF, NVME_PROG_ACT_ACTIVATE),
                    ==, NVME_SUCCESS);
    g_assert_cmphex(load_prog(n, NSID_CP, PIND_BPF, nvme_bpf_sum, len, len),
                    ==, NVME_PROG_IN_USE | NVME_DNR);
    g_assert_cmphex(unload(n, NSID_CP, PIND_BPF), ==,
                    NVME_PROG_IN_USE | NVME_DNR);
    g_assert_cmphex(activate(n, NSID_CP, PIND_BPF, NVME_PROG_ACT_DEACTIVATE),
                    ==, NVME_SUCCESS);

    /* fields of a chunk */
    g_assert_cmphex(load_chunk(n, NSID_CP, PIND_BPF2, NVME_PTYPE_EBPF, 2, 0,
                               len, 0, nvme_bpf_sum, 16), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(load_chunk(n, NSID_CP, PIND_BPF2, NVME_PTYPE_EBPF, 0, 0,
                               len, 0, nvme_bpf_sum, 6), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(load_chunk(n, NSID_CP, PIND_BPF2, NVME_PTYPE_EBPF, 0, 0,
                               len, 0, nvme_bpf_sum, 0), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(load_chunk(n, NSID_CP, PIND_BPF2, NVME_PTYPE_EBPF, 0, 0,
                               16, 8, nvme_bpf_sum, 16), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(load_chunk(n, NSID_CP, PIND_BPF2, NVME_PTYPE_EBPF, 0, 0,
                               65536 * 8 + 8, 0, big, 8), ==,
                    NVME_PROG_TOO_BIG | NVME_DNR);

    /* chunks must continue the download in order */
    g_assert_cmphex(load_chunk(n, NSID_CP, PIND_BPF2, NVME_PTYPE_EBPF, 0, 0,
                               len, 16, nvme_bpf_sum + 16, 16), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(load_chunk(n, NSID_CP, PIND_BPF2, NVME_PTYPE_EBPF, 0, 0,
                               len, 0, nvme_bpf_sum, 16), ==, NVME_SUCCESS);
    g_assert_cmphex(load_chunk(n, NSID_CP, PIND_BPF2, NVME_PTYPE_EBPF, 0, 0,
                               len, 32, nvme_bpf_sum + 32, 16), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(load_chunk(n, NSID_CP, PIND_BPF2, NVME_PTYPE_EBPF, 0, 0,
                               len + 8, 16, nvme_bpf_sum + 16, 16), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    /* a partial download is no program yet, and can be unloaded */
    g_assert_cmphex(activate(n, NSID_CP, PIND_BPF2, NVME_PROG_ACT_ACTIVATE),
                    ==, NVME_NO_PROGRAM | NVME_DNR);
    g_assert_cmphex(exec(n, NSID_CP, PIND_BPF2, 0, 0, 0, NULL), ==,
                    NVME_NO_PROGRAM | NVME_DNR);
    g_assert_cmphex(unload(n, NSID_CP, PIND_BPF2), ==, NVME_SUCCESS);
    g_assert_cmphex(unload(n, NSID_CP, PIND_BPF2), ==,
                    NVME_NO_PROGRAM | NVME_DNR);

    /* the verifier refuses a bad program; the slot stays empty */
    g_assert_cmphex(load_prog(n, NSID_CP, PIND_BPF2, bad, 8, 8), ==,
                    NVME_INVALID_PROG_DATA | NVME_DNR);
    d = program_descr(n, NSID_CP, PIND_BPF2);
    g_assert_cmphex(d.flags, ==, NVME_PEOCC_EMPTY);

    /* MAXPB counts downloads in progress too */
    g_assert_cmphex(load_chunk(n, NSID_CP_SMALL, PIND_BPF, NVME_PTYPE_EBPF, 0,
                               0, 8192, 0, big, 8), ==,
                    NVME_MAX_PROG_BYTES_EXCEEDED | NVME_DNR);
    g_assert_cmphex(load_chunk(n, NSID_CP_SMALL, PIND_BPF, NVME_PTYPE_EBPF, 0,
                               0, 3000, 0, big, 8), ==, NVME_SUCCESS);
    g_assert_cmphex(load_chunk(n, NSID_CP_SMALL, PIND_BPF2, NVME_PTYPE_EBPF,
                               0, 0, 2000, 0, big, 8), ==,
                    NVME_MAX_PROG_BYTES_EXCEEDED | NVME_DNR);
    g_assert_cmphex(unload(n, NSID_CP_SMALL, PIND_BPF), ==, NVME_SUCCESS);
    g_assert_cmphex(load_prog(n, NSID_CP_SMALL, PIND_BPF2, nvme_bpf_sum, len,
                              8), ==, NVME_SUCCESS);
    g_assert_cmphex(unload(n, NSID_CP_SMALL, PIND_BPF2), ==, NVME_SUCCESS);

    /* unloaded, it cannot run */
    g_assert_cmphex(unload(n, NSID_CP, PIND_BPF), ==, NVME_SUCCESS);
    g_assert_cmphex(exec(n, NSID_CP, PIND_BPF, 0, 0, 0, NULL), ==,
                    NVME_NO_PROGRAM | NVME_DNR);
    qnvme_disable(n);
}

typedef struct Rec {
    uint32_t    id;
    uint32_t    value;
    uint64_t    pad;
} Rec;

static void test_bpf_programs(void *obj, void *data, QGuestAllocator *alloc)
{
    const uint32_t len = 1 * MiB, nrec = 4096, crc_len = 100000;
    QNvme *n = obj;
    g_autofree uint8_t *buf = g_malloc(len);
    g_autofree Rec *out = g_new0(Rec, nrec);
    Rec *rec = (Rec *)buf;
    NvmeMemRangeDescr r[2];
    uint64_t sum = 0, result;
    uint32_t nmatch = 0, threshold = 0x80000000;
    uint8_t fill[4096];

    qnvme_pattern(buf, len, 9);
    for (uint32_t i = 0; i < len; i += 4) {
        sum += (uint32_t)ldl_le_p(buf + i);
    }

    start(n);
    for (uint32_t off = 0; off < len; off += 256 * KiB) {
        g_assert_cmphex(qnvme_mem_write(n, QID, NSID_MEM, off, buf + off,
                                        256 * KiB), ==,
                        NVME_SUCCESS);
    }

    /* sum of 1 MiB of 32-bit integers */
    g_assert_cmphex(load_prog(n, NSID_CP, PIND_BPF, nvme_bpf_sum,
                              sizeof(nvme_bpf_sum), 64), ==, NVME_SUCCESS);
    r[0] = range(NSID_MEM, 0, len);
    g_assert_cmphex(run(n, PIND_BPF, r, 1, 0, 0, &result), ==, NVME_SUCCESS);
    g_assert_cmphex(result, ==, sum);

    /* filter 4096 records of 16 bytes on their second field */
    g_assert_cmphex(load_prog(n, NSID_CP, PIND_BPF2, nvme_bpf_filter,
                              sizeof(nvme_bpf_filter), 256), ==,
                    NVME_SUCCESS);
    r[0] = range(NSID_MEM, 0, nrec * sizeof(Rec));
    r[1] = range(NSID_MEM, 2 * MiB, nrec * sizeof(Rec));
    g_assert_cmphex(run(n, PIND_BPF2, r, 2, sizeof(Rec),
                        (uint64_t)threshold << 32 | offsetof(Rec, value),
                        &result), ==, NVME_SUCCESS);
    for (uint32_t i = 0; i < nrec; i++) {
        if (le32_to_cpu(rec[i].value) > threshold) {
            memcpy(&out[nmatch++], &rec[i], sizeof(Rec));
        }
    }
    g_assert_cmpint(nmatch, >, 0);
    g_assert_cmpint(nmatch, <, nrec);
    g_assert_cmpint(result, ==, nmatch);
    g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM, 2 * MiB, buf,
                                   nmatch * sizeof(Rec)), ==,
                    NVME_SUCCESS);
    g_assert_cmpmem(buf, nmatch * sizeof(Rec), out, nmatch * sizeof(Rec));

    /* the helpers: crc32c of 100000 bytes, memset of 4 KiB */
    qnvme_pattern(buf, crc_len, 11);
    g_assert_cmphex(qnvme_mem_write(n, QID, NSID_MEM, 0, buf, crc_len), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(unload(n, NSID_CP, PIND_BPF), ==, NVME_SUCCESS);
    g_assert_cmphex(load_prog(n, NSID_CP, PIND_BPF, nvme_bpf_crc,
                              sizeof(nvme_bpf_crc), sizeof(nvme_bpf_crc)), ==,
                    NVME_SUCCESS);
    r[0] = range(NSID_MEM, 0, crc_len);
    r[1] = range(NSID_MEM, 3 * MiB, sizeof(fill));
    g_assert_cmphex(run(n, PIND_BPF, r, 2, 0x1a7, 0, &result), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(result, ==, crc32c_ref(buf, crc_len));
    g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM, 3 * MiB, fill,
                                   sizeof(fill)), ==,
                    NVME_SUCCESS);
    for (int i = 0; i < sizeof(fill); i++) {
        g_assert_cmphex(fill[i], ==, 0xa7);
    }

    g_assert_cmphex(unload(n, NSID_CP, PIND_BPF), ==, NVME_SUCCESS);
    g_assert_cmphex(unload(n, NSID_CP, PIND_BPF2), ==, NVME_SUCCESS);
    qnvme_disable(n);
}

/* The modes of nvme-bpf/hostile.c */
enum {
    READ_PAST_RANGE, WRITE_BEFORE_RANGE, READ_PAST_CONTEXT, WRITE_CONTEXT,
    READ_PAST_DATA, ESCAPE, LOOP, COPY_PAST_RANGE, MEMCPY_FOREVER,
    MEMSET_FOREVER, CRC32C_FOREVER, DATA_AT,
};

/* BpfVmError of qemu/bpf-vm.h, in completion dword 1 */
#define BPF_EACCESS     1
#define BPF_EHELPER     4

static void test_bpf_hostile(void *obj, void *data, QGuestAllocator *alloc)
{
    static const struct {
        uint64_t mode, cparam2;
        uint32_t error;
    } cases[] = {
        { READ_PAST_RANGE, 0, BPF_EACCESS },
        { WRITE_BEFORE_RANGE, 0, BPF_EACCESS },
        { READ_PAST_CONTEXT, 0, BPF_EACCESS },
        { WRITE_CONTEXT, 0, BPF_EACCESS },
        { READ_PAST_DATA, 0, BPF_EACCESS },
        { ESCAPE, 4096, BPF_EACCESS },
        { ESCAPE, 1ULL << 32, BPF_EACCESS },
        { ESCAPE, -(1ULL << 32), BPF_EACCESS },
        { COPY_PAST_RANGE, 0, BPF_EHELPER },
    };
    static const uint8_t rejected[][16] = {
        { 0x05, 0, 0x05, 0 },                       /* ja +5 */
        { 0x85, 0, 0, 0, 99 },                      /* call 99 */
        { 0xb7, 0, 0, 0, 0, 0, 0, 0, 0xb7 },        /* falls off the end */
        { 0x7a, 0x0a, 0xf8, 0xfd, 1, 0, 0, 0,       /* stdw [r10-520], 1 */
          0xb7, 0, 0, 0, 0, 0, 0, 0 },
    };
    QNvme *n = obj;
    NvmeMemRangeDescr r = range(NSID_MEM, 4096, 4096);
    uint8_t edge[4096 * 3], before[sizeof(edge)];
    const uint8_t param[12] = "inline data";
    NvmeExecProgramCmd cmd;
    NvmeCqe cqe;
    uint64_t result;
    uint16_t rsid, cid;

    qnvme_pattern(edge, sizeof(edge), 5);
    start(n);
    g_assert_cmphex(qnvme_mem_write(n, QID, NSID_MEM, 0, edge, sizeof(edge)),
                    ==, NVME_SUCCESS);
    g_assert_cmphex(load_prog(n, NSID_CP, PIND_BPF, nvme_bpf_hostile,
                              sizeof(nvme_bpf_hostile), 64), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(load_prog(n, NSID_CP, PIND_BPF2, nvme_bpf_sum,
                              sizeof(nvme_bpf_sum), 64), ==, NVME_SUCCESS);
    g_assert_cmphex(activate(n, NSID_CP, PIND_BPF, NVME_PROG_ACT_ACTIVATE),
                    ==, NVME_SUCCESS);
    g_assert_cmphex(activate(n, NSID_CP, PIND_BPF2, NVME_PROG_ACT_ACTIVATE),
                    ==, NVME_SUCCESS);
    g_assert_cmphex(mrs_create(n, NSID_CP, &r, 1, &rsid), ==, NVME_SUCCESS);

    /*
     * Each stops with Invalid Program Data: DW0 the instruction, DW1 why.
     * Memory around the range is untouched, and a valid program runs
     * right after.
     */
    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        g_assert_cmphex(exec(n, NSID_CP, PIND_BPF, rsid, cases[i].mode,
                             cases[i].cparam2, &result), ==,
                        NVME_INVALID_PROG_DATA | NVME_DNR);
        g_assert_cmpint(result >> 32, ==, cases[i].error);
        g_assert_cmpint((uint32_t)result, <, sizeof(nvme_bpf_hostile) / 8);
        g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM, 0, before,
                                       sizeof(before)), ==,
                        NVME_SUCCESS);
        g_assert_cmpmem(before, sizeof(before), edge, sizeof(edge));
        g_assert_cmphex(exec(n, NSID_CP, PIND_BPF2, rsid, 0, 0, &result), ==,
                        NVME_SUCCESS);
    }

    /*
     * Ranges inline, then parameter data: the program sees both where a
     * memory range set and the parameter data alone would be.
     */
    g_assert_cmphex(exec_inline(n, NSID_CP, PIND_BPF, 0, &r, 1, param,
                                sizeof(param), ESCAPE, 5, &cqe), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(cqe_result(&cqe), ==, edge[4096 + 5]);
    g_assert_cmphex(exec_inline(n, NSID_CP, PIND_BPF, 0, &r, 1, param,
                                sizeof(param), DATA_AT, 3, &cqe), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(cqe_result(&cqe), ==, param[3]);
    g_assert_cmphex(exec_inline(n, NSID_CP, PIND_BPF, 0, &r, 1, param,
                                sizeof(param), DATA_AT, sizeof(param), &cqe),
                    ==, NVME_INVALID_PROG_DATA | NVME_DNR);
    g_assert_cmpint(cqe_result(&cqe) >> 32, ==, BPF_EACCESS);

    /* the instruction budget ends an endless loop */
    g_assert_cmphex(load_prog(n, NSID_CP_SMALL, PIND_BPF, nvme_bpf_hostile,
                              sizeof(nvme_bpf_hostile), 64), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(activate(n, NSID_CP_SMALL, PIND_BPF,
                             NVME_PROG_ACT_ACTIVATE), ==, NVME_SUCCESS);
    g_assert_cmphex(exec(n, NSID_CP_SMALL, PIND_BPF, 0, LOOP, 0, NULL), ==,
                    NVME_INSUFF_PROG_RESOURCES | NVME_DNR);
    g_assert_cmphex(activate(n, NSID_CP_SMALL, PIND_BPF,
                             NVME_PROG_ACT_DEACTIVATE), ==, NVME_SUCCESS);
    g_assert_cmphex(unload(n, NSID_CP_SMALL, PIND_BPF), ==, NVME_SUCCESS);

    /* Abort stops one; so do a queue deletion and a reset */
    cmd = exec_cmd(NSID_CP, PIND_BPF, rsid, LOOP, 0);
    cid = qnvme_submit(n, QID, (NvmeCmd *)&cmd);
    abort_cmd(n, cid);
    g_assert_cmphex(qnvme_wait(n, QID, cid, NULL), ==, NVME_CMD_ABORT_REQ);
    cid = qnvme_submit(n, QID, (NvmeCmd *)&cmd);
    taken(n, QID);
    g_assert_cmphex(qnvme_delete_sq(n, QID), ==, NVME_SUCCESS);
    g_assert_cmphex(qnvme_wait(n, QID, cid, NULL), ==, NVME_CMD_ABORT_SQ_DEL);
    g_assert_cmphex(qnvme_delete_cq(n, QID), ==, NVME_SUCCESS);
    qnvme_create_ioq(n, QID);
    reset_running(n, qnvme_submit(n, QID, (NvmeCmd *)&cmd));
    start(n);
    g_assert_cmphex(exec(n, NSID_CP, PIND_BPF2, rsid, 0, 0, &result), ==,
                    NVME_SUCCESS);

    /* Load Program runs the verifier */
    for (int i = 0; i < ARRAY_SIZE(rejected); i++) {
        g_assert_cmphex(load_prog(n, NSID_CP, SLOTS - 1, rejected[i],
                                  sizeof(rejected[i]), 16), ==,
                        NVME_INVALID_PROG_DATA | NVME_DNR);
    }

    g_assert_cmphex(WHEN_STOPPED(mrs_delete(n, NSID_CP, rsid)), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(activate(n, NSID_CP, PIND_BPF, NVME_PROG_ACT_DEACTIVATE),
                    ==, NVME_SUCCESS);
    g_assert_cmphex(activate(n, NSID_CP, PIND_BPF2,
                             NVME_PROG_ACT_DEACTIVATE), ==, NVME_SUCCESS);
    g_assert_cmphex(unload(n, NSID_CP, PIND_BPF), ==, NVME_SUCCESS);
    g_assert_cmphex(unload(n, NSID_CP, PIND_BPF2), ==, NVME_SUCCESS);
    qnvme_disable(n);
}

#endif /* NVME_BPF_PROGS */

/* -device nvme,drive=nvm0,compute=on: NVM 1, memory 2, compute 3 */
static void *image_setup(GString *cmd_line, void *arg)
{
    qnvme_test_image(cmd_line, "nvm0", IMAGE_SIZE);
    return arg;
}

static void test_one_line(void *obj, void *data, QGuestAllocator *alloc)
{
    static const uint32_t cps[] = { 3 };
    static const uint32_t mems[] = { 2 };
    QNvme *n = obj;

    start(n);
    qnvme_assert_nslist(n, NVME_ID_CNS_CS_NS_ACTIVE_LIST, NVME_CSI_CP, cps, 1);
    qnvme_assert_nslist(n, NVME_ID_CNS_CS_NS_ACTIVE_LIST, NVME_CSI_SLM, mems,
                        1);
    qnvme_disable(n);
}

/*
 * Limits: budgets, cancellation and queued work hold whatever a program
 * does.  A controller of its own, MDTS 32 KiB: a 256 MiB memory namespace,
 * a compute namespace with a 5 ms budget and one without practical limit.
 * Times are bounded by STOP_US.
 */
#define LIM_NSID_MEM    NSID_MEM
#define LIM_NSID_FAST   3       /* budget-ms 5, one engine */
#define LIM_NSID_SLOW   4       /* budget-ms 600000, two engines */
#define LIM_SIZE        (256 * MiB)
#define LIM_HALF        (LIM_SIZE / 2)
#define LIM_BUDGET_MS   5
#define LIM_PATTERN     (64 * KiB)      /* the largest count allows */
#define LIM_MAX_JOBS    256
#define LIM_MDTS        (32 * KiB)

static void *cp_limits_setup(GString *cmd_line, void *arg)
{
    g_string_prepend(cmd_line,
                     "-object memory-backend-ram,id=slm0,size=256M "
                     "-device nvme-subsys,id=subsys0,nqn=csd-limits,"
                     "slm=slm0 ");
    g_string_append(cmd_line,
                    " -device nvme-mem-ns,nsid=2"
                    " -device nvme-compute-ns,nsid=3,budget-ms=5,engines=1,"
                    "maxact=16"
                    " -device nvme-compute-ns,nsid=4,budget-ms=600000,"
                    "engines=2,maxact=16");
    return arg;
}

/*
 * Activate the device-defined programs of both compute namespaces, and
 * nvme-bpf/hostile.c in slot PIND_BPF
 */
static void lim_start(QNvme *n)
{
    start(n);
    for (uint32_t nsid = LIM_NSID_FAST; nsid <= LIM_NSID_SLOW; nsid++) {
        for (uint16_t pind = 0; pind < NVME_CP_NR_DEFINED; pind++) {
            g_assert_cmphex(activate(n, nsid, pind, NVME_PROG_ACT_ACTIVATE),
                            ==, NVME_SUCCESS);
        }
#if NVME_BPF_PROGS
        g_assert_cmphex(load_prog(n, nsid, PIND_BPF, nvme_bpf_hostile,
                                  sizeof(nvme_bpf_hostile), 4096), ==,
                        NVME_SUCCESS);
        g_assert_cmphex(activate(n, nsid, PIND_BPF, NVME_PROG_ACT_ACTIVATE),
                        ==, NVME_SUCCESS);
#endif
    }
}

typedef struct LimCase {
    const char  *name;
    uint16_t    pind;
    uint64_t    cparam1, cparam2;
    int         nr;
    struct {
        uint64_t sb;
        uint32_t len;
    } r[2];
} LimCase;

/* The most expensive run each program allows on the memory namespace */
static const LimCase lim_cases[] = {
    { "wait", NVME_CP_PIND_WAIT, LONG_WAIT_MS },
    { "count", NVME_CP_PIND_COUNT, 0, 0, 2,
      { { 0, LIM_SIZE - LIM_PATTERN }, { LIM_SIZE - LIM_PATTERN,
                                         LIM_PATTERN } } },
    { "reduce", NVME_CP_PIND_REDUCE, 8 << 8, 0, 1, { { 0, LIM_SIZE } } },
    { "crc32c", NVME_CP_PIND_CRC32C, 0, 0, 1, { { 0, LIM_SIZE } } },
    { "sha256", NVME_CP_PIND_SHA256, 0, 0, 2, { { 4 * KiB, LIM_SIZE - 4 * KiB },
                                        { 0, 32 } } },
    /* 16-byte records whose first 8 bytes equal 0: all but the first */
    { "filter", NVME_CP_PIND_FILTER, 16 | 8ULL << 32, 0, 2,
      { { 0, LIM_HALF }, { LIM_HALF, LIM_HALF } } },
    { "copy", NVME_CP_PIND_COPY, 0, 0, 2,
      { { 0, LIM_HALF }, { LIM_HALF, LIM_HALF } } },
    { "compress", NVME_CP_PIND_COMPRESS, 9, 0, 2,
      { { 0, LIM_HALF }, { LIM_HALF, LIM_HALF } } },
#if NVME_BPF_PROGS
    { "bpf-loop", PIND_BPF, LOOP },
    { "bpf-memcpy", PIND_BPF, MEMCPY_FOREVER, 0, 2,
      { { 0, LIM_HALF }, { LIM_HALF, LIM_HALF } } },
    { "bpf-memset", PIND_BPF, MEMSET_FOREVER, 0, 1, { { 0, LIM_SIZE } } },
    { "bpf-crc32c", PIND_BPF, CRC32C_FOREVER, 0, 1, { { 0, LIM_SIZE } } },
#endif
    { }
};

/* The memory range set of @c on compute namespace @nsid, or 0 */
static uint16_t lim_mrs(QNvme *n, uint32_t nsid, const LimCase *c)
{
    NvmeMemRangeDescr r[2];
    uint16_t rsid = 0;

    for (int i = 0; i < c->nr; i++) {
        r[i] = range(LIM_NSID_MEM, c->r[i].sb, c->r[i].len);
    }
    if (c->nr) {
        g_assert_cmphex(mrs_create(n, nsid, r, c->nr, &rsid), ==,
                        NVME_SUCCESS);
    }
    return rsid;
}

static void lim_mrs_delete(QNvme *n, uint32_t nsid, uint16_t rsid)
{
    if (rsid) {
        g_assert_cmphex(WHEN_STOPPED(mrs_delete(n, nsid, rsid)), ==,
                        NVME_SUCCESS);
    }
}

static uint16_t lim_submit(QNvme *n, uint16_t qid, uint32_t nsid,
                           const LimCase *c, uint16_t rsid)
{
    NvmeExecProgramCmd cmd = exec_cmd(nsid, c->pind, rsid, c->cparam1,
                                      c->cparam2);

    return qnvme_submit(n, qid, (NvmeCmd *)&cmd);
}

/*
 * Each program, at its most expensive, is stopped by the 5 ms budget with
 * Insufficient Program Resources, late by less than STOP_US; so is a
 * decompression that expands 128 MiB of zeroes from a small stream.
 */
static void test_limits_budget(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    LimCase inflate = { "decompress", NVME_CP_PIND_DECOMPRESS, 0, 0, 2,
                        { { LIM_HALF, 0 }, { 0, LIM_HALF } } };
    LimCase deflate = { "compress-1", NVME_CP_PIND_COMPRESS, 1, 0, 2,
                        { { 0, LIM_HALF }, { LIM_HALF, LIM_HALF } } };
    uint64_t clen;
    uint16_t rsid;

    lim_start(n);
    for (const LimCase *c = lim_cases; c->name; c++) {
        gint64 t0 = g_get_monotonic_time(), us;

        rsid = lim_mrs(n, LIM_NSID_FAST, c);
        t0 = g_get_monotonic_time();
        g_assert_cmphex(qnvme_wait(n, QID, lim_submit(n, QID, LIM_NSID_FAST,
                                                      c, rsid), NULL), ==,
                        NVME_INSUFF_PROG_RESOURCES | NVME_DNR);
        us = g_get_monotonic_time() - t0;
        g_test_message("%s: ended by its budget after %" PRId64 " us",
                       c->name, us);
        g_assert_cmpint(us, <, LIM_BUDGET_MS * 1000 + STOP_US);
        lim_mrs_delete(n, LIM_NSID_FAST, rsid);
    }

    /* the stream of 128 MiB of zeroes, then its decompression */
    rsid = lim_mrs(n, LIM_NSID_SLOW, &deflate);
    {
        NvmeExecProgramCmd cmd = exec_cmd(LIM_NSID_SLOW, NVME_CP_PIND_COMPRESS,
                                          rsid,
                                          1, 0);
        NvmeCqe cqe;

        g_assert_cmphex(qnvme_cmd(n, QID, (NvmeCmd *)&cmd, &cqe), ==,
                        NVME_SUCCESS);
        clen = cqe_result(&cqe);
    }
    lim_mrs_delete(n, LIM_NSID_SLOW, rsid);
    g_assert_cmpint(clen, <, 1 * MiB);
    inflate.r[0].len = clen;
    rsid = lim_mrs(n, LIM_NSID_FAST, &inflate);
    g_assert_cmphex(qnvme_wait(n, QID, lim_submit(n, QID, LIM_NSID_FAST,
                                                  &inflate, rsid), NULL), ==,
                    NVME_INSUFF_PROG_RESOURCES | NVME_DNR);
    lim_mrs_delete(n, LIM_NSID_FAST, rsid);
    qnvme_disable(n);
}

/* Wait for the completion of @cid; the microseconds since @t0 */
static gint64 lim_wait(QNvme *n, uint16_t qid, uint16_t cid, uint16_t status,
                       gint64 t0)
{
    gint64 us;

    g_assert_cmphex(qnvme_wait(n, qid, cid, NULL), ==, status);
    us = g_get_monotonic_time() - t0;
    g_assert_cmpint(us, <, STOP_US);
    return us;
}

/*
 * Abort, Delete I/O Submission Queue and a controller reset end each
 * program at its most expensive at once, timed from the command or the
 * register write; the device answers other commands and register reads
 * meanwhile.
 */
static void test_limits_cancel(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    uint8_t buf[4096];

    lim_start(n);
    for (const LimCase *c = lim_cases; c->name; c++) {
        uint16_t rsid = lim_mrs(n, LIM_NSID_SLOW, c);
        uint16_t cid, other;
        gint64 t0, abort_us, del_us, reset_us;

        /* Abort */
        cid = lim_submit(n, QID, LIM_NSID_SLOW, c, rsid);
        t0 = g_get_monotonic_time();
        abort_cmd(n, cid);
        abort_us = lim_wait(n, QID, cid, NVME_CMD_ABORT_REQ, t0);

        /* Delete I/O SQ, while another runs on the other engine */
        other = lim_submit(n, QID, LIM_NSID_SLOW, c, rsid);
        qnvme_create_ioq(n, QID + 1);
        cid = lim_submit(n, QID + 1, LIM_NSID_SLOW, c, rsid);
        taken(n, QID + 1);
        t0 = g_get_monotonic_time();
        for (int i = 0; i < 10; i++) {
            g_assert_cmpint(NVME_CSTS_RDY(qnvme_readl(n, offsetof(NvmeBar,
                                                                  csts))),
                            ==, 1);
            g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM, 0, buf,
                                           sizeof(buf)), ==,
                            NVME_SUCCESS);
        }
        g_assert_cmpint(g_get_monotonic_time() - t0, <, STOP_US);
        g_assert_false(qnvme_done(n, QID, other));
        t0 = g_get_monotonic_time();
        g_assert_cmphex(qnvme_delete_sq(n, QID + 1), ==, NVME_SUCCESS);
        del_us = lim_wait(n, QID + 1, cid, NVME_CMD_ABORT_SQ_DEL, t0);
        g_assert_cmphex(qnvme_delete_cq(n, QID + 1), ==, NVME_SUCCESS);

        /* a reset, with that other one running: the write itself timed */
        t0 = g_get_monotonic_time();
        qnvme_writel(n, offsetof(NvmeBar, cc), 0);
        while (NVME_CSTS_RDY(qnvme_readl(n, offsetof(NvmeBar, csts)))) {
            g_assert_cmpint(g_get_monotonic_time() - t0, <, STOP_US);
        }
        reset_us = g_get_monotonic_time() - t0;
        g_assert_cmpint(reset_us, <, STOP_US);
        qnvme_disable(n);
        start(n);

        /* the programs stopped: their set is free */
        lim_mrs_delete(n, LIM_NSID_SLOW, rsid);
        g_assert_cmpint(g_get_monotonic_time() - t0, <, STOP_US);
        g_test_message("%s: Abort %" PRId64 " us, Delete SQ %" PRId64
                       " us, reset %" PRId64 " us, programs stopped %"
                       PRId64 " us after the reset", c->name, abort_us,
                       del_us, reset_us, g_get_monotonic_time() - t0);
    }
    qnvme_disable(n);
}

/*
 * Host memory stays bounded: parameter data and Load Program chunks past
 * MDTS are refused; a compute namespace holds LIM_MAX_JOBS jobs, more get
 * Insufficient Resources, without DNR.
 */
static void test_limits_jobs(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    const uint16_t nq = 5, per_q = QNVME_IO_QUEUE_SIZE - 1;
    uint64_t pdata = qnvme_alloc(n, 2 * LIM_MDTS);
    uint16_t cids[5][QNVME_IO_QUEUE_SIZE];
    int ok = 0, busy = 0;

    lim_start(n);
    {
        NvmeExecProgramCmd cmd = exec_cmd(LIM_NSID_SLOW, NVME_CP_PIND_WAIT, 0,
                                          0, 0);
        g_autofree uint8_t *zero = g_malloc0(2 * LIM_MDTS);

        cmd.dlen = cpu_to_le32(2 * LIM_MDTS);
        qnvme_map(n, (NvmeCmd *)&cmd, pdata, 2 * LIM_MDTS);
        g_assert_cmphex(qnvme_cmd(n, QID, (NvmeCmd *)&cmd, NULL), ==,
                        NVME_INVALID_FIELD | NVME_DNR);
        g_assert_cmphex(load_chunk(n, LIM_NSID_SLOW, PIND_BPF2,
                                   NVME_PTYPE_EBPF, 0, 0, 2 * LIM_MDTS, 0,
                                   zero, 2 * LIM_MDTS),
                        ==, NVME_INVALID_FIELD | NVME_DNR);
    }
    for (uint16_t q = 2; q <= nq; q++) {
        qnvme_create_ioq(n, q);
    }
    for (uint16_t q = 1; q <= nq; q++) {
        for (int i = 0; i < per_q; i++) {
            NvmeExecProgramCmd cmd = exec_cmd(LIM_NSID_SLOW, NVME_CP_PIND_WAIT,
                                              0, LONG_WAIT_MS, 0);

            cmd.dlen = cpu_to_le32(LIM_MDTS);
            qnvme_map(n, (NvmeCmd *)&cmd, pdata, LIM_MDTS);
            cids[q - 1][i] = qnvme_submit(n, q, (NvmeCmd *)&cmd);
        }
    }
    /* the rejected ones complete at once, the others run or wait */
    {
        gint64 deadline = g_get_monotonic_time() + QNVME_TIMEOUT_US;

        while (busy < nq * per_q - LIM_MAX_JOBS) {
            g_assert_cmpint(g_get_monotonic_time(), <, deadline);
            busy = 0;
            for (uint16_t q = 1; q <= nq; q++) {
                for (int i = 0; i < per_q; i++) {
                    busy += qnvme_done(n, q, cids[q - 1][i]);
                }
            }
        }
    }
    busy = 0;
    for (uint16_t q = 1; q <= nq; q++) {
        for (int i = 0; i < per_q; i++) {
            if (qnvme_done(n, q, cids[q - 1][i])) {
                g_assert_cmphex(qnvme_wait(n, q, cids[q - 1][i], NULL), ==,
                                NVME_INSUFFICIENT_RESOURCES);
                busy++;
            } else {
                ok++;
            }
        }
    }
    g_assert_cmpint(ok, ==, LIM_MAX_JOBS);
    g_assert_cmpint(busy, ==, nq * per_q - LIM_MAX_JOBS);
    qnvme_disable(n);
    qnvme_free(n, pdata);
}

#define CP(name, body) \
    { "cp/" name, body, cp_setup, "subsys=subsys0" }

/* Tests of downloaded programs, on @engine: jit or interp */
#define CP_ON(engine, name, body) \
    { "cp/" #engine "/" name, body, cp_setup_##engine, "subsys=subsys0" }

static const QNvmeTest nvme_cp_tests[] = {
    CP("identify", test_identify),
    CP("program-list", test_program_list),
    CP("activation", test_activation),
    CP("load", test_load),
    CP("mrs", test_mrs),
    CP("reduce", test_reduce),
    CP("checksums", test_checksums),
    CP("filter-copy-count", test_filter_copy_count),
    CP("compress", test_compress),
    CP("exec-errors", test_exec_errors),
    CP("exec-inline", test_exec_inline),
    CP("concurrency", test_concurrency),
    CP("budget-reset", test_budget_reset),
    { "cp/one-line", test_one_line, image_setup,
      "drive=nvm0,compute=on,slm.size=1M" },
#if NVME_BPF_PROGS
    CP_ON(jit, "bpf-load", test_bpf_load),
    CP_ON(jit, "bpf-programs", test_bpf_programs),
    CP_ON(jit, "bpf-hostile", test_bpf_hostile),
    CP_ON(interp, "bpf-load", test_bpf_load),
    CP_ON(interp, "bpf-programs", test_bpf_programs),
    CP_ON(interp, "bpf-hostile", test_bpf_hostile),
#endif
    { "cp/limits-budget", test_limits_budget, cp_limits_setup,
      "subsys=subsys0,mdts=3" },
    { "cp/limits-cancel", test_limits_cancel, cp_limits_setup,
      "subsys=subsys0,mdts=3" },
    { "cp/limits-jobs", test_limits_jobs, cp_limits_setup,
      "subsys=subsys0,mdts=3" },
    { }
};

static void nvme_cp_register_tests(void)
{
    qnvme_add_tests(nvme_cp_tests);
}

libqos_init(nvme_cp_register_tests);
