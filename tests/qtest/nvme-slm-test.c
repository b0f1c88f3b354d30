/*
 * QTest testcases for the NVMe Subsystem Local Memory command set (CSI 03h):
 * memory namespaces, Memory Read, Write, Fill and Copy, NVM Copy from SLM,
 * reachability, through the libqos NVMe driver
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
#include "libqos/libqos-pc.h"
#include "libqos/nvme-csd.h"
#include "libqos/nvme-vfu.h"
#include "block/nvme-csd.h"
#include "standard-headers/linux/pci_regs.h"

#define IMAGE_SIZE      (4 * MiB)
#define LBA_SIZE        512
#define SLM_SIZE        (1 * MiB)
#define NSID_NVM        1
#define NSID_MEM        2
#define NSID_MEM_G2     3       /* group 2, associated with group 1 */
#define NSID_MEM_G3     4       /* group 3, reaches no other group */
#define QID             1

/* Namespace 1 on an image, for the controller's drive property. */
static void *image_setup(GString *cmd_line, void *arg)
{
    qnvme_test_image(cmd_line, "nvm0", IMAGE_SIZE);
    return arg;
}

/*
 * An NVM subsystem with a 2 MiB SLM, NVM namespace 1, memory namespace 2
 * (1 MiB) in reachability group 1 with it, memory namespaces 3 and 4 in
 * groups 2 and 3, groups 1 and 2 associated, and a second controller at
 * 05.0.
 */
static void slm_subsys(GString *cmd_line, const char *subsys_opts)
{
    g_autofree char *head = g_strdup_printf(
        "-object memory-backend-ram,id=slm0,size=2M "
        "-device nvme-subsys,id=subsys0,nqn=csd-test,slm=slm0,"
        "reach.assoc=1+2%s ", subsys_opts);

    g_string_prepend(cmd_line, head);
    qnvme_test_image(cmd_line, "nvm0", IMAGE_SIZE);
    g_string_append(cmd_line,
                    " -device nvme-ns,drive=nvm0,nsid=1"
                    " -device nvme-mem-ns,nsid=2,size=1M"
                    " -device nvme-mem-ns,nsid=3,offset=1M,size=512K,rgrpid=2"
                    " -device nvme-mem-ns,nsid=4,offset=1536K,size=512K,"
                    "rgrpid=3"
                    " -device nvme,serial=foo,subsys=subsys0,addr=05.0");
}

static void *slm_subsys_setup(GString *cmd_line, void *arg)
{
    slm_subsys(cmd_line, "");
    return arg;
}

static void start(QNvme *n)
{
    qnvme_enable(n, NVME_CC_CSS_ALL);
    qnvme_create_ioq(n, QID);
}

/* A memory command of @len bytes at @sb, mapping @maplen bytes at @addr. */
static uint16_t mem_cmd(QNvme *n, uint8_t opcode, uint32_t nsid, uint64_t sb,
                        uint32_t len, uint64_t addr, size_t maplen)
{
    NvmeMemRwCmd cmd = {
        .opcode = opcode,
        .nsid = cpu_to_le32(nsid),
        .sb = cpu_to_le64(sb),
        .len = cpu_to_le32(len),
    };

    if (maplen) {
        qnvme_map(n, (NvmeCmd *)&cmd, addr, maplen);
    }
    return qnvme_cmd(n, QID, (NvmeCmd *)&cmd, NULL);
}

static uint16_t nvm_rw(QNvme *n, uint8_t opcode, uint64_t slba, void *buf,
                       uint32_t len)
{
    NvmeCmd cmd = {
        .opcode = opcode,
        .nsid = cpu_to_le32(NSID_NVM),
        .cdw10 = cpu_to_le32(slba),
        .cdw11 = cpu_to_le32(slba >> 32),
        .cdw12 = cpu_to_le32(len / LBA_SIZE - 1),
    };

    return qnvme_cmd_data(n, QID, &cmd, buf, len,
                          opcode == NVME_CMD_WRITE, NULL);
}

static NvmeCopySourceRangeFormat0_2 lba_src(uint32_t snsid, uint64_t slba,
                                            uint32_t nlb)
{
    return (NvmeCopySourceRangeFormat0_2) {
        .sparams = cpu_to_le32(snsid),
        .slba = cpu_to_le64(slba),
        .nlb = cpu_to_le16(nlb - 1),
    };
}

static NvmeCopySourceRangeFormat4 mem_src(uint32_t snsid, uint64_t saddr,
                                          uint32_t nbyte)
{
    return (NvmeCopySourceRangeFormat4) {
        .snsid = cpu_to_le32(snsid),
        .saddr = cpu_to_le64(saddr),
        .nbyte = cpu_to_le32(nbyte),
    };
}

/* Memory Copy of @nr 32-byte source ranges in @format. */
static uint16_t mem_copy(QNvme *n, uint32_t nsid, uint64_t sdaddr,
                         uint64_t len, uint8_t format, const void *ranges,
                         int nr, NvmeCqe *cqe)
{
    NvmeMemCopyCmd cmd = {
        .opcode = NVME_CMD_MEM_COPY,
        .nsid = cpu_to_le32(nsid),
        .len = cpu_to_le64(len),
        .sdaddr = cpu_to_le64(sdaddr),
        .nr = nr - 1,
        .control[0] = format,
    };

    return qnvme_cmd_data(n, QID, (NvmeCmd *)&cmd, (void *)ranges, nr * 32,
                          true, cqe);
}

/* NVM Copy to the NVM namespace from memory namespace ranges. */
static uint16_t nvm_copy4(QNvme *n, uint64_t sdlba,
                          const NvmeCopySourceRangeFormat4 *ranges, int nr)
{
    NvmeCopyCmd cmd = {
        .opcode = NVME_CMD_COPY,
        .nsid = cpu_to_le32(NSID_NVM),
        .sdlba = cpu_to_le64(sdlba),
        .nr = nr - 1,
        .control[0] = NVME_COPY_FORMAT_4,
    };

    return qnvme_cmd_data(n, QID, (NvmeCmd *)&cmd, (void *)ranges,
                          nr * sizeof(*ranges), true, NULL);
}

static void set_cdfe(QNvme *n, uint16_t cdfe)
{
    NvmeHostBehaviorSupport hbs = { .cdfe = cpu_to_le16(cdfe) };
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_SET_FEATURES,
        .cdw10 = cpu_to_le32(NVME_HOST_BEHAVIOR_SUPPORT),
    };

    g_assert_cmphex(qnvme_cmd_data(n, 0, &cmd, &hbs, sizeof(hbs), true,
                                   NULL), ==, NVME_SUCCESS);
}

static void test_identify(void *obj, void *data, QGuestAllocator *alloc)
{
    static const uint32_t mem[] = { NSID_MEM, NSID_MEM_G2, NSID_MEM_G3 };
    static const uint32_t all[] = {
        NSID_NVM, NSID_MEM, NSID_MEM_G2, NSID_MEM_G3
    };
    QNvme *n = obj;
    uint8_t buf[NVME_IDENTIFY_DATA_SIZE];
    NvmeIdCtrl *id = (NvmeIdCtrl *)buf;
    NvmeIdNsSlm *id_slm = (NvmeIdNsSlm *)buf;
    NvmeIdNsInd *id_ind = (NvmeIdNsInd *)buf;
    NvmeIdNsDescr *descr = (NvmeIdNsDescr *)buf;
    NvmeEffectsLog effects;

    start(n);

    g_assert_cmphex(NVME_CAP_CSS(n->cap) & NVME_CAP_CSS_IOCSS, ==,
                    NVME_CAP_CSS_IOCSS);
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_IO_COMMAND_SET, 0, 0, 0,
                                   buf), ==, NVME_SUCCESS);
    g_assert_cmphex(ldq_le_p(buf), ==, 1 << NVME_CSI_NVM |
                    1 << NVME_CSI_ZONED | 1 << NVME_CSI_SLM);

    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CTRL, 0, 0, 0, buf), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(id->crcap, ==, NVME_CRCAP_RRSUP);
    g_assert_cmphex(le16_to_cpu(id->ocfs) & NVME_OCFS_COPY_FORMAT_4, ==,
                    NVME_OCFS_COPY_FORMAT_4);

    qnvme_assert_nslist(n, NVME_ID_CNS_NS_ACTIVE_LIST, 0, all, 4);
    qnvme_assert_nslist(n, NVME_ID_CNS_CS_NS_ACTIVE_LIST, NVME_CSI_SLM, mem, 3);

    /* CNS 05h: the size in bytes, for memory namespaces only */
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CS_NS, NSID_MEM, 0,
                                   NVME_CSI_SLM, buf), ==, NVME_SUCCESS);
    g_assert_cmpint(le64_to_cpu(id_slm->msz), ==, SLM_SIZE);
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CS_NS, NSID_NVM, 0,
                                   NVME_CSI_SLM, buf), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CS_NS, NSID_MEM, 0,
                                   NVME_CSI_NVM, buf), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    /* CNS 06h and log 85h: the SLM is in no BAR */
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CS_CTRL, 0, 0,
                                   NVME_CSI_SLM, buf), ==, NVME_SUCCESS);
    g_assert_cmphex(((NvmeIdCtrlSlm *)buf)->hamat, ==, 0);
    g_assert_cmphex(qnvme_get_log(n, NVME_LOG_HOST_ADDR_NS, 0, NVME_CSI_SLM,
                                  0, buf, 64), ==, NVME_SUCCESS);
    g_assert_cmpint(lduw_le_p(buf), ==, 0);

    /* CNS 08h: ready, shared, in reachability group 1 */
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CS_IND_NS, NSID_MEM, 0, 0,
                                   buf), ==, NVME_SUCCESS);
    g_assert_cmphex(id_ind->nstat, ==, NVME_ID_NS_IND_NSTAT_NRDY);
    g_assert_cmphex(id_ind->nmic, ==, NVME_ID_NS_IND_NMIC_SHRNS);
    g_assert_cmpint(le32_to_cpu(id_ind->rgrpid), ==, 1);

    /* CNS 03h: the namespace's command set identifier */
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_NS_DESCR_LIST, NSID_MEM, 0,
                                   0, buf), ==, NVME_SUCCESS);
    while (descr->nidt != NVME_NIDT_CSI) {
        g_assert_cmpint(descr->nidt, !=, 0);
        descr = (NvmeIdNsDescr *)((uint8_t *)descr + sizeof(*descr) +
                                  descr->nidl);
    }
    g_assert_cmpint(*(uint8_t *)(descr + 1), ==, NVME_CSI_SLM);

    g_assert_cmphex(qnvme_get_log(n, NVME_LOG_CMD_EFFECTS, 0, NVME_CSI_SLM,
                                  0, &effects, sizeof(effects)), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(le32_to_cpu(effects.iocs[NVME_CMD_MEM_READ]), ==,
                    NVME_CMD_EFF_CSUPP);
    g_assert_cmphex(le32_to_cpu(effects.iocs[NVME_CMD_MEM_WRITE]), ==,
                    NVME_CMD_EFF_CSUPP);
    g_assert_cmphex(le32_to_cpu(effects.iocs[NVME_CMD_MEM_FILL]), ==,
                    NVME_CMD_EFF_CSUPP);
    g_assert_cmphex(le32_to_cpu(effects.iocs[NVME_CMD_MEM_COPY]), ==,
                    NVME_CMD_EFF_CSUPP);
    g_assert_cmphex(le32_to_cpu(effects.iocs[NVME_CMD_FLUSH]), ==, 0);

    qnvme_disable(n);
}

/* With CC.CSS = NVM only, memory namespaces are not attached. */
static void test_css_nvm(void *obj, void *data, QGuestAllocator *alloc)
{
    static const uint32_t nvm[] = { NSID_NVM };
    QNvme *n = obj;
    uint64_t buf;

    qnvme_enable(n, NVME_CC_CSS_NVM);
    qnvme_create_ioq(n, QID);
    buf = qnvme_alloc(n, 4 * KiB);
    qnvme_assert_nslist(n, NVME_ID_CNS_NS_ACTIVE_LIST, 0, nvm, 1);
    g_assert_cmphex(mem_cmd(n, NVME_CMD_MEM_READ, NSID_MEM, 0, 4, buf, 4),
                    ==, NVME_INVALID_FIELD | NVME_DNR);
    qnvme_free(n, buf);
    qnvme_disable(n);
}

/*
 * The one-line form: -device nvme,drive=nvm0,slm=on,slm.size=1M,
 * slm.ns-size=512K makes a RAM SLM and memory namespace 2 in it.
 */
static void test_one_line(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    NvmeIdNsSlm id;
    NvmeCopySourceRangeFormat4 r;
    uint8_t out[4 * KiB], in[4 * KiB];

    start(n);
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CS_NS, NSID_MEM, 0,
                                   NVME_CSI_SLM, &id), ==, NVME_SUCCESS);
    g_assert_cmpint(le64_to_cpu(id.msz), ==, 512 * KiB);

    qnvme_pattern(out, sizeof(out), 9);
    g_assert_cmphex(qnvme_mem_write(n, QID, NSID_MEM, 508 * KiB, out,
                                    sizeof(out)), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM, 508 * KiB, in,
                                   sizeof(in)), ==,
                    NVME_SUCCESS);
    g_assert_cmpmem(in, sizeof(in), out, sizeof(out));
    g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM, 512 * KiB, in, 4), ==,
                    NVME_LBA_RANGE | NVME_DNR);

    /* NVM Copy from it to the namespace of the controller's drive */
    set_cdfe(n, NVME_OCFS_COPY_FORMAT_4);
    r = mem_src(NSID_MEM, 508 * KiB, sizeof(out));
    g_assert_cmphex(nvm_copy4(n, 16, &r, 1), ==, NVME_SUCCESS);
    g_assert_cmphex(nvm_rw(n, NVME_CMD_READ, 16, in, sizeof(in)), ==,
                    NVME_SUCCESS);
    g_assert_cmpmem(in, sizeof(in), out, sizeof(out));
    qnvme_disable(n);
}

static void test_rw(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    const uint32_t len = 64 * KiB;
    g_autofree uint8_t *out = g_malloc(len);
    g_autofree uint8_t *in = g_malloc0(len);
    uint64_t buf;

    start(n);
    buf = qnvme_alloc(n, 8 * KiB);

    qnvme_pattern(out, len, 1);
    g_assert_cmphex(qnvme_mem_write(n, QID, NSID_MEM, 4 * KiB, out, len), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM, 4 * KiB, in, len), ==,
                    NVME_SUCCESS);
    g_assert_cmpmem(in, len, out, len);

    /* dword granularity: a 4-byte read in the middle */
    g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM, 4 * KiB + 100, in, 4), ==,
                    NVME_SUCCESS);
    g_assert_cmpmem(in, 4, out + 100, 4);

    /* the last dword of the namespace */
    g_assert_cmphex(qnvme_mem_write(n, QID, NSID_MEM, SLM_SIZE - 4, out, 4), ==,
                    NVME_SUCCESS);

    /* misaligned start, length, empty, beyond the end, beyond MDTS */
    g_assert_cmphex(mem_cmd(n, NVME_CMD_MEM_READ, NSID_MEM, 2, 4, buf, 4),
                    ==, NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(mem_cmd(n, NVME_CMD_MEM_WRITE, NSID_MEM, 0, 6, buf, 8),
                    ==, NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(mem_cmd(n, NVME_CMD_MEM_READ, NSID_MEM, 0, 0, buf, 4),
                    ==, NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(mem_cmd(n, NVME_CMD_MEM_READ, NSID_MEM, SLM_SIZE - 4, 8,
                            buf, 8), ==, NVME_LBA_RANGE | NVME_DNR);
    g_assert_cmphex(mem_cmd(n, NVME_CMD_MEM_WRITE, NSID_MEM,
                            UINT64_MAX - 3, 8, buf, 8), ==,
                    NVME_LBA_RANGE | NVME_DNR);
    g_assert_cmphex(mem_cmd(n, NVME_CMD_MEM_WRITE, NSID_MEM, 4 * MiB, 8, buf,
                            8), ==, NVME_LBA_RANGE | NVME_DNR);
    g_assert_cmphex(mem_cmd(n, NVME_CMD_MEM_READ, NSID_MEM, 0, SLM_SIZE, buf,
                            8 * KiB), ==, NVME_INVALID_FIELD | NVME_DNR);

    qnvme_free(n, buf);
    qnvme_disable(n);
}

static void test_fill(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    const uint32_t len = 16 * KiB;
    g_autofree uint8_t *out = g_malloc(len);
    g_autofree uint8_t *in = g_malloc(len);
    g_autofree uint8_t *zero = g_malloc0(len);

    start(n);

    qnvme_pattern(out, len, 2);
    g_assert_cmphex(qnvme_mem_write(n, QID, NSID_MEM, 0, out, len), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(mem_cmd(n, NVME_CMD_MEM_FILL, NSID_MEM, 1 * KiB, 8 * KiB,
                            0, 0), ==, NVME_SUCCESS);
    g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM, 0, in, len), ==,
                    NVME_SUCCESS);
    g_assert_cmpmem(in, 1 * KiB, out, 1 * KiB);
    g_assert_cmpmem(in + 1 * KiB, 8 * KiB, zero, 8 * KiB);
    g_assert_cmpmem(in + 9 * KiB, 7 * KiB, out + 9 * KiB, 7 * KiB);

    /* the whole namespace, in several steps of the device */
    g_assert_cmphex(mem_cmd(n, NVME_CMD_MEM_FILL, NSID_MEM, 0, SLM_SIZE, 0,
                            0), ==, NVME_SUCCESS);
    g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM, 0, in, len), ==,
                    NVME_SUCCESS);
    g_assert_cmpmem(in, len, zero, len);

    g_assert_cmphex(mem_cmd(n, NVME_CMD_MEM_FILL, NSID_MEM, 1, 4, 0, 0), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(mem_cmd(n, NVME_CMD_MEM_FILL, NSID_MEM, 0, 0, 0, 0), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    g_assert_cmphex(mem_cmd(n, NVME_CMD_MEM_FILL, NSID_MEM, 4, SLM_SIZE, 0,
                            0), ==, NVME_LBA_RANGE | NVME_DNR);

    qnvme_disable(n);
}

/* Memory Copy from logical blocks of the NVM namespace (format 2h). */
static void test_copy_from_nvm(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    const uint32_t len = 8 * KiB;
    g_autofree uint8_t *out = g_malloc(len);
    g_autofree uint8_t *in = g_malloc(len);
    NvmeCopySourceRangeFormat0_2 r[2];
    NvmeCqe cqe;

    start(n);

    qnvme_pattern(out, len, 3);
    g_assert_cmphex(nvm_rw(n, NVME_CMD_WRITE, 100, out, len), ==,
                    NVME_SUCCESS);

    /* two ranges, in reverse order, land one after the other */
    r[0] = lba_src(NSID_NVM, 108, 8);
    r[1] = lba_src(NSID_NVM, 100, 8);
    g_assert_cmphex(mem_copy(n, NSID_MEM, 64 * KiB, len, NVME_COPY_FORMAT_2,
                             r, 2, NULL), ==, NVME_SUCCESS);
    g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM, 64 * KiB, in, len), ==,
                    NVME_SUCCESS);
    g_assert_cmpmem(in, 4 * KiB, out + 4 * KiB, 4 * KiB);
    g_assert_cmpmem(in + 4 * KiB, 4 * KiB, out, 4 * KiB);

    /* LEN is not the sum of the ranges */
    g_assert_cmphex(mem_copy(n, NSID_MEM, 0, len - 4, NVME_COPY_FORMAT_2,
                             r, 2, NULL), ==, NVME_INVALID_FIELD | NVME_DNR);
    /* destination beyond the namespace, or misaligned */
    g_assert_cmphex(mem_copy(n, NSID_MEM, SLM_SIZE - 4 * KiB, len,
                             NVME_COPY_FORMAT_2, r, 2, NULL), ==,
                    NVME_LBA_RANGE | NVME_DNR);
    g_assert_cmphex(mem_copy(n, NSID_MEM, 2, len, NVME_COPY_FORMAT_2, r, 2,
                             NULL), ==, NVME_INVALID_FIELD | NVME_DNR);
    /* descriptor formats the command does not take */
    g_assert_cmphex(mem_copy(n, NSID_MEM, 0, len, NVME_COPY_FORMAT_0, r, 2,
                             NULL), ==, NVME_INVALID_FIELD | NVME_DNR);
    /* format 3h is for 32b/64b guard protection, which nsid 1 has not */
    g_assert_cmphex(mem_copy(n, NSID_MEM, 0, 4 * KiB, NVME_COPY_FORMAT_3, r,
                             1, NULL), ==,
                    NVME_CMD_INCOMP_NS_OR_FMT | NVME_DNR);

    /* per-range errors; the result is the index of the failed range */
    r[1] = lba_src(0, 0, 8);
    g_assert_cmphex(mem_copy(n, NSID_MEM, 0, len, NVME_COPY_FORMAT_2, r, 2,
                             &cqe), ==, NVME_INVALID_NSID | NVME_DNR);
    g_assert_cmpint(le32_to_cpu(cqe.result), ==, 1);
    r[1] = lba_src(7, 0, 8);
    g_assert_cmphex(mem_copy(n, NSID_MEM, 0, len, NVME_COPY_FORMAT_2, r, 2,
                             NULL), ==, NVME_INVALID_FIELD | NVME_DNR);
    r[1] = lba_src(NSID_MEM, 0, 8);
    g_assert_cmphex(mem_copy(n, NSID_MEM, 0, len, NVME_COPY_FORMAT_2, r, 2,
                             NULL), ==, NVME_CMD_INCOMP_NS_OR_FMT | NVME_DNR);
    r[1] = lba_src(NSID_NVM, IMAGE_SIZE / LBA_SIZE - 4, 8);
    g_assert_cmphex(mem_copy(n, NSID_MEM, 0, len, NVME_COPY_FORMAT_2, r, 2,
                             NULL), ==, NVME_LBA_RANGE | NVME_DNR);
    r[1] = lba_src(NSID_NVM, 0, 8);
    r[1].sopt = cpu_to_le16(NVME_COPY_SOPT_FCO);
    g_assert_cmphex(mem_copy(n, NSID_MEM, 0, len, NVME_COPY_FORMAT_2, r, 2,
                             NULL), ==, NVME_FAST_COPY_NOT_POSSIBLE | NVME_DNR);

    qnvme_disable(n);
}

/* Memory Copy between byte ranges of memory namespaces (format 4h). */
static void test_copy_mem(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    const uint32_t len = 12 * KiB;
    g_autofree uint8_t *out = g_malloc(len);
    g_autofree uint8_t *in = g_malloc(len);
    NvmeCopySourceRangeFormat4 r[2];

    start(n);

    qnvme_pattern(out, len, 4);
    g_assert_cmphex(qnvme_mem_write(n, QID, NSID_MEM, 0, out, len), ==,
                    NVME_SUCCESS);

    r[0] = mem_src(NSID_MEM, 8 * KiB, 4 * KiB);
    r[1] = mem_src(NSID_MEM, 4, 8 * KiB - 4);
    g_assert_cmphex(mem_copy(n, NSID_MEM, 512 * KiB, len - 4,
                             NVME_COPY_FORMAT_4, r, 2, NULL), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM, 512 * KiB, in, len - 4),
                    ==, NVME_SUCCESS);
    g_assert_cmpmem(in, 4 * KiB, out + 8 * KiB, 4 * KiB);
    g_assert_cmpmem(in + 4 * KiB, 8 * KiB - 4, out + 4, 8 * KiB - 4);

    /* a source overlapping the destination in the same namespace */
    g_assert_cmphex(mem_copy(n, NSID_MEM, 6 * KiB, 4 * KiB,
                             NVME_COPY_FORMAT_4, r, 1, NULL), ==,
                    NVME_CMD_OVERLAP_IO_RANGE | NVME_DNR);
    /* misaligned source, source beyond its namespace */
    r[1] = mem_src(NSID_MEM, 2, 4 * KiB);
    g_assert_cmphex(mem_copy(n, NSID_MEM, 512 * KiB, 8 * KiB,
                             NVME_COPY_FORMAT_4, r, 2, NULL), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    r[1] = mem_src(NSID_MEM, SLM_SIZE - 2 * KiB, 4 * KiB);
    g_assert_cmphex(mem_copy(n, NSID_MEM, 512 * KiB, 8 * KiB,
                             NVME_COPY_FORMAT_4, r, 2, NULL), ==,
                    NVME_LBA_RANGE | NVME_DNR);
    /* an NVM namespace is no format 4h source */
    r[1] = mem_src(NSID_NVM, 0, 4 * KiB);
    g_assert_cmphex(mem_copy(n, NSID_MEM, 512 * KiB, 8 * KiB,
                             NVME_COPY_FORMAT_4, r, 2, NULL), ==,
                    NVME_CMD_INCOMP_NS_OR_FMT | NVME_DNR);
    r[1] = mem_src(NSID_MEM, 0, 4 * KiB);
    r[1].sopt = cpu_to_le16(NVME_COPY_SOPT_FCO);
    g_assert_cmphex(mem_copy(n, NSID_MEM, 512 * KiB, 8 * KiB,
                             NVME_COPY_FORMAT_4, r, 2, NULL), ==,
                    NVME_FAST_COPY_NOT_POSSIBLE | NVME_DNR);

    qnvme_disable(n);
}

/* NVM Copy with descriptor format 4h: SLM to the NVM namespace. */
static void test_nvm_copy_from_slm(void *obj, void *data,
                                   QGuestAllocator *alloc)
{
    QNvme *n = obj;
    const uint32_t len = 8 * KiB;
    g_autofree uint8_t *out = g_malloc(len);
    g_autofree uint8_t *in = g_malloc(len);
    NvmeCopySourceRangeFormat4 r[2];

    start(n);

    qnvme_pattern(out, len, 5);
    g_assert_cmphex(qnvme_mem_write(n, QID, NSID_MEM, 128 * KiB, out, len), ==,
                    NVME_SUCCESS);
    r[0] = mem_src(NSID_MEM, 128 * KiB, 2 * KiB);
    r[1] = mem_src(NSID_MEM, 128 * KiB + 2 * KiB, 6 * KiB);

    /* format 4h must be enabled through Host Behavior Support first */
    g_assert_cmphex(nvm_copy4(n, 40, r, 2), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    set_cdfe(n, NVME_OCFS_COPY_FORMAT_4);

    g_assert_cmphex(nvm_copy4(n, 40, r, 2), ==, NVME_SUCCESS);
    g_assert_cmphex(nvm_rw(n, NVME_CMD_READ, 40, in, len), ==, NVME_SUCCESS);
    g_assert_cmpmem(in, len, out, len);

    /* a range that is not a whole number of logical blocks */
    r[1] = mem_src(NSID_MEM, 0, 4 * KiB + 4);
    g_assert_cmphex(nvm_copy4(n, 40, r, 2), ==,
                    NVME_INVALID_FIELD | NVME_DNR);
    /* past the end of the NVM namespace */
    r[1] = mem_src(NSID_MEM, 0, 4 * KiB);
    g_assert_cmphex(nvm_copy4(n, IMAGE_SIZE / LBA_SIZE - 8, r, 2), ==,
                    NVME_LBA_RANGE | NVME_DNR);
    /* an NVM namespace is no format 4h source */
    r[1] = mem_src(NSID_NVM, 0, 4 * KiB);
    g_assert_cmphex(nvm_copy4(n, 40, r, 2), ==,
                    NVME_CMD_INCOMP_NS_OR_FMT | NVME_DNR);
    r[1] = mem_src(NSID_MEM, 0, 4 * KiB);
    r[1].sopt = cpu_to_le16(NVME_COPY_SOPT_FCO);
    g_assert_cmphex(nvm_copy4(n, 40, r, 2), ==,
                    NVME_FAST_COPY_NOT_POSSIBLE | NVME_DNR);

    qnvme_disable(n);
}

/*
 * NVM command set opcodes that the SLM command set does not have.  (NVM
 * Read and Write share their opcodes with Memory Read and Memory Copy.)
 */
static void test_wrong_command_set(void *obj, void *data,
                                   QGuestAllocator *alloc)
{
    static const uint8_t opcodes[] = {
        NVME_CMD_FLUSH, NVME_CMD_WRITE_ZEROES, NVME_CMD_DSM, NVME_CMD_VERIFY,
        NVME_CMD_COPY, NVME_CMD_ZONE_APPEND,
    };
    QNvme *n = obj;

    start(n);
    for (int i = 0; i < ARRAY_SIZE(opcodes); i++) {
        NvmeCmd cmd = {
            .opcode = opcodes[i],
            .nsid = cpu_to_le32(NSID_MEM),
        };

        g_assert_cmphex(qnvme_cmd(n, QID, &cmd, NULL), ==,
                        NVME_INVALID_OPCODE | NVME_DNR);
    }
    qnvme_disable(n);
}

/* SLM contents survive a controller reset. */
static void test_reset(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    const uint32_t len = 4 * KiB;
    uint8_t out[4 * KiB], in[4 * KiB];

    start(n);
    qnvme_pattern(out, len, 6);
    g_assert_cmphex(qnvme_mem_write(n, QID, NSID_MEM, 12 * KiB, out, len), ==,
                    NVME_SUCCESS);
    qnvme_disable(n);

    start(n);
    g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM, 12 * KiB, in, len), ==,
                    NVME_SUCCESS);
    g_assert_cmpmem(in, len, out, len);
    qnvme_disable(n);
}

/* Two controllers of one subsystem see the same SLM. */
static void test_shared(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    QNvme n2;
    uint8_t out[4 * KiB], in[4 * KiB];

    start(n);
    qnvme_init(&n2, n->dev.bus, alloc, QPCI_DEVFN(5, 0));
    start(&n2);

    qnvme_pattern(out, sizeof(out), 7);
    g_assert_cmphex(qnvme_mem_write(n, QID, NSID_MEM_G2, 4 * KiB, out,
                                    sizeof(out)), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(qnvme_mem_read(&n2, QID, NSID_MEM_G2, 4 * KiB, in,
                                   sizeof(in)), ==,
                    NVME_SUCCESS);
    g_assert_cmpmem(in, sizeof(in), out, sizeof(out));

    qnvme_disable(&n2);
    qnvme_cleanup(&n2);
    qnvme_disable(n);
}

static void test_reachability(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    uint8_t buf[4 * KiB];
    NvmeReachGroupsLog *groups = (NvmeReachGroupsLog *)buf;
    NvmeReachAssocsLog *assocs = (NvmeReachAssocsLog *)buf;
    NvmeReachGroupDescr *gd;
    NvmeReachAssocDescr *ad;
    NvmeIdNsInd *id_ind = (NvmeIdNsInd *)buf;
    NvmeCopySourceRangeFormat4 r;
    uint32_t *ids;

    start(n);

    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CS_IND_NS, NSID_MEM_G3, 0,
                                   0, buf), ==, NVME_SUCCESS);
    g_assert_cmpint(le32_to_cpu(id_ind->rgrpid), ==, 3);

    /* groups 1: namespaces 1 and 2; 2: namespace 3; 3: namespace 4 */
    g_assert_cmphex(qnvme_get_log(n, NVME_LOG_REACH_GROUPS, 0, 0, 0, buf,
                                  sizeof(buf)), ==, NVME_SUCCESS);
    g_assert_cmpint(le16_to_cpu(groups->nrgd), ==, 3);
    gd = (NvmeReachGroupDescr *)(groups + 1);
    g_assert_cmpint(le32_to_cpu(gd->rgid), ==, 1);
    g_assert_cmpint(le32_to_cpu(gd->nnid), ==, 2);
    ids = (uint32_t *)(gd + 1);
    g_assert_cmpint(le32_to_cpu(ids[0]), ==, NSID_NVM);
    g_assert_cmpint(le32_to_cpu(ids[1]), ==, NSID_MEM);
    gd = (NvmeReachGroupDescr *)(ids + 2);
    g_assert_cmpint(le32_to_cpu(gd->rgid), ==, 2);
    g_assert_cmpint(le32_to_cpu(gd->nnid), ==, 1);
    ids = (uint32_t *)(gd + 1);
    g_assert_cmpint(le32_to_cpu(ids[0]), ==, NSID_MEM_G2);
    gd = (NvmeReachGroupDescr *)(ids + 1);
    g_assert_cmpint(le32_to_cpu(gd->rgid), ==, 3);
    ids = (uint32_t *)(gd + 1);
    g_assert_cmpint(le32_to_cpu(ids[0]), ==, NSID_MEM_G3);

    /* one association: groups 1 and 2 */
    g_assert_cmphex(qnvme_get_log(n, NVME_LOG_REACH_ASSOCS, 0, 0, 0, buf,
                                  sizeof(buf)), ==, NVME_SUCCESS);
    g_assert_cmpint(le16_to_cpu(assocs->nrad), ==, 1);
    ad = (NvmeReachAssocDescr *)(assocs + 1);
    g_assert_cmpint(le32_to_cpu(ad->rasid), ==, 1);
    g_assert_cmpint(le32_to_cpu(ad->nrid), ==, 2);
    ids = (uint32_t *)(ad + 1);
    g_assert_cmpint(le32_to_cpu(ids[0]), ==, 1);
    g_assert_cmpint(le32_to_cpu(ids[1]), ==, 2);

    /* an offset past the log */
    g_assert_cmphex(qnvme_get_log(n, NVME_LOG_REACH_ASSOCS, 0, 0, 4096, buf,
                                  16), ==, NVME_INVALID_FIELD | NVME_DNR);

    /* group 2 reaches group 1; group 3 reaches neither */
    r = mem_src(NSID_MEM_G2, 0, 4 * KiB);
    g_assert_cmphex(mem_copy(n, NSID_MEM, 0, 4 * KiB, NVME_COPY_FORMAT_4, &r,
                             1, NULL), ==, NVME_SUCCESS);
    r = mem_src(NSID_MEM_G3, 0, 4 * KiB);
    g_assert_cmphex(mem_copy(n, NSID_MEM, 0, 4 * KiB, NVME_COPY_FORMAT_4, &r,
                             1, NULL), ==, NVME_NS_NOT_REACHABLE | NVME_DNR);
    set_cdfe(n, NVME_OCFS_COPY_FORMAT_4);
    g_assert_cmphex(nvm_copy4(n, 0, &r, 1), ==,
                    NVME_NS_NOT_REACHABLE | NVME_DNR);

    qnvme_disable(n);
}

/*
 * Host addressable SLM: slm_subsys_setup() with the SLM in BAR 4, a
 * compute namespace (5), and a plain NVMe controller at 06.0 with a
 * namespace of its own, for peer-to-peer transfers.
 */
#define NSID_CP         5
#define SLM_BIR         4
#define SLM_BAR_SIZE    (2 * MiB)

static void *slm_bar_setup(GString *cmd_line, void *arg)
{
    slm_subsys(cmd_line, ",slm.bar=on");
    qnvme_test_image(cmd_line, "nvm1", IMAGE_SIZE);
    g_string_append(cmd_line,
                    " -device nvme-compute-ns,nsid=5"
                    " -device nvme,serial=plain,drive=nvm1,addr=06.0");
    return arg;
}

/* BAR 4 of @n, and where it is */
static QPCIBar slm_bar(QNvme *n, uint64_t *addr)
{
    uint64_t size;
    QPCIBar bar = qpci_iomap(&n->dev, SLM_BIR, &size);

    g_assert_cmpint(size, ==, SLM_BAR_SIZE);
    *addr = bar.addr;
    return bar;
}

/* NVM Read or Write of @len bytes at @slba of namespace 1 of @n, at @addr */
static uint16_t nvm_at(QNvme *n, uint8_t opcode, uint64_t slba, uint64_t addr,
                       uint32_t len)
{
    NvmeCmd cmd = {
        .opcode = opcode,
        .nsid = cpu_to_le32(NSID_NVM),
        .cdw10 = cpu_to_le32(slba),
        .cdw12 = cpu_to_le32(len / LBA_SIZE - 1),
    };

    qnvme_map(n, &cmd, addr, len);
    return qnvme_cmd(n, QID, &cmd, NULL);
}

/* Activate program @pind of NSID_CP and run it on the ranges @r inline */
static uint16_t run_inline(QNvme *n, uint16_t pind, NvmeMemRangeDescr *r,
                           int nr, uint64_t cparam1, uint64_t *result)
{
    NvmeCmd act = {
        .opcode = NVME_ADM_CMD_PROGRAM_ACT,
        .nsid = cpu_to_le32(NSID_CP),
        .cdw10 = cpu_to_le32(pind),
    };
    NvmeExecProgramCmd cmd = {
        .opcode = NVME_CMD_EXEC_PROGRAM,
        .nsid = cpu_to_le32(NSID_CP),
        .pind = cpu_to_le16(pind),
        .numr = cpu_to_le32(nr),
        .cparam1 = cpu_to_le64(cparam1),
    };
    NvmeCqe cqe;
    uint16_t status;

    g_assert_cmphex(qnvme_cmd(n, 0, &act, NULL), ==, NVME_SUCCESS);
    status = qnvme_cmd_data(n, QID, (NvmeCmd *)&cmd, r, nr * sizeof(*r), true,
                            &cqe);
    *result = le32_to_cpu(cqe.result) | (uint64_t)le32_to_cpu(cqe.dw1) << 32;
    return status;
}

static NvmeMemRangeDescr mem_range(uint32_t mnsid, uint64_t sb, uint32_t len)
{
    return (NvmeMemRangeDescr) {
        .mnsid = cpu_to_le32(mnsid),
        .sb = cpu_to_le64(sb),
        .len = cpu_to_le32(len),
    };
}

/* The SLM through BAR 4: what the host learns, loads and stores */
static void test_bar(void *obj, void *data, QGuestAllocator *alloc)
{
    static const struct {
        uint32_t nsid;
        uint64_t offset;
    } has[] = {
        { NSID_MEM, 0 }, { NSID_MEM_G2, 1 * MiB }, { NSID_MEM_G3, 1536 * KiB },
    };
    QNvme *n = obj;
    uint8_t buf[NVME_IDENTIFY_DATA_SIZE];
    NvmeIdCtrlSlm *id = (NvmeIdCtrlSlm *)buf;
    NvmeHostAddrNsLog *log = (NvmeHostAddrNsLog *)buf;
    NvmeHostAddrNsDescr *d = (NvmeHostAddrNsDescr *)(log + 1);
    uint8_t out[4 * KiB], in[4 * KiB];
    uint32_t bar_reg;
    uint64_t addr;
    QPCIBar bar;

    start(n);
    bar = slm_bar(n, &addr);

    /* a 64-bit prefetchable memory BAR */
    bar_reg = qpci_config_readl(&n->dev, PCI_BASE_ADDRESS_0 + 4 * SLM_BIR);
    g_assert_cmphex(bar_reg & ~PCI_BASE_ADDRESS_MEM_MASK, ==,
                    PCI_BASE_ADDRESS_SPACE_MEMORY |
                    PCI_BASE_ADDRESS_MEM_TYPE_64 |
                    PCI_BASE_ADDRESS_MEM_PREFETCH);

    /* which BAR, how much of it (CNS 06h), which namespaces (log 85h) */
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CS_CTRL, 0, 0,
                                   NVME_CSI_SLM, buf), ==, NVME_SUCCESS);
    g_assert_cmphex(id->hamat, ==, NVME_HOST_ACCESS_BAR);
    g_assert_cmpint(id->habir, ==, SLM_BIR);
    g_assert_cmpint(le64_to_cpu(id->habsz), ==, SLM_BAR_SIZE);
    g_assert_cmphex(qnvme_get_log(n, NVME_LOG_HOST_ADDR_NS, 0, NVME_CSI_SLM,
                                  0, buf, sizeof(buf)), ==, NVME_SUCCESS);
    g_assert_cmpint(le16_to_cpu(log->nents), ==, ARRAY_SIZE(has));
    for (int i = 0; i < ARRAY_SIZE(has); i++) {
        g_assert_cmpint(le32_to_cpu(d[i].nsid), ==, has[i].nsid);
        g_assert_cmphex(d[i].mat, ==, NVME_HOST_ACCESS_BAR);
        g_assert_cmphex(le64_to_cpu(d[i].memo), ==, has[i].offset);
    }
    g_assert_cmpint(le32_to_cpu(d[ARRAY_SIZE(has)].nsid), ==, 0);
    /* from an offset: the second entry */
    g_assert_cmphex(qnvme_get_log(n, NVME_LOG_HOST_ADDR_NS, 0, NVME_CSI_SLM,
                                  32, buf, 16), ==, NVME_SUCCESS);
    g_assert_cmpint(ldl_le_p(buf), ==, NSID_MEM_G2);

    /* a store through the BAR is what Memory Read returns */
    qnvme_pattern(out, sizeof(out), 21);
    qpci_memwrite(&n->dev, bar, 1 * MiB + 4 * KiB, out, sizeof(out));
    g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM_G2, 4 * KiB, in,
                                   sizeof(in)), ==, NVME_SUCCESS);
    g_assert_cmpmem(in, sizeof(in), out, sizeof(out));

    /* and what Memory Write stores, a load through the BAR returns */
    qnvme_pattern(out, sizeof(out), 22);
    g_assert_cmphex(qnvme_mem_write(n, QID, NSID_MEM, 8 * KiB, out,
                                    sizeof(out)), ==, NVME_SUCCESS);
    qpci_memread(&n->dev, bar, 8 * KiB, in, sizeof(in));
    g_assert_cmpmem(in, sizeof(in), out, sizeof(out));

    /* an access that runs past the BAR's end: only the SLM part lands */
    memset(out, 0xa5, 8);
    qpci_memwrite(&n->dev, bar, SLM_BAR_SIZE - 4, out, 8);
    g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM_G3, 512 * KiB - 4, in, 4),
                    ==, NVME_SUCCESS);
    g_assert_cmpmem(in, 4, out, 4);

    qpci_iounmap(&n->dev, bar);
    qnvme_disable(n);
}

/*
 * Commands whose data pointers address the controller's own BAR: served
 * from the SLM, as data in the CMB is; pointers that leave the BAR fail.
 */
static void test_bar_data(void *obj, void *data, QGuestAllocator *alloc)
{
    const uint32_t len = 64 * KiB;
    QNvme *n = obj;
    g_autofree uint8_t *out = g_malloc(len);
    g_autofree uint8_t *in = g_malloc(len);
    NvmeMemRangeDescr r, cr[2];
    uint64_t addr, host, sum = 0, result;
    NvmeCmd cmd;
    QPCIBar bar;

    start(n);
    bar = slm_bar(n, &addr);
    host = qnvme_alloc(n, 8 * KiB);

    /* NVM Write from the SLM, NVM Read into it, a program over it */
    qnvme_pattern(out, len, 23);
    for (uint32_t i = 0; i < len; i += 4) {
        sum += (uint32_t)ldl_le_p(out + i);
    }
    g_assert_cmphex(qnvme_mem_write(n, QID, NSID_MEM, 0, out, len), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(nvm_at(n, NVME_CMD_WRITE, 64, addr, len), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(nvm_rw(n, NVME_CMD_READ, 64, in, len), ==, NVME_SUCCESS);
    g_assert_cmpmem(in, len, out, len);
    g_assert_cmphex(nvm_at(n, NVME_CMD_READ, 64, addr + 256 * KiB, len), ==,
                    NVME_SUCCESS);
    qpci_memread(&n->dev, bar, 256 * KiB, in, len);
    g_assert_cmpmem(in, len, out, len);
    r = mem_range(NSID_MEM, 256 * KiB, len);
    g_assert_cmphex(run_inline(n, NVME_CP_PIND_REDUCE, &r, 1, 0 | 4 << 8,
                               &result), ==, NVME_SUCCESS);
    g_assert_cmphex(result, ==, sum);

    /* a program's output, read through the BAR */
    cr[0] = mem_range(NSID_MEM, 0, len);
    cr[1] = mem_range(NSID_MEM, 512 * KiB, len);
    g_assert_cmphex(run_inline(n, NVME_CP_PIND_COPY, cr, 2, 0, &result), ==,
                    NVME_SUCCESS);
    qpci_memread(&n->dev, bar, 512 * KiB, in, len);
    g_assert_cmpmem(in, len, out, len);

    /* a PRP list in the BAR too: 16 KiB of LBA 64 read into the BAR */
    for (int i = 0; i < 3; i++) {
        uint64_t e = cpu_to_le64(addr + 768 * KiB + (i + 1) * 4 * KiB);

        qpci_memwrite(&n->dev, bar, 1 * MiB - 4 * KiB + i * 8, &e, 8);
    }
    cmd = (NvmeCmd) {
        .opcode = NVME_CMD_READ,
        .nsid = cpu_to_le32(NSID_NVM),
        .cdw10 = cpu_to_le32(64),
        .cdw12 = cpu_to_le32(16 * KiB / LBA_SIZE - 1),
        .dptr.prp1 = cpu_to_le64(addr + 768 * KiB),
        .dptr.prp2 = cpu_to_le64(addr + 1 * MiB - 4 * KiB),
    };
    g_assert_cmphex(qnvme_cmd(n, QID, &cmd, NULL), ==, NVME_SUCCESS);
    qpci_memread(&n->dev, bar, 768 * KiB, in, 16 * KiB);
    g_assert_cmpmem(in, 16 * KiB, out, 16 * KiB);

    /* data partly in the BAR, partly past its end or in host memory */
    g_assert_cmphex(mem_cmd(n, NVME_CMD_MEM_READ, NSID_MEM, 0, 8 * KiB,
                            addr + SLM_BAR_SIZE - 4 * KiB, 8 * KiB), ==,
                    NVME_INVALID_USE_OF_CMB | NVME_DNR);
    g_assert_cmphex(nvm_at(n, NVME_CMD_READ, 0, addr + SLM_BAR_SIZE - 4 * KiB,
                           16 * KiB), ==, NVME_INVALID_USE_OF_CMB | NVME_DNR);
    cmd = (NvmeCmd) {
        .opcode = NVME_CMD_MEM_READ,
        .nsid = cpu_to_le32(NSID_MEM),
        .cdw12 = cpu_to_le32(8 * KiB),
        .dptr.prp1 = cpu_to_le64(host + 4 * KiB),
        .dptr.prp2 = cpu_to_le64(addr),
    };
    g_assert_cmphex(qnvme_cmd(n, QID, &cmd, NULL), ==,
                    NVME_INVALID_USE_OF_CMB | NVME_DNR);

    /* an SGL data block that runs past the end of the BAR */
    cmd = (NvmeCmd) {
        .opcode = NVME_CMD_MEM_READ,
        .flags = NVME_PSDT_SGL_MPTR_CONTIGUOUS << 6,
        .nsid = cpu_to_le32(NSID_MEM),
        .cdw12 = cpu_to_le32(4 * KiB),
    };
    cmd.dptr.sgl.addr = cpu_to_le64(addr + SLM_BAR_SIZE - 2 * KiB);
    cmd.dptr.sgl.len = cpu_to_le32(4 * KiB);
    cmd.dptr.sgl.type = NVME_SGL_DESCR_TYPE_DATA_BLOCK << 4;
    g_assert_cmphex(qnvme_cmd(n, QID, &cmd, NULL), ==, NVME_DATA_TRAS_ERROR);
    /* ... and one inside it */
    cmd.dptr.sgl.addr = cpu_to_le64(addr + SLM_BAR_SIZE - 4 * KiB);
    g_assert_cmphex(qnvme_cmd(n, QID, &cmd, NULL), ==, NVME_SUCCESS);

    /* the controller still works */
    g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM, 0, in, 4 * KiB), ==,
                    NVME_SUCCESS);
    g_assert_cmpmem(in, 4 * KiB, out, 4 * KiB);

    qnvme_free(n, host);
    qpci_iounmap(&n->dev, bar);
    qnvme_disable(n);
}

/*
 * Peer to peer: a plain NVMe controller reads into and writes from the
 * SLM of the other through its BAR, and a program runs over what it read.
 */
static void test_bar_p2p(void *obj, void *data, QGuestAllocator *alloc)
{
    const uint32_t len = 128 * KiB;
    QNvme *n = obj;
    QNvme plain;
    g_autofree uint8_t *out = g_malloc(len);
    g_autofree uint8_t *in = g_malloc(len);
    NvmeMemRangeDescr r = mem_range(NSID_MEM_G2, 64 * KiB, len);
    uint64_t addr, sum = 0, result;
    QPCIBar bar;

    start(n);
    bar = slm_bar(n, &addr);
    qnvme_init(&plain, n->dev.bus, alloc, QPCI_DEVFN(6, 0));
    start(&plain);

    qnvme_pattern(out, len, 24);
    for (uint32_t i = 0; i < len; i += 4) {
        sum += (uint32_t)ldl_le_p(out + i);
    }
    g_assert_cmphex(nvm_rw(&plain, NVME_CMD_WRITE, 8, out, len), ==,
                    NVME_SUCCESS);

    /* NVM Read on the other controller, into memory namespace 3 */
    g_assert_cmphex(nvm_at(&plain, NVME_CMD_READ, 8, addr + 1 * MiB + 64 * KiB,
                           len), ==, NVME_SUCCESS);
    g_assert_cmphex(qnvme_mem_read(n, QID, NSID_MEM_G2, 64 * KiB, in, len), ==,
                    NVME_SUCCESS);
    g_assert_cmpmem(in, len, out, len);
    g_assert_cmphex(run_inline(n, NVME_CP_PIND_REDUCE, &r, 1, 0 | 4 << 8,
                               &result), ==, NVME_SUCCESS);
    g_assert_cmphex(result, ==, sum);

    /* NVM Write on the other controller, from the SLM */
    qnvme_pattern(out, len, 25);
    g_assert_cmphex(qnvme_mem_write(n, QID, NSID_MEM, 0, out, len), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(nvm_at(&plain, NVME_CMD_WRITE, 1024, addr, len), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(nvm_rw(&plain, NVME_CMD_READ, 1024, in, len), ==,
                    NVME_SUCCESS);
    g_assert_cmpmem(in, len, out, len);

    qnvme_disable(&plain);
    qnvme_cleanup(&plain);
    qpci_iounmap(&n->dev, bar);
    qnvme_disable(n);
}

/* slm.nsid places the one-line memory namespace beside nvme-ns devices. */
static void *one_line_nsid_setup(GString *cmd_line, void *arg)
{
    qnvme_test_image(cmd_line, "nvm0", IMAGE_SIZE);
    g_string_append(cmd_line, " -device nvme-ns,drive=nvm0,nsid=1");
    return arg;
}

static void test_one_line_nsid(void *obj, void *data, QGuestAllocator *alloc)
{
    static const uint32_t all[] = { NSID_NVM, 5 };
    static const uint32_t mem[] = { 5 };
    QNvme *n = obj;

    start(n);
    qnvme_assert_nslist(n, NVME_ID_CNS_NS_ACTIVE_LIST, 0, all, 2);
    qnvme_assert_nslist(n, NVME_ID_CNS_CS_NS_ACTIVE_LIST, NVME_CSI_SLM, mem, 1);
    qnvme_disable(n);
}

/* Without SLM the controller has no reachability reporting. */
static void test_no_slm(void *obj, void *data, QGuestAllocator *alloc)
{
    QNvme *n = obj;
    uint8_t buf[NVME_IDENTIFY_DATA_SIZE];
    NvmeIdCtrl *id = (NvmeIdCtrl *)buf;

    qnvme_enable(n, NVME_CC_CSS_ALL);
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_CTRL, 0, 0, 0, buf), ==,
                    NVME_SUCCESS);
    g_assert_cmphex(id->crcap, ==, 0);
    g_assert_cmphex(le16_to_cpu(id->ocfs) & NVME_OCFS_COPY_FORMAT_4, ==, 0);
    g_assert_cmphex(qnvme_identify(n, NVME_ID_CNS_IO_COMMAND_SET, 0, 0, 0,
                                   buf), ==, NVME_SUCCESS);
    g_assert_cmphex(ldq_le_p(buf), ==, 1 << NVME_CSI_NVM |
                    1 << NVME_CSI_ZONED);
    g_assert_cmphex(qnvme_get_log(n, NVME_LOG_REACH_GROUPS, 0, 0, 0, buf,
                                  16), ==, NVME_INVALID_FIELD | NVME_DNR);
    qnvme_disable(n);
}

/* A file-backed SLM keeps its contents across a restart of QEMU. */
static void test_persistent(void *obj, void *data, QGuestAllocator *alloc)
{
    g_autofree char *path = NULL;
    uint8_t out[4 * KiB], in[4 * KiB];
    int fd = g_file_open_tmp("qtest-slm.XXXXXX", &path, NULL);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, SLM_SIZE), ==, 0);
    close(fd);
    qnvme_pattern(out, sizeof(out), 8);

    for (int boot = 0; boot < 2; boot++) {
        QOSState *qs = qtest_pc_boot(
            "-object memory-backend-file,id=slm0,size=1M,mem-path=%s,share=on "
            "-device nvme-subsys,id=subsys0,nqn=csd-persist,slm=slm0 "
            "-device nvme,serial=p0,subsys=subsys0,addr=04.0 "
            "-device nvme-mem-ns,nsid=1", path);
        QNvme n;

        qnvme_init(&n, qs->pcibus, &qs->alloc, QPCI_DEVFN(4, 0));
        start(&n);
        if (boot == 0) {
            g_assert_cmphex(qnvme_mem_write(&n, QID, 1, 8 * KiB, out,
                                            sizeof(out)), ==,
                            NVME_SUCCESS);
        } else {
            g_assert_cmphex(qnvme_mem_read(&n, QID, 1, 8 * KiB, in,
                                           sizeof(in)), ==,
                            NVME_SUCCESS);
            g_assert_cmpmem(in, sizeof(in), out, sizeof(out));
        }
        qnvme_disable(&n);
        qnvme_cleanup(&n);
        qtest_shutdown(qs);
    }
    unlink(path);
}

/* Set-ups QEMU refuses, with the reason it gives. */
static void test_bad_setup(void *obj, void *data, QGuestAllocator *alloc)
{
    static const struct {
        const char *args;
        const char *error;
    } cases[] = {
        { "-device nvme,id=n0,serial=a,slm=on "
          "-device nvme-mem-ns,bus=n0,size=4K", "overlaps namespace" },
        { "-device nvme,id=n0,serial=a "
          "-device nvme-mem-ns,bus=n0,size=4K", "no subsystem local memory" },
        { "-device nvme,id=n0,serial=a,slm=on,slm.ns-size=512K "
          "-device nvme-mem-ns,bus=n0,offset=512K,size=6", "multiples of 4" },
        { "-device nvme,id=n0,serial=a,slm=on,slm.size=1M,slm.ns-size=512K "
          "-device nvme-mem-ns,bus=n0,offset=768K,size=512K", "is outside" },
        { "-object memory-backend-ram,id=m,size=1M "
          "-device nvme-subsys,id=s,slm=m,reach.assoc=1+x "
          "-device nvme,serial=a,subsys=s", "reach.assoc" },
        { "-object memory-backend-ram,id=m,size=1M "
          "-device nvme-subsys,id=s,slm=m "
          "-device nvme-subsys,id=t,slm=m", "already in use" },
        { "-object memory-backend-ram,id=m,size=1M "
          "-device nvme-subsys,id=s,slm=m "
          "-device nvme,serial=a,subsys=s,slm=on", "already has" },
        { "-device nvme,serial=a,slm=on,slm.size=3M,slm.bar=on",
          "must be a power of 2" },
        { "-device nvme,serial=a,slm.bar=on", "goes with slm=on" },
        { "-device nvme-subsys,id=s,slm.bar=on "
          "-device nvme,serial=a,subsys=s", "slm.bar needs" },
        { "-object memory-backend-ram,id=p,size=1M "
          "-device nvme,serial=a,slm=on,slm.bar=on,pmrdev=p",
          "BAR 4 is taken" },
    };
    const char *qemu = g_getenv("QTEST_QEMU_BINARY");

    for (int i = 0; i < ARRAY_SIZE(cases); i++) {
        /* a set-up QEMU wrongly accepts times out instead of hanging */
        g_autofree char *cmd = g_strdup_printf(
            "timeout 30 %s -machine q35 -accel qtest -display none "
            "-nodefaults -S %s", qemu, cases[i].args);
        g_auto(GStrv) argv = g_strsplit(cmd, " ", -1);
        g_autofree char *out = NULL, *err = NULL;
        int status;

        g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH,
                                   NULL, NULL, &out, &err, &status, NULL));
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 1);
        g_assert_nonnull(strstr(err, cases[i].error));
    }
}

#define SLM(name, body) \
    { "slm/" name, body, slm_subsys_setup, "subsys=subsys0" }

static const QNvmeTest nvme_slm_tests[] = {
    SLM("identify", test_identify),
    SLM("css-nvm", test_css_nvm),
    SLM("rw", test_rw),
    SLM("fill", test_fill),
    SLM("copy-from-nvm", test_copy_from_nvm),
    SLM("copy-mem", test_copy_mem),
    SLM("nvm-copy-from-slm", test_nvm_copy_from_slm),
    SLM("wrong-command-set", test_wrong_command_set),
    SLM("reset", test_reset),
    SLM("reachability", test_reachability),
    { "slm/bar", test_bar, slm_bar_setup, "subsys=subsys0" },
    { "slm/bar-data", test_bar_data, slm_bar_setup, "subsys=subsys0" },
    /* a second QEMU process has no second controller to do it */
    { "slm/bar-p2p", test_bar_p2p, slm_bar_setup, "subsys=subsys0",
      .local_only = true },
    { "slm/one-line", test_one_line, image_setup,
      "drive=nvm0,slm=on,slm.size=1M,slm.ns-size=512K" },
    { "slm/one-line-nsid", test_one_line_nsid, one_line_nsid_setup,
      "slm=on,slm.size=1M,slm.nsid=5" },
    { "slm/no-slm", test_no_slm, image_setup, "drive=nvm0" },
    /* a second controller of the subsystem, in the same QEMU */
    { "slm/shared", test_shared, slm_subsys_setup, "subsys=subsys0",
      .local_only = true },
    /* these start QEMU themselves */
    { "slm/persistent", test_persistent, image_setup, "drive=nvm0",
      .local_only = true },
    { "slm/bad-setup", test_bad_setup, image_setup, "drive=nvm0",
      .local_only = true },
    { }
};

static void nvme_slm_register_tests(void)
{
    qnvme_add_tests(nvme_slm_tests);
}

libqos_init(nvme_slm_register_tests);
