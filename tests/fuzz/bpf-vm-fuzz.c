/*
 * libFuzzer target for the eBPF machine (util/bpf-vm.c): the verifier,
 * then the interpreter and the JIT, on arbitrary programs.
 *
 * Input: one byte N, then N + 1 eBPF instructions (8 bytes each), then up
 * to 256 bytes that fill the program's memory: a read-only context region
 * and a writable range.  A program the verifier takes runs twice, with
 * every register it may not read set to different values, under an
 * instruction budget; both runs must end the same way and leave the same
 * memory, else the verifier let a read of an unset register through.
 * Where the host has a JIT, the program is then compiled and run again:
 * it must end as on the interpreter (result, error, failing instruction,
 * instructions counted) and leave the same memory.
 * Built with AddressSanitizer and UndefinedBehaviorSanitizer, so that an
 * access outside what the machine checks is reported too.
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bpf-vm.h"

#define MEM_LEN     256
#define BUDGET      100000

typedef struct Outcome {
    BpfVmError      error;
    uint64_t        r0;
    uint32_t        pc;
    uint64_t        insns;
    uint8_t         ctx[MEM_LEN];
    uint8_t         range[MEM_LEN];
} Outcome;

static void run_once(const BpfVmProg *prog, const uint8_t *mem,
                     size_t len, uint64_t fill, Outcome *o)
{
    BpfVmRegion regions[3] = {};
    BpfVmRun run = {
        .regions = regions,
        .nregions = 3,
        .budget = BUDGET,
        .fill = fill,
    };

    memset(o, 0, sizeof(*o));
    memcpy(o->ctx, mem, len);
    memcpy(o->range, mem, len);
    regions[1] = (BpfVmRegion) { o->ctx, MEM_LEN, false };
    regions[2] = (BpfVmRegion) { o->range, MEM_LEN, true };
    /* r1: the context; r2-r5 are not set at entry */
    run.args[0] = bpf_vm_addr(1, 0);
    for (int i = 1; i < 5; i++) {
        run.args[i] = fill;
    }

    o->error = bpf_vm_run(prog, &run);
    o->r0 = o->error ? 0 : run.r0;
    o->pc = o->error ? run.pc : 0;
    o->insns = run.insns;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *why = NULL;
    BpfVmProg *prog;
    size_t len;
    Outcome a, b;

    if (size < 1 || size < 1 + (data[0] + 1) * 8) {
        return -1;
    }
    len = (data[0] + 1) * 8;
    prog = bpf_vm_load(data + 1, len, &bpf_vm_std_helpers, 1 << 1, &why);
    if (!prog) {
        return 0;
    }

    data += 1 + len;
    size -= 1 + len;
    size = MIN(size, MEM_LEN);
    run_once(prog, data, size, 0, &a);
    run_once(prog, data, size, 0x5a5a5a5a5a5a5a5aULL, &b);
    if (memcmp(&a, &b, sizeof(a))) {
        fprintf(stderr, "the result depends on unset registers: "
                "error %d/%d r0 0x%" PRIx64 "/0x%" PRIx64 " pc %u/%u\n",
                a.error, b.error, a.r0, b.r0, a.pc, b.pc);
        abort();
    }
    if (bpf_vm_jit(prog, &why)) {
        run_once(prog, data, size, 0, &b);
        if (memcmp(&a, &b, sizeof(a))) {
            fprintf(stderr, "the JIT differs from the interpreter: "
                    "error %d/%d r0 0x%" PRIx64 "/0x%" PRIx64 " pc %u/%u "
                    "insns %" PRIu64 "/%" PRIu64 " memory %s\n",
                    a.error, b.error, a.r0, b.r0, a.pc, b.pc, a.insns,
                    b.insns, memcmp(a.ctx, b.ctx, sizeof(a.ctx)) ||
                    memcmp(a.range, b.range, sizeof(a.range)) ?
                    "differs" : "same");
            abort();
        }
    } else if (bpf_vm_jit_available()) {
        fprintf(stderr, "the JIT refused a verified program: %s\n", why);
        abort();
    }
    bpf_vm_free(prog);
    return 0;
}
