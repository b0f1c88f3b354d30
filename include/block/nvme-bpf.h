/*
 * The ABI of eBPF programs downloaded to a QEMU NVMe compute namespace
 *
 * Programs include this header and are built with
 *   clang -O2 -target bpf -ffreestanding -c prog.c -o prog.o
 *
 * Entry: r1 holds the address of a struct nvme_bpf_ctx (read-only).  The
 * program returns the 64-bit value of Execute Program in r0.  It reaches
 * the ranges of its memory range set, its parameter data and its 512-byte
 * stack with ordinary loads and stores; every access is checked, and one
 * outside them stops the program (Invalid Program Data).  Addresses are
 * those of the program's own address space, not of the host or the guest.
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef NVME_BPF_H
#define NVME_BPF_H

#include <stdint.h>

/* A memory range of the set given to Execute Program, readable, writable */
struct nvme_bpf_range {
    uint64_t    addr;
    uint64_t    len;
};

struct nvme_bpf_ctx {
    uint64_t    cparam1;        /* Execute Program CPARAM1 */
    uint64_t    cparam2;        /* Execute Program CPARAM2 */
    uint64_t    data;           /* parameter data (read-only), if any */
    uint32_t    data_len;       /* its length in bytes */
    uint32_t    nranges;        /* ranges of the memory range set */
    struct nvme_bpf_range ranges[];
};

/*
 * Helpers, called like functions.  Any other call is rejected when the
 * program is loaded.
 *
 * memcpy: copy @len bytes from @src to @dst (which may overlap); 0.
 * memset: set @len bytes at @dst to @c; 0.
 * crc32c: the CRC-32C of @len bytes at @src, continuing from @crc (0 to
 *         start: crc32c(crc32c(0, a), b) is the CRC-32C of a then b).
 * A helper given memory outside the program's stops it like a bad load.
 */
#define NVME_BPF_HELPER_MEMCPY  1
#define NVME_BPF_HELPER_MEMSET  2
#define NVME_BPF_HELPER_CRC32C  3

/* A call through a constant address is how eBPF calls helper number N */
#define NVME_BPF_CALL(n, type)  ((type)(uintptr_t)(n))

#define nvme_bpf_memcpy(dst, src, len)                                  \
    NVME_BPF_CALL(NVME_BPF_HELPER_MEMCPY,                               \
                  uint64_t (*)(void *, const void *, uint64_t))(dst, src, len)
#define nvme_bpf_memset(dst, c, len)                                    \
    NVME_BPF_CALL(NVME_BPF_HELPER_MEMSET,                               \
                  uint64_t (*)(void *, uint64_t, uint64_t))(dst, c, len)
#define nvme_bpf_crc32c(crc, src, len)                                  \
    NVME_BPF_CALL(NVME_BPF_HELPER_CRC32C,                               \
                  uint32_t (*)(uint32_t, const void *, uint64_t))(crc, src, len)

#endif /* NVME_BPF_H */
