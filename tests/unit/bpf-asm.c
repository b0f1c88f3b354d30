/*
 * An assembler for the eBPF text of the bpf_conformance test vectors
 *
 * Syntax: "add32 %r0, %r1", "mov %r0, -1", "ldxw %r0, [%r1+4]",
 * "stdw [%r10-8], 1", "lock fetch add [%r10-8], %r1", "jeq %r1, 2, label",
 * "ja +3", "call 5", "call local func", "lddw %r0, 0x1122334455667788",
 * "be16 %r0", "movsx832 %r0, %r1", "exit".  A jump to "exit" with no such
 * label goes to the last instruction.
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/cutils.h"
#include "bpf-asm.h"

typedef struct AsmInsn {
    uint8_t     code;
    uint8_t     dst;
    uint8_t     src;
    int16_t     off;
    int64_t     imm;
    char        *target;        /* label to resolve */
    bool        target_imm;     /* the offset goes to imm, not off */
    int         line;
} AsmInsn;

typedef struct Asm {
    GArray      *insns;
    GHashTable  *labels;
    char        *err;
    int         line;
} Asm;

static bool asm_fail(Asm *a, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static bool asm_fail(Asm *a, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    a->err = g_strdup_printf("line %d: %s", a->line, msg);
    return false;
}

static bool parse_reg(Asm *a, const char *s, uint8_t *r)
{
    int v;

    if (s[0] != '%' || s[1] != 'r' || !g_ascii_isdigit(s[2]) ||
        qemu_strtoi(s + 2, NULL, 10, &v) || v > 10) {
        return asm_fail(a, "Invalid register '%s'", s);
    }
    *r = v;
    return true;
}

static bool parse_num(Asm *a, const char *s, int64_t min, int64_t max,
                      int64_t *v)
{
    bool neg = *s == '-';
    const char *p = (*s == '-' || *s == '+') ? s + 1 : s;
    uint64_t u;
    char *end;

    if (!g_ascii_isdigit(*p)) {
        return asm_fail(a, "Invalid number '%s'", s);
    }
    errno = 0;
    u = g_ascii_strtoull(p, &end, 0);
    if (errno || *end) {
        return asm_fail(a, "Invalid number '%s'", s);
    }
    if (neg) {
        if (u > (uint64_t)INT64_MAX + 1 || -(int64_t)(u - 1) - 1 < min) {
            return asm_fail(a, "Number out of range '%s'", s);
        }
        *v = -(int64_t)(u - 1) - 1;
    } else {
        if (max >= 0 && u > (uint64_t)max) {
            return asm_fail(a, "Number out of range '%s'", s);
        }
        *v = u;
    }
    return true;
}

/* 32-bit immediates: signed in decimal, up to 0xffffffff in hex */
static bool parse_imm32(Asm *a, const char *s, int64_t *v)
{
    bool hex = strstr(s, "0x") || strstr(s, "0X");

    if (!parse_num(a, s, INT32_MIN, hex ? UINT32_MAX : INT32_MAX, v)) {
        return false;
    }
    *v = (int32_t)*v;
    return true;
}

/* "[%rN]", "[%rN+off]" or "[%rN-off]" */
static bool parse_mem(Asm *a, const char *s, uint8_t *r, int16_t *off)
{
    g_autofree char *in = NULL;
    size_t len = strlen(s);
    char *sign;
    int64_t v = 0;

    if (len < 2 || s[0] != '[' || s[len - 1] != ']') {
        return asm_fail(a, "Invalid memory operand '%s'", s);
    }
    in = g_strndup(s + 1, len - 2);
    sign = strpbrk(in, "+-");
    if (sign) {
        if (!parse_num(a, sign, INT16_MIN, INT16_MAX, &v)) {
            return false;
        }
        *sign = '\0';
    }
    g_strstrip(in);
    *off = v;
    return parse_reg(a, in, r);
}

static bool is_reg(const char *s)
{
    return s[0] == '%';
}

static bool parse_target(Asm *a, const char *s, AsmInsn *i, bool in_imm)
{
    int64_t v;

    i->target_imm = in_imm;
    if (s[0] == '+' || s[0] == '-') {
        if (!parse_num(a, s, in_imm ? INT32_MIN : INT16_MIN,
                       in_imm ? INT32_MAX : INT16_MAX, &v)) {
            return false;
        }
        if (in_imm) {
            i->imm = v;
        } else {
            i->off = v;
        }
        return true;
    }
    if (!g_ascii_isalpha(s[0]) && s[0] != '_') {
        return asm_fail(a, "Invalid label '%s'", s);
    }
    i->target = g_strdup(s);
    return true;
}

static bool want_ops(Asm *a, const char *mn, char **ops, int n)
{
    if (g_strv_length(ops) != n) {
        return asm_fail(a, "Invalid number of operands for %s", mn);
    }
    return true;
}

/* The source of an ALU or jump instruction: a register, or an immediate */
static bool parse_src(Asm *a, const char *s, AsmInsn *i)
{
    if (is_reg(s)) {
        i->code |= 0x08;
        return parse_reg(a, s, &i->src);
    }
    return parse_imm32(a, s, &i->imm);
}

typedef struct AsmOp {
    const char  *name;
    uint8_t     op;
    int16_t     off;
} AsmOp;

static const AsmOp alu_ops[] = {
    { "add", 0x00 }, { "sub", 0x10 }, { "mul", 0x20 }, { "div", 0x30 },
    { "or", 0x40 }, { "and", 0x50 }, { "lsh", 0x60 }, { "rsh", 0x70 },
    { "neg", 0x80 }, { "mod", 0x90 }, { "xor", 0xa0 }, { "mov", 0xb0 },
    { "arsh", 0xc0 }, { "sdiv", 0x30, 1 }, { "smod", 0x90, 1 },
    { NULL }
};

static const AsmOp jmp_ops[] = {
    { "ja", 0x00 }, { "jeq", 0x10 }, { "jgt", 0x20 }, { "jge", 0x30 },
    { "jset", 0x40 }, { "jne", 0x50 }, { "jsgt", 0x60 }, { "jsge", 0x70 },
    { "jlt", 0xa0 }, { "jle", 0xb0 }, { "jslt", 0xc0 }, { "jsle", 0xd0 },
    { NULL }
};

static const AsmOp atomic_ops[] = {
    { "add", 0x00 }, { "or", 0x40 }, { "and", 0x50 }, { "xor", 0xa0 },
    { "xchg", 0xe1 }, { "cmpxchg", 0xf1 },
    { NULL }
};

static const AsmOp *find_op(const AsmOp *ops, const char *name)
{
    for (; ops->name; ops++) {
        if (!strcmp(ops->name, name)) {
            return ops;
        }
    }
    return NULL;
}

static int size_code(const char *s)
{
    static const char *const names[] = { "w", "h", "b", "dw" };

    for (int i = 0; i < 4; i++) {
        if (!strcmp(s, names[i])) {
            return i << 3;
        }
    }
    return -1;
}

/* Strip a "32" suffix: true if there was one */
static bool strip32(char *mn)
{
    size_t len = strlen(mn);

    if (len > 2 && !strcmp(mn + len - 2, "32")) {
        mn[len - 2] = '\0';
        return true;
    }
    return false;
}

static bool asm_insn(Asm *a, char *mn, char **ops)
{
    AsmInsn i = { .line = a->line };
    g_autofree char *base = g_strdup(mn);
    const AsmOp *op;
    bool is32;
    int size, width;

    if (!strcmp(mn, "exit")) {
        if (!want_ops(a, mn, ops, 0)) {
            return false;
        }
        i.code = 0x95;
    } else if (!strcmp(mn, "lddw")) {
        if (!want_ops(a, mn, ops, 2) || !parse_reg(a, ops[0], &i.dst) ||
            !parse_num(a, ops[1], INT64_MIN, -1, &i.imm)) {
            return false;
        }
        i.code = 0x18;
    } else if (!strcmp(mn, "call")) {
        if (!want_ops(a, mn, ops, 1)) {
            return false;
        }
        i.code = 0x85;
        if (g_str_has_prefix(ops[0], "local ")) {
            i.src = 1;
            if (!parse_target(a, g_strstrip(ops[0] + 6), &i, true)) {
                return false;
            }
        } else if (is_reg(ops[0])) {
            i.code = 0x8d;                  /* callx */
            if (!parse_reg(a, ops[0], &i.dst)) {
                return false;
            }
        } else if (!parse_imm32(a, ops[0], &i.imm)) {
            return false;
        }
    } else if (g_str_has_prefix(mn, "lock")) {
        char **words = g_strsplit(mn, " ", -1);
        g_autofree char *name = NULL;
        int nw = g_strv_length(words), fetch;

        fetch = nw > 2 && !strcmp(words[1], "fetch");
        name = g_strdup(nw > 1 ? words[nw - 1] : "");
        g_strfreev(words);
        if (nw < 2 || nw > 2 + fetch) {
            return asm_fail(a, "Invalid number of operands for lock");
        }
        is32 = strip32(name);
        op = find_op(atomic_ops, name);
        if (!op) {
            return asm_fail(a, "Invalid atomic operation '%s'", mn);
        }
        if (!want_ops(a, "lock", ops, 2) ||
            !parse_mem(a, ops[0], &i.dst, &i.off) ||
            !parse_reg(a, ops[1], &i.src)) {
            return false;
        }
        i.code = 0xc3 | (is32 ? 0x00 : 0x18);
        i.imm = op->op | fetch;
    } else if (g_str_has_prefix(mn, "ldx") || g_str_has_prefix(mn, "stx") ||
               (mn[0] == 's' && mn[1] == 't')) {
        bool ldx = mn[0] == 'l', stx = mn[2] == 'x';
        bool sx = ldx && mn[3] == 's';

        size = size_code(mn + (stx || ldx ? 3 : 2) + sx);
        if (size < 0 || (sx && size == 0x18)) {
            return asm_fail(a, "Invalid mnemonic '%s'", mn);
        }
        if (!want_ops(a, mn, ops, 2)) {
            return false;
        }
        if (ldx) {
            i.code = (sx ? 0x81 : 0x61) | size;
            if (!parse_reg(a, ops[0], &i.dst) ||
                !parse_mem(a, ops[1], &i.src, &i.off)) {
                return false;
            }
        } else {
            i.code = (stx ? 0x63 : 0x62) | size;
            if (!parse_mem(a, ops[0], &i.dst, &i.off) ||
                (stx && !parse_reg(a, ops[1], &i.src)) ||
                (!stx && !parse_imm32(a, ops[1], &i.imm))) {
                return false;
            }
        }
    } else if (sscanf(mn, "be%d", &width) == 1 ||
               sscanf(mn, "le%d", &width) == 1 ||
               sscanf(mn, "bswap%d", &width) == 1 ||
               sscanf(mn, "swap%d", &width) == 1) {
        if (width != 16 && width != 32 && width != 64) {
            return asm_fail(a, "Invalid mnemonic '%s'", mn);
        }
        if (!want_ops(a, mn, ops, 1) || !parse_reg(a, ops[0], &i.dst)) {
            return false;
        }
        i.code = mn[0] == 'b' && mn[1] == 'e' ? 0xdc :
                 mn[0] == 'l' ? 0xd4 : 0xd7;
        i.imm = width;
    } else if (g_str_has_prefix(mn, "movsx")) {
        int bits = atoi(mn + 5);

        /* movsx<from><to>: 832, 864, 1632, 1664, 3264 */
        is32 = g_str_has_suffix(mn, "32");
        width = (bits - (is32 ? 32 : 64)) / 100;
        if ((width != 8 && width != 16 && width != 32) ||
            (width == 32 && is32)) {
            return asm_fail(a, "Invalid mnemonic '%s'", mn);
        }
        if (!want_ops(a, mn, ops, 2) || !parse_reg(a, ops[0], &i.dst) ||
            !parse_reg(a, ops[1], &i.src)) {
            return false;
        }
        i.code = (is32 ? 0x04 : 0x07) | 0xb0 | 0x08;
        i.off = width;
    } else {
        const AsmOp *alu, *jmp;

        is32 = strip32(base);
        alu = find_op(alu_ops, base);
        jmp = find_op(jmp_ops, base);
        if (alu) {
            i.code = (is32 ? 0x04 : 0x07) | alu->op;
            i.off = alu->off;
            if (alu->op == 0x80) {
                if (!want_ops(a, mn, ops, 1) ||
                    !parse_reg(a, ops[0], &i.dst)) {
                    return false;
                }
            } else if (!want_ops(a, mn, ops, 2) ||
                       !parse_reg(a, ops[0], &i.dst) ||
                       !parse_src(a, ops[1], &i)) {
                return false;
            }
        } else if (jmp) {
            i.code = (is32 ? 0x06 : 0x05) | jmp->op;
            if (!jmp->op) {
                if (!want_ops(a, mn, ops, 1) ||
                    !parse_target(a, ops[0], &i, is32)) {
                    return false;
                }
            } else if (!want_ops(a, mn, ops, 3) ||
                       !parse_reg(a, ops[0], &i.dst) ||
                       !parse_target(a, ops[2], &i, false) ||
                       !parse_src(a, ops[1], &i)) {
                return false;
            }
        } else {
            return asm_fail(a, "Invalid mnemonic '%s'", mn);
        }
    }

    g_array_append_val(a->insns, i);
    if (i.code == 0x18) {
        AsmInsn hi = { .imm = (uint64_t)i.imm >> 32, .line = a->line };

        g_array_index(a->insns, AsmInsn, a->insns->len - 1).imm =
            (uint32_t)i.imm;
        g_array_append_val(a->insns, hi);
    }
    return true;
}

/* A line: "label:", or a mnemonic (with "lock [fetch]" as one) and operands */
static bool asm_line(Asm *a, char *line)
{
    g_auto(GStrv) ops = NULL;
    char *hash = strchr(line, '#'), *sp, *mn;
    size_t len;

    if (hash) {
        *hash = '\0';
    }
    g_strstrip(line);
    len = strlen(line);
    if (!len) {
        return true;
    }
    if (line[len - 1] == ':') {
        line[len - 1] = '\0';
        g_hash_table_insert(a->labels, g_strdup(line),
                            GUINT_TO_POINTER(a->insns->len));
        return true;
    }

    mn = line;
    sp = strchr(line, ' ');
    if (g_str_has_prefix(line, "lock")) {
        /* the mnemonic runs up to the first operand */
        sp = strchr(line, '[');
        if (sp) {
            sp[-1] = '\0';
            sp--;
        }
    } else if (sp) {
        *sp = '\0';
    }
    if (sp && *++sp) {
        ops = g_strsplit(sp, ",", -1);
        for (int i = 0; ops[i]; i++) {
            g_strstrip(ops[i]);
        }
    } else {
        ops = g_new0(char *, 1);
    }
    g_strstrip(mn);

    return asm_insn(a, mn, ops);
}

static bool asm_resolve(Asm *a)
{
    for (guint n = 0; n < a->insns->len; n++) {
        AsmInsn *i = &g_array_index(a->insns, AsmInsn, n);
        gpointer pos;
        int64_t off;

        if (!i->target) {
            continue;
        }
        a->line = i->line;
        if (g_hash_table_lookup_extended(a->labels, i->target, NULL, &pos)) {
            off = (int64_t)GPOINTER_TO_UINT(pos) - n - 1;
        } else if (!strcmp(i->target, "exit")) {
            off = (int64_t)a->insns->len - 1 - n - 1;
        } else {
            return asm_fail(a, "Invalid label '%s'", i->target);
        }
        if (i->target_imm) {
            i->imm = off;
        } else if (off < INT16_MIN || off > INT16_MAX) {
            return asm_fail(a, "Jump to '%s' too far", i->target);
        } else {
            i->off = off;
        }
    }
    return true;
}

GByteArray *bpf_asm(const char *text, char **err)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    g_autoptr(GByteArray) out = g_byte_array_new();
    Asm a = {
        .insns = g_array_new(false, true, sizeof(AsmInsn)),
        .labels = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        NULL),
    };
    bool ok = true;

    for (int n = 0; ok && lines[n]; n++) {
        a.line = n + 1;
        ok = asm_line(&a, lines[n]);
    }
    if (ok && !a.insns->len) {
        ok = asm_fail(&a, "no instructions");
    }
    ok = ok && asm_resolve(&a);

    for (guint n = 0; n < a.insns->len; n++) {
        AsmInsn *i = &g_array_index(a.insns, AsmInsn, n);
        uint8_t b[8] = { i->code, i->dst | i->src << 4 };

        stw_le_p(b + 2, i->off);
        stl_le_p(b + 4, i->imm);
        g_byte_array_append(out, b, sizeof(b));
        g_free(i->target);
    }
    g_array_free(a.insns, true);
    g_hash_table_destroy(a.labels);

    if (!ok) {
        *err = a.err;
        return NULL;
    }
    return g_steal_pointer(&out);
}
