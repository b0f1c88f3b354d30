/*
 * QEMU NVM Express: what the command sets of nvme_command_sets[] offer a
 * controller
 *
 * The controller asks here which command set executes an I/O command, an
 * admin command, a log page or an NVM Copy source format, and has each set
 * up its part at realize.  The table itself is in ctrl.c, beside the NVM
 * and Zoned command sets.
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/pci/pci_device.h"

#include "nvme.h"

static bool nvme_subsys_has_csi(NvmeSubsystem *subsys, uint8_t csi)
{
    for (uint32_t nsid = 1; nsid <= NVME_MAX_NAMESPACES; nsid++) {
        NvmeNamespace *ns = nvme_subsys_ns(subsys, nsid);

        if (ns && ns->csi == csi) {
            return true;
        }
    }

    return false;
}

/* The command set @csi, if controller @n offers it */
const NvmeCommandSet *nvme_command_set(NvmeCtrl *n, uint8_t csi)
{
    const NvmeCommandSet *cs;

    if (csi >= ARRAY_SIZE(nvme_command_sets)) {
        return NULL;
    }

    cs = nvme_command_sets[csi];
    if (!cs || (cs->needs_ns && !nvme_subsys_has_csi(n->subsys, csi))) {
        return NULL;
    }

    return cs;
}

/*
 * The offered command set that adds admin command @opcode; a secondary
 * controller (an SR-IOV VF) has the base admin commands only
 */
const NvmeCommandSet *nvme_admin_command_set(NvmeCtrl *n, uint8_t opcode)
{
    const NvmeCommandSet *cs;

    if (pci_is_vf(PCI_DEVICE(n))) {
        return NULL;
    }

    for (int csi = 0; csi < ARRAY_SIZE(nvme_command_sets); csi++) {
        cs = nvme_command_set(n, csi);
        if (cs && cs->acs && (cs->acs[opcode] & NVME_CMD_EFF_CSUPP)) {
            return cs;
        }
    }

    return NULL;
}

/* The offered command set that adds log page @lid */
const NvmeCommandSet *nvme_log_command_set(NvmeCtrl *n, uint8_t lid)
{
    const NvmeCommandSet *cs;

    for (int csi = 0; csi < ARRAY_SIZE(nvme_command_sets); csi++) {
        cs = nvme_command_set(n, csi);
        for (int i = 0; cs && i < ARRAY_SIZE(cs->lids) && cs->lids[i]; i++) {
            if (cs->lids[i] == lid) {
                return cs;
            }
        }
    }

    return NULL;
}

/*
 * The command set whose namespaces are the sources of NVM Copy descriptor
 * format @format, if not the NVM command set's own
 */
const NvmeCommandSet *nvme_copy_command_set(uint8_t format)
{
    for (int csi = 0; csi < ARRAY_SIZE(nvme_command_sets); csi++) {
        const NvmeCommandSet *cs = nvme_command_sets[csi];

        if (cs && (cs->copy_formats & (1 << format))) {
            return cs;
        }
    }

    return NULL;
}

/*
 * What the command sets add to controller @n, in the order of their CSI,
 * once each had its say on the controller's parameters
 */
bool nvme_realize_command_sets(NvmeCtrl *n, Error **errp)
{
    const NvmeCommandSet *cs;
    int csi;

    for (csi = 0; csi < ARRAY_SIZE(nvme_command_sets); csi++) {
        cs = nvme_command_sets[csi];
        if (cs && cs->prepare_ctrl) {
            cs->prepare_ctrl(n);
        }
    }

    for (csi = 0; csi < ARRAY_SIZE(nvme_command_sets); csi++) {
        cs = nvme_command_sets[csi];
        if (cs && cs->realize_ctrl && !cs->realize_ctrl(n, errp)) {
            return false;
        }
    }

    return true;
}
