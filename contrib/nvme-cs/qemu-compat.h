/*
 * What nvme-cs needs to include QEMU's block/nvme.h and block/nvme-csd.h
 * outside QEMU, so that the tool and the device share one definition of
 * every command layout and of every value the specifications leave
 * uncertain.
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef NVME_CS_QEMU_COMPAT_H
#define NVME_CS_QEMU_COMPAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QEMU_PACKED                 __attribute__((packed))
#define QEMU_BUILD_BUG_ON(x)        _Static_assert(!(x), #x)

/* hw/registerfields.h, as far as block/nvme.h uses it */
#define REGISTERFIELDS_H
#define REG8(reg, addr)             enum { A_ ## reg = (addr) };
#define REG16(reg, addr)            enum { A_ ## reg = (addr) };
#define REG32(reg, addr)            enum { A_ ## reg = (addr) };
#define REG64(reg, addr)            enum { A_ ## reg = (addr) };
#define FIELD(reg, field, shift, length) \
    enum { R_ ## reg ## _ ## field ## _SHIFT = (shift) };

#endif
