/*
 * QEMU NVM Express: Subsystem Local Memory, between slm.c and the other
 * users of memory namespaces in hw/nvme
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NVME_SLM_H
#define HW_NVME_SLM_H

#include "nvme.h"

/* A memory namespace: a byte window of its subsystem's SLM */
#define TYPE_NVME_MEM_NS "nvme-mem-ns"
OBJECT_DECLARE_SIMPLE_TYPE(NvmeMemNamespace, NVME_MEM_NS)

struct NvmeMemNamespace {
    NvmeNamespace   parent_obj;
    uint64_t        offset;     /* in the SLM */
    uint64_t        size;
};

/* A byte range of a memory namespace, mapped for the device's own use */
typedef struct NvmeMemWindow {
    uint32_t    nsid;
    uint8_t     *ptr;
    uint64_t    len;
} NvmeMemWindow;

/*
 * Map the @len bytes at byte @sb of memory namespace @nsid into @w, for use
 * on behalf of namespace @user of controller @n.  The namespace must be a
 * memory namespace of @n (else Invalid Memory Namespace) that @user reaches
 * (else Namespace Not Reachable); @sb and @len must be multiples of @gran,
 * @len not 0, and the range inside the namespace (else @range_status).
 * The mapping stays valid while a reference to the SLM is held.
 */
uint16_t nvme_mem_window(NvmeCtrl *n, NvmeNamespace *user, uint32_t nsid,
                         uint64_t sb, uint64_t len, uint64_t gran,
                         uint16_t range_status, NvmeMemWindow *w);

/* Whether subsystem @subsys has an SLM */
static inline bool nvme_subsys_has_slm(NvmeSubsystem *subsys)
{
    return subsys->slm.dev;
}

/* A reference to the SLM of @subsys, which keeps its mappings valid */
Object *nvme_slm_ref(NvmeSubsystem *subsys);

#endif
