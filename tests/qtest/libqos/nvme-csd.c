/*
 * libqos NVMe driver: commands of the Subsystem Local Memory command set
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "nvme-csd.h"

static uint16_t qnvme_mem_rw(QNvme *n, uint16_t qid, uint8_t opcode,
                             uint32_t nsid, uint64_t sb, void *buf,
                             uint32_t len)
{
    NvmeMemRwCmd cmd = {
        .opcode = opcode,
        .nsid = cpu_to_le32(nsid),
        .sb = cpu_to_le64(sb),
        .len = cpu_to_le32(len),
    };

    return qnvme_cmd_data(n, qid, (NvmeCmd *)&cmd, buf, len,
                          opcode == NVME_CMD_MEM_WRITE, NULL);
}

uint16_t qnvme_mem_write(QNvme *n, uint16_t qid, uint32_t nsid, uint64_t sb,
                         const void *buf, uint32_t len)
{
    return qnvme_mem_rw(n, qid, NVME_CMD_MEM_WRITE, nsid, sb, (void *)buf,
                        len);
}

uint16_t qnvme_mem_read(QNvme *n, uint16_t qid, uint32_t nsid, uint64_t sb,
                        void *buf, uint32_t len)
{
    return qnvme_mem_rw(n, qid, NVME_CMD_MEM_READ, nsid, sb, buf, len);
}
