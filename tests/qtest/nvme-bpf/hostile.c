/*
 * eBPF program for NVMe compute namespaces that misbehaves on purpose, as
 * CPARAM1 selects: the device must stop it and stay usable.
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "block/nvme-bpf.h"

enum {
    READ_PAST_RANGE,        /* the byte after range 0 */
    WRITE_BEFORE_RANGE,     /* the byte before range 0 */
    READ_PAST_CONTEXT,      /* a range descriptor that does not exist */
    WRITE_CONTEXT,          /* the context is read-only */
    READ_PAST_DATA,         /* the byte after the parameter data */
    ESCAPE,                 /* range 0 + CPARAM2 */
    LOOP,                   /* never ends */
    COPY_PAST_RANGE,        /* the memcpy helper, one byte too many */
    MEMCPY_FOREVER,         /* the helpers over all of range 0 (range 1 */
    MEMSET_FOREVER,         /* to range 0 for memcpy), again and again */
    CRC32C_FOREVER,
    DATA_AT,                /* the byte CPARAM2 of the parameter data */
};

/* range 0, read only where a mode uses it */
#define R0  ((volatile uint8_t *)ctx->ranges[0].addr)

uint64_t hostile(const struct nvme_bpf_ctx *ctx)
{
    switch (ctx->cparam1) {
    case READ_PAST_RANGE:
        return R0[ctx->ranges[0].len];
    case WRITE_BEFORE_RANGE:
        R0[-1] = 1;
        return 0;
    case READ_PAST_CONTEXT:
        return ctx->ranges[ctx->nranges].addr;
    case WRITE_CONTEXT:
        ((struct nvme_bpf_ctx *)ctx)->cparam1 = 0;
        return 0;
    case READ_PAST_DATA:
        return ((const uint8_t *)ctx->data)[ctx->data_len];
    case ESCAPE:
        return R0[ctx->cparam2];
    case LOOP:
        for (;;) {
            /* a loop without a condition may run forever in C */
        }
    case COPY_PAST_RANGE:
        return nvme_bpf_memcpy((void *)R0, (const void *)R0 + 1,
                               ctx->ranges[0].len);
    case MEMCPY_FOREVER:
        for (;;) {
            nvme_bpf_memcpy((void *)R0, (const void *)ctx->ranges[1].addr,
                            ctx->ranges[0].len);
        }
    case MEMSET_FOREVER:
        for (;;) {
            nvme_bpf_memset((void *)R0, 0, ctx->ranges[0].len);
        }
    case CRC32C_FOREVER:
        for (;;) {
            nvme_bpf_crc32c(0, (const void *)R0, ctx->ranges[0].len);
        }
    case DATA_AT:
        return ((const uint8_t *)ctx->data)[ctx->cparam2];
    }

    return 0;
}
