/*
 * The eBPF virtual machine: a JIT for x86-64 hosts
 *
 * A verified program is compiled once into x86-64 code that keeps the
 * sandbox of the interpreter whole:
 *
 * - every load and store is checked against the regions of the run, as
 *   bpf_mem() checks it: a region table of the run gives, for the 4 GiB
 *   window of each region, where its bytes end (0 where it may not be
 *   read, or written) and where its host memory is; r10-relative
 *   accesses, which the verifier keeps within the frame, need none;
 * - instructions are counted a basic block at a time, at the block's
 *   start.  When a block would take the run past its poll point the code
 *   calls out to poll; past its budget, the interpreter runs the block
 *   from its start, so that the run stops at the same instruction;
 * - the rare instructions (division, sign extension, byte swaps, signed
 *   loads, atomics) and the helpers are run by C functions, those of the
 *   interpreter, except copies of up to 4 KiB by the standard memcpy
 *   helper, made in line with the helper's checks; local calls keep the
 *   interpreter's depth limit;
 * - code memory is writable while it is written, then read-only and
 *   executable, never both; every immediate and offset of the program is
 *   emitted xored with a random key, or as two random parts that add up
 *   to it, and decoded at run time (constant blinding), except shift
 *   counts, which are masked to 5 or 6 bits.
 *
 * The code is emitted twice: once to measure it and place every
 * instruction, block and stub, then into memory of that size.
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/bpf-vm.h"
#include "bpf-vm-int.h"

#if defined(HOST_X86_64) && defined(CONFIG_LINUX)

#include <sys/mman.h>

/*
 * What the code of a run reads and writes, at %r12.  The region tables
 * have an entry a region, index i + 1 for region i (its address >> 32),
 * entry 0 and those past the run's regions never accessible.
 */
typedef struct BpfJitCtx {
    uint64_t        reg[11];        /* r0-r10 when C code runs */
    uint64_t        left;           /* instructions before limit */
    uint64_t        limit;          /* count at which to call out */
    uint64_t        saved_rsp;
    uint64_t        ntbl;           /* entries of the region tables */
    uint64_t        fp_host;        /* host address r10 points to */
    uint64_t        fill;           /* BpfVmRun.fill */
    uint32_t        depth;          /* of local calls */
    uint32_t        pc;             /* of the failing instruction */
    uint32_t        error;
    uint32_t        curpc;          /* of the instruction calling out */
    uint32_t        curk;           /* block length, or instructions after */
    const BpfVmProg *prog;
    BpfVmRun        *run;
    uint64_t        end_rd[BPF_VM_MAX_REGIONS + 1];
    uint64_t        end_wr[BPF_VM_MAX_REGIONS + 1];
    uint64_t        bias[BPF_VM_MAX_REGIONS + 1];   /* host - (i << 32) */
} BpfJitCtx;

struct BpfVmJit {
    void            (*code)(BpfJitCtx *ctx);
    size_t          size;           /* mapped */
    size_t          len;            /* of the code */
};

/* x86-64 registers */
enum {
    RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI,
    X8, X9, X10, X11, X12, X13, X14, X15,
};

/* r0-r9 live in host registers, r10 in the context */
static const uint8_t xreg[10] = {
    RAX, RDI, RSI, RDX, RCX, X8, RBX, X13, X14, X15,
};
#define LEFT    X9              /* instructions left before ctx->limit */
#define CTX     X12
#define T1      X10             /* scratch */
#define T2      X11
#define T3      RBP

#define CTX_OFF(f)      ((int32_t)offsetof(BpfJitCtx, f))
#define CTX_REG(r)      (CTX_OFF(reg) + (r) * 8)

/* The shared routines at the end of the code */
enum {
    L_EXIT,             /* exit of the program: r0, left, error 0 */
    L_FAIL,             /* esi: pc, edx: error */
    L_EPILOGUE,
    L_BLOCK,            /* call out at a block start (jit_block()) */
    L_INSN,             /* run one instruction in C (jit_insn()) */
    L_COUNT,
};

/* Out of line: what a check branches to */
typedef struct JitStub {
    uint32_t        pc;
    uint32_t        k;              /* instructions to give back */
    int32_t         error;          /* -1: a block's call out */
} JitStub;

typedef struct Jit {
    const BpfVmProg *prog;
    uint8_t         *buf;           /* NULL: measure only */
    size_t          len;
    bool            final;          /* the second pass */
    bool            *leader;        /* starts a basic block */
    bool            *wide;          /* the second half of an lddw */
    uint32_t        *blen;          /* instructions of the block it starts */
    uint32_t        *rest;          /* instructions after it in its block */
    uint32_t        *addr;          /* code offset of each instruction */
    uint32_t        *body;          /* of a block, past its count */
    size_t          label[L_COUNT];
    GArray          *stubs;         /* JitStub */
    GArray          *stub_addr;     /* size_t, from the first pass */
    size_t          cap;            /* of buf */
    size_t          mc_call, mc_done;   /* labels of emit_memcpy() */
} Jit;

static void emit1(Jit *j, uint8_t b)
{
    /* past cap only if the passes differ, which bpf_vm_jit_compile sees */
    if (j->buf && j->len < j->cap) {
        j->buf[j->len] = b;
    }
    j->len++;
}

static void emit4(Jit *j, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        emit1(j, v >> (i * 8));
    }
}

static void emit8(Jit *j, uint64_t v)
{
    emit4(j, v);
    emit4(j, v >> 32);
}

static void emit_rex(Jit *j, bool w, int reg, int index, int base,
                     bool force)
{
    uint8_t rex = 0x40 | w << 3 | (reg & 8) >> 1 | (index & 8) >> 2 |
                  (base & 8) >> 3;

    if (rex != 0x40 || force) {
        emit1(j, rex);
    }
}

/* One- or two-byte opcode */
static void emit_op(Jit *j, unsigned op)
{
    if (op > 0xff) {
        emit1(j, op >> 8);
    }
    emit1(j, op);
}

/* op with register operands: @reg in the reg field, @rm in r/m */
static void emit_rr(Jit *j, bool w, unsigned op, int reg, int rm)
{
    emit_rex(j, w, reg, 0, rm, false);
    emit_op(j, op);
    emit1(j, 0xc0 | (reg & 7) << 3 | (rm & 7));
}

/*
 * op with a memory operand [base + index * scale + disp] (index < 0:
 * none; scale 1 or 8); @byte: a byte register operand.  Displacements
 * are never guest values.
 */
static void emit_rm_x(Jit *j, bool w, bool byte, unsigned op, int reg,
                      int base, int index, unsigned scale, int32_t disp)
{
    unsigned mod = disp == (int8_t)disp ? 0x40 : 0x80;

    if (!disp && (base & 7) != RBP) {
        mod = 0;
    }
    emit_rex(j, w, reg, index < 0 ? 0 : index, base, byte);
    emit_op(j, op);
    if (index >= 0 || (base & 7) == RSP) {
        emit1(j, mod | 4 | (reg & 7) << 3);
        emit1(j, (index < 0 ? 0x20 : (scale == 8 ? 0xc0 : 0) |
                  (index & 7) << 3) | (base & 7));
    } else {
        emit1(j, mod | (reg & 7) << 3 | (base & 7));
    }
    if (mod == 0x40) {
        emit1(j, disp);
    } else if (mod == 0x80) {
        emit4(j, disp);
    }
}

static void emit_rm(Jit *j, bool w, bool byte, unsigned op, int reg,
                    int base, int index, int32_t disp)
{
    emit_rm_x(j, w, byte, op, reg, base, index, 8, disp);
}

/* op reg, [ctx + off] (or op [ctx + off], reg) */
static void emit_ctx(Jit *j, bool w, unsigned op, int reg, int32_t off)
{
    emit_rm(j, w, false, op, reg, CTX, -1, off);
}

static void emit_mov_rr(Jit *j, bool w, int dst, int src)
{
    emit_rr(j, w, 0x89, src, dst);
}

/* op r/m, imm32 (0x81 /ext): a blinded value, always 32 bits */
static void emit_ri(Jit *j, bool w, unsigned ext, int rm, uint32_t imm)
{
    emit_rr(j, w, 0x81, ext, rm);
    emit4(j, imm);
}

/* The same with a value of ours, in 8 bits when it fits */
static void emit_ri_own(Jit *j, bool w, unsigned ext, int rm, int32_t imm)
{
    if (imm == (int8_t)imm) {
        emit_rr(j, w, 0x83, ext, rm);
        emit1(j, imm);
    } else {
        emit_ri(j, w, ext, rm, imm);
    }
}

/* mov dword [ctx + off], imm32 */
static void emit_ctx_imm(Jit *j, int32_t off, uint32_t imm)
{
    emit_ctx(j, false, 0xc7, 0, off);
    emit4(j, imm);
}

/* A key for one immediate: random in the code, 0 while measuring */
static uint32_t jit_key(Jit *j)
{
    return j->final ? g_random_int() : 0;
}

/*
 * A key for adding @imm in two parts, each an int32_t: of the sign of
 * @imm, so that imm - key does not overflow
 */
static int32_t jit_split(Jit *j, int32_t imm)
{
    int32_t r = jit_key(j) & INT32_MAX;

    return imm >= 0 ? r : -r - 1;
}

/* dst = the sign-extended @imm (zero-extended: !w), never verbatim */
static void emit_imm(Jit *j, bool w, int dst, int32_t imm)
{
    uint32_t key = jit_key(j);

    emit_rr(j, w, 0xc7, 0, dst);               /* mov dst, imm ^ key */
    emit4(j, imm ^ key);
    emit_ri(j, w, 6, dst, key);                 /* xor dst, key */
}

static void emit_imm64(Jit *j, int dst, uint64_t imm)
{
    uint64_t key = (uint64_t)jit_key(j) << 32 | jit_key(j);

    emit_rex(j, true, 0, 0, dst, false);       /* movabs dst, imm ^ key */
    emit1(j, 0xb8 | (dst & 7));
    emit8(j, imm ^ key);
    emit_rex(j, true, 0, 0, T2, false);        /* movabs t2, key */
    emit1(j, 0xb8 | (T2 & 7));
    emit8(j, key);
    emit_rr(j, true, 0x31, T2, dst);           /* xor dst, t2 */
}

static void emit_push(Jit *j, int r)
{
    emit_rex(j, false, 0, 0, r, false);
    emit1(j, 0x50 | (r & 7));
}

static void emit_pop(Jit *j, int r)
{
    emit_rex(j, false, 0, 0, r, false);
    emit1(j, 0x58 | (r & 7));
}

/* A jump, call or conditional jump (0x0f 0x8x) to code offset @to */
static void emit_branch(Jit *j, unsigned op, size_t to)
{
    emit_op(j, op);
    emit4(j, (uint32_t)(to - (j->len + 4)));
}

/*
 * Emit @code, which ends in a branch, so that it neither crosses nor ends
 * at a 32-byte boundary: Skylake-derived cores with the JCC erratum
 * microcode run such branches from the legacy decoders, several times
 * slower.  @code is emitted again after the padding: it only emits.
 */
#define EMIT_ALIGNED(j, code)                                           \
    do {                                                                \
        size_t at_ = (j)->len;                                          \
        code;                                                           \
        if (at_ / 32 != ((j)->len - 1) / 32 || (j)->len % 32 == 0) {   \
            (j)->len = at_;                                             \
            emit_nops(j, 32 - at_ % 32);                                \
            code;                                                       \
        }                                                               \
    } while (0)

/* The code offset of @to from the end of a branch of @n bytes */
static bool jit_short(Jit *j, size_t to, unsigned n)
{
    int64_t rel = (int64_t)to - (int64_t)(j->len + n);

    return rel == (int8_t)rel;
}

static void emit_nops(Jit *j, unsigned n)
{
    static const uint8_t nop[9][9] = {
        { 0x90 }, { 0x66, 0x90 }, { 0x0f, 0x1f, 0x00 },
        { 0x0f, 0x1f, 0x40, 0x00 }, { 0x0f, 0x1f, 0x44, 0x00, 0x00 },
        { 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 },
        { 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00 },
        { 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
        { 0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
    };

    while (n) {
        unsigned k = MIN(n, 9);

        for (unsigned b = 0; b < k; b++) {
            emit1(j, nop[k - 1][b]);
        }
        n -= k;
    }
}

#define OP_JMP      0xe9
#define OP_CALL     0xe8
#define JCC(cc)     (0x0f80 | (cc))
#define CC_B        0x2
#define CC_AE       0x3
#define CC_E        0x4
#define CC_NE       0x5
#define CC_BE       0x6
#define CC_A        0x7
#define CC_L        0xc
#define CC_GE       0xd
#define CC_LE       0xe
#define CC_G        0xf

/* call @fn (movabs rax, fn; call rax): clobbers rax */
static void emit_call_abs(Jit *j, const void *fn)
{
    emit_rex(j, true, 0, 0, RAX, false);
    emit1(j, 0xb8);
    emit8(j, (uintptr_t)fn);
    EMIT_ALIGNED(j, {
        emit1(j, 0xff);
        emit1(j, 0xd0);
    });
}

/* Code offset of the next stub, which fails @pc with @error */
static size_t jit_stub(Jit *j, uint32_t pc, uint32_t k, int32_t error)
{
    JitStub s = { .pc = pc, .k = k, .error = error };
    unsigned n = j->stubs->len;

    g_array_append_val(j->stubs, s);
    return j->final ? g_array_index(j->stub_addr, size_t, n) : 0;
}

/* Where instruction @pc is: known in both passes when it is behind @from */
static size_t jit_addr(Jit *j, uint32_t pc, uint32_t from)
{
    return j->final || pc <= from ? j->addr[pc] : 0;
}

/*
 * A jump (cc < 0) or conditional jump from instruction @from to @pc: a
 * short one backwards when it reaches
 */
static void emit_jump_to(Jit *j, int cc, uint32_t from, uint32_t pc)
{
    size_t to = jit_addr(j, pc, from);

    if (pc <= from && jit_short(j, to, 2)) {
        emit1(j, cc < 0 ? 0xeb : 0x70 | cc);
        emit1(j, to - (j->len + 1));
    } else {
        emit_branch(j, cc < 0 ? OP_JMP : JCC(cc), to);
    }
}

/* A register's value: in its host register, or r10 loaded into @tmp */
static int jit_src(Jit *j, uint8_t r, int tmp)
{
    if (r == R10) {
        emit_ctx(j, true, 0x8b, tmp, CTX_REG(R10));
        return tmp;
    }
    return xreg[r];
}

/*
 * Branch to @fail unless the bytes from register @a up to @a + register
 * @len (or, @len < 0, @a + @size), which @tmp receives, lie in the
 * region of @a's window and may be read (written); T2 then holds the
 * window's index.  As bpf_mem() checks an access.
 */
static void emit_check(Jit *j, int a, int len, unsigned size, bool write,
                       int tmp, size_t fail)
{
    emit_mov_rr(j, true, T2, a);
    emit_rr(j, true, 0xc1, 5, T2);             /* shr t2, 32 */
    emit1(j, 32);
    EMIT_ALIGNED(j, {
        emit_ctx(j, true, 0x3b, T2, CTX_OFF(ntbl));   /* cmp t2, ntbl */
        emit_branch(j, JCC(CC_AE), fail);
    });
    /* lea tmp, [a + len] or [a + size] */
    emit_rm_x(j, true, false, 0x8d, tmp, a, len, 1, len < 0 ? size : 0);
    EMIT_ALIGNED(j, {
        emit_rm(j, true, false, 0x3b, tmp, CTX, T2,
                write ? CTX_OFF(end_wr) : CTX_OFF(end_rd));
        emit_branch(j, JCC(CC_A), fail);
    });
}

/*
 * The access of @size bytes at register @base + @off, checked, or a branch
 * to fail instruction @pc with BPF_VM_EACCESS.  Returns the register that
 * holds the address; T2 then holds the host address of its region's
 * window, so that [T2 + that register] is the access.  r10-relative
 * accesses are not checked: the verifier keeps r10 + off within the
 * frame, which is always inside the stack (region 0).
 */
static int emit_access(Jit *j, uint32_t pc, uint8_t base, int16_t off,
                       unsigned size, bool write)
{
    size_t fail;
    int a;

    if (base == R10) {
        emit_ctx(j, true, 0x8b, T2, CTX_OFF(fp_host));
        emit_imm(j, true, T1, off);
        return T1;
    }

    fail = jit_stub(j, pc, j->rest[pc], BPF_VM_EACCESS);
    a = xreg[base];
    if (off) {
        emit_imm(j, true, T1, off);
        emit_rr(j, true, 0x01, a, T1);          /* add t1, a */
        a = T1;
    }
    emit_check(j, a, -1, size, write, T3, fail);
    emit_rm(j, true, false, 0x8b, T2, CTX, T2, CTX_OFF(bias));
    return a;
}

/* Call shared routine @l for instruction @pc */
static void emit_call_out(Jit *j, unsigned l, uint32_t pc, uint32_t k)
{
    emit_ctx_imm(j, CTX_OFF(curpc), pc);
    emit_ctx_imm(j, CTX_OFF(curk), k);
    EMIT_ALIGNED(j, emit_branch(j, OP_CALL, j->label[l]));
}

static const uint8_t jcc_of[16] = {
    [JMP_JEQ >> 4] = CC_E, [JMP_JNE >> 4] = CC_NE,
    [JMP_JGT >> 4] = CC_A, [JMP_JGE >> 4] = CC_AE,
    [JMP_JLT >> 4] = CC_B, [JMP_JLE >> 4] = CC_BE,
    [JMP_JSET >> 4] = CC_NE,
    [JMP_JSGT >> 4] = CC_G, [JMP_JSGE >> 4] = CC_GE,
    [JMP_JSLT >> 4] = CC_L, [JMP_JSLE >> 4] = CC_LE,
};

/* ALU operations done here, with their opcode (op r/m, reg) */
static const uint16_t alu_rr_of[16] = {
    [ALU_ADD >> 4] = 0x01, [ALU_SUB >> 4] = 0x29, [ALU_OR >> 4] = 0x09,
    [ALU_AND >> 4] = 0x21, [ALU_XOR >> 4] = 0x31,
};

static const uint8_t shift_ext[16] = {
    [ALU_LSH >> 4] = 4, [ALU_RSH >> 4] = 5, [ALU_ARSH >> 4] = 7,
};

static void emit_alu(Jit *j, const BpfVmInsn *i)
{
    bool w = CLS(i->code) == CLS_ALU64;
    bool x = i->code & SRC_X;
    uint8_t op = OP(i->code);
    int dst = xreg[i->dst], src;

    if (op == ALU_MOV && !x) {
        emit_imm(j, w, dst, i->imm);
        return;
    }
    if ((op == ALU_ADD || op == ALU_SUB) && !x) {
        /* in two parts: (imm - key) + key, each sign-extended */
        int32_t key = jit_split(j, i->imm);

        emit_ri(j, w, op == ALU_ADD ? 0 : 5, dst,
                (int32_t)((int64_t)i->imm - key));
        emit_ri(j, w, op == ALU_ADD ? 0 : 5, dst, key);
        return;
    }
    if (op == ALU_NEG) {
        emit_rr(j, w, 0xf7, 3, dst);
        return;
    }
    if ((op == ALU_LSH || op == ALU_RSH || op == ALU_ARSH) && !x) {
        emit_rr(j, w, 0xc1, shift_ext[op >> 4], dst);
        emit1(j, i->imm & (w ? 63 : 31));
        if (!w) {
            emit_mov_rr(j, false, dst, dst);    /* a shift of 0 too */
        }
        return;
    }

    if (x) {
        src = jit_src(j, i->src, T2);
    } else {
        emit_imm(j, w, T2, i->imm);
        src = T2;
    }

    switch (op) {
    case ALU_MOV:
        emit_mov_rr(j, w, dst, src);
        break;
    case ALU_MUL:
        emit_rr(j, w, 0x0faf, dst, src);
        break;
    case ALU_LSH:
    case ALU_RSH:
    case ALU_ARSH:
        /* the count in %cl, which is r4: r4 (or the result) kept in T1 */
        emit_mov_rr(j, true, T1, RCX);
        emit_mov_rr(j, true, RCX, src);
        emit_rr(j, w, 0xd3, shift_ext[op >> 4], dst == RCX ? T1 : dst);
        if (!w) {
            emit_mov_rr(j, false, dst == RCX ? T1 : dst,
                        dst == RCX ? T1 : dst);
        }
        emit_mov_rr(j, true, RCX, T1);
        break;
    default:
        emit_rr(j, w, alu_rr_of[op >> 4], src, dst);
        break;
    }
}

/* Whether emit_alu() does it, else it is run in C */
static bool jit_alu_native(const BpfVmInsn *i)
{
    uint8_t op = OP(i->code);

    return alu_rr_of[op >> 4] || op == ALU_MUL || op == ALU_NEG ||
           shift_ext[op >> 4] || (op == ALU_MOV && !i->off);
}

static void emit_jump(Jit *j, uint32_t pc, const BpfVmInsn *i)
{
    bool w = CLS(i->code) == CLS_JMP;
    uint8_t op = OP(i->code);
    int a, b;

    if (op == JMP_JA) {
        EMIT_ALIGNED(j, emit_jump_to(j, -1, pc,
                                     pc + 1 + (w ? i->off : i->imm)));
        return;
    }
    a = jit_src(j, i->dst, T1);
    if (i->code & SRC_X) {
        b = jit_src(j, i->src, T2);
    } else {
        emit_imm(j, true, T2, i->imm);
        b = T2;
    }
    EMIT_ALIGNED(j, {
        emit_rr(j, w, op == JMP_JSET ? 0x85 : 0x39, b, a); /* test/cmp */
        emit_jump_to(j, jcc_of[op >> 4], pc, pc + 1 + i->off);
    });
}

static const int callee_saved[] = { RBX, X13, X14, X15 };   /* r6-r9 */

static void emit_call_local(Jit *j, uint32_t pc, const BpfVmInsn *i)
{
    size_t fail = jit_stub(j, pc, 0, BPF_VM_EDEPTH);

    /* cmp dword [depth], BPF_VM_MAX_DEPTH - 1; jae fail */
    EMIT_ALIGNED(j, {
        emit_ctx(j, false, 0x83, 7, CTX_OFF(depth));
        emit1(j, BPF_VM_MAX_DEPTH - 1);
        emit_branch(j, JCC(CC_AE), fail);
    });
    emit_ctx(j, false, 0xff, 0, CTX_OFF(depth));          /* inc */
    for (int r = 0; r < 4; r++) {
        emit_push(j, callee_saved[r]);
    }
    emit_ri_own(j, true, 5, RSP, 8);                          /* align */
    emit_ctx(j, true, 0x81, 5, CTX_REG(R10));             /* sub r10 */
    emit4(j, BPF_VM_STACK_SIZE);
    emit_ctx(j, true, 0x81, 5, CTX_OFF(fp_host));
    emit4(j, BPF_VM_STACK_SIZE);
    EMIT_ALIGNED(j, emit_branch(j, OP_CALL,
                                jit_addr(j, pc + 1 + i->imm, pc)));
    emit_ctx(j, true, 0x81, 0, CTX_REG(R10));             /* add r10 */
    emit4(j, BPF_VM_STACK_SIZE);
    emit_ctx(j, true, 0x81, 0, CTX_OFF(fp_host));
    emit4(j, BPF_VM_STACK_SIZE);
    emit_ri_own(j, true, 0, RSP, 8);
    for (int r = 3; r >= 0; r--) {
        emit_pop(j, callee_saved[r]);
    }
    emit_ctx(j, false, 0xff, 1, CTX_OFF(depth));          /* dec */
}

static void emit_exit(Jit *j)
{
    /* a local function returns to its caller, the program ends */
    EMIT_ALIGNED(j, {
        emit_ctx(j, false, 0x83, 7, CTX_OFF(depth));      /* cmp, 0 */
        emit1(j, 0);
        emit1(j, 0x74);                                   /* je +1 */
        emit1(j, 1);
        emit1(j, 0xc3);                                   /* ret */
        emit_branch(j, OP_JMP, j->label[L_EXIT]);
    });
}

/* Store @size bytes of @src at [T1] */
/* Store @size bytes of @src at [T2 + @a] */
static void emit_store(Jit *j, unsigned size, int src, int a)
{
    if (size == 2) {
        emit1(j, 0x66);
    }
    emit_rm_x(j, size == 8, size == 1, size == 1 ? 0x88 : 0x89, src, T2, a,
              1, 0);
}

static void emit_mem(Jit *j, uint32_t pc, const BpfVmInsn *i)
{
    unsigned size = bpf_vm_size(i->code);
    bool load = CLS(i->code) == CLS_LDX;
    int a = emit_access(j, pc, load ? i->src : i->dst, i->off, size, !load);

    switch (CLS(i->code)) {
    case CLS_LDX:
        emit_rm_x(j, size == 8, false, size == 1 ? 0x0fb6 : size == 2 ?
                  0x0fb7 : 0x8b, xreg[i->dst], T2, a, 1, 0);
        break;
    case CLS_ST:
        emit_imm(j, true, T3, i->imm);
        emit_store(j, size, T3, a);
        break;
    case CLS_STX:
        emit_store(j, size, jit_src(j, i->src, T3), a);
        break;
    }
}

static uint32_t jit_helper(BpfJitCtx *c);

/* Copies the JIT makes itself, bytes at most */
#define JIT_MEMCPY_MAX  4096

/*
 * T1 (scratch) and @host = the host address of rdx bytes at register @a
 * (r1 or r2), checked as bpf_vm_mem() checks them; else to @slow
 */
static void emit_range(Jit *j, int a, bool write, int host, size_t slow)
{
    emit_check(j, a, RDX, 0, write, T1, slow);
    emit_rm(j, true, false, 0x8b, host, CTX, T2, CTX_OFF(bias));
    emit_rr(j, true, 0x01, a, host);           /* add host, a */
}

/*
 * The standard memcpy helper, for a copy of up to JIT_MEMCPY_MAX bytes
 * whose work does not reach the limit: r1 and r2 checked as the helper
 * checks them, memmove(), its work counted, r0 = 0 and r1-r5 filled as
 * after a call.  Anything else goes to @slow: the call of the helper.
 */
static void emit_memcpy(Jit *j, size_t slow)
{
    EMIT_ALIGNED(j, {
        emit_ri_own(j, true, 7, RDX, JIT_MEMCPY_MAX);   /* cmp r3, max */
        emit_branch(j, JCC(CC_A), slow);
    });
    emit_rm(j, true, false, 0x8d, T3, RDX, -1, 7);      /* work: */
    emit_rr(j, true, 0xc1, 5, T3);                      /* (r3 + 7) / 8 */
    emit1(j, 3);
    EMIT_ALIGNED(j, {
        emit_rr(j, true, 0x39, T3, LEFT);               /* cmp left, t3 */
        emit_branch(j, JCC(CC_B), slow);
    });
    emit_range(j, RDI, true, RAX, slow);
    emit_range(j, RSI, false, RCX, slow);
    emit_rr(j, true, 0x29, T3, LEFT);                   /* sub left, t3 */

    /*
     * 8 to 16 bytes: two words that may overlap, both loaded before either
     * is stored, as memmove() copies; jumps to labels of the previous
     * emission (emit_call_helper() emits this twice)
     */
    EMIT_ALIGNED(j, {
        emit_ri_own(j, true, 7, RDX, 16);
        emit_branch(j, JCC(CC_A), j->mc_call);
    });
    EMIT_ALIGNED(j, {
        emit_ri_own(j, true, 7, RDX, 8);
        emit_branch(j, JCC(CC_B), j->mc_call);
    });
    emit_rm(j, true, false, 0x8b, T1, RCX, -1, 0);
    emit_rm_x(j, true, false, 0x8b, T2, RCX, RDX, 1, -8);
    emit_rm(j, true, false, 0x89, T1, RAX, -1, 0);
    emit_rm_x(j, true, false, 0x89, T2, RAX, RDX, 1, -8);
    EMIT_ALIGNED(j, emit_branch(j, OP_JMP, j->mc_done));

    j->mc_call = j->len;
    emit_ctx(j, true, 0x89, LEFT, CTX_OFF(left));
    emit_mov_rr(j, true, RDI, RAX);
    emit_mov_rr(j, true, RSI, RCX);
    emit_call_abs(j, memmove);
    emit_ctx(j, true, 0x8b, LEFT, CTX_OFF(left));

    j->mc_done = j->len;
    emit_rr(j, false, 0x31, RAX, RAX);                  /* r0 = 0 */
    for (int r = 1; r <= 5; r++) {
        emit_ctx(j, true, 0x8b, xreg[r], CTX_OFF(fill));
    }
}

/*
 * A helper call: its arguments into the context, jit_helper() called
 * directly (r6-r9 are in registers the callee saves), r0 and r1-r5 (which
 * it sets as the interpreter does) back
 */
static void emit_call_helper(Jit *j, uint32_t pc)
{
    const BpfVmInsn *i = &j->prog->insns[pc];
    size_t at = j->len, slow = 0, done = 0;

    if (j->prog->helpers->table[i->imm].fn == bpf_vm_helper_memcpy) {
        /* emitted again once it knows where the call below is */
        for (int n = 0; n < 2; n++) {
            j->len = at;
            emit_memcpy(j, slow);
            EMIT_ALIGNED(j, emit_branch(j, OP_JMP, 0));
            done = j->len - 5;
            slow = j->len;
        }
    }
    for (int r = 1; r <= 5; r++) {
        emit_ctx(j, true, 0x89, xreg[r], CTX_REG(r));
    }
    emit_ctx(j, true, 0x89, LEFT, CTX_OFF(left));
    emit_ctx_imm(j, CTX_OFF(curpc), pc);
    emit_mov_rr(j, true, RDI, CTX);
    emit_call_abs(j, jit_helper);
    EMIT_ALIGNED(j, {
        emit_rr(j, false, 0x85, RAX, RAX);     /* test eax, eax */
        emit_branch(j, JCC(CC_NE), j->label[L_EPILOGUE]);
    });
    for (int r = 0; r <= 5; r++) {
        emit_ctx(j, true, 0x8b, xreg[r], CTX_REG(r));
    }
    emit_ctx(j, true, 0x8b, LEFT, CTX_OFF(left));
    if (done && j->buf) {
        /* the fast path jumps past the call */
        stl_le_p(j->buf + done + 1, j->len - (done + 5));
    }
}

static void emit_insn(Jit *j, uint32_t pc)
{
    const BpfVmInsn *i = &j->prog->insns[pc];

    switch (CLS(i->code)) {
    case CLS_ALU:
    case CLS_ALU64:
        if (jit_alu_native(i)) {
            emit_alu(j, i);
            return;
        }
        break;
    case CLS_LD:
        emit_imm64(j, xreg[i->dst], (uint32_t)i->imm |
                   (uint64_t)(uint32_t)i[1].imm << 32);
        return;
    case CLS_LDX:
    case CLS_ST:
    case CLS_STX:
        if (MODE(i->code) == MODE_MEM) {
            emit_mem(j, pc, i);
            return;
        }
        break;
    case CLS_JMP:
    case CLS_JMP32:
        if (OP(i->code) == JMP_EXIT) {
            emit_exit(j);
        } else if (OP(i->code) != JMP_CALL) {
            emit_jump(j, pc, i);
        } else if (i->src == CALL_LOCAL) {
            emit_call_local(j, pc, i);
        } else {
            emit_call_helper(j, pc);
        }
        return;
    }

    /* the rest in C */
    emit_call_out(j, L_INSN, pc, j->rest[pc]);
}

static void emit_spill(Jit *j, bool load)
{
    for (int r = 0; r < 10; r++) {
        emit_ctx(j, true, load ? 0x8b : 0x89, xreg[r], CTX_REG(r));
    }
    emit_ctx(j, true, load ? 0x8b : 0x89, LEFT, CTX_OFF(left));
}

static uint32_t jit_block(BpfJitCtx *c);
static uint32_t jit_insn(BpfJitCtx *c);

/*
 * A routine that calls @fn(ctx) with the registers in the context, then
 * returns to the code, or ends the run if @fn returns non-zero.
 */
static void emit_c_call(Jit *j, uint32_t (*fn)(BpfJitCtx *))
{
    emit_spill(j, false);
    emit_mov_rr(j, true, RDI, CTX);
    emit_ri_own(j, true, 5, RSP, 8);           /* align the stack */
    emit_call_abs(j, fn);
    emit_ri_own(j, true, 0, RSP, 8);
    emit_rr(j, false, 0x85, RAX, RAX);         /* test eax, eax */
    emit_branch(j, JCC(CC_NE), j->label[L_EPILOGUE]);
    emit_spill(j, true);
    emit1(j, 0xc3);
}

static const int host_saved[] = { RBX, RBP, X12, X13, X14, X15 };

static void emit_program(Jit *j)
{
    const BpfVmProg *prog = j->prog;

    /* prologue: save, the context in r12, the registers of the program */
    for (int r = 0; r < ARRAY_SIZE(host_saved); r++) {
        emit_push(j, host_saved[r]);
    }
    emit_ri_own(j, true, 5, RSP, 8);
    emit_mov_rr(j, true, CTX, RDI);
    emit_ctx(j, true, 0x89, RSP, CTX_OFF(saved_rsp));
    emit_spill(j, true);

    for (uint32_t pc = 0; pc < prog->len; pc++) {
        j->addr[pc] = j->len;
        if (j->leader[pc]) {
            /* sub left, blen; jb: the block would pass the limit */
            size_t slow = jit_stub(j, pc, j->blen[pc], -1);

            EMIT_ALIGNED(j, {
                j->addr[pc] = j->len;
                emit_ri_own(j, true, 5, LEFT, j->blen[pc]);
                emit_branch(j, JCC(CC_B), slow);
            });
            j->body[pc] = j->len;
        }
        emit_insn(j, pc);
        if (prog->insns[pc].code == OPC_LDDW) {
            j->addr[++pc] = j->len;
        }
    }

    j->label[L_EXIT] = j->len;
    emit_ctx(j, true, 0x89, RAX, CTX_REG(R0));
    emit_ctx_imm(j, CTX_OFF(error), BPF_VM_OK);
    emit_ctx(j, true, 0x89, LEFT, CTX_OFF(left));
    emit_branch(j, OP_JMP, j->label[L_EPILOGUE]);

    j->label[L_FAIL] = j->len;
    emit_ctx(j, false, 0x89, RSI, CTX_OFF(pc));
    emit_ctx(j, false, 0x89, RDX, CTX_OFF(error));
    emit_ctx(j, true, 0x89, LEFT, CTX_OFF(left));

    j->label[L_EPILOGUE] = j->len;
    emit_ctx(j, true, 0x8b, RSP, CTX_OFF(saved_rsp));
    emit_ri_own(j, true, 0, RSP, 8);
    for (int r = ARRAY_SIZE(host_saved) - 1; r >= 0; r--) {
        emit_pop(j, host_saved[r]);
    }
    emit1(j, 0xc3);

    j->label[L_BLOCK] = j->len;
    emit_c_call(j, jit_block);
    j->label[L_INSN] = j->len;
    emit_c_call(j, jit_insn);

    for (unsigned n = 0; n < j->stubs->len; n++) {
        JitStub *s = &g_array_index(j->stubs, JitStub, n);

        if (!j->final) {
            g_array_append_val(j->stub_addr, j->len);
        }
        emit_ri(j, true, 0, LEFT, s->k);         /* give back k */
        if (s->error < 0) {
            /* the block would pass the limit: call out, then run it */
            emit_call_out(j, L_BLOCK, s->pc, s->k);
            emit_branch(j, OP_JMP, j->final ? j->body[s->pc] : 0);
        } else {
            emit1(j, 0xbe);                      /* mov esi, pc */
            emit4(j, s->pc);
            emit1(j, 0xba);                      /* mov edx, error */
            emit4(j, s->error);
            emit_branch(j, OP_JMP, j->label[L_FAIL]);
        }
    }
}

/* Basic blocks: where each starts, and how many instructions it has */
static void jit_blocks(Jit *j)
{
    const BpfVmProg *prog = j->prog;
    uint32_t n = prog->len, pc, count;

    j->leader[0] = true;
    for (pc = 0; pc < n; pc++) {
        const BpfVmInsn *i = &prog->insns[pc];
        uint8_t op = OP(i->code);

        if (i->code == OPC_LDDW) {
            j->wide[++pc] = true;
            continue;
        }
        if (CLS(i->code) != CLS_JMP && CLS(i->code) != CLS_JMP32) {
            continue;
        }
        if (pc + 1 < n) {
            j->leader[pc + 1] = true;
        }
        if (op == JMP_CALL && i->src == CALL_LOCAL) {
            j->leader[pc + 1 + i->imm] = true;
        } else if (op == JMP_JA) {
            j->leader[pc + 1 + (CLS(i->code) == CLS_JMP ? i->off :
                                i->imm)] = true;
        } else if (op != JMP_CALL && op != JMP_EXIT) {
            j->leader[pc + 1 + i->off] = true;
        }
    }

    /* from the end: the instructions after each, up to its block's end */
    count = 0;
    for (pc = n; pc-- > 0;) {
        if (j->wide[pc]) {
            continue;           /* the second half of an lddw */
        }
        j->rest[pc] = count++;
        if (j->leader[pc]) {
            j->blen[pc] = count;
            count = 0;
        }
    }
}

BpfVmJit *bpf_vm_jit_compile(const BpfVmProg *prog, char **why)
{
    uint32_t n = prog->len;
    g_autofree bool *leader = g_new0(bool, n);
    g_autofree bool *wide = g_new0(bool, n);
    g_autofree uint32_t *blen = g_new0(uint32_t, n);
    g_autofree uint32_t *rest = g_new0(uint32_t, n);
    g_autofree uint32_t *addr = g_new0(uint32_t, n);
    g_autofree uint32_t *body = g_new0(uint32_t, n);
    g_autoptr(GArray) stubs = g_array_new(false, false, sizeof(JitStub));
    g_autoptr(GArray) stub_addr = g_array_new(false, false, sizeof(size_t));
    Jit j = {
        .prog = prog, .leader = leader, .wide = wide, .blen = blen,
        .rest = rest, .addr = addr, .body = body, .stubs = stubs,
        .stub_addr = stub_addr,
    };
    BpfVmJit *jit;
    size_t len, size;
    void *mem;

    jit_blocks(&j);

    /* measure, then emit into memory of that size */
    emit_program(&j);
    len = j.len;
    if (len > BPF_VM_JIT_MAX_CODE) {
        *why = g_strdup_printf("%zu bytes of code, more than %d", len,
                               BPF_VM_JIT_MAX_CODE);
        return NULL;
    }
    size = ROUND_UP(len, qemu_real_host_page_size());
    mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        *why = g_strdup_printf("no memory for %zu bytes of code: %s", len,
                               strerror(errno));
        return NULL;
    }
    g_array_set_size(stubs, 0);
    j.buf = mem;
    j.cap = size;
    j.len = 0;
    j.final = true;
    emit_program(&j);
    if (j.len != len || mprotect(mem, size, PROT_READ | PROT_EXEC)) {
        *why = g_strdup_printf("code of %zu bytes, then %zu: %s", len,
                               j.len, strerror(errno));
        munmap(mem, size);
        return NULL;
    }

    jit = g_new0(BpfVmJit, 1);
    jit->code = mem;
    jit->size = size;
    jit->len = len;
    return jit;
}

const void *bpf_vm_jit_code(const BpfVmProg *prog, size_t *len)
{
    *len = prog->jit ? prog->jit->len : 0;
    return prog->jit ? prog->jit->code : NULL;
}

void bpf_vm_jit_free(BpfVmJit *jit)
{
    if (jit) {
        munmap(jit->code, jit->size);
        g_free(jit);
    }
}

bool bpf_vm_jit_available(void)
{
    return true;
}

/*
 * What the code calls out to
 */

/* Call out next when the run reaches its poll point or its budget */
static void jit_limit(BpfJitCtx *c, uint64_t count)
{
    BpfVmRun *run = c->run;

    c->limit = run->poll_at;
    if (run->budget && run->budget < c->limit) {
        c->limit = run->budget;
    }
    c->left = c->limit - count;
}

/* The block at curpc, of curk instructions, would pass the limit */
static uint32_t jit_block(BpfJitCtx *c)
{
    BpfVmRun *run = c->run;
    uint64_t count = c->limit - c->left;
    int (*poll)(void *opaque) = run->poll;

    if (run->budget && count + c->curk > run->budget) {
        /* the interpreter stops it at the instruction the budget ends */
        run->poll = NULL;
        bpf_vm_interp(c->prog, run, c->reg, c->curpc, count);
        run->poll = poll;
        c->error = UINT32_MAX;
        return 1;
    }

    run->insns = count;
    if (poll && poll(run->opaque)) {
        c->error = BPF_VM_ESTOPPED;
        c->pc = c->curpc;
        return 1;
    }
    run->poll_at = count + BPF_VM_POLL_INSNS;
    jit_limit(c, count);
    c->left -= c->curk;
    return 0;
}

/* The instruction at curpc, with curk instructions after it in its block */
static uint32_t jit_insn(BpfJitCtx *c)
{
    if (bpf_vm_step(c->prog, c->run, c->reg, c->curpc)) {
        c->error = c->run->error;
        c->pc = c->curpc;
        c->left += c->curk;
        return 1;
    }
    return 0;
}

/* The helper call at curpc, which ends its block */
static uint32_t jit_helper(BpfJitCtx *c)
{
    BpfVmRun *run = c->run;
    const BpfVmHelper *h = &c->prog->helpers->table[
        c->prog->insns[c->curpc].imm];
    bool fault = false;

    run->insns = c->limit - c->left;
    c->reg[R0] = h->fn(run, &c->reg[1], &fault);
    for (int r = 1; r <= 5; r++) {
        c->reg[r] = run->fill;
    }
    if (fault || run->stop) {
        c->error = fault ? BPF_VM_EHELPER : run->stop;
        c->pc = c->curpc;
        c->left = c->limit - run->insns;
        return 1;
    }
    jit_limit(c, run->insns);
    return 0;
}

void bpf_vm_jit_run(const BpfVmProg *prog, BpfVmRun *run,
                    const uint64_t *reg)
{
    g_autofree BpfJitCtx *c = g_new(BpfJitCtx, 1);

    memcpy(c->reg, reg, sizeof(c->reg));
    c->depth = 0;
    c->prog = prog;
    c->run = run;
    c->ntbl = run->nregions + 1;
    c->fp_host = (uintptr_t)run->regions[0].host + run->regions[0].len;
    c->fill = run->fill;
    c->end_rd[0] = c->end_wr[0] = c->bias[0] = 0;
    for (unsigned i = 0; i < run->nregions; i++) {
        const BpfVmRegion *r = &run->regions[i];
        uint64_t base = (uint64_t)(i + 1) << BPF_VM_REGION_SHIFT;

        /* offsets are 32 bits: past 8 GiB, a length changes nothing */
        c->end_rd[i + 1] = base + MIN(r->len, 1ULL << 33);
        c->end_wr[i + 1] = r->writable ? c->end_rd[i + 1] : 0;
        c->bias[i + 1] = (uintptr_t)r->host - base;
    }
    jit_limit(c, 0);

    run->error = BPF_VM_OK;
    prog->jit->code(c);
    if (c->error == UINT32_MAX) {
        return;                 /* the interpreter ended the run */
    }
    run->error = c->error;
    run->insns = c->limit - c->left;
    if (run->error) {
        run->pc = c->pc;
    } else {
        run->r0 = c->reg[R0];
    }
}

#else /* no JIT on this host */

BpfVmJit *bpf_vm_jit_compile(const BpfVmProg *prog, char **why)
{
    *why = g_strdup("this host has no eBPF JIT");
    return NULL;
}

void bpf_vm_jit_run(const BpfVmProg *prog, BpfVmRun *run,
                    const uint64_t *reg)
{
    g_assert_not_reached();
}

void bpf_vm_jit_free(BpfVmJit *jit)
{
}

const void *bpf_vm_jit_code(const BpfVmProg *prog, size_t *len)
{
    *len = 0;
    return NULL;
}

bool bpf_vm_jit_available(void)
{
    return false;
}

#endif
