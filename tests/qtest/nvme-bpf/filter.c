/*
 * eBPF program for NVMe compute namespaces: copy the records of range 0
 * whose field passes a predicate into range 1.
 *
 * CPARAM1: the record size in bytes.  CPARAM2 bits 31:0: the byte offset
 * of a little-endian 32-bit field in a record; bits 63:32: the threshold.
 * Records whose field is greater than the threshold are copied, in order,
 * to the start of range 1 while they fit.  Returns the number of records
 * copied, or all ones if the parameters or ranges do not fit.
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "block/nvme-bpf.h"

uint64_t filter(const struct nvme_bpf_ctx *ctx)
{
    uint64_t size = ctx->cparam1;
    uint32_t off = ctx->cparam2, threshold = ctx->cparam2 >> 32;
    const uint8_t *in;
    uint8_t *out;
    uint64_t n, room, count = 0;

    if (ctx->nranges < 2 || !size || off + 4 > size) {
        return ~0ULL;
    }

    in = (const uint8_t *)ctx->ranges[0].addr;
    out = (uint8_t *)ctx->ranges[1].addr;
    n = ctx->ranges[0].len / size;
    room = ctx->ranges[1].len / size;

    for (uint64_t i = 0; i < n && count < room; i++) {
        const uint8_t *rec = in + i * size;
        uint32_t field = *(const uint32_t *)(rec + off);

        if (field > threshold) {
            nvme_bpf_memcpy(out + count * size, rec, size);
            count++;
        }
    }

    return count;
}
