/*
 * The eBPF virtual machine: what its verifier, interpreter and JIT share
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef UTIL_BPF_VM_INT_H
#define UTIL_BPF_VM_INT_H

#include "qemu/bpf-vm.h"

/* Instruction classes, RFC 9669 section 3 */
#define CLS_LD          0x00
#define CLS_LDX         0x01
#define CLS_ST          0x02
#define CLS_STX         0x03
#define CLS_ALU         0x04
#define CLS_JMP         0x05
#define CLS_JMP32       0x06
#define CLS_ALU64       0x07
#define CLS(code)       ((code) & 0x07)

/* Arithmetic and jump instructions: source and operation */
#define SRC_X           0x08
#define OP(code)        ((code) & 0xf0)

#define ALU_ADD         0x00
#define ALU_SUB         0x10
#define ALU_MUL         0x20
#define ALU_DIV         0x30
#define ALU_OR          0x40
#define ALU_AND         0x50
#define ALU_LSH         0x60
#define ALU_RSH         0x70
#define ALU_NEG         0x80
#define ALU_MOD         0x90
#define ALU_XOR         0xa0
#define ALU_MOV         0xb0
#define ALU_ARSH        0xc0
#define ALU_END         0xd0

#define JMP_JA          0x00
#define JMP_JEQ         0x10
#define JMP_JGT         0x20
#define JMP_JGE         0x30
#define JMP_JSET        0x40
#define JMP_JNE         0x50
#define JMP_JSGT        0x60
#define JMP_JSGE        0x70
#define JMP_CALL        0x80
#define JMP_EXIT        0x90
#define JMP_JLT         0xa0
#define JMP_JLE         0xb0
#define JMP_JSLT        0xc0
#define JMP_JSLE        0xd0

/* Load and store instructions: mode and size */
#define MODE(code)      ((code) & 0xe0)
#define MODE_IMM        0x00
#define MODE_MEM        0x60
#define MODE_MEMSX      0x80
#define MODE_ATOMIC     0xc0
#define SIZE(code)      ((code) & 0x18)
#define SIZE_W          0x00
#define SIZE_H          0x08
#define SIZE_B          0x10
#define SIZE_DW         0x18

/* Bytes of a load or store */
static inline unsigned bpf_vm_size(uint8_t code)
{
    static const unsigned bytes[4] = {
        [SIZE_W >> 3] = 4, [SIZE_H >> 3] = 2, [SIZE_B >> 3] = 1,
        [SIZE_DW >> 3] = 8,
    };

    return bytes[SIZE(code) >> 3];
}

#define ATOMIC_FETCH    0x01
#define ATOMIC_XCHG     (0xe0 | ATOMIC_FETCH)
#define ATOMIC_CMPXCHG  (0xf0 | ATOMIC_FETCH)

#define CALL_HELPER     0
#define CALL_LOCAL      1

#define OPC_LDDW        (CLS_LD | MODE_IMM | SIZE_DW)

#define R0              0
#define R10             10

typedef struct BpfVmInsn {
    uint8_t     code;
    uint8_t     dst;
    uint8_t     src;
    int16_t     off;
    int32_t     imm;
} BpfVmInsn;

typedef struct BpfVmJit BpfVmJit;

struct BpfVmProg {
    const BpfVmHelpers *helpers;
    unsigned    refs;
    uint32_t    len;
    BpfVmJit    *jit;           /* machine code of the program, or NULL */
    BpfVmInsn insns[];
};

/*
 * The interpreter from instruction @pc, with registers @reg, after @n
 * instructions; the run's regions (the stack too) are set up.
 */
BpfVmError bpf_vm_interp(const BpfVmProg *prog, BpfVmRun *run,
                         const uint64_t *reg, uint32_t pc, uint64_t n);

/*
 * Run the one instruction at @pc, which neither jumps nor calls, on
 * registers @reg; sets run->error and run->pc when it fails.
 */
BpfVmError bpf_vm_step(const BpfVmProg *prog, BpfVmRun *run, uint64_t *reg,
                       uint32_t pc);

/*
 * The JIT: compile; run a compiled program from its start with registers
 * @reg, the regions set up; free its code
 */
BpfVmJit *bpf_vm_jit_compile(const BpfVmProg *prog, char **why);
void bpf_vm_jit_run(const BpfVmProg *prog, BpfVmRun *run,
                    const uint64_t *reg);
void bpf_vm_jit_free(BpfVmJit *jit);

/* The standard memcpy helper, which the JIT inlines for short copies */
uint64_t bpf_vm_helper_memcpy(BpfVmRun *run, const uint64_t *args,
                              bool *fault);

#endif /* UTIL_BPF_VM_INT_H */
