/*
 * Throughput of the NVMe eBPF virtual machine against native C
 *
 * The sum, filter and crc programs of tests/qtest/nvme-bpf, built with
 * clang -target bpf, run on the machine of util/bpf-vm.c over a buffer in
 * memory, on its interpreter and (where the host has one) on its JIT; the
 * same computations, compiled by the host compiler, run on the same
 * buffer.  The three take turns, REPEAT times, and each keeps its best
 * time; the results must agree.  Prints GB/s of each and the ratio of
 * each engine to native C (1: as fast as native).
 *
 *   nvme-bpf-bench [MiB]       (default 64)
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/units.h"
#include "qemu/crc32c.h"
#include "block/nvme-bpf.h"
#include "qemu/bpf-vm.h"
#include "nvme-bpf-progs.h"

#define REPEAT      5
#define REC_SIZE    16
#define FIELD_OFF   4
#define THRESHOLD   0xc0000000u

typedef struct Bench {
    uint8_t     *in;
    uint8_t     *out;
    uint64_t    len;
} Bench;

/*
 * Native versions, the same computations as sum.c and filter.c.  noinline
 * keeps the compiler from folding them into the timing loop.
 */
static uint64_t __attribute__((noinline)) native_sum(Bench *b)
{
    const uint32_t *p = (const uint32_t *)b->in;
    uint64_t acc = 0;

    for (uint64_t i = 0; i < b->len / 4; i++) {
        acc += le32_to_cpu(p[i]);
    }
    return acc;
}

static uint64_t __attribute__((noinline)) native_filter(Bench *b)
{
    uint64_t n = b->len / REC_SIZE, count = 0;

    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *rec = b->in + i * REC_SIZE;

        if (ldl_le_p(rec + FIELD_OFF) > THRESHOLD) {
            memcpy(b->out + count * REC_SIZE, rec, REC_SIZE);
            count++;
        }
    }
    return count;
}

static uint64_t __attribute__((noinline)) native_crc(Bench *b)
{
    return crc32c(0xffffffff, b->in, b->len);
}

typedef struct VmRun {
    BpfVmProg               *prog;
    struct nvme_bpf_ctx     *ctx;
    BpfVmRegion             regions[4];
    BpfVmRun                run;
} VmRun;

/* The context of block/nvme-bpf.h: range 0 the input, 1 the output */
static void vm_init(VmRun *v, const uint8_t *code, size_t size, Bench *b,
                    uint64_t cparam1, uint64_t cparam2, bool jit)
{
    size_t ctx_len = sizeof(*v->ctx) + 2 * sizeof(struct nvme_bpf_range);
    g_autofree char *why = NULL;

    v->prog = bpf_vm_load(code, size, &bpf_vm_std_helpers, 1 << 1, &why);
    if (!v->prog) {
        fprintf(stderr, "program refused: %s\n", why);
        exit(1);
    }
    if (jit && !bpf_vm_jit(v->prog, &why)) {
        fprintf(stderr, "JIT: %s\n", why);
        exit(1);
    }

    v->ctx = g_malloc0(ctx_len);
    v->ctx->cparam1 = cpu_to_le64(cparam1);
    v->ctx->cparam2 = cpu_to_le64(cparam2);
    v->ctx->nranges = cpu_to_le32(2);
    v->ctx->ranges[0].addr = cpu_to_le64(bpf_vm_addr(2, 0));
    v->ctx->ranges[0].len = cpu_to_le64(b->len);
    v->ctx->ranges[1].addr = cpu_to_le64(bpf_vm_addr(3, 0));
    v->ctx->ranges[1].len = cpu_to_le64(b->len);

    v->regions[1] = (BpfVmRegion) { (uint8_t *)v->ctx, ctx_len, false };
    v->regions[2] = (BpfVmRegion) { b->in, b->len, true };
    v->regions[3] = (BpfVmRegion) { b->out, b->len, true };
    v->run = (BpfVmRun) {
        .regions = v->regions,
        .nregions = 4,
        .args = { bpf_vm_addr(1, 0) },
    };
}

static uint64_t vm_run(VmRun *v)
{
    if (bpf_vm_run(v->prog, &v->run)) {
        fprintf(stderr, "program failed at %u: %s\n", v->run.pc,
                bpf_vm_strerror(v->run.error));
        exit(1);
    }
    return v->run.r0;
}

static void vm_free(VmRun *v)
{
    bpf_vm_free(v->prog);
    g_free(v->ctx);
}

static double seconds(uint64_t (*fn)(void *), void *opaque, uint64_t *result)
{
    int64_t start = g_get_monotonic_time();

    *result = fn(opaque);
    return (g_get_monotonic_time() - start) / 1e6;
}

static uint64_t run_vm(void *opaque)
{
    return vm_run(opaque);
}

static uint64_t run_native_sum(void *opaque)
{
    return native_sum(opaque);
}

static uint64_t run_native_filter(void *opaque)
{
    return native_filter(opaque);
}

static uint64_t run_native_crc(void *opaque)
{
    return native_crc(opaque);
}

typedef struct Program {
    const char      *name;
    const uint8_t   *code;
    size_t          size;
    uint64_t        (*native)(void *);
    uint64_t        cparam1, cparam2;
    uint32_t        nranges;
} Program;

/* Native, interpreter, JIT: by turns, the best time of each */
static void report(const Program *p, Bench *b, bool jit)
{
    VmRun vm[2] = {};
    double t[3] = { 1e9, 1e9, 1e9 }, gb = b->len / 1e9;
    uint64_t r[3];

    for (int e = 0; e <= jit; e++) {
        vm_init(&vm[e], p->code, p->size, b, p->cparam1, p->cparam2, e);
        vm[e].ctx->nranges = cpu_to_le32(p->nranges);
    }
    for (int i = 0; i < REPEAT; i++) {
        t[0] = MIN(t[0], seconds(p->native, b, &r[0]));
        for (int e = 0; e <= jit; e++) {
            t[e + 1] = MIN(t[e + 1], seconds(run_vm, &vm[e], &r[e + 1]));
            if (r[e + 1] != r[0]) {
                fprintf(stderr, "%s: the %s gives %" PRIu64 ", native C %"
                        PRIu64 "\n", p->name, e ? "JIT" : "interpreter",
                        r[e + 1], r[0]);
                exit(1);
            }
        }
    }
    printf("%-7s %7.3f GB/s %7.3f GB/s %6.3f", p->name, gb / t[0],
           gb / t[1], t[0] / t[1]);
    if (jit) {
        printf(" %7.3f GB/s %6.3f", gb / t[2], t[0] / t[2]);
    }
    printf("\n");
    for (int e = 0; e <= jit; e++) {
        vm_free(&vm[e]);
    }
}

int main(int argc, char **argv)
{
    uint64_t mib = argc > 1 ? g_ascii_strtoull(argv[1], NULL, 0) : 64;
    Bench b = { .len = mib * MiB };
    bool jit = bpf_vm_jit_available();
    const Program progs[] = {
        { "sum", nvme_bpf_sum, sizeof(nvme_bpf_sum), run_native_sum,
          0, 0, 1 },
        { "filter", nvme_bpf_filter, sizeof(nvme_bpf_filter),
          run_native_filter, REC_SIZE, (uint64_t)THRESHOLD << 32 | FIELD_OFF,
          2 },
        { "crc32c", nvme_bpf_crc, sizeof(nvme_bpf_crc), run_native_crc,
          0, 0, 1 },
    };
    uint32_t seed = 1;

    if (!mib || mib > 4095) {
        fprintf(stderr, "usage: %s [MiB, 1 to 4095]\n", argv[0]);
        return 1;
    }

    b.in = g_malloc(b.len);
    b.out = g_malloc(b.len);
    for (uint64_t i = 0; i < b.len; i += 4) {
        seed = seed * 1103515245 + 12345;
        stl_le_p(b.in + i, seed);
    }

    printf("eBPF programs against native C, %" PRIu64 " MiB, best of %d "
           "(ratio: engine / native)\n", mib, REPEAT);
    printf("%-7s %12s %12s %6s", "program", "native", "interpreter",
           "ratio");
    if (jit) {
        printf(" %12s %6s", "JIT", "ratio");
    }
    printf("\n");
    for (int i = 0; i < ARRAY_SIZE(progs); i++) {
        report(&progs[i], &b, jit);
    }
    if (!jit) {
        printf("(no JIT on this host)\n");
    }

    g_free(b.in);
    g_free(b.out);
    return 0;
}
