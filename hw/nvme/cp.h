/*
 * QEMU NVM Express: Computational Programs, between the compute namespace
 * (cp.c) and its device-defined programs (cp-programs.c)
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NVME_CP_H
#define HW_NVME_CP_H

#include "qemu/units.h"
#include "block/nvme-csd.h"

/*
 * Work a program does between two checks for a stop, in bytes read or
 * written (or compared): this bounds how late a program notices its time
 * budget, an Abort or a reset.
 */
#define NVME_CP_STEP        (64 * KiB)

/*
 * Execution context: what a program may touch, and when it must stop.
 */

typedef struct NvmeCpRange {
    uint8_t     *ptr;
    uint64_t    len;
} NvmeCpRange;

typedef struct NvmeCpCtx {
    NvmeCpRange *ranges;
    int         nranges;
    uint64_t    cparam1;
    uint64_t    cparam2;
    uint8_t     *pdata;
    uint32_t    plen;
    int64_t     deadline;       /* QEMU_CLOCK_REALTIME, ns */
    bool        cancel;
    uint64_t    work;           /* since the last check */
} NvmeCpCtx;

/*
 * Non-zero status when the execution must stop: aborted (by Abort, queue
 * deletion, controller reset) or out of its time budget.
 */
uint16_t nvme_cp_check(NvmeCpCtx *ctx);

/*
 * A device-defined program: returns an NVMe status and sets *result, the
 * 64-bit return value of Execute Program.
 */
typedef uint16_t (*NvmeCpFn)(NvmeCpCtx *ctx, uint64_t *result);

extern const NvmeCpFn nvme_cp_programs[NVME_CP_NR_DEFINED];

#endif
