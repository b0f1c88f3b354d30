/*
 * libqos NVMe driver: commands of the Subsystem Local Memory command set
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef LIBQOS_NVME_CSD_H
#define LIBQOS_NVME_CSD_H

#include "nvme.h"
#include "block/nvme-csd.h"

/* Memory Write of @len bytes of @buf at byte @sb of memory namespace @nsid */
uint16_t qnvme_mem_write(QNvme *n, uint16_t qid, uint32_t nsid, uint64_t sb,
                         const void *buf, uint32_t len);

/* Memory Read of @len bytes at byte @sb of memory namespace @nsid */
uint16_t qnvme_mem_read(QNvme *n, uint16_t qid, uint32_t nsid, uint64_t sb,
                        void *buf, uint32_t len);

#endif
