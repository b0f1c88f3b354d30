/*
 * NVMe computational storage: the Subsystem Local Memory (CSI 03h) and
 * Computational Programs (CSI 04h) I/O command sets
 *
 * What the NVMe base specification defines for these command sets (CSI
 * values, status codes, reachability, copy descriptor format 4h) lives in
 * block/nvme.h.  This header holds what only the SLM and CP command set
 * specifications define.  The ratified text of those was not available when
 * this was written: every value below is marked UNCERTAIN in one section,
 * taken from the implementations that agree, so that it can be corrected
 * here, in one edit, once checked against the specifications.
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BLOCK_NVME_CSD_H
#define BLOCK_NVME_CSD_H

#include "block/nvme.h"

/*
 * ======================================================================
 * UNCERTAIN: Subsystem Local Memory command set (SLM 1.0)
 *
 * Sources: two independent third-party implementations (an SPDK fork
 * claiming CP 1.1, and a libnvme fork for an FPGA device) agree on each
 * value below unless a note says otherwise.
 * ======================================================================
 */

enum NvmeSlmCommands {
    /* UNCERTAIN: both implementations agree */
    NVME_CMD_MEM_COPY           = 0x01,
    NVME_CMD_MEM_READ           = 0x02,
    /*
     * UNCERTAIN: 04h in one implementation, 00h in the other; 00h is
     * Flush in every other command set, so 04h is taken
     */
    NVME_CMD_MEM_FILL           = 0x04,
    NVME_CMD_MEM_WRITE          = 0x05,
};

/*
 * Memory Read, Memory Write and Memory Fill (UNCERTAIN): CDW10-11 the
 * starting byte in the memory namespace, CDW12 the length in bytes (not
 * 0's based).  Host accesses are dword aligned and dword granular (the
 * granularity is CONFIRMED by the SNIA SDC 2023 presentation).  Memory Fill
 * writes zeroes: no pattern field is known.
 */
typedef struct QEMU_PACKED NvmeMemRwCmd {
    uint8_t     opcode;
    uint8_t     flags;
    uint16_t    cid;
    uint32_t    nsid;
    uint64_t    rsvd2;
    uint64_t    mptr;
    NvmeCmdDptr dptr;
    uint64_t    sb;
    uint32_t    len;
    uint32_t    rsvd13[3];
} NvmeMemRwCmd;

/*
 * Memory Copy (UNCERTAIN): CDW2-3 the number of bytes copied in all (must
 * equal the sum of the source lengths), CDW10-11 the starting destination
 * byte, CDW12 bits 7:0 the 0's based number of source ranges and bits 11:8
 * the descriptor format, as in the NVM Copy command.  Formats 2h and 3h name
 * logical blocks of NVM namespaces (NvmeCopySourceRangeFormat0_2 / 1_3 of
 * block/nvme.h), format 4h byte ranges of memory namespaces.
 */
typedef struct QEMU_PACKED NvmeMemCopyCmd {
    uint8_t     opcode;
    uint8_t     flags;
    uint16_t    cid;
    uint32_t    nsid;
    uint64_t    len;
    uint64_t    mptr;
    NvmeCmdDptr dptr;
    uint64_t    sdaddr;
    uint8_t     nr;
    uint8_t     control[3];
    uint32_t    rsvd13[3];
} NvmeMemCopyCmd;

#define NVME_MEM_COPY_DESFMT(control0) ((control0) & 0xf)

/*
 * Copy source range, descriptor format 4h: a byte range of a memory
 * namespace (UNCERTAIN layout; that format 4h names an SLM source with an
 * SNSID and no protection information is CONFIRMED by the NVM Command Set
 * specification).  Used by Memory Copy and by NVM Copy.
 */
typedef struct QEMU_PACKED NvmeCopySourceRangeFormat4 {
    uint32_t    snsid;
    uint8_t     rsvd4[4];
    uint64_t    saddr;
    uint32_t    nbyte;
    uint8_t     rsvd20[2];
    uint16_t    sopt;
    uint8_t     rsvd24[8];
} NvmeCopySourceRangeFormat4;

/* Source options of formats 2h, 3h and 4h: Fast Copy Only */
#define NVME_COPY_SOPT_FCO (1 << 15)

/*
 * SLM I/O Command Set specific Identify Namespace (CNS 05h, CSI 03h).
 * UNCERTAIN and invented here: no layout was found.  The size of the
 * memory namespace is reported in bytes.
 */
typedef struct QEMU_PACKED NvmeIdNsSlm {
    uint64_t    msz;
    uint8_t     rsvd8[4088];
} NvmeIdNsSlm;

static inline void _nvme_csd_check_size(void)
{
    QEMU_BUILD_BUG_ON(sizeof(NvmeMemRwCmd) != 64);
    QEMU_BUILD_BUG_ON(sizeof(NvmeMemCopyCmd) != 64);
    QEMU_BUILD_BUG_ON(sizeof(NvmeCopySourceRangeFormat4) != 32);
    QEMU_BUILD_BUG_ON(sizeof(NvmeIdNsSlm) != 4096);
}

#endif
