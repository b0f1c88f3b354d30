/*
 * Benchmarks of the NVMe controller that measure the device, not qtest
 *
 * A command sent the usual qtest way (write the entry, ring, poll, read
 * the completion, ring again) costs tens of microseconds of protocol,
 * more than most commands cost the device.  Here guest RAM is a shared
 * file that this process maps too: the harness writes all the submission
 * queue entries of a run there before the clock starts, rings the doorbell
 * (through qtest) once per group of queue-depth commands, polls one word in
 * memory (the phase tag of the group's last completion slot), and reads
 * the completion queue back, checking every status, after the clock
 * stops.  What it still costs is measured the same way, with commands that
 * the controller fails at once (an opcode no command set has: Invalid
 * Command Opcode), and printed as the harness share.
 *
 * The controller takes every entry of a submission queue that it has a
 * request for, so queue depth N means doorbells of N commands, each after
 * the previous group completed.
 *
 *   QTEST_QEMU_BINARY=.../qemu-system-x86_64 nvme-bench SUITE
 *
 * SUITE nvm: 4 KiB random reads and writes of an NVM namespace at queue
 * depth 1 and 32 (any QEMU 10.2: pristine upstream too); vfu: the same over
 * vfio-user; csd: Execute Program, SLM commands and the device-defined
 * programs, with host references (memcpy, native C).  Each figure is
 * printed as
 *   figure NAME VALUE UNIT
 * (UNIT us: microseconds a command, GB/s: gigabytes a second), for
 * scripts/bench.py to tabulate.
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qemu/crc32c.h"
#include <zlib.h>
#include "libqtest.h"
#include "libqos/libqos-pc.h"
#include "libqos/nvme-vfu.h"
#include "libqos/nvme-csd.h"
#include "nvme-bpf-progs.h"

#define IMAGE_SIZE      (128 * MiB)
#define LBA_SIZE        512
#define IO_SIZE         4096
#define NSID_NVM        1
#define NSID_MEM        2
#define NSID_CP         3
#define BQ              1               /* the benchmark's queue pair */
#define AQ              2               /* one command at a time */
#define BQ_SIZE         2048            /* entries; the controller's MQES */
#define QD_MAX          32
#define COUNT           1024            /* commands of a run */
#define OPC_NULL        0x7f            /* no command set has it */
#define NVME_REG_DBS    0x1000          /* the first doorbell */
#define TIMEOUT_US      (60 * G_USEC_PER_SEC)
#define RUNS            5               /* timed runs of each figure */
#define LONG_WAIT       0.0005          /* seconds */

#define CONTROLLER \
    "-device nvme,%sserial=bench,drive=nvm0%s " \
    "-drive id=nvm0,if=none,file=%s,format=raw "
#define CSD ",compute=on,slm.size=192M"
#define RAM_SIZE        (512 * MiB)
#define RAM_ARGS \
    "-m 512M -object memory-backend-file,id=ram,size=512M,mem-path=%s," \
    "share=on -machine memory-backend=ram "

/* The program data: records of 64 bytes, filtered on their first field */
#define PROG_LEN        (16 * MiB)
#define SLOW_LEN        (4 * MiB)      /* for sha256 and compress */
#define REC_SIZE        64
#define ZLIB_LEVEL      1
/* SLM layout of the csd suite: data at 0, outputs and copies above */
#define SLM_OUT         (32 * MiB)
#define SLM_COPY_DST    (96 * MiB)

typedef struct Bench {
    QNvme *n;
    QTestState *qts;
    uint8_t *ram;       /* guest RAM, shared with QEMU */
    uint64_t pos;       /* commands submitted to BQ so far */
    double group;       /* seconds a doorbell's commands took last time */
} Bench;

static uint32_t seed = 1;

/* qos-test's, which the libqos NVMe driver calls; no qos graph here */
void qos_invalidate_command_line(void)
{
}

static uint32_t random32(void)
{
    seed = seed * 1103515245 + 12345;
    return seed >> 1;
}

static double now(void)
{
    return g_get_monotonic_time() / 1e6;
}

static void figure(const char *name, double value, const char *unit)
{
    printf("figure %s %.6g %s\n", name, value, unit);
    fflush(stdout);
}

static void bench_start(Bench *b, QNvme *n, uint8_t css)
{
    b->n = n;
    b->qts = qnvme_qts(n);
    b->pos = 0;
    qnvme_enable(n, css);
    g_assert_cmphex(qnvme_create_cq(n, BQ, BQ_SIZE), ==, NVME_SUCCESS);
    g_assert_cmphex(qnvme_create_sq(n, BQ, BQ, BQ_SIZE), ==, NVME_SUCCESS);
}

/* Where guest address @addr is mapped here */
static void *guest(Bench *b, uint64_t addr, size_t len)
{
    g_assert_cmpuint(addr + len, <=, RAM_SIZE);
    return b->ram + addr;
}

/* @count entries of @size bytes from ring position @pos, in two parts */
static void ring_io(Bench *b, uint64_t ring, size_t size, uint64_t pos,
                    void *buf, int count, bool write)
{
    int slot = pos % BQ_SIZE;
    int first = MIN(count, BQ_SIZE - slot);

    for (int part = 0; part < 2; part++) {
        int n = part ? count - first : first;
        uint64_t addr = ring + (part ? 0 : slot) * size;
        void *p = (uint8_t *)buf + (part ? first : 0) * size;

        if (!n) {
            continue;
        } else if (write) {
            memcpy(guest(b, addr, n * size), p, n * size);
        } else {
            memcpy(p, guest(b, addr, n * size), n * size);
        }
    }
}

/* Wait for the completion of ring position @pos: its phase tag */
static void wait_cqe(Bench *b, uint64_t pos)
{
    uint32_t *dw3 = guest(b, b->n->q[BQ].cq + pos % BQ_SIZE *
                          sizeof(NvmeCqe) + 12, 4);
    uint32_t phase = !((pos / BQ_SIZE) & 1);
    gint64 deadline = g_get_monotonic_time() + TIMEOUT_US;

    /* yield: QEMU's threads may want this CPU */
    while (((le32_to_cpu(qatomic_load_acquire(dw3)) >> 16) & 1) != phase) {
        sched_yield();
        if (g_get_monotonic_time() > deadline) {
            fprintf(stderr, "nvme-bench: no completion in %d s\n",
                    (int)(TIMEOUT_US / G_USEC_PER_SEC));
            exit(1);
        }
    }
}

/*
 * Run the @count commands of @cmds, @qd at a time, each expected to
 * complete with status @want; returns the seconds between the first
 * doorbell and the last completion.
 */
static double run(Bench *b, NvmeCmd *cmds, int count, int qd, uint16_t want)
{
    g_autofree NvmeCqe *cqes = g_new(NvmeCqe, count);
    QNvme *n = b->n;
    double t;

    g_assert_cmpint(count, <, BQ_SIZE);
    for (int i = 0; i < count; i++) {
        cmds[i].cid = cpu_to_le16((b->pos + i) % BQ_SIZE);
    }
    ring_io(b, n->q[BQ].sq, sizeof(NvmeCmd), b->pos, cmds, count, true);

    t = now();
    for (int done = 0; done < count; done += qd) {
        int batch = MIN(qd, count - done);

        qnvme_writel(n, NVME_REG_DBS + 2 * BQ * n->db_stride,
                     (b->pos + done + batch) % BQ_SIZE);
        /*
         * Leave the CPUs to QEMU for most of a long wait: a program or a
         * copy may run on a thread that this process would compete with
         */
        if (b->group > LONG_WAIT) {
            g_usleep(b->group / 2 * G_USEC_PER_SEC);
        }
        wait_cqe(b, b->pos + done + batch - 1);
    }
    t = now() - t;

    ring_io(b, n->q[BQ].cq, sizeof(NvmeCqe), b->pos, cqes, count, false);
    for (int i = 0; i < count; i++) {
        uint16_t status = le16_to_cpu(cqes[i].status) >> 1;

        if (status != want) {
            fprintf(stderr, "nvme-bench: opcode 0x%x completed with 0x%x, "
                    "not 0x%x\n", cmds[0].opcode, status, want);
            exit(1);
        }
    }
    b->pos += count;
    qnvme_writel(n, NVME_REG_DBS + (2 * BQ + 1) * n->db_stride,
                 b->pos % BQ_SIZE);
    return t;
}

/*
 * A host computation that a figure is compared with: run() calls it,
 * timed, before each of its timed runs, so that the two take turns.
 */
typedef struct HostRef {
    void (*fn)(struct HostRef *ref);
    double best;        /* seconds */
} HostRef;

/*
 * The microseconds a command of the fastest of RUNS runs of @cmds, after
 * two warm-up runs of an eighth of them (interference only ever adds
 * time); each run after @ref, if any.
 */
static double best_of(Bench *b, NvmeCmd *cmds, int count, int qd,
                      uint16_t want, HostRef *ref)
{
    int warm = MAX(count / 8, 1);
    double t = 1e9;

    /* the first warm-up run may fault memory in: the second is timed */
    b->group = 0;
    for (int i = 0; i < 2; i++) {
        b->group = run(b, cmds, warm, qd, want) / DIV_ROUND_UP(warm, qd);
    }
    for (int i = 0; i < RUNS; i++) {
        if (ref) {
            double h = now();

            ref->fn(ref);
            ref->best = MIN(i ? ref->best : 1e9, now() - h);
        }
        t = MIN(t, run(b, cmds, count, qd, want));
        b->group = MIN(b->group, t / DIV_ROUND_UP(count, qd));
    }
    b->group = 0;
    return t * 1e6 / count;
}

/* best_of() for @count copies of @cmd */
static double run_same(Bench *b, const NvmeCmd *cmd, int count, int qd,
                       uint16_t want, HostRef *ref)
{
    g_autofree NvmeCmd *cmds = g_new(NvmeCmd, count);

    for (int i = 0; i < count; i++) {
        cmds[i] = *cmd;
    }
    return best_of(b, cmds, count, qd, want, ref);
}

/* The harness alone: commands the controller fails at once */
static void bench_null(Bench *b, const char *prefix, int qd)
{
    NvmeCmd cmd = {
        .opcode = OPC_NULL,
        .nsid = cpu_to_le32(NSID_NVM),
    };
    g_autofree char *name = g_strdup_printf("%s.null.qd%d", prefix, qd);

    figure(name, run_same(b, &cmd, COUNT, qd,
                          NVME_INVALID_OPCODE | NVME_DNR, NULL), "us");
}

/* 4 KiB NVM reads or writes at random blocks of the image, @qd at a time */
static void bench_rw(Bench *b, const char *prefix, uint8_t opcode, int qd)
{
    int count = COUNT;
    g_autofree NvmeCmd *cmds = g_new0(NvmeCmd, count);
    g_autofree char *name = g_strdup_printf("%s.%s.qd%d", prefix,
                                            opcode == NVME_CMD_READ ?
                                            "read" : "write", qd);
    uint64_t bufs[QD_MAX];
    uint8_t data[IO_SIZE];

    qnvme_pattern(data, sizeof(data), 3);
    for (int i = 0; i < qd; i++) {
        bufs[i] = qnvme_alloc(b->n, IO_SIZE);
        qnvme_memwrite(b->n, bufs[i], data, IO_SIZE);
    }
    for (int i = 0; i < count; i++) {
        uint64_t slba = (uint64_t)(random32() % (IMAGE_SIZE / IO_SIZE)) *
                        (IO_SIZE / LBA_SIZE);

        cmds[i].opcode = opcode;
        cmds[i].nsid = cpu_to_le32(NSID_NVM);
        cmds[i].dptr.prp1 = cpu_to_le64(bufs[i % qd]);
        cmds[i].cdw10 = cpu_to_le32(slba);
        cmds[i].cdw11 = cpu_to_le32(slba >> 32);
        cmds[i].cdw12 = cpu_to_le32(IO_SIZE / LBA_SIZE - 1);
    }

    figure(name, best_of(b, cmds, count, qd, NVME_SUCCESS, NULL), "us");

    /* the last read brought the block's data, as made or as written */
    if (opcode == NVME_CMD_READ) {
        uint64_t slba = le32_to_cpu(cmds[count - 1].cdw10);
        uint8_t got[IO_SIZE];

        qnvme_memread(b->n, bufs[(count - 1) % qd], got, IO_SIZE);
        if (memcmp(got, data, IO_SIZE)) {
            qnvme_pattern(data, sizeof(data), slba * LBA_SIZE / IO_SIZE);
            g_assert_cmpmem(got, IO_SIZE, data, IO_SIZE);
        }
    }
    for (int i = 0; i < qd; i++) {
        qnvme_free(b->n, bufs[i]);
    }
}

static void bench_nvm(Bench *b, const char *prefix)
{
    for (int qd = 1; qd <= QD_MAX; qd *= QD_MAX) {
        bench_null(b, prefix, qd);
        bench_rw(b, prefix, NVME_CMD_READ, qd);
        bench_rw(b, prefix, NVME_CMD_WRITE, qd);
    }
}

/*
 * Computational storage: Execute Program and SLM
 */

static uint16_t admin(Bench *b, NvmeCmd *cmd, void *data, size_t len,
                      uint32_t *result)
{
    NvmeCqe cqe;
    uint16_t status = data ?
        qnvme_cmd_data(b->n, 0, cmd, data, len, true, &cqe) :
        qnvme_cmd(b->n, 0, cmd, &cqe);

    if (result) {
        *result = le32_to_cpu(cqe.result);
    }
    return status;
}

static void activate(Bench *b, uint16_t pind)
{
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_PROGRAM_ACT,
        .nsid = cpu_to_le32(NSID_CP),
        .cdw10 = cpu_to_le32(pind),
    };

    g_assert_cmphex(admin(b, &cmd, NULL, 0, NULL), ==, NVME_SUCCESS);
}

/* A memory range set of @nr ranges (offset, length pairs) of SLM */
static uint16_t range_set(Bench *b, const uint64_t (*r)[2], int nr)
{
    NvmeMemRangeDescr d[2] = {};
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_MEM_RANGE_SET,
        .nsid = cpu_to_le32(NSID_CP),
        .cdw10 = cpu_to_le32(NVME_MRS_CREATE),
        .cdw11 = cpu_to_le32(nr),
    };
    uint32_t rsid;

    for (int i = 0; i < nr; i++) {
        d[i].mnsid = cpu_to_le32(NSID_MEM);
        d[i].sb = cpu_to_le64(r[i][0]);
        d[i].len = cpu_to_le32(r[i][1]);
    }
    g_assert_cmphex(admin(b, &cmd, d, sizeof(d), &rsid), ==, NVME_SUCCESS);
    return rsid;
}

static NvmeCmd exec_cmd(uint16_t pind, uint16_t rsid, uint64_t cparam1,
                        uint64_t cparam2)
{
    NvmeExecProgramCmd exec = {
        .opcode = NVME_CMD_EXEC_PROGRAM,
        .nsid = cpu_to_le32(NSID_CP),
        .pind = cpu_to_le16(pind),
        .rsid = cpu_to_le16(rsid),
        .cparam1 = cpu_to_le64(cparam1),
        .cparam2 = cpu_to_le64(cparam2),
    };
    NvmeCmd cmd;

    memcpy(&cmd, &exec, sizeof(cmd));
    return cmd;
}

/* One command @cmd and its 64-bit result */
static uint64_t exec_result(Bench *b, NvmeCmd *cmd)
{
    NvmeCqe cqe;

    g_assert_cmphex(qnvme_cmd(b->n, AQ, cmd, &cqe), ==,
                    NVME_SUCCESS);
    return le32_to_cpu(cqe.result) |
           (uint64_t)le32_to_cpu(cqe.dw1) << 32;
}

/* The program data: records with a random key and text-like payload */
static void make_records(uint8_t *buf, size_t len)
{
    static const char words[] = "the device  a program of  storage an NVMe ";

    for (size_t i = 0; i < len; i += REC_SIZE) {
        uint64_t key = (uint64_t)random32() << 32 | random32();

        stq_le_p(buf + i, key);
        stq_le_p(buf + i + 8, i / REC_SIZE);
        for (int j = 16; j < REC_SIZE; j++) {
            buf[i + j] = words[(i / REC_SIZE * 7 + j) % (sizeof(words) - 1)];
        }
    }
}

/* Records whose key is above @threshold, appended to @out: their number */
static uint64_t native_filter(const uint8_t *in, size_t len, uint8_t *out,
                              uint64_t threshold)
{
    uint64_t matched = 0;

    for (size_t i = 0; i < len; i += REC_SIZE) {
        if (ldq_le_p(in + i) > threshold) {
            memcpy(out + matched++ * REC_SIZE, in + i, REC_SIZE);
        }
    }
    return matched;
}

/* A device-defined program's computation in native C */
typedef uint64_t NativeFn(const uint8_t *in, size_t len, uint8_t *out,
                          uint64_t cparam2);

typedef struct NativeRef {
    HostRef ref;
    NativeFn *fn;
    const uint8_t *in;
    size_t len;
    uint8_t *out;
    uint64_t cparam2;
    uint64_t result;
} NativeRef;

static void native_run(HostRef *ref)
{
    NativeRef *r = container_of(ref, NativeRef, ref);

    r->result = r->fn(r->in, r->len, r->out, r->cparam2);
}

/*
 * A device-defined program over @len bytes at SLM 0 against @native C on
 * the host, by turns: figures prog.NAME (device) and native.NAME, in GB/s.
 * The device must compute what native C did.
 */
static void bench_prog(Bench *b, const char *name, uint16_t pind,
                       uint64_t len, uint64_t out_len, uint64_t cparam1,
                       uint64_t cparam2, NativeFn *native,
                       const uint8_t *data)
{
    const uint64_t r[2][2] = { { 0, len }, { SLM_OUT, out_len } };
    g_autofree uint8_t *out = g_malloc(out_len);
    g_autofree char *dev = g_strdup_printf("prog.%s", name);
    g_autofree char *nat = g_strdup_printf("native.%s", name);
    NativeRef ref = {
        .ref.fn = native_run, .fn = native, .in = data, .len = len,
        .out = out, .cparam2 = cparam2,
    };
    uint16_t rsid;
    NvmeCmd cmd;
    double t;

    activate(b, pind);
    rsid = range_set(b, r, out_len ? 2 : 1);
    cmd = exec_cmd(pind, rsid, cparam1, cparam2);

    t = run_same(b, &cmd, 1, 1, NVME_SUCCESS, &ref.ref);
    g_assert_cmphex(exec_result(b, &cmd), ==, ref.result);
    figure(dev, len / 1e3 / t, "GB/s");
    figure(nat, len / 1e9 / ref.ref.best, "GB/s");
}

static uint64_t native_crc32c(const uint8_t *in, size_t len, uint8_t *out,
                              uint64_t unused)
{
    return crc32c(0xffffffff, in, len);
}

static uint64_t native_sha256(const uint8_t *in, size_t len, uint8_t *out,
                              uint64_t unused)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    gsize n = 32;

    g_checksum_update(sum, in, len);
    g_checksum_get_digest(sum, out, &n);
    return n;
}

static uint64_t native_compress(const uint8_t *in, size_t len, uint8_t *out,
                                uint64_t unused)
{
    uLongf n = compressBound(len);

    g_assert_cmpint(compress2(out, &n, in, len, ZLIB_LEVEL), ==, Z_OK);
    return n;
}

typedef struct CopyRef {
    HostRef ref;
    void *dst;
    const void *src;
    uint64_t len;
    int count;
} CopyRef;

static void copy_run(HostRef *ref)
{
    CopyRef *r = container_of(ref, CopyRef, ref);

    for (int i = 0; i < r->count; i++) {
        memcpy(r->dst, r->src, r->len);
        /* keep the compiler from merging the copies */
        asm volatile("" : : "r"(r->dst) : "memory");
    }
}

/*
 * Memory Copy of @len bytes of SLM (all the commands of a run at once)
 * against memcpy() of @len bytes on the host, by turns
 */
static void bench_copy(Bench *b, uint64_t len, uint64_t desc, void *src,
                       void *dst)
{
    int count = MIN(MAX(256 * MiB / len, 8), 512);
    NvmeCopySourceRangeFormat4 r = {
        .snsid = cpu_to_le32(NSID_MEM),
        .nbyte = cpu_to_le32(len),
    };
    NvmeMemCopyCmd copy = {
        .opcode = NVME_CMD_MEM_COPY,
        .nsid = cpu_to_le32(NSID_MEM),
        .len = cpu_to_le64(len),
        .dptr.prp1 = cpu_to_le64(desc),
        .sdaddr = cpu_to_le64(SLM_COPY_DST),
        .control[0] = NVME_COPY_FORMAT_4,
    };
    CopyRef ref = {
        .ref.fn = copy_run, .dst = dst, .src = src, .len = len,
        .count = count,
    };
    g_autofree char *dev = g_strdup_printf("slm.copy.%" PRIu64 "k",
                                           len / KiB);
    g_autofree char *nat = g_strdup_printf("memcpy.%" PRIu64 "k",
                                           len / KiB);
    NvmeCmd cmd;
    double t;

    qnvme_memwrite(b->n, desc, &r, sizeof(r));
    memcpy(&cmd, &copy, sizeof(cmd));
    t = run_same(b, &cmd, count, count, NVME_SUCCESS, &ref.ref);
    figure(dev, len / 1e3 / t, "GB/s");
    figure(nat, len * count / 1e9 / ref.ref.best, "GB/s");
}

/* Memory Read or Write of 4 KiB of SLM, one at a time */
static void bench_slm_rw(Bench *b, uint8_t opcode, uint64_t buf)
{
    NvmeMemRwCmd rw = {
        .opcode = opcode,
        .nsid = cpu_to_le32(NSID_MEM),
        .dptr.prp1 = cpu_to_le64(buf),
        .sb = cpu_to_le64(SLM_OUT),
        .len = cpu_to_le32(IO_SIZE),
    };
    NvmeCmd cmd;

    memcpy(&cmd, &rw, sizeof(cmd));
    figure(opcode == NVME_CMD_MEM_READ ? "slm.read.qd1" : "slm.write.qd1",
           run_same(b, &cmd, COUNT, 1, NVME_SUCCESS, NULL), "us");
}

static void bench_csd(Bench *b)
{
    g_autofree uint8_t *data = g_malloc(PROG_LEN);
    g_autofree uint8_t *src = g_malloc(64 * MiB);
    g_autofree uint8_t *dst = g_malloc(64 * MiB);
    static const uint64_t copy_len[] = {
        4 * KiB, 64 * KiB, 1 * MiB, 16 * MiB, 64 * MiB,
    };
    const uint64_t r4k[1][2] = { { 0, IO_SIZE } };
    uint64_t buf = qnvme_alloc(b->n, 1 * MiB);
    uint16_t rsid;
    NvmeCmd cmd;

    /* the data, through qtest */
    make_records(data, PROG_LEN);
    for (uint64_t off = 0; off < PROG_LEN; off += 256 * KiB) {
        g_assert_cmphex(qnvme_mem_write(b->n, AQ, NSID_MEM, off, data + off,
                                        256 * KiB), ==, NVME_SUCCESS);
    }
    memset(src, 1, 64 * MiB);
    memset(dst, 2, 64 * MiB);

    /* the harness, and the command Execute Program is compared with */
    bench_null(b, "csd", 1);
    bench_rw(b, "csd", NVME_CMD_READ, 1);
    bench_rw(b, "csd", NVME_CMD_WRITE, 1);

    /* Execute Program on 4 KiB: the device-defined sum, downloaded sum */
    activate(b, NVME_CP_PIND_REDUCE);
    rsid = range_set(b, r4k, 1);
    cmd = exec_cmd(NVME_CP_PIND_REDUCE, rsid, 4 << 8, 0);
    figure("exec.reduce.qd1", run_same(b, &cmd, COUNT, 1,
                                       NVME_SUCCESS, NULL), "us");
#if NVME_BPF_PROGS
    for (uint32_t off = 0; off < sizeof(nvme_bpf_sum); off += 4 * KiB) {
        uint32_t numb = MIN(4 * KiB, sizeof(nvme_bpf_sum) - off);
        NvmeCmd load = {
            .opcode = NVME_ADM_CMD_LOAD_PROGRAM,
            .nsid = cpu_to_le32(NSID_CP),
            .cdw10 = cpu_to_le32(NVME_CP_NR_DEFINED |
                                 NVME_PTYPE_EBPF << 16),
            .cdw11 = cpu_to_le32(sizeof(nvme_bpf_sum)),
            .cdw14 = cpu_to_le32(numb),
            .cdw15 = cpu_to_le32(off),
        };

        g_assert_cmphex(admin(b, &load, (uint8_t *)nvme_bpf_sum + off, numb,
                              NULL), ==, NVME_SUCCESS);
    }
    activate(b, NVME_CP_NR_DEFINED);
    cmd = exec_cmd(NVME_CP_NR_DEFINED, rsid, 0, 0);
    figure("exec.bpf.qd1", run_same(b, &cmd, COUNT, 1,
                                    NVME_SUCCESS, NULL), "us");
#endif

    /* SLM against NVM: Memory Read and Write of 4 KiB */
    bench_slm_rw(b, NVME_CMD_MEM_READ, buf);
    bench_slm_rw(b, NVME_CMD_MEM_WRITE, buf);

    /* Memory Copy against memcpy() */
    for (int i = 0; i < ARRAY_SIZE(copy_len); i++) {
        bench_copy(b, copy_len[i], buf, src, dst);
    }

    /* the device-defined programs against native C: keys are below 2^63 */
    bench_prog(b, "crc32c", NVME_CP_PIND_CRC32C, PROG_LEN, 0, 0, 0,
               native_crc32c, data);
    bench_prog(b, "sha256", NVME_CP_PIND_SHA256, SLOW_LEN, 32, 0, 0,
               native_sha256, data);
    bench_prog(b, "filter", NVME_CP_PIND_FILTER, PROG_LEN, PROG_LEN,
               REC_SIZE | 8ULL << 32 | 4ULL << 40, 1ULL << 62,
               native_filter, data);
    bench_prog(b, "compress", NVME_CP_PIND_COMPRESS, SLOW_LEN,
               compressBound(SLOW_LEN), ZLIB_LEVEL, 0, native_compress,
               data);
    qnvme_free(b->n, buf);
}

static char *make_image(void)
{
    g_autofree uint8_t *data = g_malloc(IO_SIZE);
    char *image = NULL;
    int fd = g_file_open_tmp("nvme-bench.XXXXXX", &image, NULL);

    g_assert_cmpint(fd, >=, 0);
    for (uint64_t i = 0; i < IMAGE_SIZE / IO_SIZE; i++) {
        qnvme_pattern(data, IO_SIZE, i);
        g_assert_cmpint(write(fd, data, IO_SIZE), ==, IO_SIZE);
    }
    close(fd);
    return image;
}

/* Guest RAM in a file that this process maps too */
static uint8_t *map_ram(char **path)
{
    int fd;
    void *p;

    *path = g_strdup("/dev/shm/nvme-bench-ram.XXXXXX");
    fd = g_mkstemp(*path);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, RAM_SIZE), ==, 0);
    p = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    g_assert(p != MAP_FAILED);
    close(fd);
    return p;
}

int main(int argc, char **argv)
{
    const char *suite = argc > 1 ? argv[1] : "";
    g_autofree char *image = NULL;
    g_autofree char *ram = NULL;
    g_autoptr(GString) args = g_string_new(NULL);
    Bench b = {};
    QOSState *qs;
    QNvmeVfu v;

    g_test_init(&argc, &argv, NULL);
    if (strcmp(suite, "nvm") && strcmp(suite, "vfu") && strcmp(suite, "csd")) {
        fprintf(stderr, "usage: nvme-bench nvm|vfu|csd\n");
        return 1;
    }

    image = make_image();
    b.ram = map_ram(&ram);
    if (!strcmp(suite, "vfu")) {
        /* the server's DMA and this process share the client's RAM */
        g_string_printf(args, CONTROLLER, "id=vfu-nvme,", "", image);
        qnvme_vfu_start_server(&v, args->str);
        v.client = qtest_pc_boot(RAM_ARGS "-device '{\"driver\": "
                                 "\"vfio-user-pci\", \"addr\": \"04.0\", "
                                 "\"socket\": {\"type\": \"unix\", "
                                 "\"path\": \"%s\"}}'", ram, v.socket);
        qnvme_init(&v.n, v.client->pcibus, &v.client->alloc,
                   QPCI_DEVFN(4, 0));
        bench_start(&b, &v.n, NVME_CC_CSS_NVM);
        bench_nvm(&b, "vfu");
        qnvme_vfu_stop(&v);
    } else {
        bool csd = !strcmp(suite, "csd");
        QNvme n;

        qs = qtest_pc_boot(RAM_ARGS CONTROLLER, ram, "addr=04.0,",
                           csd ? CSD : "", image);
        qnvme_init(&n, qs->pcibus, &qs->alloc, QPCI_DEVFN(4, 0));
        if (csd) {
            bench_start(&b, &n, NVME_CC_CSS_ALL);
            qnvme_create_ioq(&n, AQ);
            bench_csd(&b);
        } else {
            bench_start(&b, &n, NVME_CC_CSS_NVM);
            bench_nvm(&b, "nvm");
        }
        qnvme_cleanup(&n);
        qtest_shutdown(qs);
    }
    munmap(b.ram, RAM_SIZE);
    unlink(ram);
    unlink(image);
    return 0;
}
