/*
 * libqos: NVMe test suites on two transports, the controller of the qos
 * graph and one served over vfio-user by a second QEMU process
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "../libqtest.h"
#include "libqos-pc.h"
#include "nvme-vfu.h"

/*
 * The controller over vfio-user
 */

/* The server's socket, in a directory of its own */
void qnvme_vfu_start_server(QNvmeVfu *v, const char *server_args)
{
    memset(v, 0, sizeof(*v));
    v->dir = g_dir_make_tmp("qtest-vfu-XXXXXX", NULL);
    g_assert_nonnull(v->dir);
    v->socket = g_build_filename(v->dir, "nvme.sock", NULL);

    v->server = qtest_initf("-machine x-remote,vfio-user=on,auto-shutdown=off "
                            "%s -object x-vfio-user-server,id=vfu0,type=unix,"
                            "path=%s,device=vfu-nvme", server_args, v->socket);
}

/* The client: guest memory must be shared for the server's DMA */
void qnvme_vfu_start_client(QNvmeVfu *v)
{
    v->client = qtest_pc_boot(
        "-m 128M -object memory-backend-memfd,id=mem,size=128M,share=on "
        "-machine memory-backend=mem "
        "-device '{\"driver\": \"vfio-user-pci\", \"addr\": \"04.0\", "
        "\"socket\": {\"type\": \"unix\", \"path\": \"%s\"}}'",
        v->socket);
    qnvme_init(&v->n, v->client->pcibus, &v->client->alloc,
               QPCI_DEVFN(4, 0));
}

void qnvme_vfu_stop_client(QNvmeVfu *v)
{
    if (v->client) {
        qnvme_cleanup(&v->n);
        qtest_shutdown(v->client);
        v->client = NULL;
    }
}

void qnvme_vfu_stop(QNvmeVfu *v)
{
    qnvme_vfu_stop_client(v);
    if (v->server) {
        qtest_quit(v->server);
        v->server = NULL;
    }
    unlink(v->socket);
    rmdir(v->dir);
    g_free(v->socket);
    g_free(v->dir);
}

static void qnvme_vfu_run(const void *data)
{
    const QNvmeTest *t = data;
    g_autoptr(GString) args = g_string_new(NULL);
    void *arg = NULL;
    QNvmeVfu v;

    /* the same controller as the qos graph's, see qnvme_register_nodes() */
    g_string_printf(args, "-device nvme,id=vfu-nvme,serial=foo%s%s ",
                    t->device_opts ? "," : "", t->device_opts ?: "");
    if (t->before) {
        arg = t->before(args, NULL);
    }

    qnvme_vfu_start_server(&v, args->str);
    qnvme_vfu_start_client(&v);
    t->body(&v.n, arg, &v.client->alloc);
    qnvme_vfu_stop(&v);
}

void qnvme_add_tests(const QNvmeTest *tests)
{
    bool vfu = qtest_has_machine("x-remote") &&
               qtest_has_device("vfio-user-pci");

    for (const QNvmeTest *t = tests; t->name; t++) {
        QOSGraphTestOptions opts = {
            .before = t->before,
            .edge.extra_device_opts = t->device_opts,
        };

        qos_add_test(t->name, "nvme", t->body, &opts);
        if (vfu && !t->local_only) {
            g_autofree char *path = g_strdup_printf("vfio-user/nvme/%s",
                                                    t->name);

            qtest_add_data_func(path, t, qnvme_vfu_run);
        }
    }
}
