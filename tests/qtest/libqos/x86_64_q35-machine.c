/*
 * libqos machine node for the x86_64 q35 machine
 *
 * The q35 host bridge takes legacy 0xcf8/0xcfc configuration cycles like
 * i440FX, so the PC PCI bus driver and allocator serve it unchanged.  Its
 * root bus is offered as the "pcie-bus" interface rather than "pci-bus":
 * a PCI Express root bus takes no hot-plugged devices, which tests written
 * for "pci-bus" expect, so a device driver opts in to q35 by consuming
 * "pcie-bus" too.
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "../libqtest.h"
#include "qgraph.h"
#include "pci-pc.h"
#include "qemu/module.h"
#include "malloc-pc.h"

typedef struct Q35PCIHost {
    QOSGraphObject obj;
    QPCIBusPC pci;
} Q35PCIHost;

typedef struct QX86Q35Machine {
    QOSGraphObject obj;
    QGuestAllocator alloc;
    Q35PCIHost bridge;
} QX86Q35Machine;

static void *q35_bus_get_driver(void *obj, const char *interface)
{
    QPCIBusPC *qpci = obj;

    if (!g_strcmp0(interface, "pcie-bus")) {
        return &qpci->bus;
    }
    fprintf(stderr, "%s not present in pcie-bus-q35\n", interface);
    g_assert_not_reached();
}

static QOSGraphObject *q35_host_get_device(void *obj, const char *device)
{
    Q35PCIHost *host = obj;

    if (!g_strcmp0(device, "pcie-bus-q35")) {
        return &host->pci.obj;
    }
    fprintf(stderr, "%s not present in q35-pcihost\n", device);
    g_assert_not_reached();
}

static void q35_destructor(QOSGraphObject *obj)
{
    QX86Q35Machine *machine = (QX86Q35Machine *)obj;

    alloc_destroy(&machine->alloc);
}

static void *q35_get_driver(void *obj, const char *interface)
{
    QX86Q35Machine *machine = obj;

    if (!g_strcmp0(interface, "memory")) {
        return &machine->alloc;
    }
    fprintf(stderr, "%s not present in x86_64/q35\n", interface);
    g_assert_not_reached();
}

static QOSGraphObject *q35_get_device(void *obj, const char *device)
{
    QX86Q35Machine *machine = obj;

    if (!g_strcmp0(device, "q35-pcihost")) {
        return &machine->bridge.obj;
    }
    fprintf(stderr, "%s not present in x86_64/q35\n", device);
    g_assert_not_reached();
}

static void *qos_create_machine_q35(QTestState *qts)
{
    QX86Q35Machine *machine = g_new0(QX86Q35Machine, 1);

    machine->obj.get_device = q35_get_device;
    machine->obj.get_driver = q35_get_driver;
    machine->obj.destructor = q35_destructor;
    pc_alloc_init(&machine->alloc, qts, ALLOC_NO_FLAGS);
    machine->bridge.obj.get_device = q35_host_get_device;
    qpci_init_pc(&machine->bridge.pci, qts, &machine->alloc);
    machine->bridge.pci.obj.get_driver = q35_bus_get_driver;
    return &machine->obj;
}

static void q35_machine_register_nodes(void)
{
    qos_node_create_machine("x86_64/q35", qos_create_machine_q35);
    qos_node_contains("x86_64/q35", "q35-pcihost", NULL);

    qos_node_create_driver("q35-pcihost", NULL);
    qos_node_contains("q35-pcihost", "pcie-bus-q35", NULL);

    qos_node_create_driver("pcie-bus-q35", NULL);
    qos_node_produces("pcie-bus-q35", "pcie-bus");
}

libqos_init(q35_machine_register_nodes);
