/*
 * A sandboxed eBPF virtual machine for downloaded NVMe programs
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

#ifndef HW_NVME_BPF_VM_H
#define HW_NVME_BPF_VM_H

/* Instructions a program has at most */
#define NVME_BPF_MAX_INSNS      65536

/* Bytes of stack of each call frame, and frames at most */
#define NVME_BPF_STACK_SIZE     512
#define NVME_BPF_MAX_DEPTH      8

/*
 * A program sees region i of a run at address (i + 1) << 32 and up.
 * Region 0 is the stack of the VM; the caller gives the others.
 */
#define NVME_BPF_REGION_SHIFT   32
#define NVME_BPF_MAX_REGIONS    1024

/* Instructions run between two calls of NvmeBpfRun.poll */
#define NVME_BPF_POLL_INSNS     (1 << 18)

/*
 * A helper counts as the instructions its work would take (see
 * nvme_bpf_work()), and works in pieces of at most this many bytes.
 */
#define NVME_BPF_HELPER_CHUNK   (64 * 1024)

typedef struct NvmeBpfProg NvmeBpfProg;
typedef struct NvmeBpfRun NvmeBpfRun;

typedef struct NvmeBpfRegion {
    uint8_t     *host;
    uint64_t    len;
    bool        writable;
} NvmeBpfRegion;

/*
 * A helper returns the value of r0.  It reaches program memory with
 * nvme_bpf_mem() and sets *fault when an argument is not acceptable,
 * which stops the program with NVME_BPF_EHELPER.  It accounts for its
 * work with nvme_bpf_work(), in pieces of at most NVME_BPF_HELPER_CHUNK
 * bytes, and returns when that says stop.
 */
typedef uint64_t (*NvmeBpfHelperFn)(NvmeBpfRun *run, const uint64_t *args,
                                    bool *fault);

typedef struct NvmeBpfHelper {
    const char      *name;      /* NULL: no helper of this number */
    unsigned        nargs;      /* r1 and up the helper reads */
    NvmeBpfHelperFn fn;
} NvmeBpfHelper;

typedef struct NvmeBpfHelpers {
    const NvmeBpfHelper *table; /* indexed by the helper number */
    unsigned            count;
} NvmeBpfHelpers;

typedef enum NvmeBpfError {
    NVME_BPF_OK = 0,
    NVME_BPF_EACCESS,           /* load or store outside the regions */
    NVME_BPF_EALIGN,            /* misaligned atomic operation */
    NVME_BPF_EDEPTH,            /* local calls nested too deep */
    NVME_BPF_EHELPER,           /* a helper refused its arguments */
    NVME_BPF_EBUDGET,           /* out of instructions */
    NVME_BPF_ESTOPPED,          /* NvmeBpfRun.poll said stop */
} NvmeBpfError;

struct NvmeBpfRun {
    /* set by the caller */
    NvmeBpfRegion       *regions;   /* [0] is filled in with the stack */
    unsigned            nregions;   /* at least 1 */
    uint64_t            args[5];    /* r1-r5 at entry */
    uint64_t            budget;     /* instructions at most, 0: no limit */
    /* what registers hold before they are set (r1-r5 after calls too) */
    uint64_t            fill;
    int                 (*poll)(void *opaque);  /* non-zero: stop */
    void                *opaque;

    /* results */
    uint64_t            r0;
    NvmeBpfError        error;
    uint32_t            pc;         /* of the instruction that failed */
    uint64_t            insns;      /* instructions run, helpers' work too */

    /* private to the machine and its helpers */
    NvmeBpfError        stop;       /* why a helper stopped */
    uint64_t            poll_at;    /* poll when insns reaches it */
};

/*
 * Verify @size bytes of little-endian eBPF instructions.  @entry_regs is
 * the mask of r1-r5 that hold a value at entry.  Returns the program, or
 * NULL with *why (to g_free) saying what is wrong and where.  The program
 * calls the helpers of @helpers, which must outlive it.
 */
NvmeBpfProg *nvme_bpf_load(const void *code, size_t size,
                           const NvmeBpfHelpers *helpers, unsigned entry_regs,
                           char **why);

/*
 * A program is freed with its last reference: nvme_bpf_load() returns
 * one, nvme_bpf_ref() takes another, nvme_bpf_free() drops one (all from
 * one thread; runs may be on others).
 */
NvmeBpfProg *nvme_bpf_ref(NvmeBpfProg *prog);
void nvme_bpf_free(NvmeBpfProg *prog);
uint32_t nvme_bpf_len(const NvmeBpfProg *prog);

/* Run @prog; returns run->error and sets run->r0 when it is NVME_BPF_OK */
NvmeBpfError nvme_bpf_run(const NvmeBpfProg *prog, NvmeBpfRun *run);

/* The host memory behind @len bytes at program address @addr, or NULL */
void *nvme_bpf_mem(NvmeBpfRun *run, uint64_t addr, uint64_t len, bool write);

/*
 * For helpers: count @insns instructions of work done, check the budget
 * and poll as the interpreter does; false if the run must stop.
 */
bool nvme_bpf_work(NvmeBpfRun *run, uint64_t insns);

static inline uint64_t nvme_bpf_addr(unsigned region, uint64_t off)
{
    return ((uint64_t)region + 1) << NVME_BPF_REGION_SHIFT | off;
}

const char *nvme_bpf_strerror(NvmeBpfError err);

/* The helpers of block/nvme-bpf.h */
extern const NvmeBpfHelpers nvme_bpf_std_helpers;

#endif /* HW_NVME_BPF_VM_H */
