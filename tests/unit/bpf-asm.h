/*
 * An assembler for the eBPF text of the bpf_conformance test vectors
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_UNIT_BPF_ASM_H
#define TESTS_UNIT_BPF_ASM_H

/*
 * Assemble @text: one instruction or "label:" a line, "#" comments.
 * Returns the little-endian instructions, or NULL with *err (to g_free).
 */
GByteArray *bpf_asm(const char *text, char **err);

#endif
