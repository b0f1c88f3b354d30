/*
 * libqos: NVMe test suites on two transports, the controller of the qos
 * graph and one served over vfio-user by a second QEMU process
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIBQOS_NVME_VFU_H
#define LIBQOS_NVME_VFU_H

#include "nvme.h"

/*
 * A test suite that runs twice: on the controller of the qos graph ("nvme",
 * in the QEMU under test) and, unless local_only, on a controller served by
 * a second QEMU process (-machine x-remote with x-vfio-user-server) and
 * attached with -device vfio-user-pci: one test body, two transports.
 * @before adds what the controller needs (namespaces, subsystem, objects)
 * to the command line; @device_opts are options of -device nvme.
 */
typedef struct QNvmeTest {
    const char      *name;
    QOSTestFunc     body;
    QOSBeforeTest   before;
    const char      *device_opts;
    bool            local_only;
} QNvmeTest;

/* Register @tests, up to an entry without a name */
void qnvme_add_tests(const QNvmeTest *tests);

/*
 * A controller in a second QEMU process, attached over vfio-user to a pc
 * machine under qtest: @server_args are the -device nvme option list and
 * what it needs.  qnvme_vfu_stop() ends both processes.
 */
typedef struct QNvmeVfu {
    QTestState      *server;
    QOSState        *client;
    QNvme           n;
    char            *dir;
    char            *socket;
} QNvmeVfu;

void qnvme_vfu_start_server(QNvmeVfu *v, const char *server_args);
void qnvme_vfu_start_client(QNvmeVfu *v);
void qnvme_vfu_stop_client(QNvmeVfu *v);
void qnvme_vfu_stop(QNvmeVfu *v);

#endif
