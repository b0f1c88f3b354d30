/*
 * eBPF program for NVMe compute namespaces: the sum, modulo 2^64, of the
 * little-endian 32-bit integers of range 0.
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "block/nvme-bpf.h"

uint64_t sum(const struct nvme_bpf_ctx *ctx)
{
    const uint32_t *p;
    uint64_t acc = 0, n;

    if (ctx->nranges < 1) {
        return 0;
    }

    p = (const uint32_t *)ctx->ranges[0].addr;
    n = ctx->ranges[0].len / 4;
    for (uint64_t i = 0; i < n; i++) {
        acc += p[i];
    }

    return acc;
}
