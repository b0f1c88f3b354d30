/*
 * Unit tests of the eBPF virtual machine (util/bpf-vm.c)
 *
 * Our own tests of every instruction class, of the verifier and of hostile
 * programs, and a runner for the bpf_conformance vectors: the directory
 * named by BPF_VM_CONFORMANCE holds tests/ (each vector must give its
 * result) and negative/ (each must be refused: by the assembler, by the
 * verifier, or by a result that differs from the wrong one it states).
 * Each test that runs programs runs them on the interpreter
 * (/bpf-vm/interp/...) and, where the host has one, on the JIT
 * (/bpf-vm/jit/...).
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/crc32c.h"
#include "qemu/bpf-vm.h"
#include "bpf-asm.h"

#define REG(r)      (1u << (r))

/*
 * Running a program: region 1 is the test's writable memory, region 2 a
 * read-only one.
 */

typedef struct TestRun {
    BpfVmRegion     regions[3];
    BpfVmRun        run;
    uint8_t         ro[16];
} TestRun;

static void test_run_init(TestRun *t, uint8_t *mem, size_t len)
{
    memset(t, 0, sizeof(*t));
    memset(t->ro, 0x5a, sizeof(t->ro));
    t->regions[1] = (BpfVmRegion) { mem, len, true };
    t->regions[2] = (BpfVmRegion) { t->ro, sizeof(t->ro), false };
    t->run.regions = t->regions;
    t->run.nregions = 3;
    t->run.args[0] = len ? bpf_vm_addr(1, 0) : 0;
    t->run.args[1] = len;
    t->run.args[2] = bpf_vm_addr(2, 0);
}

/* The engine of the test that runs */
static bool use_jit;

/* Compile @prog when the test runs on the JIT */
static BpfVmProg *engine(BpfVmProg *prog)
{
    g_autofree char *why = NULL;

    if (prog && use_jit && !bpf_vm_jit(prog, &why)) {
        g_test_message("JIT: %s", why);
        g_assert_not_reached();
    }
    return prog;
}

typedef struct EngineTest {
    GTestDataFunc   fn;
    const void      *data;
    bool            jit;
} EngineTest;

static void engine_test(const void *opaque)
{
    const EngineTest *e = opaque;

    use_jit = e->jit;
    e->fn(e->data);
}

/* Add @fn(@data) as /bpf-vm/ENGINE/@path, for each engine of the host */
static void add_engines(const char *path, const void *data, GTestDataFunc fn)
{
    for (int jit = 0; jit <= bpf_vm_jit_available(); jit++) {
        g_autofree char *name = g_strdup_printf("/bpf-vm/%s/%s",
                                                jit ? "jit" : "interp", path);
        EngineTest *e = g_new(EngineTest, 1);

        *e = (EngineTest) { fn, data, jit };
        g_test_add_data_func_full(name, e, engine_test, g_free);
    }
}

static BpfVmProg *load_asm(const char *text, const BpfVmHelpers *helpers,
                           char **why)
{
    g_autoptr(GByteArray) code = NULL;
    g_autofree char *err = NULL;

    code = bpf_asm(text, &err);
    g_assert_null(err);
    g_assert_nonnull(code);

    return engine(bpf_vm_load(code->data, code->len, helpers,
                              REG(1) | REG(2) | REG(3), why));
}

/* Run @text on @len bytes of @mem; the error of the run, r0 in *r0 */
static BpfVmError run_asm(const char *text, uint8_t *mem, size_t len,
                          uint64_t budget, uint64_t *r0)
{
    g_autofree char *why = NULL;
    BpfVmProg *prog;
    TestRun t;
    BpfVmError err;

    prog = load_asm(text, &bpf_vm_std_helpers, &why);
    if (!prog) {
        g_test_message("verifier: %s", why);
    }
    g_assert_nonnull(prog);

    test_run_init(&t, mem, len);
    t.run.budget = budget;
    err = bpf_vm_run(prog, &t.run);
    *r0 = t.run.r0;
    bpf_vm_free(prog);

    return err;
}

static uint64_t run_ok(const char *text, uint8_t *mem, size_t len)
{
    uint64_t r0;

    g_assert_cmpint(run_asm(text, mem, len, 0, &r0), ==, BPF_VM_OK);
    return r0;
}

/*
 * Every instruction class
 */

typedef struct ClassCase {
    const char  *name;
    const char  *text;
    uint64_t    result;
} ClassCase;

static const ClassCase class_cases[] = {
    { "alu64", "mov %r0, -7\n add %r0, 3\n mul %r0, 3\n sdiv %r0, 2\n"
      "xor %r0, 1\n exit", (uint64_t)-5 },
    { "alu32", "mov32 %r0, -1\n add32 %r0, 2\n lsh32 %r0, 31\n"
      "arsh32 %r0, 4\n exit", 0xf8000000 },
    { "alu-divmod-zero", "mov %r0, 9\n mov %r2, 0\n div %r0, %r2\n"
      "mov %r3, 7\n mod %r3, %r2\n add %r0, %r3\n exit", 7 },
    { "alu-end", "lddw %r0, 0x1122334455667788\n be32 %r0\n exit",
      0x88776655 },
    { "jmp", "mov %r0, 0\n mov %r1, 5\nloop:\n add %r0, %r1\n sub %r1, 1\n"
      "jne %r1, 0, loop\n exit", 15 },
    { "jmp32", "lddw %r1, 0x100000001\n mov %r0, 1\n jeq32 %r1, 1, +1\n"
      "mov %r0, 2\n exit", 1 },
    { "ld", "lddw %r0, 0xfedcba9876543210\n exit", 0xfedcba9876543210ULL },
    { "ldx-st-stx", "stw [%r10-4], -2\n ldxsw %r0, [%r10-4]\n"
      "stxdw [%r1+8], %r0\n ldxb %r0, [%r1+15]\n exit", 0xff },
    { "atomic", "stdw [%r10-8], 40\n mov %r2, 2\n"
      "lock fetch add [%r10-8], %r2\n ldxdw %r0, [%r10-8]\n add %r0, %r2\n"
      "exit", 82 },
    { "call-local", "mov %r1, 20\n call local double\n add %r0, 2\n exit\n"
      "double:\n mov %r0, %r1\n add %r0, %r1\n exit", 42 },
    { "call-helper", "mov %r6, %r1\n stw [%r6], 0x64636261\n mov %r1, 0\n"
      "mov %r2, %r6\n mov %r3, 4\n call 3\n exit", 0x92c80a31 },
};

static void test_class(const void *opaque)
{
    const ClassCase *c = opaque;
    uint8_t mem[64] = {};

    g_assert_cmphex(run_ok(c->text, mem, sizeof(mem)), ==, c->result);
}

/*
 * The verifier
 */

typedef struct RejectCase {
    const char  *name;
    const char  *text;          /* or */
    uint8_t     raw[24];
    size_t      len;
    const char  *why;
} RejectCase;

static const RejectCase reject_cases[] = {
    { "unknown-opcode", .raw = { 0xe7 }, .len = 8, .why = "unknown opcode" },
    { "reserved-field", .raw = { 0xb7, 0x10 }, .len = 8,
      .why = "reserved field" },
    { "jump-out", "ja +5\n exit", .why = "jump out of the program" },
    { "jump-backward-out", "ja -2\n exit", .why = "jump out of the program" },
    { "jump-into-lddw", "ja +1\n lddw %r0, 1\n exit",
      .why = "middle of an lddw" },
    { "falls-off-end", "mov %r0, 0", .why = "falls off the end" },
    { "cond-falls-off", "mov %r0, 0\n jeq %r0, 0, -2",
      .why = "falls off the end" },
    { "lddw-truncated", .raw = { 0x18, 0, 0, 0, 1 }, .len = 8,
      .why = "without its second half" },
    { "uninit-r0", "exit", .why = "r0 is read before it is set" },
    { "uninit-one-path", "jeq %r1, 0, +1\n mov %r0, 1\n exit",
      .why = "r0 is read before it is set" },
    { "uninit-r6", "mov %r0, %r6\n exit", .why = "r6 is read" },
    { "callee-saved-args", "mov %r0, 0\n call local f\n mov %r0, %r1\n"
      "exit\nf:\n mov %r0, 0\n exit", .why = "r1 is read" },
    { "callee-unset-arg", "call local f\n exit\nf:\n mov %r0, %r4\n exit",
      .why = "r4 is read" },
    { "callee-unset-arg-one-caller", "mov %r3, 1\n call local f\n"
      "call local f\n exit\nf:\n mov %r0, %r3\n exit",
      .why = "r3 is read" },
    { "write-r10", "mov %r10, 0\n mov %r0, 0\n exit", .why = "r10" },
    { "ldx-into-r10", "ldxdw %r10, [%r1]\n mov %r0, 0\n exit", .why = "r10" },
    { "stack-too-deep", "stdw [%r10-520], 1\n mov %r0, 0\n exit",
      .why = "outside 512 bytes" },
    { "stack-above-frame", "ldxw %r0, [%r10-2]\n exit",
      .why = "outside 512 bytes" },
    { "unknown-helper", "call 99\n exit", .why = "unknown helper 99" },
    { "call-register", "mov %r2, 1\n call %r2\n mov %r0, 0\n exit",
      .why = "unknown opcode 0x8d" },
    { "lddw-map", .raw = { 0x18, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                           0, 0x95 }, .len = 24, .why = "lddw source" },
    { "packet-load", .raw = { 0x20 }, .len = 8, .why = "unsupported load" },
    { "bad-register", .raw = { 0xb7, 0x0b }, .len = 8, .why = "no register" },
    { "bad-size", .raw = { 0x95 }, .len = 7, .why = "multiple of 8" },
};

static void test_reject(const void *opaque)
{
    const RejectCase *c = opaque;
    g_autoptr(GByteArray) code = NULL;
    g_autofree char *why = NULL, *err = NULL;
    BpfVmProg *prog;

    if (c->text) {
        code = bpf_asm(c->text, &err);
        g_assert_null(err);
    } else {
        code = g_byte_array_new();
        g_byte_array_append(code, c->raw, c->len);
    }

    prog = bpf_vm_load(code->data, code->len, &bpf_vm_std_helpers,
                       REG(1) | REG(2), &why);
    g_assert_null(prog);
    g_test_message("%s", why);
    g_assert_nonnull(strstr(why, c->why));
}

/*
 * Hostile programs: each stops with its error, then a valid one runs
 */

typedef struct HostileCase {
    const char      *name;
    const char      *text;
    uint64_t        budget;
    BpfVmError      error;
} HostileCase;

static const HostileCase hostile_cases[] = {
    { "load-below-range", "ldxb %r0, [%r1-1]\n exit", 0, BPF_VM_EACCESS },
    { "load-past-range", "ldxb %r0, [%r1+64]\n exit", 0, BPF_VM_EACCESS },
    { "load-straddles-end", "ldxdw %r0, [%r1+60]\n exit", 0,
      BPF_VM_EACCESS },
    { "store-past-range", "stb [%r1+64], 1\n mov %r0, 0\n exit", 0,
      BPF_VM_EACCESS },
    { "store-read-only", "stb [%r3], 1\n mov %r0, 0\n exit", 0,
      BPF_VM_EACCESS },
    { "pointer-escapes", "add %r1, %r2\n ldxb %r0, [%r1+0]\n exit", 0,
      BPF_VM_EACCESS },
    { "pointer-wraps", "lddw %r4, 0x200000001\n sub %r1, %r4\n"
      "ldxb %r0, [%r1+0]\n exit", 0, BPF_VM_EACCESS },
    { "null", "mov %r1, 0\n ldxb %r0, [%r1+0]\n exit", 0, BPF_VM_EACCESS },
    { "no-such-region", "lddw %r1, 0x7700000000\n ldxb %r0, [%r1+0]\n exit",
      0, BPF_VM_EACCESS },
    { "host-address", "mov %r1, %r10\n lsh %r1, 20\n ldxb %r0, [%r1+0]\n"
      "exit", 0, BPF_VM_EACCESS },
    { "stack-escape", "mov %r2, %r10\n add %r2, 8\n ldxdw %r0, [%r2-8]\n"
      "exit", 0, BPF_VM_EACCESS },
    { "stack-underflow", "mov %r2, %r10\n sub %r2, 4096\n"
      "ldxb %r0, [%r2-1]\n exit", 0, BPF_VM_EACCESS },
    { "misaligned-atomic", "mov %r2, 1\n lock add [%r1+4], %r2\n"
      "mov %r0, 0\n exit", 0, BPF_VM_EALIGN },
    { "infinite-loop", "mov %r0, 0\n ja -1", 100000, BPF_VM_EBUDGET },
    { "recursion", "mov %r0, 0\n call local f\n exit\nf:\n call local f\n"
      "exit", 0, BPF_VM_EDEPTH },
    { "helper-bad-range", "mov %r3, 65\n mov %r2, %r1\n call 1\n exit", 0,
      BPF_VM_EHELPER },
    { "helper-writes-read-only", "mov %r1, %r3\n mov %r2, 0\n mov %r3, 1\n"
      "call 2\n exit", 0, BPF_VM_EHELPER },
    { "helper-crc-past-end", "mov %r2, %r1\n mov %r1, 0\n mov %r3, 65\n"
      "call 3\n exit", 0, BPF_VM_EHELPER },
    { "helper-copies-to-read-only", "mov %r2, %r1\n mov %r1, %r3\n"
      "mov %r3, 1\n call 1\n exit", 0, BPF_VM_EHELPER },
    { "helper-copies-past-budget", "mov %r2, %r1\n add %r1, 32\n"
      "mov %r3, 32\n call 1\n exit", 5, BPF_VM_EBUDGET },
};

static void test_hostile(const void *opaque)
{
    const HostileCase *c = opaque;
    uint8_t mem[64];
    uint64_t r0;

    memset(mem, 0xaa, sizeof(mem));
    g_assert_cmpint(run_asm(c->text, mem, sizeof(mem), c->budget, &r0), ==,
                    c->error);

    /* nothing outside was touched, and a valid program runs right after */
    for (int i = 0; i < sizeof(mem); i++) {
        g_assert_cmpint(mem[i], ==, 0xaa);
    }
    g_assert_cmphex(run_ok("ldxdw %r0, [%r1+56]\n exit", mem, sizeof(mem)),
                    ==, 0xaaaaaaaaaaaaaaaaULL);
}

static int poll_count;

static int poll_stop(void *opaque)
{
    return ++poll_count == 3;
}

/* The poll callback stops a run, after 3 poll intervals exactly */
static void test_poll(const void *opaque)
{
    g_autofree char *why = NULL;
    BpfVmProg *prog = load_asm("mov %r0, 0\n ja -1", NULL, &why);
    TestRun t;

    test_run_init(&t, NULL, 0);
    t.run.poll = poll_stop;
    poll_count = 0;
    g_assert_cmpint(bpf_vm_run(prog, &t.run), ==, BPF_VM_ESTOPPED);
    g_assert_cmpint(poll_count, ==, 3);
    g_assert_cmpint(t.run.insns, ==, 3 * BPF_VM_POLL_INSNS);
    bpf_vm_free(prog);
}

/* The budget counts instructions: a 4-instruction loop, 1000 times */
static void test_budget(const void *opaque)
{
    const char *text = "mov %r0, 0\nl:\n add %r0, 1\n jlt %r0, 1000, l\n"
                       "exit";
    uint8_t mem[8];
    uint64_t r0;

    g_assert_cmpint(run_asm(text, mem, sizeof(mem), 2002, &r0), ==,
                    BPF_VM_OK);
    g_assert_cmpint(r0, ==, 1000);
    g_assert_cmpint(run_asm(text, mem, sizeof(mem), 2001, &r0), ==,
                    BPF_VM_EBUDGET);
}

/* The helpers of util/bpf-vm.c, against references computed here */
static void test_helpers(const void *opaque)
{
    uint8_t mem[64], ref[64];
    uint32_t crc;

    for (int i = 0; i < sizeof(mem); i++) {
        mem[i] = i * 7;
    }
    memcpy(ref, mem, sizeof(ref));

    /* overlapping copy of 32 bytes from offset 0 to 8, then memset */
    g_assert_cmpint(run_ok("mov %r6, %r1\n mov %r2, %r1\n add %r1, 8\n"
                           "mov %r3, 32\n call 1\n mov %r1, %r6\n add %r1, 60\n"
                           "mov %r2, 0x1ee\n mov %r3, 4\n call 2\n exit",
                           mem, sizeof(mem)), ==, 0);
    memmove(ref + 8, ref, 32);
    memset(ref + 60, 0xee, 4);
    g_assert_cmpmem(mem, sizeof(mem), ref, sizeof(ref));

    /* copies of every length up to 24, overlapping either way or not */
    for (int len = 0; len <= 24; len++) {
        static const int moves[][2] = { { 0, 5 }, { 7, 1 }, { 0, 32 } };

        for (int m = 0; m < ARRAY_SIZE(moves); m++) {
            g_autofree char *text = g_strdup_printf(
                "mov %%r2, %%r1\n add %%r1, %d\n add %%r2, %d\n"
                "mov %%r3, %d\n call 1\n exit", moves[m][1], moves[m][0],
                len);

            for (int i = 0; i < sizeof(mem); i++) {
                mem[i] = ref[i] = i * 13 + len;
            }
            g_assert_cmpint(run_ok(text, mem, sizeof(mem)), ==, 0);
            memmove(ref + moves[m][1], ref + moves[m][0], len);
            g_assert_cmpmem(mem, sizeof(mem), ref, sizeof(ref));
        }
    }

    /* crc32c in two pieces equals the CRC-32C of the whole */
    crc = crc32c(0xffffffff, mem, sizeof(mem));
    g_assert_cmphex(run_ok("mov %r6, %r1\n mov %r2, %r1\n mov %r1, 0\n"
                           "mov %r3, 10\n call 3\n mov %r1, %r0\n"
                           "mov %r2, %r6\n add %r2, 10\n mov %r3, 54\n"
                           "call 3\n exit", mem, sizeof(mem)), ==, crc);
}

/*
 * The code of the JIT
 */

/* The permissions of the mapping at @addr in /proc/self/maps */
static char *map_perms(const void *addr)
{
    g_autofree char *maps = NULL;
    g_auto(GStrv) lines = NULL;

    g_assert_true(g_file_get_contents("/proc/self/maps", &maps, NULL, NULL));
    lines = g_strsplit(maps, "\n", -1);
    for (int i = 0; lines[i]; i++) {
        unsigned long lo, hi;
        char perms[5];

        if (sscanf(lines[i], "%lx-%lx %4s", &lo, &hi, perms) == 3 &&
            (uintptr_t)addr >= lo && (uintptr_t)addr < hi) {
            return g_strdup(perms);
        }
    }
    return NULL;
}

/*
 * Code is never writable and executable at once, and holds no
 * immediate or offset of the program verbatim (they are blinded)
 */
static void test_jit_code(void)
{
    static const uint32_t imm[] = {
        0x5eadbeef, 0x7a5a5a5a, 0x11223344, 0x55667788, 0x13572468,
        0x00001234,
    };
    g_autofree char *text = g_strdup_printf(
        "mov %%r0, 0x%x\n add %%r0, 0x%x\n lddw %%r2, 0x%x%08x\n"
        "jeq %%r0, 0x%x, +0\n stdw [%%r1+0x%x], 0\n exit",
        imm[0], imm[1], imm[2], imm[3], imm[4], imm[5]);
    g_autofree char *why = NULL, *perms = NULL;
    BpfVmProg *prog = load_asm(text, NULL, &why);
    const uint8_t *code;
    size_t len;

    g_assert_nonnull(prog);
    g_assert_true(bpf_vm_jit(prog, &why));
    code = bpf_vm_jit_code(prog, &len);
    g_assert_nonnull(code);
    perms = map_perms(code);
    g_assert_cmpstr(perms, ==, "r-xp");

    for (int i = 0; i < ARRAY_SIZE(imm); i++) {
        uint8_t le[4];
        size_t n = imm[i] >> 16 ? 4 : 2;

        stl_le_p(le, imm[i]);
        g_assert_null(memmem(code, len, le, n));
    }
    bpf_vm_free(prog);
}

/* A program whose code would be too large keeps the interpreter */
static void test_jit_too_large(void)
{
    size_t n = BPF_VM_MAX_INSNS;
    g_autofree uint8_t *code = g_malloc0(n * 8);
    g_autofree char *why = NULL;
    uint8_t mem[64];
    BpfVmProg *prog;
    TestRun t;

    /* stdw [r1 + 8], 0x55555555, the largest in code, then exit */
    for (size_t i = 0; i < n - 2; i++) {
        code[i * 8] = 0x7a;
        code[i * 8 + 1] = 1;
        stw_le_p(code + i * 8 + 2, 8);
        stl_le_p(code + i * 8 + 4, 0x55555555);
    }
    code[(n - 2) * 8] = 0xb7;                       /* mov r0, 7 */
    code[(n - 2) * 8 + 4] = 7;
    code[(n - 1) * 8] = 0x95;                       /* exit */

    prog = bpf_vm_load(code, n * 8, NULL, REG(1), &why);
    g_assert_nonnull(prog);
    g_assert_false(bpf_vm_jit(prog, &why));
    g_test_message("%s", why);
    g_assert_nonnull(strstr(why, "bytes of code"));
    g_assert_false(bpf_vm_jitted(prog));

    test_run_init(&t, mem, sizeof(mem));
    g_assert_cmpint(bpf_vm_run(prog, &t.run), ==, BPF_VM_OK);
    g_assert_cmpint(t.run.r0, ==, 7);
    g_assert_cmphex(ldq_le_p(mem + 8), ==, 0x55555555);
    bpf_vm_free(prog);
}

/*
 * bpf_conformance vectors
 */

typedef struct Vector {
    char        *asm_text;
    GByteArray  *raw;
    GByteArray  *mem;
    bool        has_result;
    uint64_t    result;
} Vector;

/* Vectors that use what the machine deliberately does not offer */
static const struct {
    const char *name;
    const char *why;
} by_design[] = {
    { "callx", "calls through a register (opcode 0x8d) are not supported: "
               "their target cannot be verified at load" },
};

/* Of each engine */
static struct {
    int pass, rejected, refused, other_result;
} conformance[2];

static void hex_bytes(GByteArray *out, const char *line)
{
    g_auto(GStrv) words = g_strsplit_set(line, " \t", -1);

    for (int i = 0; words[i]; i++) {
        if (!*words[i]) {
            continue;
        }
        if (g_str_has_prefix(words[i], "0x")) {
            /* a whole instruction, as a 64-bit number */
            uint8_t b[8];

            stq_le_p(b, g_ascii_strtoull(words[i], NULL, 16));
            g_byte_array_append(out, b, 8);
        } else {
            uint8_t b = g_ascii_strtoull(words[i], NULL, 16);

            g_byte_array_append(out, &b, 1);
        }
    }
}

static void vector_parse(Vector *v, const char *path)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    GString *asm_text = g_string_new(NULL);
    const char *section = "";

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    lines = g_strsplit(text, "\n", -1);
    *v = (Vector) {};

    for (int i = 0; lines[i]; i++) {
        const char *l = lines[i];

        if (g_str_has_prefix(l, "-- ")) {
            section = l + 3;
            if (!strcmp(section, "raw")) {
                v->raw = g_byte_array_new();
            } else if (!strcmp(section, "mem")) {
                v->mem = g_byte_array_new();
            }
            continue;
        }
        if (l[0] == '#' && strcmp(section, "asm")) {
            continue;
        }
        if (!strcmp(section, "asm")) {
            g_string_append_printf(asm_text, "%s\n", l);
        } else if (!strcmp(section, "raw")) {
            hex_bytes(v->raw, l);
        } else if (!strcmp(section, "mem")) {
            hex_bytes(v->mem, l);
        } else if (!strcmp(section, "result") && *l) {
            v->has_result = true;
            v->result = g_ascii_strtoull(l, NULL, 0);
        }
    }
    v->asm_text = g_string_free(asm_text, !asm_text->len);
}

static void vector_free(Vector *v)
{
    g_free(v->asm_text);
    if (v->raw) {
        g_byte_array_unref(v->raw);
    }
    if (v->mem) {
        g_byte_array_unref(v->mem);
    }
}

/* Helper 5 of the conformance runner: returns its argument */
static uint64_t helper_arg(BpfVmRun *run, const uint64_t *args,
                           bool *fault)
{
    return args[0];
}

static BpfVmHelper conformance_table[6];
static const BpfVmHelpers conformance_helpers = {
    conformance_table, ARRAY_SIZE(conformance_table),
};

/*
 * Assemble (or take the raw code), verify, run: BPF_VM_OK and r0, or
 * false with *why saying which step refused the vector.
 */
static bool vector_run(Vector *v, uint64_t *r0, char **why)
{
    g_autoptr(GByteArray) code = NULL;
    BpfVmProg *prog;
    TestRun t;

    if (v->asm_text) {
        code = bpf_asm(v->asm_text, why);
        if (!code) {
            return false;
        }
        if (v->raw) {
            /* both given: the assembler must agree with the raw code */
            g_assert_cmpmem(code->data, code->len, v->raw->data,
                            v->raw->len);
        }
    } else if (v->raw) {
        code = g_byte_array_ref(v->raw);
    } else {
        *why = g_strdup("no program");
        return false;
    }

    prog = engine(bpf_vm_load(code->data, code->len, &conformance_helpers,
                              REG(1) | REG(2), why));
    if (!prog) {
        return false;
    }

    test_run_init(&t, v->mem ? v->mem->data : NULL, v->mem ? v->mem->len : 0);
    t.run.budget = 1000000;
    bpf_vm_run(prog, &t.run);
    bpf_vm_free(prog);
    if (t.run.error) {
        *why = g_strdup_printf("run failed at instruction %u: %s", t.run.pc,
                               bpf_vm_strerror(t.run.error));
        return false;
    }

    *r0 = t.run.r0;
    return true;
}

static void test_vector(const void *opaque)
{
    const char *path = opaque;
    g_autofree char *name = g_path_get_basename(path);
    g_autofree char *why = NULL;
    Vector v;
    uint64_t r0 = 0;
    bool ok;

    *strrchr(name, '.') = '\0';
    vector_parse(&v, path);
    ok = vector_run(&v, &r0, &why);

    for (int i = 0; i < ARRAY_SIZE(by_design); i++) {
        if (!strcmp(name, by_design[i].name)) {
            g_test_message("rejected by design: %s (%s)", by_design[i].why,
                           why);
            g_assert_false(ok);
            conformance[use_jit].rejected++;
            vector_free(&v);
            return;
        }
    }

    if (!ok) {
        g_test_message("%s", why);
    }
    g_assert_true(ok);
    g_assert_true(v.has_result);
    g_assert_cmphex(r0, ==, v.result);
    conformance[use_jit].pass++;
    vector_free(&v);
}

static void test_negative_vector(const void *opaque)
{
    const char *path = opaque;
    g_autofree char *why = NULL;
    Vector v;
    uint64_t r0;

    vector_parse(&v, path);
    if (vector_run(&v, &r0, &why)) {
        /* it runs: then its stated result must be wrong */
        g_assert_true(v.has_result);
        g_assert_cmphex(r0, !=, v.result);
        g_test_message("result 0x%" PRIx64 ", not 0x%" PRIx64, r0, v.result);
        conformance[use_jit].other_result++;
    } else {
        g_test_message("refused: %s", why);
        conformance[use_jit].refused++;
    }
    vector_free(&v);
}

static gint compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_vectors(const char *dir, const char *sub, GTestDataFunc fn)
{
    g_autofree char *path = g_build_filename(dir, sub, NULL);
    g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    const char *name;

    g_assert_nonnull(d);
    while ((name = g_dir_read_name(d))) {
        if (g_str_has_suffix(name, ".data")) {
            g_ptr_array_add(names, g_strdup(name));
        }
    }
    g_ptr_array_sort(names, compare_names);

    for (guint i = 0; i < names->len; i++) {
        char *file = names->pdata[i];
        g_autofree char *tpath = NULL;

        tpath = g_strdup_printf("conformance/%s/%.*s", sub,
                                (int)strlen(file) - 5, file);

        add_engines(tpath, g_build_filename(path, file, NULL), fn);
        g_free(file);
    }

    return names->len;
}

/*
 * The programs of these tests as inputs of tests/fuzz/bpf-vm-fuzz.c, in
 * @out: one byte, the number of instructions less one (programs of up to
 * 256 instructions), the instructions, up to 256 bytes of memory.
 */
static void corpus_add(const char *out, const char *name, GByteArray *code,
                       const GByteArray *mem)
{
    g_autofree char *path = g_build_filename(out, name, NULL);
    g_autoptr(GByteArray) in = g_byte_array_new();
    uint8_t n;

    if (!code || !code->len || code->len % 8 || code->len > 256 * 8) {
        return;
    }
    n = code->len / 8 - 1;
    g_byte_array_append(in, &n, 1);
    g_byte_array_append(in, code->data, code->len);
    if (mem) {
        g_byte_array_append(in, mem->data, MIN(mem->len, 256));
    }
    g_assert_true(g_file_set_contents(path, (char *)in->data, in->len,
                                      NULL));
}

static void corpus_add_asm(const char *out, const char *name,
                           const char *text, const GByteArray *mem)
{
    g_autoptr(GByteArray) code = NULL;
    g_autofree char *err = NULL;

    code = bpf_asm(text, &err);
    corpus_add(out, name, code, mem);
}

static int write_corpus(const char *out, const char *conf)
{
    const char *subs[] = { "tests", "negative" };

    g_mkdir_with_parents(out, 0755);
    for (int i = 0; i < ARRAY_SIZE(class_cases); i++) {
        corpus_add_asm(out, class_cases[i].name, class_cases[i].text, NULL);
    }
    for (int i = 0; i < ARRAY_SIZE(hostile_cases); i++) {
        corpus_add_asm(out, hostile_cases[i].name, hostile_cases[i].text,
                       NULL);
    }
    for (int i = 0; i < ARRAY_SIZE(reject_cases); i++) {
        const RejectCase *c = &reject_cases[i];
        g_autoptr(GByteArray) raw = g_byte_array_new();

        if (c->text) {
            corpus_add_asm(out, c->name, c->text, NULL);
        } else {
            g_byte_array_append(raw, c->raw, c->len);
            corpus_add(out, c->name, raw, NULL);
        }
    }
    for (int s = 0; conf && s < ARRAY_SIZE(subs); s++) {
        g_autofree char *path = g_build_filename(conf, subs[s], NULL);
        g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
        const char *file;

        while (d && (file = g_dir_read_name(d))) {
            g_autofree char *vpath = g_build_filename(path, file, NULL);
            g_autofree char *name = g_strdup_printf("%s-%s", subs[s], file);
            Vector v;

            if (!g_str_has_suffix(file, ".data")) {
                continue;
            }
            vector_parse(&v, vpath);
            if (v.asm_text) {
                corpus_add_asm(out, name, v.asm_text, v.mem);
            } else {
                corpus_add(out, name, v.raw, v.mem);
            }
            vector_free(&v);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = g_getenv("BPF_VM_CONFORMANCE");
    int vectors = 0, negative = 0, ret;
    char name[64];

    if (argc == 3 && !strcmp(argv[1], "--corpus")) {
        return write_corpus(argv[2], dir);
    }
    g_test_init(&argc, &argv, NULL);
    if (dir && !*dir) {
        dir = NULL;
    }

    for (int i = 0; i < ARRAY_SIZE(class_cases); i++) {
        snprintf(name, sizeof(name), "class/%s", class_cases[i].name);
        add_engines(name, &class_cases[i], test_class);
    }
    for (int i = 0; i < ARRAY_SIZE(reject_cases); i++) {
        snprintf(name, sizeof(name), "/bpf-vm/verifier/%s",
                 reject_cases[i].name);
        g_test_add_data_func(name, &reject_cases[i], test_reject);
    }
    for (int i = 0; i < ARRAY_SIZE(hostile_cases); i++) {
        snprintf(name, sizeof(name), "hostile/%s", hostile_cases[i].name);
        add_engines(name, &hostile_cases[i], test_hostile);
    }
    add_engines("poll", NULL, test_poll);
    add_engines("budget", NULL, test_budget);
    add_engines("helpers", NULL, test_helpers);
    if (bpf_vm_jit_available()) {
        g_test_add_func("/bpf-vm/jit/code", test_jit_code);
        g_test_add_func("/bpf-vm/jit/too-large", test_jit_too_large);
    }

    memcpy(conformance_table, bpf_vm_std_helpers.table,
           MIN(sizeof(conformance_table),
               bpf_vm_std_helpers.count * sizeof(BpfVmHelper)));
    conformance_table[5] = (BpfVmHelper) { "arg", 1, helper_arg };
    if (dir) {
        vectors = add_vectors(dir, "tests", test_vector);
        negative = add_vectors(dir, "negative", test_negative_vector);
    }

    ret = g_test_run();

    if (dir) {
        for (int jit = 0; jit <= bpf_vm_jit_available(); jit++) {
            printf("# conformance (%s): %d of %d vectors pass, %d rejected "
                   "by design; of %d negative vectors %d refused, %d ran "
                   "with another result than they state\n",
                   jit ? "jit" : "interp", conformance[jit].pass, vectors,
                   conformance[jit].rejected, negative,
                   conformance[jit].refused, conformance[jit].other_result);
        }
    }
    return ret;
}
