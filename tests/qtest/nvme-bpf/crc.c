/*
 * eBPF program for NVMe compute namespaces: the CRC-32C of range 0,
 * computed by the crc32c helper in two pieces; range 1, if given, is then
 * filled with the byte CPARAM1 by the memset helper.
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "block/nvme-bpf.h"

uint64_t crc(const struct nvme_bpf_ctx *ctx)
{
    const uint8_t *p = (const uint8_t *)ctx->ranges[0].addr;
    uint64_t len = ctx->ranges[0].len, half = len / 2;
    uint32_t c;

    c = nvme_bpf_crc32c(0, p, half);
    c = nvme_bpf_crc32c(c, p + half, len - half);

    if (ctx->nranges > 1) {
        nvme_bpf_memset((void *)ctx->ranges[1].addr, ctx->cparam1,
                        ctx->ranges[1].len);
    }

    return c;
}
