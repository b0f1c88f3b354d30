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

/*
 * ======================================================================
 * UNCERTAIN: host addressable SLM (SLM 1.2 and later, TP4184)
 *
 * The Host Addressable Namespaces log page (85h) as an nvme-cli change
 * (linux-nvme/nvme-cli pull request 3888, checked by its author against
 * SLM 1.3) has it.  How a host learns which BAR holds the SLM is not
 * public: the SLM Identify Controller fields below are invented here.
 * ======================================================================
 */

#define NVME_LOG_HOST_ADDR_NS       0x85

/* Host Addressable Namespaces log page: a 16-byte header, 16 bytes each */
typedef struct QEMU_PACKED NvmeHostAddrNsLog {
    uint16_t    nents;
    uint8_t     rsvd2[14];
} NvmeHostAddrNsLog;

typedef struct QEMU_PACKED NvmeHostAddrNsDescr {
    uint32_t    nsid;
    uint8_t     mat;        /* how the host reaches it (NvmeHostAccess) */
    uint8_t     rsvd5[3];
    uint64_t    memo;       /* from the base of that access */
} NvmeHostAddrNsDescr;

/* Memory access types: BAR access and CXL HDM access */
enum NvmeHostAccess {
    NVME_HOST_ACCESS_BAR        = 1 << 0,
    NVME_HOST_ACCESS_CXL        = 1 << 1,
};

/*
 * SLM I/O Command Set specific Identify Controller (CNS 06h, CSI 03h),
 * invented here: HAMAT the memory access types (NvmeHostAccess) through
 * which the SLM is host addressable, HABIR the BAR that maps the SLM from
 * its offset 0 when HAMAT has BAR access, HABSZ the bytes it maps.
 */
typedef struct QEMU_PACKED NvmeIdCtrlSlm {
    uint8_t     hamat;
    uint8_t     habir;
    uint8_t     rsvd2[6];
    uint64_t    habsz;
    uint8_t     rsvd16[4080];
} NvmeIdCtrlSlm;

/*
 * ======================================================================
 * UNCERTAIN: Computational Programs command set (CP 1.0)
 *
 * The admin opcodes (Load Program 85h, Program Activation Management 88h,
 * Memory Range Set Management 89h) and log page identifiers (82h, 83h,
 * 84h) are CONFIRMED and in block/nvme.h.  Everything below comes from
 * implementations (the same two, and a pre-ratification prototype).
 * ======================================================================
 */

enum NvmeCpCommands {
    NVME_CMD_EXEC_PROGRAM       = 0x01,     /* two implementations agree */
};

/*
 * Load Program (85h): CDW10 bits 15:0 PIND, 23:16 PTYPE, 24 SEL (0 load,
 * 1 unload), 27:25 PIT; CDW11 PSIZE, the program's size in bytes; CDW12-13
 * the program identifier; CDW14 NUMB, the bytes of this command; CDW15
 * LOFF, their offset in the program.  (A prototype swaps CDW11 and CDW14.)
 */
#define NVME_LOAD_PROG_PIND(cdw10)  ((cdw10) & 0xffff)
#define NVME_LOAD_PROG_PTYPE(cdw10) (((cdw10) >> 16) & 0xff)
#define NVME_LOAD_PROG_UNLOAD(cdw10) (((cdw10) >> 24) & 0x1)
#define NVME_LOAD_PROG_PIT(cdw10)   (((cdw10) >> 25) & 0x7)

/* PIT: 0 no identifier, 1 a 64-bit PUID in CDW12-13 (one implementation) */
#define NVME_PIT_NONE               0x0
#define NVME_PIT_PUID               0x1

/*
 * Program type of eBPF bytecode.  No source assigns a code to eBPF; C0h-FFh
 * are vendor specific in one implementation, so a standard type would be
 * below: 01h is chosen here.
 */
#define NVME_PTYPE_EBPF             0x01

/*
 * Program Activation Management (88h): CDW10 bits 15:0 PIND, bits 19:16
 * SEL.  The SEL encoding is disputed between implementations; 0 activates
 * and 1 deactivates here, as one device and one README have it.
 */
#define NVME_PROG_ACT_PIND(cdw10)   ((cdw10) & 0xffff)
#define NVME_PROG_ACT_SEL(cdw10)    (((cdw10) >> 16) & 0xf)

enum NvmeProgActSel {
    NVME_PROG_ACT_ACTIVATE      = 0x0,
    NVME_PROG_ACT_DEACTIVATE    = 0x1,
};

/*
 * Memory Range Set Management (89h): CDW10 bits 3:0 SEL (0 create, 1
 * delete), bits 31:16 RSID (delete); CDW11 bits 7:0 NUMR, the number of
 * memory range descriptors in the data (a count, not 0's based).  Create
 * returns the new RSID in completion dword 0.
 */
#define NVME_MRS_SEL(cdw10)         ((cdw10) & 0xf)
#define NVME_MRS_RSID(cdw10)        (((cdw10) >> 16) & 0xffff)
#define NVME_MRS_NUMR(cdw11)        ((cdw11) & 0xff)

enum NvmeMrsSel {
    NVME_MRS_CREATE             = 0x0,
    NVME_MRS_DELETE             = 0x1,
};

/* Memory Range Descriptor: three sources agree */
typedef struct QEMU_PACKED NvmeMemRangeDescr {
    uint32_t    mnsid;
    uint32_t    len;
    uint64_t    sb;
    uint8_t     rsvd16[16];
} NvmeMemRangeDescr;

/*
 * Execute Program (01h): CDW2 bits 15:0 PIND and 31:16 RSID, CDW3 NUMR,
 * CDW10-11 CPARAM1, CDW12-13 CPARAM2, DPTR the data: NUMR memory range
 * descriptors, then DLEN bytes of parameter data.  NUMR non-zero gives the
 * program's memory ranges inline, instead of a memory range set (RSID must
 * then be 0), as two implementations do.  Where DLEN lives is disputed
 * (CDW4, which the base specification reserves for MPTR, or CDW15): CDW15
 * is taken.  The program's 64-bit return value is completion dwords 0
 * (low) and 1.
 */
typedef struct QEMU_PACKED NvmeExecProgramCmd {
    uint8_t     opcode;
    uint8_t     flags;
    uint16_t    cid;
    uint32_t    nsid;
    uint16_t    pind;
    uint16_t    rsid;
    uint32_t    numr;
    uint64_t    mptr;
    NvmeCmdDptr dptr;
    uint64_t    cparam1;
    uint64_t    cparam2;
    uint32_t    rsvd14;
    uint32_t    dlen;
} NvmeExecProgramCmd;

/*
 * CP Identify Namespace (CNS 05h, CSI 04h): one implementation's layout.
 * MRSG is the log2 of the memory range granularity in bytes; MAXPB is in
 * bytes here (MiB in that implementation); LPG is the log2 of the Load
 * Program granularity in bytes.
 */
typedef struct QEMU_PACKED NvmeIdNsCp {
    uint16_t    maxact;
    uint16_t    maxmemrs;
    uint16_t    mrsg;
    uint8_t     maxmemr;
    uint8_t     rsvd7;
    uint64_t    maxpb;
    uint8_t     lpg;
    uint8_t     rsvd17[4079];
} NvmeIdNsCp;

/* Program List log page (82h): a 64-byte header, a descriptor a slot */
typedef struct QEMU_PACKED NvmeProgramListLog {
    uint32_t    numd;
    uint8_t     rsvd4[60];
} NvmeProgramListLog;

typedef struct QEMU_PACKED NvmeProgramDescr {
    uint8_t     flags;      /* 1:0 PEOCC, 2 ACT, 5:3 PIT */
    uint8_t     ptype;
    uint8_t     rsvd2[6];
    uint64_t    puid;
    uint8_t     rsvd16[48];
} NvmeProgramDescr;

enum NvmeProgramOccupancy {
    NVME_PEOCC_EMPTY            = 0x0,
    NVME_PEOCC_DOWNLOADED       = 0x1,
    NVME_PEOCC_DEVICE_DEFINED   = 0x2,
};

#define NVME_PROG_DESCR_ACT         (1 << 2)
#define NVME_PROG_DESCR_PIT_SHIFT   3

/* Downloadable Program Types log page (83h): 32-byte header and entries */
typedef struct QEMU_PACKED NvmeProgramTypesLog {
    uint32_t    numd;
    uint8_t     rsvd4[28];
} NvmeProgramTypesLog;

typedef struct QEMU_PACKED NvmeProgramTypeDescr {
    uint8_t     ptype;
    uint8_t     ver;
    uint8_t     rsvd2[6];
    uint32_t    tsi[6];
} NvmeProgramTypeDescr;

/*
 * Memory Range Set List log page (84h): no layout was found; invented
 * here.  A 64-byte header, then for each set a 32-byte entry followed by
 * its memory range descriptors.
 */
typedef struct QEMU_PACKED NvmeMrsListLog {
    uint32_t    numd;
    uint8_t     rsvd4[60];
} NvmeMrsListLog;

typedef struct QEMU_PACKED NvmeMrsDescr {
    uint16_t    rsid;
    uint8_t     numr;
    uint8_t     rsvd3[29];
} NvmeMrsDescr;

/*
 * ======================================================================
 * QEMU's compute namespaces (not from a specification)
 * ======================================================================
 *
 * The program slots of an nvme-compute-ns: its device-defined programs
 * (docs/system/devices/nvme-csd.rst gives each one's contract) at fixed
 * indexes from 0, then the slots for downloaded programs.
 */
typedef enum NvmeCpProgramIndex {
    NVME_CP_PIND_REDUCE         = 0,
    NVME_CP_PIND_CRC32C         = 1,
    NVME_CP_PIND_SHA256         = 2,
    NVME_CP_PIND_FILTER         = 3,
    NVME_CP_PIND_COPY           = 4,
    NVME_CP_PIND_COMPRESS       = 5,
    NVME_CP_PIND_DECOMPRESS     = 6,
    NVME_CP_PIND_COUNT          = 7,
    NVME_CP_PIND_WAIT           = 8,
    NVME_CP_NR_DEFINED,                     /* the first downloadable slot */
} NvmeCpProgramIndex;

/* The names of the device-defined programs, by slot, NULL-terminated */
#define NVME_CP_PROGRAM_NAMES { \
    [NVME_CP_PIND_REDUCE]       = "reduce", \
    [NVME_CP_PIND_CRC32C]       = "crc32c", \
    [NVME_CP_PIND_SHA256]       = "sha256", \
    [NVME_CP_PIND_FILTER]       = "filter", \
    [NVME_CP_PIND_COPY]         = "copy", \
    [NVME_CP_PIND_COMPRESS]     = "compress", \
    [NVME_CP_PIND_DECOMPRESS]   = "decompress", \
    [NVME_CP_PIND_COUNT]        = "count", \
    [NVME_CP_PIND_WAIT]         = "wait", \
    [NVME_CP_NR_DEFINED]        = NULL, \
}

static inline void _nvme_csd_check_size(void)
{
    QEMU_BUILD_BUG_ON(sizeof(NvmeMemRwCmd) != 64);
    QEMU_BUILD_BUG_ON(sizeof(NvmeMemCopyCmd) != 64);
    QEMU_BUILD_BUG_ON(sizeof(NvmeCopySourceRangeFormat4) != 32);
    QEMU_BUILD_BUG_ON(sizeof(NvmeIdNsSlm) != 4096);
    QEMU_BUILD_BUG_ON(sizeof(NvmeHostAddrNsLog) != 16);
    QEMU_BUILD_BUG_ON(sizeof(NvmeHostAddrNsDescr) != 16);
    QEMU_BUILD_BUG_ON(sizeof(NvmeIdCtrlSlm) != 4096);
    QEMU_BUILD_BUG_ON(sizeof(NvmeMemRangeDescr) != 32);
    QEMU_BUILD_BUG_ON(sizeof(NvmeExecProgramCmd) != 64);
    QEMU_BUILD_BUG_ON(sizeof(NvmeIdNsCp) != 4096);
    QEMU_BUILD_BUG_ON(sizeof(NvmeProgramListLog) != 64);
    QEMU_BUILD_BUG_ON(sizeof(NvmeProgramDescr) != 64);
    QEMU_BUILD_BUG_ON(sizeof(NvmeProgramTypesLog) != 32);
    QEMU_BUILD_BUG_ON(sizeof(NvmeProgramTypeDescr) != 32);
    QEMU_BUILD_BUG_ON(sizeof(NvmeMrsListLog) != 64);
    QEMU_BUILD_BUG_ON(sizeof(NvmeMrsDescr) != 32);
}

#endif
