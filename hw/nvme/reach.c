/*
 * QEMU NVM Express: reachability (groups, associations, their log pages)
 *
 * A namespace belongs to a reachability group (its rgrpid property, 1 by
 * default); namespaces reach each other when they share a group or their
 * groups share an association (the subsystem's reach.assoc property).
 * Data movement between namespaces (SLM Memory Copy, NVM Copy format 4h,
 * compute programs' memory range sets) checks it, and controllers report
 * it through the Reachability Groups and Associations log pages.
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qapi/error.h"

#include "nvme.h"
#include "trace.h"

static uint32_t nvme_ns_group(NvmeNamespace *ns)
{
    return ns->params.rgrpid ? ns->params.rgrpid : 1;
}

uint32_t nvme_ns_rgrpid(NvmeCtrl *n, NvmeNamespace *ns)
{
    return n->id_ctrl.crcap & NVME_CRCAP_RRSUP ? nvme_ns_group(ns) : 0;
}

static bool nvme_assoc_has(GArray *assoc, uint32_t rgid)
{
    for (guint i = 0; i < assoc->len; i++) {
        if (g_array_index(assoc, uint32_t, i) == rgid) {
            return true;
        }
    }

    return false;
}

/*
 * Namespaces reach each other when they are in the same reachability group
 * or in groups of one association.  Without configured associations, one
 * association holds every group: everything is reachable.
 */
bool nvme_ns_reachable(NvmeSubsystem *subsys, NvmeNamespace *a,
                       NvmeNamespace *b)
{
    GPtrArray *assocs = subsys->reach.assocs;
    uint32_t ga = nvme_ns_group(a), gb = nvme_ns_group(b);

    if (ga == gb || !assocs) {
        return true;
    }

    for (guint i = 0; i < assocs->len; i++) {
        GArray *assoc = g_ptr_array_index(assocs, i);

        if (nvme_assoc_has(assoc, ga) && nvme_assoc_has(assoc, gb)) {
            return true;
        }
    }

    return false;
}

/*
 * Parse reach.assoc, "1+2:3": association 1 holds groups 1 and 2,
 * association 2 group 3
 */
bool nvme_reach_realize_subsys(NvmeSubsystem *subsys, Error **errp)
{
    NvmeReach *reach = &subsys->reach;
    g_auto(GStrv) sets = NULL;

    if (!reach->assoc) {
        return true;
    }

    reach->assocs = g_ptr_array_new_with_free_func((GDestroyNotify)
                                                   g_array_unref);
    sets = g_strsplit(reach->assoc, ":", -1);
    for (int i = 0; sets[i]; i++) {
        g_auto(GStrv) groups = g_strsplit(sets[i], "+", -1);
        GArray *assoc = g_array_new(false, false, sizeof(uint32_t));

        g_ptr_array_add(reach->assocs, assoc);
        for (int j = 0; groups[j]; j++) {
            uint64_t rgid;

            if (qemu_strtou64(groups[j], NULL, 0, &rgid) || !rgid ||
                rgid > UINT32_MAX) {
                error_setg(errp, "reach.assoc: '%s' is not a reachability "
                           "group identifier (1 to 4294967295)", groups[j]);
                return false;
            }
            g_array_append_val(assoc, (uint32_t){ rgid });
        }
    }

    return true;
}

static int nvme_cmp_u32(gconstpointer a, gconstpointer b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

/* The reachability groups of the namespaces attached to @n, sorted. */
static GArray *nvme_reach_groups(NvmeCtrl *n)
{
    GArray *groups = g_array_new(false, false, sizeof(uint32_t));

    for (int i = 1; i <= NVME_MAX_NAMESPACES; i++) {
        NvmeNamespace *ns = nvme_ns(n, i);
        uint32_t rgid;

        if (!ns) {
            continue;
        }
        rgid = nvme_ns_group(ns);
        if (!nvme_assoc_has(groups, rgid)) {
            g_array_append_val(groups, rgid);
        }
    }
    g_array_sort(groups, nvme_cmp_u32);

    return groups;
}

static void nvme_reach_groups_log(NvmeCtrl *n, GByteArray *buf)
{
    g_autoptr(GArray) groups = nvme_reach_groups(n);
    NvmeReachGroupsLog hdr = {
        .nrgd = cpu_to_le16(groups->len),
    };

    g_byte_array_append(buf, (uint8_t *)&hdr, sizeof(hdr));
    for (guint g = 0; g < groups->len; g++) {
        uint32_t rgid = g_array_index(groups, uint32_t, g);
        NvmeReachGroupDescr d = { .rgid = cpu_to_le32(rgid) };
        guint at = buf->len;
        uint32_t nnid = 0;

        g_byte_array_append(buf, (uint8_t *)&d, sizeof(d));
        for (int i = 1; i <= NVME_MAX_NAMESPACES; i++) {
            NvmeNamespace *ns = nvme_ns(n, i);
            uint32_t nsid = cpu_to_le32(i);

            if (ns && nvme_ns_group(ns) == rgid) {
                g_byte_array_append(buf, (uint8_t *)&nsid, sizeof(nsid));
                nnid++;
            }
        }
        ((NvmeReachGroupDescr *)&buf->data[at])->nnid = cpu_to_le32(nnid);
    }
}

static void nvme_reach_assocs_log(NvmeCtrl *n, GByteArray *buf)
{
    GPtrArray *assocs = n->subsys->reach.assocs;
    g_autoptr(GArray) all = NULL;
    NvmeReachAssocsLog hdr = {};
    guint nrad = assocs ? assocs->len : 1;

    hdr.nrad = cpu_to_le16(nrad);
    g_byte_array_append(buf, (uint8_t *)&hdr, sizeof(hdr));

    if (!assocs) {
        all = nvme_reach_groups(n);
    }

    for (guint a = 0; a < nrad; a++) {
        GArray *assoc = assocs ? g_ptr_array_index(assocs, a) : all;
        NvmeReachAssocDescr d = {
            .rasid = cpu_to_le32(a + 1),
            .nrid = cpu_to_le32(assoc->len),
        };

        g_byte_array_append(buf, (uint8_t *)&d, sizeof(d));
        for (guint i = 0; i < assoc->len; i++) {
            uint32_t rgid = cpu_to_le32(g_array_index(assoc, uint32_t, i));

            g_byte_array_append(buf, (uint8_t *)&rgid, sizeof(rgid));
        }
    }
}

uint16_t nvme_reach_log(NvmeCtrl *n, uint8_t lid, NvmeRequest *req,
                        GByteArray *buf)
{
    trace_pci_nvme_reach_log(nvme_cid(req), lid);

    if (!(n->id_ctrl.crcap & NVME_CRCAP_RRSUP)) {
        trace_pci_nvme_err_invalid_log_page(nvme_cid(req), lid);
        return NVME_INVALID_FIELD | NVME_DNR;
    }

    if (lid == NVME_LOG_REACH_GROUPS) {
        nvme_reach_groups_log(n, buf);
    } else {
        nvme_reach_assocs_log(n, buf);
    }

    return NVME_SUCCESS;
}
