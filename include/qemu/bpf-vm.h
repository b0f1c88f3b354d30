/*
 * A sandboxed eBPF virtual machine
 *
 * The verifier checks a program once, when it is loaded; the interpreter
 * then checks every memory access against the regions of one run.  No
 * device state lives here: the caller describes the memory a program may
 * touch and the helpers it may call.
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef QEMU_BPF_VM_H
#define QEMU_BPF_VM_H

/* Instructions a program has at most */
#define BPF_VM_MAX_INSNS        65536

/* Bytes of stack of each call frame, and frames at most */
#define BPF_VM_STACK_SIZE       512
#define BPF_VM_MAX_DEPTH        8

/*
 * A program sees region i of a run at address (i + 1) << 32 and up.
 * Region 0 is the stack of the VM; the caller gives the others.
 */
#define BPF_VM_REGION_SHIFT     32
#define BPF_VM_MAX_REGIONS      1024

/* Instructions run between two calls of BpfVmRun.poll */
#define BPF_VM_POLL_INSNS       (1 << 18)

/*
 * A helper counts as the instructions its work would take (see
 * bpf_vm_work()), and works in pieces of at most this many bytes.
 */
#define BPF_VM_HELPER_CHUNK     (64 * 1024)

typedef struct BpfVmProg BpfVmProg;
typedef struct BpfVmRun BpfVmRun;

typedef struct BpfVmRegion {
    uint8_t     *host;
    uint64_t    len;
    bool        writable;
} BpfVmRegion;

/*
 * A helper returns the value of r0.  It reaches program memory with
 * bpf_vm_mem() and sets *fault when an argument is not acceptable,
 * which stops the program with BPF_VM_EHELPER.    It accounts for its
 * work with bpf_vm_work(), in pieces of at most BPF_VM_HELPER_CHUNK
 * bytes, and returns when that says stop.
 */
typedef uint64_t (*BpfVmHelperFn)(BpfVmRun *run, const uint64_t *args,
                                  bool *fault);

typedef struct BpfVmHelper {
    const char      *name;      /* NULL: no helper of this number */
    unsigned        nargs;      /* r1 and up the helper reads */
    BpfVmHelperFn fn;
} BpfVmHelper;

typedef struct BpfVmHelpers {
    const BpfVmHelper *table; /* indexed by the helper number */
    unsigned            count;
} BpfVmHelpers;

typedef enum BpfVmError {
    BPF_VM_OK = 0,
    BPF_VM_EACCESS,             /* load or store outside the regions */
    BPF_VM_EALIGN,              /* misaligned atomic operation */
    BPF_VM_EDEPTH,              /* local calls nested too deep */
    BPF_VM_EHELPER,             /* a helper refused its arguments */
    BPF_VM_EBUDGET,             /* out of instructions */
    BPF_VM_ESTOPPED,          /* BpfVmRun.poll said stop */
} BpfVmError;

struct BpfVmRun {
    /* set by the caller */
    BpfVmRegion         *regions;   /* [0] is filled in with the stack */
    unsigned            nregions;   /* at least 1 */
    uint64_t            args[5];    /* r1-r5 at entry */
    uint64_t            budget;     /* instructions at most, 0: no limit */
    /* what registers hold before they are set (r1-r5 after calls too) */
    uint64_t            fill;
    int                 (*poll)(void *opaque);  /* non-zero: stop */
    void                *opaque;

    /* results */
    uint64_t            r0;
    BpfVmError          error;
    uint32_t            pc;         /* of the instruction that failed */
    uint64_t            insns;      /* instructions run, helpers' work too */

    /* private to the machine and its helpers */
    BpfVmError          stop;       /* why a helper stopped */
    uint64_t            poll_at;    /* poll when insns reaches it */
};

/*
 * Verify @size bytes of little-endian eBPF instructions.  @entry_regs is
 * the mask of r1-r5 that hold a value at entry.  Returns the program, or
 * NULL with *why (to g_free) saying what is wrong and where.  The program
 * calls the helpers of @helpers, which must outlive it.
 */
BpfVmProg *bpf_vm_load(const void *code, size_t size,
                       const BpfVmHelpers *helpers, unsigned entry_regs,
                           char **why);

/*
 * A program is freed with its last reference: bpf_vm_load() returns
 * one, bpf_vm_ref() takes another, bpf_vm_free() drops one (all from
 * one thread; runs may be on others).
 */
BpfVmProg *bpf_vm_ref(BpfVmProg *prog);
void bpf_vm_free(BpfVmProg *prog);
uint32_t bpf_vm_len(const BpfVmProg *prog);

/*
 * Compile @prog to machine code of the host, which its runs then use.
 * False, with *why (to g_free), when the host has no JIT or the code
 * would exceed BPF_VM_JIT_MAX_CODE bytes: the program keeps running on
 * the interpreter.  From the thread that loaded it, before it runs.
 */
bool bpf_vm_jit(BpfVmProg *prog, char **why);
bool bpf_vm_jitted(const BpfVmProg *prog);

/* For tests: the machine code of a compiled program, and its length */
const void *bpf_vm_jit_code(const BpfVmProg *prog, size_t *len);

/* Whether this host has a JIT: x86-64 Linux */
bool bpf_vm_jit_available(void);

/*
 * Code of one compiled program at most: 4 MiB, at least 35000
 * instructions (a checked store of an immediate, the largest, takes
 * about 120 bytes; most take 10 to 60).
 */
#define BPF_VM_JIT_MAX_CODE     (4 << 20)

/*
 * Run @prog, compiled or not: both engines give the same result, error,
 * failing instruction, instruction count and memory.  Returns run->error
 * and sets run->r0 when it is BPF_VM_OK.
 */
BpfVmError bpf_vm_run(const BpfVmProg *prog, BpfVmRun *run);

/* The host memory behind @len bytes at program address @addr, or NULL */
void *bpf_vm_mem(BpfVmRun *run, uint64_t addr, uint64_t len, bool write);

/*
 * For helpers: count @insns instructions of work done, check the budget
 * and poll as the interpreter does; false if the run must stop.
 */
bool bpf_vm_work(BpfVmRun *run, uint64_t insns);

static inline uint64_t bpf_vm_addr(unsigned region, uint64_t off)
{
    return ((uint64_t)region + 1) << BPF_VM_REGION_SHIFT | off;
}

const char *bpf_vm_strerror(BpfVmError err);

/*
 * The standard helpers, numbered as here, each taking three arguments; a
 * caller may offer them (bpf_vm_std_helpers) or a table of its own.  One
 * given memory outside the program's faults, which stops it like a bad
 * load.  They count one instruction per 8 bytes copied or set, one per
 * byte of CRC.
 *
 * memcpy(dst, src, len): copy @len bytes (which may overlap); 0.
 * memset(dst, c, len): set @len bytes at @dst to @c; 0.
 * crc32c(crc, src, len): the CRC-32C of @len bytes at @src, continuing
 * from @crc (0 to start: crc32c(crc32c(0, a), b) is that of a then b).
 */
#define BPF_VM_HELPER_MEMCPY    1
#define BPF_VM_HELPER_MEMSET    2
#define BPF_VM_HELPER_CRC32C    3

extern const BpfVmHelpers bpf_vm_std_helpers;

#endif /* QEMU_BPF_VM_H */
