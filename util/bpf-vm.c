/*
 * A sandboxed eBPF virtual machine
 *
 * The instruction set is that of RFC 9669 (base32, base64, atomic32,
 * atomic64, divmul32, divmul64 and the signed and sign-extending
 * extensions), with calls of local functions and of numbered helpers.
 * Not supported: the legacy packet loads (LD ABS/IND), 64-bit immediate
 * loads other than of a plain constant (maps, BTF) and calls through a
 * register; the verifier rejects them.
 *
 * Program memory is a set of regions, each seen at its own 4 GiB-aligned
 * address, so that a load or store is checked with one shift and one
 * comparison.  Addresses a program sees are never host addresses.
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/atomic.h"
#include "qemu/crc32c.h"
#include "qemu/host-utils.h"
#include "qemu/bpf-vm.h"
#include "bpf-vm-int.h"

const char *bpf_vm_strerror(BpfVmError err)
{
    static const char *const msg[] = {
        [BPF_VM_OK]         = "success",
        [BPF_VM_EACCESS]    = "memory access outside the regions",
        [BPF_VM_EALIGN]     = "misaligned atomic operation",
        [BPF_VM_EDEPTH]     = "local calls nested too deep",
        [BPF_VM_EHELPER]    = "helper refused its arguments",
        [BPF_VM_EBUDGET]    = "instruction budget exhausted",
        [BPF_VM_ESTOPPED] = "stopped",
    };

    return err < ARRAY_SIZE(msg) ? msg[err] : "unknown error";
}

uint32_t bpf_vm_len(const BpfVmProg *prog)
{
    return prog->len;
}

BpfVmProg *bpf_vm_ref(BpfVmProg *prog)
{
    prog->refs++;
    return prog;
}

void bpf_vm_free(BpfVmProg *prog)
{
    if (prog && !--prog->refs) {
        bpf_vm_jit_free(prog->jit);
        g_free(prog);
    }
}

bool bpf_vm_jit(BpfVmProg *prog, char **why)
{
    if (!prog->jit) {
        prog->jit = bpf_vm_jit_compile(prog, why);
    }
    return prog->jit;
}

bool bpf_vm_jitted(const BpfVmProg *prog)
{
    return prog->jit;
}

/*
 * Verifier
 */

typedef struct BpfVmCheck {
    const BpfVmProg         *prog;
    const BpfVmHelpers      *helpers;
    uint16_t                *init;      /* registers set on every path */
    bool                    *seen;
    bool                    *wide;      /* second half of an lddw */
    uint32_t                *work;
    uint32_t                nwork;
    char                    **why;
} BpfVmCheck;

static bool check_fail(BpfVmCheck *c, uint32_t pc, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static bool check_fail(BpfVmCheck *c, uint32_t pc, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);

    *c->why = g_strdup_printf("instruction %u: %s", pc, msg);
    return false;
}

static const BpfVmHelper *check_helper(const BpfVmHelpers *helpers,
                                       int32_t id)
{
    if (!helpers || id < 0 || (uint32_t)id >= helpers->count ||
        !helpers->table[id].name) {
        return NULL;
    }

    return &helpers->table[id];
}

static bool check_target(BpfVmCheck *c, uint32_t pc, int64_t target)
{
    if (target < 0 || target >= c->prog->len) {
        return check_fail(c, pc, "jump out of the program");
    }
    if (c->wide[target]) {
        return check_fail(c, pc, "jump into the middle of an lddw");
    }

    return true;
}

/* r10-based accesses must stay within the frame */
static bool check_stack(BpfVmCheck *c, uint32_t pc, int16_t off,
                        unsigned size)
{
    if (off > -(int)size || off < -BPF_VM_STACK_SIZE) {
        return check_fail(c, pc, "stack access at r10%+d outside %d bytes",
                          off, BPF_VM_STACK_SIZE);
    }

    return true;
}

/* Fields of one instruction, and what it does that is always wrong */
static bool check_insn(BpfVmCheck *c, uint32_t pc)
{
    const BpfVmInsn *i = &c->prog->insns[pc];
    uint8_t op = OP(i->code);
    bool x = i->code & SRC_X;

    if (i->dst > R10 || i->src > R10) {
        return check_fail(c, pc, "no register r%u", MAX(i->dst, i->src));
    }

    switch (CLS(i->code)) {
    case CLS_ALU:
    case CLS_ALU64:
        if (i->dst == R10) {
            return check_fail(c, pc, "r10 is read-only");
        }
        if (op == ALU_NEG || op == ALU_END) {
            if (i->src || i->off ||
                (op == ALU_NEG && (x || i->imm)) ||
                (op == ALU_END && CLS(i->code) == CLS_ALU64 && x)) {
                return check_fail(c, pc, "reserved field is not zero");
            }
            if (op == ALU_END && i->imm != 16 && i->imm != 32 &&
                i->imm != 64) {
                return check_fail(c, pc, "byte swap of %d bits", i->imm);
            }
            return true;
        }
        if (op > ALU_END) {
            return check_fail(c, pc, "unknown opcode 0x%02x", i->code);
        }
        if ((x && i->imm) || (!x && i->src)) {
            return check_fail(c, pc, "reserved field is not zero");
        }
        if (op == ALU_DIV || op == ALU_MOD) {
            if (i->off != 0 && i->off != 1) {
                return check_fail(c, pc, "bad offset %d", i->off);
            }
        } else if (op == ALU_MOV && x) {
            if (i->off != 0 && i->off != 8 && i->off != 16 &&
                !(i->off == 32 && CLS(i->code) == CLS_ALU64)) {
                return check_fail(c, pc, "bad sign extension %d", i->off);
            }
        } else if (i->off) {
            return check_fail(c, pc, "reserved field is not zero");
        }
        return true;

    case CLS_JMP:
    case CLS_JMP32:
        if (op == JMP_JA) {
            int64_t off = CLS(i->code) == CLS_JMP ? i->off : i->imm;

            if (x || i->dst || i->src ||
                (CLS(i->code) == CLS_JMP ? i->imm : i->off)) {
                return check_fail(c, pc, "reserved field is not zero");
            }
            return check_target(c, pc, pc + 1 + off);
        }
        if (op == JMP_CALL || op == JMP_EXIT) {
            if (CLS(i->code) == CLS_JMP32 || x) {
                return check_fail(c, pc, "unknown opcode 0x%02x", i->code);
            }
            if (i->dst || i->off || (op == JMP_EXIT && (i->src || i->imm))) {
                return check_fail(c, pc, "reserved field is not zero");
            }
            if (op == JMP_EXIT) {
                return true;
            }
            if (i->src == CALL_LOCAL) {
                return check_target(c, pc, pc + 1 + (int64_t)i->imm);
            }
            if (i->src != CALL_HELPER) {
                return check_fail(c, pc, "unsupported call kind %u", i->src);
            }
            if (!check_helper(c->helpers, i->imm)) {
                return check_fail(c, pc, "unknown helper %d", i->imm);
            }
            return true;
        }
        if (op > JMP_JSLE) {
            return check_fail(c, pc, "unknown opcode 0x%02x", i->code);
        }
        if ((x && i->imm) || (!x && i->src)) {
            return check_fail(c, pc, "reserved field is not zero");
        }
        return check_target(c, pc, pc + 1 + (int64_t)i->off);

    case CLS_LD:
        if (i->code != OPC_LDDW) {
            return check_fail(c, pc, "unsupported load 0x%02x", i->code);
        }
        if (i->src) {
            return check_fail(c, pc, "unsupported lddw source %u", i->src);
        }
        if (i->off || i->dst == R10) {
            return check_fail(c, pc, "reserved field is not zero");
        }
        if (pc + 1 >= c->prog->len) {
            return check_fail(c, pc, "lddw without its second half");
        }
        if (c->prog->insns[pc + 1].code || c->prog->insns[pc + 1].dst ||
            c->prog->insns[pc + 1].src || c->prog->insns[pc + 1].off) {
            return check_fail(c, pc + 1, "reserved field is not zero");
        }
        return true;

    case CLS_LDX:
        if ((MODE(i->code) != MODE_MEM && MODE(i->code) != MODE_MEMSX) ||
            (MODE(i->code) == MODE_MEMSX && SIZE(i->code) == SIZE_DW)) {
            return check_fail(c, pc, "unsupported load 0x%02x", i->code);
        }
        if (i->imm) {
            return check_fail(c, pc, "reserved field is not zero");
        }
        if (i->dst == R10) {
            return check_fail(c, pc, "r10 is read-only");
        }
        return i->src != R10 ||
               check_stack(c, pc, i->off, bpf_vm_size(i->code));

    case CLS_ST:
        if (MODE(i->code) != MODE_MEM) {
            return check_fail(c, pc, "unsupported store 0x%02x", i->code);
        }
        if (i->src) {
            return check_fail(c, pc, "reserved field is not zero");
        }
        return i->dst != R10 ||
               check_stack(c, pc, i->off, bpf_vm_size(i->code));

    case CLS_STX:
        if (MODE(i->code) == MODE_ATOMIC) {
            unsigned aop = i->imm & ~ATOMIC_FETCH;

            if ((SIZE(i->code) != SIZE_W && SIZE(i->code) != SIZE_DW) ||
                (i->imm != ATOMIC_XCHG && i->imm != ATOMIC_CMPXCHG &&
                 (i->imm & ~0xf1 ||
                  (aop != ALU_ADD && aop != ALU_OR && aop != ALU_AND &&
                   aop != ALU_XOR)))) {
                return check_fail(c, pc, "unsupported atomic operation "
                                  "0x%02x/0x%x", i->code, i->imm);
            }
            if ((i->imm & ATOMIC_FETCH) && i->src == R10) {
                return check_fail(c, pc, "r10 is read-only");
            }
        } else if (MODE(i->code) != MODE_MEM) {
            return check_fail(c, pc, "unsupported store 0x%02x", i->code);
        } else if (i->imm) {
            return check_fail(c, pc, "reserved field is not zero");
        }
        return i->dst != R10 ||
               check_stack(c, pc, i->off, bpf_vm_size(i->code));
    }

    /* CLS() has three bits, each class is handled above */
    return check_fail(c, pc, "unknown opcode 0x%02x", i->code);
}

#define REG(r)          (1u << (r))
#define ARG_REGS        (REG(1) | REG(2) | REG(3) | REG(4) | REG(5))

static void check_flow(BpfVmCheck *c, uint32_t pc, uint16_t init)
{
    if (!c->seen[pc]) {
        c->seen[pc] = true;
        c->init[pc] = init;
    } else if ((c->init[pc] & init) != c->init[pc]) {
        c->init[pc] &= init;
    } else {
        return;
    }
    c->work[c->nwork++] = pc;
}

static bool check_reads(BpfVmCheck *c, uint32_t pc, uint16_t init,
                        uint16_t reads)
{
    uint16_t missing = reads & ~init;

    if (missing) {
        return check_fail(c, pc, "r%d is read before it is set",
                          ctz32(missing));
    }

    return true;
}

/*
 * Which registers an instruction reads and sets, so that the registers set
 * on every path to an instruction are known; each reachable instruction
 * is visited again only when that set shrinks.
 */
static bool check_regs(BpfVmCheck *c, uint32_t pc)
{
    const BpfVmInsn *i = &c->prog->insns[pc];
    uint16_t init = c->init[pc];
    uint8_t op = OP(i->code);
    bool x = i->code & SRC_X;
    uint16_t reads = 0, sets = 0, clobbers = 0;
    int64_t next = pc + 1, jump = -1;

    switch (CLS(i->code)) {
    case CLS_ALU:
    case CLS_ALU64:
        reads = (op == ALU_MOV ? 0 : REG(i->dst)) | (x ? REG(i->src) : 0);
        if (op == ALU_NEG || op == ALU_END) {
            reads = REG(i->dst);
        }
        sets = REG(i->dst);
        break;
    case CLS_LD:
        sets = REG(i->dst);
        next = pc + 2;
        break;
    case CLS_LDX:
        reads = REG(i->src);
        sets = REG(i->dst);
        break;
    case CLS_ST:
        reads = REG(i->dst);
        break;
    case CLS_STX:
        reads = REG(i->dst) | REG(i->src);
        if (MODE(i->code) == MODE_ATOMIC && i->imm == ATOMIC_CMPXCHG) {
            reads |= REG(R0);
            sets = REG(R0);
        } else if (MODE(i->code) == MODE_ATOMIC && (i->imm & ATOMIC_FETCH)) {
            sets = REG(i->src);
        }
        break;
    case CLS_JMP:
    case CLS_JMP32:
        if (op == JMP_EXIT) {
            return check_reads(c, pc, init, REG(R0));
        }
        if (op == JMP_CALL) {
            if (i->src == CALL_LOCAL) {
                /* the callee starts with the arguments its caller set */
                check_flow(c, pc + 1 + i->imm,
                           (init & ARG_REGS) | REG(R10));
            } else {
                const BpfVmHelper *h = check_helper(c->helpers, i->imm);

                reads = (REG(h->nargs + 1) - 1) & ARG_REGS;
            }
            clobbers = ARG_REGS;
            sets = REG(R0);
            break;
        }
        if (op == JMP_JA) {
            next = -1;
            jump = pc + 1 + (CLS(i->code) == CLS_JMP ? i->off : i->imm);
            break;
        }
        reads = REG(i->dst) | (x ? REG(i->src) : 0);
        jump = pc + 1 + i->off;
        break;
    }

    if (!check_reads(c, pc, init, reads)) {
        return false;
    }

    init = (init & ~clobbers) | sets;
    if (jump >= 0) {
        check_flow(c, jump, init);
    }
    if (next >= 0) {
        if (next >= c->prog->len) {
            return check_fail(c, pc, "execution falls off the end");
        }
        check_flow(c, next, init);
    }

    return true;
}

BpfVmProg *bpf_vm_load(const void *code, size_t size,
                       const BpfVmHelpers *helpers, unsigned entry_regs,
                           char **why)
{
    g_autofree BpfVmProg *prog = NULL;
    g_autofree uint16_t *init = NULL;
    g_autofree bool *seen = NULL, *wide = NULL;
    g_autofree uint32_t *work = NULL;
    BpfVmCheck c;
    uint32_t n, pc;

    if (!size || size % 8) {
        *why = g_strdup_printf("size %zu is not a non-zero multiple of 8",
                               size);
        return NULL;
    }
    if (size / 8 > BPF_VM_MAX_INSNS) {
        *why = g_strdup_printf("more than %d instructions",
                               BPF_VM_MAX_INSNS);
        return NULL;
    }

    n = size / 8;
    prog = g_malloc(sizeof(*prog) + n * sizeof(BpfVmInsn));
    prog->len = n;
    prog->refs = 1;
    prog->helpers = helpers;
    prog->jit = NULL;
    for (pc = 0; pc < n; pc++) {
        const uint8_t *p = (const uint8_t *)code + pc * 8;

        prog->insns[pc] = (BpfVmInsn) {
            .code = p[0],
            .dst = p[1] & 0xf,
            .src = p[1] >> 4,
            .off = lduw_le_p(p + 2),
            .imm = ldl_le_p(p + 4),
        };
    }

    /* a work list holds each instruction at most (registers + 1) times */
    init = g_new0(uint16_t, n);
    seen = g_new0(bool, n);
    wide = g_new0(bool, n);
    work = g_new(uint32_t, n * 12 + 1);
    c = (BpfVmCheck) {
        .prog = prog, .helpers = helpers, .init = init, .seen = seen,
        .wide = wide, .work = work, .why = why,
    };

    for (pc = 0; pc + 1 < n; pc++) {
        if (prog->insns[pc].code == OPC_LDDW) {
            wide[++pc] = true;
        }
    }
    for (pc = 0; pc < n; pc++) {
        if (!check_insn(&c, pc)) {
            return NULL;
        }
        pc += prog->insns[pc].code == OPC_LDDW;
    }

    check_flow(&c, 0, (entry_regs & ARG_REGS) | REG(R10));
    while (c.nwork) {
        if (!check_regs(&c, work[--c.nwork])) {
            return NULL;
        }
    }

    return g_steal_pointer(&prog);
}

/*
 * Interpreter
 */

typedef struct BpfVmFrame {
    uint32_t    ret;
    uint64_t    saved[4];           /* r6-r9 */
} BpfVmFrame;

/* The host address of @len bytes at program address @addr, or NULL */
static inline void *bpf_mem(const BpfVmRegion *regions, unsigned nregions,
                            uint64_t addr, uint64_t len, bool write)
{
    uint64_t idx = (addr >> BPF_VM_REGION_SHIFT) - 1;
    uint64_t off = (uint32_t)addr;
    const BpfVmRegion *r;

    if (unlikely(idx >= nregions)) {
        return NULL;
    }
    r = &regions[idx];
    if (unlikely(len > r->len || off > r->len - len ||
                 (write && !r->writable))) {
        return NULL;
    }
    return r->host + off;
}

void *bpf_vm_mem(BpfVmRun *run, uint64_t addr, uint64_t len, bool write)
{
    return bpf_mem(run->regions, run->nregions, addr, len, write);
}

bool bpf_vm_work(BpfVmRun *run, uint64_t insns)
{
    run->insns += insns;
    if (run->budget && run->insns > run->budget) {
        run->stop = BPF_VM_EBUDGET;
        return false;
    }
    if (run->insns >= run->poll_at) {
        run->poll_at = run->insns + BPF_VM_POLL_INSNS;
        if (run->poll && run->poll(run->opaque)) {
            run->stop = BPF_VM_ESTOPPED;
            return false;
        }
    }
    return true;
}

#define FAIL(err)                                                       \
    do {                                                                \
        run->error = (err);                                             \
        run->pc = i - insns;                                            \
        goto out;                                                       \
    } while (0)

/* The host address of a checked access, or fail the run */
#define MEM(addr, size, write)                                          \
    ({                                                                  \
        void *p_ = bpf_mem(regions, nregions, (addr), (size), (write)); \
        if (unlikely(!p_)) {                                            \
            FAIL(BPF_VM_EACCESS);                                       \
        }                                                               \
        p_;                                                             \
    })

#define ATOMIC_PTR(addr, size)                                          \
    ({                                                                  \
        void *a_ = MEM((addr), (size), true);                           \
        if (unlikely((uintptr_t)a_ & ((size) - 1))) {                   \
            FAIL(BPF_VM_EALIGN);                                        \
        }                                                               \
        a_;                                                             \
    })

/* The atomic operations on 64-bit and 32-bit words: one definition */
#define BPF_ATOMIC_FN(name, type)                                       \
static type name(type *p, int32_t op, type v, type expect)              \
{                                                                       \
    switch (op & ~ATOMIC_FETCH) {                                       \
    case ALU_ADD:                                                       \
        return qatomic_fetch_add(p, v);                                 \
    case ALU_OR:                                                        \
        return qatomic_fetch_or(p, v);                                  \
    case ALU_AND:                                                       \
        return qatomic_fetch_and(p, v);                                 \
    case ALU_XOR:                                                       \
        return qatomic_fetch_xor(p, v);                                 \
    case ATOMIC_XCHG & ~ATOMIC_FETCH:                                   \
        return qatomic_xchg(p, v);                                      \
    default:                                                            \
        return qatomic_cmpxchg(p, expect, v);                           \
    }                                                                   \
}

BPF_ATOMIC_FN(bpf_atomic64, uint64_t)
BPF_ATOMIC_FN(bpf_atomic32, uint32_t)

/* Signed division and modulo as RFC 9669 defines them for every input */
static int64_t bpf_sdiv(int64_t a, int64_t b)
{
    return !b ? 0 : b == -1 ? (int64_t)-(uint64_t)a : a / b;
}

static int64_t bpf_smod(int64_t a, int64_t b)
{
    return !b ? a : b == -1 ? 0 : a % b;
}

static int32_t bpf_sdiv32(int32_t a, int32_t b)
{
    return !b ? 0 : b == -1 ? (int32_t)-(uint32_t)a : a / b;
}

static int32_t bpf_smod32(int32_t a, int32_t b)
{
    return !b ? a : b == -1 ? 0 : a % b;
}

/* bpf_alu64() and bpf_alu32(): every ALU operation */
#include "util/bpf-vm-alu.c.inc"

static uint64_t bpf_end(bool alu64, bool be, int32_t bits, uint64_t v)
{
    /* ALU64 swaps unconditionally; ALU converts to one byte order */
    bool swap = alu64 || be != HOST_BIG_ENDIAN;

    switch (bits) {
    case 16:
        return swap ? bswap16(v) : (uint16_t)v;
    case 32:
        return swap ? bswap32(v) : (uint32_t)v;
    default:
        return swap ? bswap64(v) : v;
    }
}

/*
 * The interpreter: one case a full opcode for the common instructions
 */

/* Registers a program has not set (the verifier keeps it from reading them) */
static inline void bpf_fill(uint64_t *reg, int n, uint64_t fill)
{
    for (int i = 0; i < n; i++) {
        reg[i] = fill;
    }
}

#define DST     reg[i->dst]
#define SRC     reg[i->src]
#define IMM     ((uint64_t)(int64_t)i->imm)

static inline uint64_t ldl_le_u(const void *p)
{
    return (uint32_t)ldl_le_p(p);
}

/*
 * The interpreter from instruction @pc after @n instructions, on registers
 * @reg; or, with @step, the one instruction at @pc, which neither jumps
 * nor calls (the JIT leaves the rare ones to it).
 */
static inline QEMU_ALWAYS_INLINE
BpfVmError bpf_exec(const BpfVmProg *prog, BpfVmRun *run, uint64_t *reg,
                    uint32_t pc, uint64_t n, bool step)
{
    BpfVmFrame frames[BPF_VM_MAX_DEPTH];
    const BpfVmInsn *insns = prog->insns, *i = insns;
    BpfVmRegion *regions = run->regions;
    unsigned nregions = run->nregions;
    uint64_t next = 0;
    unsigned depth = 0;

    run->error = BPF_VM_OK;
    for (;;) {
        uint64_t src, addr;

        i = &insns[pc++];
        if (!step && unlikely(++n >= next)) {
            /* instruction n is next: check the budget, poll, plan again */
            if (run->budget && n > run->budget) {
                n--;
                FAIL(BPF_VM_EBUDGET);
            }
            if (n > 1 && run->poll && run->poll(run->opaque)) {
                n--;
                FAIL(BPF_VM_ESTOPPED);
            }
            next = QEMU_ALIGN_DOWN(n, BPF_VM_POLL_INSNS) +
                   BPF_VM_POLL_INSNS + 1;
            run->poll_at = next - 1;
            if (run->budget && run->budget < next - 1) {
                next = run->budget + 1;
            }
        }

        switch (i->code) {
        /* loads, stores, the common ALU operations, conditional jumps */
#include "util/bpf-vm-cases.c.inc"

        case CLS_ALU64 | ALU_MOV | SRC_X:
            DST = likely(!i->off) ? SRC : bpf_alu64(ALU_MOV, i->off, 0, SRC);
            break;
        case CLS_ALU64 | ALU_MOV:
            DST = IMM;
            break;
        case CLS_ALU | ALU_MOV | SRC_X:
            DST = likely(!i->off) ? (uint32_t)SRC :
                                    bpf_alu32(ALU_MOV, i->off, 0, SRC);
            break;
        case CLS_ALU | ALU_MOV:
            DST = (uint32_t)i->imm;
            break;

        case CLS_LD | MODE_IMM | SIZE_DW:
            DST = (uint32_t)i->imm | (uint64_t)(uint32_t)i[1].imm << 32;
            pc++;
            break;

        case CLS_JMP | JMP_JA:
            pc += i->off;
            break;
        case CLS_JMP32 | JMP_JA:
            pc += i->imm;
            break;

        case CLS_JMP | JMP_EXIT:
            if (!depth) {
                run->r0 = reg[R0];
                goto out;
            }
            depth--;
            pc = frames[depth].ret;
            memcpy(&reg[6], frames[depth].saved, sizeof(frames->saved));
            reg[R10] += BPF_VM_STACK_SIZE;
            bpf_fill(&reg[1], 5, run->fill);
            break;

        case CLS_JMP | JMP_CALL:
            if (i->src == CALL_LOCAL) {
                if (depth + 1 >= BPF_VM_MAX_DEPTH) {
                    FAIL(BPF_VM_EDEPTH);
                }
                frames[depth].ret = pc;
                memcpy(frames[depth].saved, &reg[6], sizeof(frames->saved));
                depth++;
                reg[R10] -= BPF_VM_STACK_SIZE;
                bpf_fill(&reg[6], 4, run->fill);
                pc += i->imm;
            } else {
                const BpfVmHelper *h = &prog->helpers->table[i->imm];
                bool fault = false;

                run->insns = n;
                reg[R0] = h->fn(run, &reg[1], &fault);
                bpf_fill(&reg[1], 5, run->fill);
                n = run->insns;
                if (fault) {
                    FAIL(BPF_VM_EHELPER);
                }
                if (run->stop) {
                    FAIL(run->stop);
                }
                /* the helper polled last: plan the next check from there */
                next = MIN(run->poll_at + 1, run->budget ? run->budget + 1 :
                                                           UINT64_MAX);
            }
            break;

        /* the rest: division, sign extension, byte swaps, atomics */
        case CLS_LDX | MODE_MEMSX | SIZE_B:
            DST = (int8_t)ldub_p(MEM(SRC + i->off, 1, false));
            break;
        case CLS_LDX | MODE_MEMSX | SIZE_H:
            DST = (int16_t)lduw_le_p(MEM(SRC + i->off, 2, false));
            break;
        case CLS_LDX | MODE_MEMSX | SIZE_W:
            DST = (int32_t)ldl_le_p(MEM(SRC + i->off, 4, false));
            break;

        case CLS_STX | MODE_ATOMIC | SIZE_W:
        case CLS_STX | MODE_ATOMIC | SIZE_DW:
            addr = DST + i->off;
            if (SIZE(i->code) == SIZE_DW) {
                src = bpf_atomic64(ATOMIC_PTR(addr, 8), i->imm, SRC, reg[R0]);
            } else {
                src = bpf_atomic32(ATOMIC_PTR(addr, 4), i->imm, SRC, reg[R0]);
            }
            if (i->imm == ATOMIC_CMPXCHG) {
                reg[R0] = src;
            } else if (i->imm & ATOMIC_FETCH) {
                SRC = src;
            }
            break;

        default:
            /* the verifier lets only arithmetic through to here */
            src = i->code & SRC_X ? SRC : IMM;
            if (CLS(i->code) == CLS_ALU64) {
                if (OP(i->code) == ALU_NEG) {
                    DST = -DST;
                } else if (OP(i->code) == ALU_END) {
                    DST = bpf_end(true, false, i->imm, DST);
                } else {
                    DST = bpf_alu64(OP(i->code), i->off, DST, src);
                }
            } else {
                if (OP(i->code) == ALU_NEG) {
                    DST = (uint32_t)-DST;
                } else if (OP(i->code) == ALU_END) {
                    DST = bpf_end(false, i->code & SRC_X, i->imm, DST);
                } else {
                    DST = bpf_alu32(OP(i->code), i->off, DST, src);
                }
            }
            break;
        }
        if (step) {
            return BPF_VM_OK;
        }
    }

out:
    if (!step) {
        run->insns = n;
    }
    return run->error;
}

BpfVmError bpf_vm_interp(const BpfVmProg *prog, BpfVmRun *run,
                         const uint64_t *reg, uint32_t pc, uint64_t n)
{
    uint64_t r[11];

    memcpy(r, reg, sizeof(r));
    return bpf_exec(prog, run, r, pc, n, false);
}

BpfVmError bpf_vm_step(const BpfVmProg *prog, BpfVmRun *run, uint64_t *reg,
                       uint32_t pc)
{
    return bpf_exec(prog, run, reg, pc, 0, true);
}

BpfVmError bpf_vm_run(const BpfVmProg *prog, BpfVmRun *run)
{
    uint8_t stack[BPF_VM_STACK_SIZE * BPF_VM_MAX_DEPTH]
        QEMU_ALIGNED(8);
    uint64_t reg[11];

    memset(stack, 0, sizeof(stack));
    run->regions[0] = (BpfVmRegion) {
        .host = stack, .len = sizeof(stack), .writable = true,
    };
    run->stop = BPF_VM_OK;
    run->poll_at = BPF_VM_POLL_INSNS;
    run->r0 = 0;
    bpf_fill(reg, 11, run->fill);
    memcpy(&reg[1], run->args, sizeof(run->args));
    reg[R10] = bpf_vm_addr(0, sizeof(stack));

    if (prog->jit && run->nregions <= BPF_VM_MAX_REGIONS) {
        bpf_vm_jit_run(prog, run, reg);
    } else {
        bpf_exec(prog, run, reg, 0, 0, false);
    }
    run->regions[0] = (BpfVmRegion) {};
    return run->error;
}

/*
 * The standard helpers
 */

/*
 * The helpers work in pieces of BPF_VM_HELPER_CHUNK bytes and count as
 * one instruction for 8 bytes copied or set, one for a byte of CRC.
 */
uint64_t bpf_vm_helper_memcpy(BpfVmRun *run, const uint64_t *args,
                              bool *fault)
{
    uint8_t *dst = bpf_vm_mem(run, args[0], args[2], true);
    uint8_t *src = bpf_vm_mem(run, args[1], args[2], false);
    uint64_t len = args[2], off, n;

    if (!dst || !src) {
        *fault = true;
        return 0;
    }

    /* front to back, or back to front when the destination is above */
    for (off = 0; off < len; off += n) {
        n = MIN(len - off, BPF_VM_HELPER_CHUNK);
        if (dst > src) {
            memmove(dst + len - off - n, src + len - off - n, n);
        } else {
            memmove(dst + off, src + off, n);
        }
        if (!bpf_vm_work(run, DIV_ROUND_UP(n, 8))) {
            break;
        }
    }
    return 0;
}

static uint64_t helper_memset(BpfVmRun *run, const uint64_t *args,
                              bool *fault)
{
    uint8_t *dst = bpf_vm_mem(run, args[0], args[2], true);
    uint64_t len = args[2], off, n;

    if (!dst) {
        *fault = true;
        return 0;
    }

    for (off = 0; off < len; off += n) {
        n = MIN(len - off, BPF_VM_HELPER_CHUNK);
        memset(dst + off, args[1], n);
        if (!bpf_vm_work(run, DIV_ROUND_UP(n, 8))) {
            break;
        }
    }
    return 0;
}

static uint64_t helper_crc32c(BpfVmRun *run, const uint64_t *args,
                              bool *fault)
{
    const uint8_t *src = bpf_vm_mem(run, args[1], args[2], false);
    uint64_t len = args[2], off, n;
    /* crc32c() inverts its result only: invert the seed for chaining */
    uint32_t crc = args[0];

    if (!src) {
        *fault = true;
        return 0;
    }

    for (off = 0; off < len; off += n) {
        n = MIN(len - off, BPF_VM_HELPER_CHUNK);
        crc = crc32c(crc ^ 0xffffffff, src + off, n);
        if (!bpf_vm_work(run, n)) {
            break;
        }
    }
    return crc;
}

static const BpfVmHelper bpf_vm_std_table[] = {
    [BPF_VM_HELPER_MEMCPY] = { "memcpy", 3, bpf_vm_helper_memcpy },
    [BPF_VM_HELPER_MEMSET] = { "memset", 3, helper_memset },
    [BPF_VM_HELPER_CRC32C] = { "crc32c", 3, helper_crc32c },
};

const BpfVmHelpers bpf_vm_std_helpers = {
    .table = bpf_vm_std_table,
    .count = ARRAY_SIZE(bpf_vm_std_table),
};
