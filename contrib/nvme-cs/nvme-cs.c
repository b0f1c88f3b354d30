/*
 * nvme-cs: drive NVMe computational storage (Subsystem Local Memory and
 * Computational Programs) from Linux through the NVMe passthrough ioctls
 *
 * Commands take a controller (/dev/nvmeX) and a namespace ID; I/O commands
 * go to the generic char device of that namespace (/dev/ngXnY), which
 * nvme-cs finds by asking each its NSID.  Command layouts and
 * values come from QEMU's block/nvme.h and block/nvme-csd.h, the same
 * definitions the emulated device uses.  Built static for small guests.
 *
 * Copyright (c) 2026 The QEMU computational storage authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu-compat.h"
#include "block/nvme.h"
#include "block/nvme-csd.h"

#include <dirent.h>
#include <elf.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/nvme_ioctl.h>

#ifndef EM_BPF
#define EM_BPF      247
#endif

#define MAX_RANGES  64
#define SLOTS_MAX   1024

static const char *prog_name = "nvme-cs";

/*
 * Statuses by name
 */

static const char *status_name(int status)
{
    static const struct {
        int sc;
        const char *name;
    } names[] = {
        { 0x000, "Successful Completion" },
        { 0x001, "Invalid Command Opcode" },
        { 0x002, "Invalid Field in Command" },
        { 0x004, "Data Transfer Error" },
        { 0x006, "Internal Error" },
        { 0x007, "Command Abort Requested" },
        { 0x00b, "Invalid Namespace or Format" },
        { 0x080, "LBA Out of Range" },
        { 0x102, "Invalid Log Page" },
        { 0x185, "Incompatible Namespace or Format" },
        { 0x186, "Fast Copy Not Possible" },
        { 0x187, "Overlapping I/O Range" },
        { 0x188, "Namespace Not Reachable" },
        { 0x189, "Insufficient Resources" },
        { 0x18a, "Insufficient Program Resources" },
        { 0x18b, "Invalid Memory Namespace" },
        { 0x18c, "Invalid Memory Range Set" },
        { 0x18d, "Invalid Memory Range Set Identifier" },
        { 0x18e, "Invalid Program Data" },
        { 0x18f, "Invalid Program Index" },
        { 0x190, "Invalid Program Type" },
        { 0x191, "Maximum Memory Ranges Exceeded" },
        { 0x192, "Maximum Memory Range Sets Exceeded" },
        { 0x193, "Maximum Programs Activated" },
        { 0x194, "Maximum Program Bytes Exceeded" },
        { 0x195, "Memory Range Set In Use" },
        { 0x196, "No Program" },
        { 0x197, "Overlapping Memory Ranges" },
        { 0x198, "Program Not Activated" },
        { 0x199, "Program In Use" },
        { 0x19a, "Program Index Not Downloadable" },
        { 0x19b, "Program Too Big" },
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].sc == (status & 0x7ff)) {
            return names[i].name;
        }
    }
    return "Unknown Status";
}

/*
 * Passthrough
 */

typedef struct Dev {
    int         fd;
    uint32_t    nsid;           /* the namespace the command names, or 0 */
    bool        ctrl;           /* opened as a controller (/dev/nvmeX) */
    /* where sysfs has the namespaces' generic devices (ngXnY) */
    char        dirs[2][PATH_MAX];
} Dev;

/*
 * Send @cmd (its dwords as the device sees them) with @len bytes at @buf;
 * the 64-bit result in *result.  Returns the NVMe status, or exits on an
 * ioctl error.
 */
static int submit(Dev *d, bool admin, const void *cmd, void *buf,
                  uint32_t len, uint64_t *result)
{
    const NvmeCmd *c = cmd;
    const uint32_t *dw = cmd;
    struct nvme_passthru_cmd64 p = {
        .opcode = c->opcode,
        .nsid = le32toh(c->nsid),
        .cdw2 = le32toh(dw[2]),
        .cdw3 = le32toh(dw[3]),
        .addr = (uintptr_t)buf,
        .data_len = len,
        .cdw10 = le32toh(dw[10]),
        .cdw11 = le32toh(dw[11]),
        .cdw12 = le32toh(dw[12]),
        .cdw13 = le32toh(dw[13]),
        .cdw14 = le32toh(dw[14]),
        .cdw15 = le32toh(dw[15]),
    };
    int ret = ioctl(d->fd, admin ? NVME_IOCTL_ADMIN64_CMD :
                                   NVME_IOCTL_IO64_CMD, &p);

    if (ret < 0) {
        fprintf(stderr, "%s: passthrough: %s\n", prog_name, strerror(errno));
        exit(1);
    }
    if (result) {
        *result = p.result;
    }
    return ret;
}

static int check(int status, const char *what)
{
    if (status) {
        fprintf(stderr, "%s: %s: %s (0x%03x%s)\n", prog_name, what,
                status_name(status), status & 0x7ff,
                status & 0x4000 ? ", do not retry" : "");
        exit(2);
    }
    return 0;
}

static void *identify(Dev *d, uint8_t cns, uint32_t nsid, uint8_t csi)
{
    static uint8_t buf[NVME_IDENTIFY_DATA_SIZE];
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_IDENTIFY,
        .nsid = htole32(nsid),
        .cdw10 = htole32(cns),
        .cdw11 = htole32((uint32_t)csi << 24),
    };

    check(submit(d, true, &cmd, buf, sizeof(buf), NULL), "Identify");
    return buf;
}

static int get_log(Dev *d, uint8_t lid, uint32_t nsid, uint8_t csi,
                   void *buf, uint32_t len)
{
    uint32_t numd = len / 4 - 1;
    NvmeCmd cmd = {
        .opcode = NVME_ADM_CMD_GET_LOG_PAGE,
        .nsid = htole32(nsid),
        .cdw10 = htole32(lid | (numd & 0xffff) << 16),
        .cdw11 = htole32(numd >> 16),
        .cdw14 = htole32((uint32_t)csi << 24),
    };

    return submit(d, true, &cmd, buf, len, NULL);
}

/*
 * Options shared by the commands
 */

typedef struct Opts {
    uint32_t    nsid;
    int         slot;
    uint64_t    offset, src_offset, length, slba, cparam1, cparam2, puid;
    bool        has_length, has_slba, has_src_offset, has_puid;
    uint32_t    nlb, nvm_nsid, rsid, chunk;
    const char  *file, *data, *section;
    char        *ranges[MAX_RANGES];
    int         nranges;
} Opts;

/* A decimal or 0x-prefixed hexadecimal number of up to 64 bits */
static uint64_t number(const char *s)
{
    bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    const char *p = hex ? s + 2 : s;
    unsigned base = hex ? 16 : 10;
    uint64_t v = 0;

    do {
        unsigned d = *p >= '0' && *p <= '9' ? *p - '0' :
                     *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 :
                     *p >= 'A' && *p <= 'F' ? *p - 'A' + 10 : 16;

        if (d >= base || v > (UINT64_MAX - d) / base) {
            fprintf(stderr, "%s: not a number: %s\n", prog_name, s);
            exit(1);
        }
        v = v * base + d;
    } while (*++p);
    return v;
}

/*
 * A program slot: a number, or the name of a device-defined program of
 * QEMU's nvme-compute-ns (whose slots block/nvme-csd.h gives)
 */
static int slot(const char *s)
{
    static const char *const names[] = NVME_CP_PROGRAM_NAMES;

    for (int i = 0; names[i]; i++) {
        if (!strcmp(s, names[i])) {
            return i;
        }
    }
    return number(s);
}

static void parse(int argc, char **argv, Opts *o, void (*usage)(void))
{
    static const struct option longopts[] = {
        { "namespace-id", required_argument, NULL, 'n' },
        { "slot", required_argument, NULL, 's' },
        { "offset", required_argument, NULL, 'o' },
        { "length", required_argument, NULL, 'l' },
        { "file", required_argument, NULL, 'f' },
        { "range", required_argument, NULL, 'r' },
        { "rsid", required_argument, NULL, 'R' },
        { "cparam1", required_argument, NULL, '1' },
        { "cparam2", required_argument, NULL, '2' },
        { "data", required_argument, NULL, 'd' },
        { "nvm-nsid", required_argument, NULL, 'N' },
        { "slba", required_argument, NULL, 'S' },
        { "nlb", required_argument, NULL, 'c' },
        { "src-offset", required_argument, NULL, 'O' },
        { "section", required_argument, NULL, 'x' },
        { "chunk", required_argument, NULL, 'k' },
        { "puid", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { }
    };
    int c;

    *o = (Opts) { .slot = -1, .chunk = 4096, .section = ".text" };
    while ((c = getopt_long(argc, argv, "n:s:o:l:f:r:d:h", longopts,
                            NULL)) != -1) {
        switch (c) {
        case 'n':
            o->nsid = number(optarg);
            break;
        case 's':
            o->slot = slot(optarg);
            break;
        case 'o':
            o->offset = number(optarg);
            break;
        case 'l':
            o->length = number(optarg);
            o->has_length = true;
            break;
        case 'f':
            o->file = optarg;
            break;
        case 'r':
            if (o->nranges == MAX_RANGES) {
                fprintf(stderr, "%s: too many ranges\n", prog_name);
                exit(1);
            }
            o->ranges[o->nranges++] = optarg;
            break;
        case 'R':
            o->rsid = number(optarg);
            break;
        case '1':
            o->cparam1 = number(optarg);
            break;
        case '2':
            o->cparam2 = number(optarg);
            break;
        case 'd':
            o->data = optarg;
            break;
        case 'N':
            o->nvm_nsid = number(optarg);
            break;
        case 'S':
            o->slba = number(optarg);
            o->has_slba = true;
            break;
        case 'c':
            o->nlb = number(optarg);
            break;
        case 'O':
            o->src_offset = number(optarg);
            o->has_src_offset = true;
            break;
        case 'x':
            o->section = optarg;
            break;
        case 'k':
            o->chunk = number(optarg);
            break;
        case 'p':
            o->puid = number(optarg);
            o->has_puid = true;
            break;
        case 'h':
            usage();
            exit(0);
        default:
            usage();
            exit(1);
        }
    }
}

static void *read_file(const char *path, uint32_t *len)
{
    struct stat st;
    void *buf;
    int fd = open(path, O_RDONLY);

    if (fd < 0 || fstat(fd, &st) < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog_name, path, strerror(errno));
        exit(1);
    }
    buf = malloc(st.st_size ? st.st_size : 1);
    if (!buf || read(fd, buf, st.st_size) != st.st_size) {
        fprintf(stderr, "%s: %s: cannot read\n", prog_name, path);
        exit(1);
    }
    close(fd);
    *len = st.st_size;
    return buf;
}

/* Write @len bytes of @buf to the file @path, or to standard output */
static int write_out(const char *path, const void *buf, size_t len)
{
    FILE *f = path ? fopen(path, "w") : stdout;

    if (!f || fwrite(buf, 1, len, f) != len) {
        fprintf(stderr, "%s: cannot write the data\n", prog_name);
        return 1;
    }
    if (path) {
        fclose(f);
    }
    return 0;
}

static void need(bool ok, const char *what, void (*usage)(void))
{
    if (!ok) {
        fprintf(stderr, "%s: %s\n", prog_name, what);
        usage();
        exit(1);
    }
}

/*
 * Devices
 *
 * Linux names the generic char device of a namespace ngXnY, X the
 * controller's (or, for a multipath namespace, the subsystem's) instance
 * and Y in the order it found the namespace: from 6.x on it scans them in
 * parallel, so Y need not be the NSID.  The commands take the controller
 * and an NSID, and find the device whose NVME_IOCTL_ID is that NSID among
 * those sysfs lists beside the controller and its subsystem.
 */

/*
 * Open the generic char device of namespace @nsid among the ng* entries of
 * sysfs directory @dir, with its path in @path; -1 if there is none
 */
static int open_ns_in(const char *dir, uint32_t nsid, char *path)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int fd = -1;

    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, "ng", 2)) {
            continue;
        }
        snprintf(path, PATH_MAX, "/dev/%s", e->d_name);
        fd = open(path, O_RDWR);
        if (fd >= 0 && ioctl(fd, NVME_IOCTL_ID) == (int)nsid) {
            break;
        }
        if (fd >= 0) {
            close(fd);
        }
        fd = -1;
    }
    if (d) {
        closedir(d);
    }
    return fd;
}

/*
 * The sysfs directory of the subsystem of controller @ctrl (nvmeX) in
 * @dir, which has a link to each of its controllers; "" if none
 */
static void subsys_dir(const char *ctrl, char *dir)
{
    const char *class = "/sys/class/nvme-subsystem";
    char pattern[PATH_MAX];
    glob_t g;

    dir[0] = 0;
    snprintf(pattern, sizeof(pattern), "%s/nvme-subsys*/%s", class, ctrl);
    if (glob(pattern, 0, NULL, &g) == 0) {
        /* the link's dir: .. of the link would be the controller's parent */
        *strrchr(g.gl_pathv[0], '/') = 0;
        snprintf(dir, PATH_MAX, "%s", g.gl_pathv[0]);
    }
    globfree(&g);
}

/* Open the generic char device of namespace @nsid of @d; -1 if none */
static int open_ns(Dev *d, uint32_t nsid, char *path)
{
    int fd = -1;

    for (int i = 0; i < 2 && fd < 0 && d->dirs[i][0]; i++) {
        fd = open_ns_in(d->dirs[i], nsid, path);
    }
    return fd;
}

/*
 * Open @path, a controller (/dev/nvmeX) or the generic char device of a
 * namespace (/dev/ngXnY), for a command on namespace @nsid (-n; 0 if not
 * given).  A namespace's device must be that of @nsid, which it gives if
 * @nsid is 0.  For I/O commands (@io), which Linux takes on a namespace's
 * device only, a controller's is replaced by @nsid's.
 */
static Dev open_dev(const char *path, uint32_t nsid, bool io)
{
    Dev d = { .fd = open(path, O_RDWR) };
    char sys[PATH_MAX] = "", nspath[PATH_MAX];
    struct stat st;
    int id;

    if (d.fd < 0) {
        fprintf(stderr, "%s: %s: %s\n", prog_name, path, strerror(errno));
        exit(1);
    }
    if (fstat(d.fd, &st) == 0 && S_ISCHR(st.st_mode)) {
        snprintf(nspath, sizeof(nspath), "/sys/dev/char/%u:%u",
                 major(st.st_rdev), minor(st.st_rdev));
        if (!realpath(nspath, sys)) {
            sys[0] = 0;
        }
    }

    id = ioctl(d.fd, NVME_IOCTL_ID);
    if (id > 0) {
        /* a namespace's device: its siblings are in its parent's dir */
        if (sys[0]) {
            snprintf(d.dirs[0], PATH_MAX, "%s/..", sys);
        }
        if (nsid && nsid != (uint32_t)id) {
            int fd = open_ns(&d, nsid, nspath);

            fprintf(stderr, "%s: %s is the device of namespace %d, not of "
                    "%u", prog_name, path, id, nsid);
            if (fd >= 0) {
                fprintf(stderr, " (that is %s)", nspath);
            }
            fprintf(stderr, "\n");
            exit(1);
        }
        d.nsid = id;
        return d;
    }
    snprintf(nspath, sizeof(nspath), "%s/cntlid", sys);
    if (!sys[0] || access(nspath, F_OK)) {
        fprintf(stderr, "%s: %s is no NVMe controller or namespace\n",
                prog_name, path);
        exit(1);
    }

    /*
     * A controller: the namespaces only it reaches are in its dir, the
     * multipath ones in its subsystem's
     */
    d.ctrl = true;
    d.nsid = nsid;
    snprintf(d.dirs[0], PATH_MAX, "%s", sys);
    subsys_dir(strrchr(sys, '/') + 1, d.dirs[1]);
    if (io && nsid) {
        int fd = open_ns(&d, nsid, nspath);

        if (fd < 0) {
            fprintf(stderr, "%s: %s has no namespace %u (no generic char "
                    "device /dev/ng* answers that NSID)\n", prog_name, path,
                    nsid);
            exit(1);
        }
        close(d.fd);
        d.fd = fd;
    }
    return d;
}

/*
 * Parse the options of a command and open its device (its first operand)
 * for namespace -n, for an I/O command if @io
 */
static Dev open_args(int argc, char **argv, Opts *o, void (*usage)(void),
                     bool io)
{
    parse(argc, argv, o, usage);
    need(optind < argc, "no device given", usage);
    return open_dev(argv[optind], o->nsid, io);
}

/* The namespace of a command on @d: required */
static void need_ns(Dev *d, const char *what, void (*usage)(void))
{
    if (!d->nsid) {
        fprintf(stderr, "%s: which %s namespace?  -n NSID with a controller\n",
                prog_name, what);
        usage();
        exit(1);
    }
}

/*
 * list
 */

static void usage_list(void)
{
    printf("Usage: %s list <device>\n\n"
           "List the memory (CSI 03h) and compute (CSI 04h) namespaces of "
           "the controller,\nwith their generic char devices and the "
           "programs of each compute namespace.\n", prog_name);
}

static void list_programs(Dev *d, uint32_t nsid)
{
    static const char *const occ[] = {
        "empty", "downloaded", "device-defined", "?",
    };
    struct {
        NvmeProgramListLog hdr;
        NvmeProgramDescr d[SLOTS_MAX];
    } *log = calloc(1, sizeof(*log));
    uint32_t n;

    check(get_log(d, NVME_LOG_PROGRAM_LIST, nsid, NVME_CSI_CP, log,
                  sizeof(*log)), "Get Log Page (Program List)");
    n = le32toh(log->hdr.numd);
    for (uint32_t i = 0; i < n && i < SLOTS_MAX; i++) {
        NvmeProgramDescr *p = &log->d[i];

        printf("  slot %-3u %-14s%s", i, occ[p->flags & 3],
               p->flags & NVME_PROG_DESCR_ACT ? " active" : "");
        if ((p->flags & 3) == NVME_PEOCC_DOWNLOADED) {
            printf(" type 0x%02x puid 0x%016" PRIx64, p->ptype,
                   (uint64_t)le64toh(p->puid));
        }
        printf("\n");
    }
    free(log);
}

static int cmd_list(int argc, char **argv)
{
    static const struct {
        uint8_t csi;
        const char *name;
    } sets[] = {
        { NVME_CSI_SLM, "memory" },
        { NVME_CSI_CP, "compute" },
    };
    char path[PATH_MAX];
    Opts o;
    Dev d = open_args(argc, argv, &o, usage_list, false);

    for (size_t s = 0; s < 2; s++) {
        uint32_t list[1024];

        memcpy(list, identify(&d, NVME_ID_CNS_CS_NS_ACTIVE_LIST, 0,
                              sets[s].csi), sizeof(list));
        for (int i = 0; i < 1024 && list[i]; i++) {
            uint32_t nsid = le32toh(list[i]);
            int fd = open_ns(&d, nsid, path);

            if (fd >= 0) {
                close(fd);
            } else {
                snprintf(path, sizeof(path), "no generic device");
            }

            if (sets[s].csi == NVME_CSI_SLM) {
                NvmeIdNsSlm *id = identify(&d, NVME_ID_CNS_CS_NS, nsid,
                                           NVME_CSI_SLM);

                printf("nsid %u: memory namespace, %" PRIu64 " bytes, %s\n",
                       nsid, (uint64_t)le64toh(id->msz), path);
            } else {
                NvmeIdNsCp *id = identify(&d, NVME_ID_CNS_CS_NS, nsid,
                                          NVME_CSI_CP);

                printf("nsid %u: compute namespace, %s, %u programs active "
                       "at most, %u memory range sets of %u ranges\n", nsid,
                       path, le16toh(id->maxact), le16toh(id->maxmemrs),
                       id->maxmemr);
                list_programs(&d, nsid);
            }
        }
    }
    return 0;
}

/*
 * Subsystem local memory
 */

static void usage_slm(void)
{
    printf("Usage:\n"
           "  %1$s slm-write <device> -n MEM_NSID -o OFFSET -f FILE\n"
           "  %1$s slm-read  <device> -n MEM_NSID -o OFFSET -l LENGTH "
           "[-f FILE]\n"
           "  %1$s slm-fill  <device> -n MEM_NSID -o OFFSET -l LENGTH\n"
           "  %1$s slm-copy  <device> -n MEM_NSID -o OFFSET --nvm-nsid NSID "
           "--slba LBA --nlb N\n"
           "  %1$s slm-copy  <device> -n MEM_NSID -o OFFSET --src-offset "
           "OFFSET -l LENGTH\n\n"
           "Memory Write, Read (to FILE or standard output) and Fill "
           "(zeroes) of a memory\nnamespace; Memory Copy into it from "
           "logical blocks of an NVM namespace or\nfrom elsewhere in the "
           "same memory namespace.  Offsets and lengths in bytes; reads "
           "and writes\nlonger than the controller takes in one command "
           "are split.\n",
           prog_name);
}

static Dev open_mem(int argc, char **argv, Opts *o)
{
    Dev d = open_args(argc, argv, o, usage_slm, true);

    need_ns(&d, "memory", usage_slm);
    return d;
}

static int cmd_slm_rw(int argc, char **argv, uint8_t opcode)
{
    NvmeMemRwCmd cmd = { .opcode = opcode };
    void *buf = NULL;
    uint32_t len = 0, off = 0, max = 256 * 1024;
    Opts o;
    Dev d = open_mem(argc, argv, &o);

    if (opcode == NVME_CMD_MEM_WRITE) {
        need(o.file, "no --file", usage_slm);
        buf = read_file(o.file, &len);
    } else {
        need(o.has_length, "no --length", usage_slm);
        len = o.length;
        if (opcode == NVME_CMD_MEM_READ) {
            buf = malloc(len ? len : 1);
        }
    }

    /*
     * Linux passes no transfer through beyond the controller's MDTS (nor,
     * from user pages, beyond 127 segments on 6.1): split them into
     * commands of 256 KiB at most (MDTS counts 4 KiB pages: CAP.MPSMIN is
     * not visible from here; 0 is the common value).
     */
    if (opcode != NVME_CMD_MEM_FILL) {
        NvmeIdCtrl *id = identify(&d, NVME_ID_CNS_CTRL, 0, 0);

        if (id->mdts && id->mdts < 6) {
            max = 4096u << id->mdts;
        }
    }
    cmd.nsid = htole32(d.nsid);
    do {
        uint32_t n = opcode == NVME_CMD_MEM_FILL || len - off < max ?
                     len - off : max;

        cmd.sb = htole64(o.offset + off);
        cmd.len = htole32(n);
        check(submit(&d, false, &cmd, buf ? (uint8_t *)buf + off : NULL,
                     opcode == NVME_CMD_MEM_FILL ? 0 : n, NULL),
              opcode == NVME_CMD_MEM_WRITE ? "Memory Write" :
              opcode == NVME_CMD_MEM_READ ? "Memory Read" : "Memory Fill");
        off += n;
    } while (off < len);
    if (opcode == NVME_CMD_MEM_READ && write_out(o.file, buf, len)) {
        return 1;
    }
    free(buf);
    return 0;
}

static int cmd_slm_copy(int argc, char **argv)
{
    NvmeMemCopyCmd cmd = { .opcode = NVME_CMD_MEM_COPY };
    uint8_t src[32] = { 0 };
    uint64_t len;
    Opts o;
    Dev d = open_mem(argc, argv, &o);

    if (o.nvm_nsid) {
        /* descriptor format 2h: logical blocks of an NVM namespace */
        NvmeCopySourceRangeFormat0_2 *r = (void *)src;
        NvmeIdNs *id;

        need(o.has_slba && o.nlb, "--slba and --nlb are needed", usage_slm);
        id = identify(&d, NVME_ID_CNS_NS, o.nvm_nsid, 0);
        len = (uint64_t)o.nlb << id->lbaf[id->flbas & 0xf].ds;
        r->sparams = htole32(o.nvm_nsid);
        r->slba = htole64(o.slba);
        r->nlb = htole16(o.nlb - 1);
        cmd.control[0] = 2;
    } else {
        /* descriptor format 4h: bytes of the same memory namespace */
        NvmeCopySourceRangeFormat4 *r = (void *)src;

        need(o.has_src_offset && o.has_length,
             "--nvm-nsid, or --src-offset and --length, are needed",
             usage_slm);
        len = o.length;
        r->snsid = htole32(d.nsid);
        r->saddr = htole64(o.src_offset);
        r->nbyte = htole32(len);
        cmd.control[0] = 4;
    }
    cmd.nsid = htole32(d.nsid);
    cmd.len = htole64(len);
    cmd.sdaddr = htole64(o.offset);
    cmd.nr = 0;
    return check(submit(&d, false, &cmd, src, sizeof(src), NULL),
                 "Memory Copy");
}

/*
 * Memory range sets
 */

static void usage_mrs(void)
{
    printf("Usage:\n"
           "  %1$s mrs-create <device> -n CP_NSID -r MEM_NSID:OFFSET:"
           "LENGTH [-r ...]\n"
           "  %1$s mrs-delete <device> -n CP_NSID --rsid RSID\n"
           "  %1$s mrs-list   <device> -n CP_NSID\n\n"
           "Create (printing its identifier), delete or list the memory "
           "range sets of a\ncompute namespace.  A range is a byte window "
           "of a memory namespace.\n", prog_name);
}

/* The memory range descriptors of the --range options of @o, in @r */
static void ranges(Opts *o, NvmeMemRangeDescr *r, void (*usage)(void))
{
    memset(r, 0, o->nranges * sizeof(*r));
    for (int i = 0; i < o->nranges; i++) {
        unsigned mnsid;
        uint64_t sb;
        uint32_t len;

        if (sscanf(o->ranges[i], "%u:%" SCNi64 ":%" SCNi32, &mnsid, &sb,
                   &len) != 3) {
            need(false, "a range is MEM_NSID:OFFSET:LENGTH", usage);
        }
        r[i].mnsid = htole32(mnsid);
        r[i].sb = htole64(sb);
        r[i].len = htole32(len);
    }
}

static int cmd_mrs(int argc, char **argv, int sel)
{
    NvmeMemRangeDescr r[MAX_RANGES];
    NvmeCmd cmd = { .opcode = NVME_ADM_CMD_MEM_RANGE_SET };
    uint64_t result;
    Opts o;
    Dev d = open_args(argc, argv, &o, usage_mrs, false);

    need_ns(&d, "compute", usage_mrs);
    cmd.nsid = htole32(d.nsid);

    if (sel < 0) {
        uint8_t *buf = calloc(1, 64 * 1024);
        NvmeMrsListLog *hdr = (void *)buf;
        uint8_t *p = buf + sizeof(*hdr);

        check(get_log(&d, NVME_LOG_MEM_RANGE_SETS, d.nsid, NVME_CSI_CP, buf,
                      64 * 1024), "Get Log Page (Memory Range Set List)");
        for (uint32_t i = 0; i < le32toh(hdr->numd); i++) {
            NvmeMrsDescr *m = (void *)p;
            NvmeMemRangeDescr *rd = (void *)(p + sizeof(*m));

            printf("rsid %u:", le16toh(m->rsid));
            for (int j = 0; j < m->numr; j++) {
                printf(" %u:%" PRIu64 ":%u", le32toh(rd[j].mnsid),
                       (uint64_t)le64toh(rd[j].sb), le32toh(rd[j].len));
            }
            printf("\n");
            p += sizeof(*m) + m->numr * sizeof(*rd);
        }
        free(buf);
        return 0;
    }

    if (sel == NVME_MRS_DELETE) {
        need(o.rsid, "no --rsid", usage_mrs);
        cmd.cdw10 = htole32(NVME_MRS_DELETE | o.rsid << 16);
        return check(submit(&d, true, &cmd, NULL, 0, NULL),
                     "Memory Range Set Management (delete)");
    }

    need(o.nranges, "no --range", usage_mrs);
    ranges(&o, r, usage_mrs);
    cmd.cdw10 = htole32(NVME_MRS_CREATE);
    cmd.cdw11 = htole32(o.nranges);
    check(submit(&d, true, &cmd, r, o.nranges * sizeof(r[0]), &result),
          "Memory Range Set Management (create)");
    printf("%u\n", (uint32_t)result);
    return 0;
}

/*
 * Programs
 */

static void usage_prog(void)
{
    printf("Usage:\n"
           "  %1$s load       <device> -n CP_NSID -s SLOT -f PROG.o "
           "[--section .text]\n"
           "                  [--chunk BYTES] [--puid ID]\n"
           "  %1$s activate   <device> -n CP_NSID -s SLOT\n"
           "  %1$s deactivate <device> -n CP_NSID -s SLOT\n"
           "  %1$s unload     <device> -n CP_NSID -s SLOT\n\n"
           "load downloads the eBPF instructions of a section of an ELF "
           "object built with\nclang -target bpf (a file that is not ELF "
           "is taken as raw instructions), in\nchunks of --chunk bytes.  "
           "SLOT is a number, or the name of a device-defined\nprogram of "
           "QEMU's nvme-compute-ns (reduce, crc32c, sha256, filter, copy,\n"
           "compress, decompress, count, wait).\n",
           prog_name);
}

/* The bytes of section @name of ELF object @elf, which has no relocations */
static void *elf_section(uint8_t *elf, uint32_t size, const char *name,
                         uint32_t *len)
{
    Elf64_Ehdr *eh = (Elf64_Ehdr *)elf;
    Elf64_Shdr *sh;
    const char *strtab;
    char rel[256];
    void *found = NULL;

    if (size < sizeof(*eh) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_machine != EM_BPF || eh->e_shoff + (uint64_t)eh->e_shnum *
        sizeof(*sh) > size || eh->e_shstrndx >= eh->e_shnum) {
        fprintf(stderr, "%s: not a 64-bit eBPF ELF object\n", prog_name);
        exit(1);
    }
    sh = (Elf64_Shdr *)(elf + eh->e_shoff);
    strtab = (const char *)elf + sh[eh->e_shstrndx].sh_offset;
    snprintf(rel, sizeof(rel), ".rel%s", name);

    for (int i = 0; i < eh->e_shnum; i++) {
        const char *n = strtab + sh[i].sh_name;

        if (!strcmp(n, rel)) {
            fprintf(stderr, "%s: %s has relocations (global data, maps or "
                    "calls into other sections): it cannot be downloaded\n",
                    prog_name, name);
            exit(1);
        }
        if (!strcmp(n, name) && sh[i].sh_offset + sh[i].sh_size <= size) {
            found = elf + sh[i].sh_offset;
            *len = sh[i].sh_size;
        }
    }
    if (!found) {
        fprintf(stderr, "%s: no section %s\n", prog_name, name);
        exit(1);
    }
    return found;
}

static int cmd_prog(int argc, char **argv, const char *op)
{
    NvmeCmd cmd = { 0 };
    Opts o;
    Dev d = open_args(argc, argv, &o, usage_prog, false);

    need_ns(&d, "compute", usage_prog);
    need(o.slot >= 0, "no --slot", usage_prog);
    cmd.nsid = htole32(d.nsid);

    if (!strcmp(op, "load")) {
        uint32_t size, len;
        uint8_t *file, *code;

        need(o.file, "no --file", usage_prog);
        need(o.chunk && o.chunk % 4 == 0, "--chunk: a multiple of 4",
             usage_prog);
        file = read_file(o.file, &size);
        code = size >= 4 && !memcmp(file, ELFMAG, SELFMAG) ?
               elf_section(file, size, o.section, &len) : file;
        if (code == file) {
            len = size;
        }
        for (uint32_t off = 0; off < len; off += o.chunk) {
            uint32_t numb = len - off < o.chunk ? len - off : o.chunk;

            cmd.opcode = NVME_ADM_CMD_LOAD_PROGRAM;
            cmd.cdw10 = htole32(o.slot | NVME_PTYPE_EBPF << 16 |
                                (o.has_puid ? NVME_PIT_PUID : 0) << 25);
            cmd.cdw11 = htole32(len);
            cmd.cdw12 = htole32(o.puid);
            cmd.cdw13 = htole32(o.puid >> 32);
            cmd.cdw14 = htole32(numb);
            cmd.cdw15 = htole32(off);
            check(submit(&d, true, &cmd, code + off, numb, NULL),
                  "Load Program");
        }
        printf("loaded %u bytes (%u instructions) into slot %d\n", len,
               len / 8, o.slot);
        free(file);
        return 0;
    }

    if (!strcmp(op, "unload")) {
        cmd.opcode = NVME_ADM_CMD_LOAD_PROGRAM;
        cmd.cdw10 = htole32(o.slot | 1 << 24);
        return check(submit(&d, true, &cmd, NULL, 0, NULL),
                     "Load Program (unload)");
    }

    cmd.opcode = NVME_ADM_CMD_PROGRAM_ACT;
    cmd.cdw10 = htole32(o.slot | (!strcmp(op, "activate") ?
                        NVME_PROG_ACT_ACTIVATE : NVME_PROG_ACT_DEACTIVATE)
                        << 16);
    return check(submit(&d, true, &cmd, NULL, 0, NULL),
                 "Program Activation Management");
}

static void usage_exec(void)
{
    printf("Usage: %s exec <device> -n CP_NSID -s SLOT [--rsid RSID | "
           "-r MEM_NSID:OFFSET:LENGTH ...]\n"
           "                 [--cparam1 N] [--cparam2 N] [-d DATAFILE]\n\n"
           "Execute Program on a compute namespace: the program of SLOT "
           "over memory range\nset RSID, or over the ranges given with -r "
           "(inline, in the command's data),\nwith CPARAM1/2 and parameter "
           "data; prints the program's 64-bit result.\nSLOT is a number or "
           "a device-defined program's name, as for load.\n", prog_name);
}

static int cmd_exec(int argc, char **argv)
{
    NvmeExecProgramCmd cmd = { .opcode = NVME_CMD_EXEC_PROGRAM };
    uint64_t result;
    uint32_t len = 0;
    void *data = NULL;
    Opts o;
    Dev d = open_args(argc, argv, &o, usage_exec, true);

    need_ns(&d, "compute", usage_exec);
    need(o.slot >= 0, "no --slot", usage_exec);
    if (o.data) {
        data = read_file(o.data, &len);
    }
    if (o.nranges) {
        /* the ranges, then the parameter data */
        uint32_t rlen = o.nranges * sizeof(NvmeMemRangeDescr);
        uint8_t *buf = malloc(rlen + len + 1);

        ranges(&o, (NvmeMemRangeDescr *)buf, usage_exec);
        if (len) {
            memcpy(buf + rlen, data, len);
        }
        free(data);
        data = buf;
        len += rlen;
        cmd.numr = htole32(o.nranges);
    }

    cmd.nsid = htole32(d.nsid);
    cmd.pind = htole16(o.slot);
    cmd.rsid = htole16(o.rsid);
    cmd.cparam1 = htole64(o.cparam1);
    cmd.cparam2 = htole64(o.cparam2);
    cmd.dlen = htole32(len - o.nranges * sizeof(NvmeMemRangeDescr));
    check(submit(&d, false, &cmd, data, len, &result), "Execute Program");
    printf("0x%016" PRIx64 "\n", result);
    free(data);
    return 0;
}

/*
 * The subsystem local memory through a BAR
 */

static void usage_bar(void)
{
    printf("Usage:\n"
           "  %1$s bar-info  <controller>\n"
           "  %1$s bar-write <controller> -n MEM_NSID -o OFFSET -f FILE\n"
           "  %1$s bar-read  <controller> -n MEM_NSID -o OFFSET -l LENGTH "
           "[-f FILE]\n\n"
           "Where the subsystem local memory is in the controller's BARs "
           "(SLM Identify\nController, Host Addressable Namespaces log "
           "page), and stores to or loads from\na memory namespace through "
           "the BAR, mapped from /sys/class/nvme/<controller>\n/device/"
           "resourceN.  Kernels with CONFIG_IO_STRICT_DEVMEM map no BAR a "
           "driver\nholds unless booted with iomem=relaxed.\n", prog_name);
}

static int cmd_bar(int argc, char **argv, const char *op)
{
    struct {
        NvmeHostAddrNsLog hdr;
        NvmeHostAddrNsDescr d[256];
    } *log = calloc(1, sizeof(*log));
    NvmeIdCtrlSlm *id;
    uint64_t size, memo = 0, msz, len;
    unsigned bir, nents;
    char path[PATH_MAX + 32];
    uint8_t *map, *buf;
    bool found = false;
    Opts o;
    Dev d = open_args(argc, argv, &o, usage_bar, false);
    int fd;

    need(d.ctrl, "the BAR is a controller's: give the controller "
         "(/dev/nvmeX)", usage_bar);
    id = identify(&d, NVME_ID_CNS_CS_CTRL, 0, NVME_CSI_SLM);
    if (!(id->hamat & NVME_HOST_ACCESS_BAR)) {
        fprintf(stderr, "%s: the subsystem local memory is in no BAR\n",
                prog_name);
        return 2;
    }
    bir = id->habir;
    size = le64toh(id->habsz);
    check(get_log(&d, NVME_LOG_HOST_ADDR_NS, 0, NVME_CSI_SLM, log,
                  sizeof(*log)), "Get Log Page (Host Addressable Namespaces)");
    nents = le16toh(log->hdr.nents);

    if (!strcmp(op, "bar-info")) {
        printf("BAR %u: %" PRIu64 " bytes of subsystem local memory\n", bir,
               size);
        for (unsigned i = 0; i < nents && i < 256; i++) {
            printf("nsid %u at offset 0x%" PRIx64 "\n",
                   le32toh(log->d[i].nsid),
                   (uint64_t)le64toh(log->d[i].memo));
        }
        return 0;
    }

    need_ns(&d, "memory", usage_bar);
    for (unsigned i = 0; i < nents && i < 256; i++) {
        if (le32toh(log->d[i].nsid) == d.nsid &&
            (log->d[i].mat & NVME_HOST_ACCESS_BAR)) {
            memo = le64toh(log->d[i].memo);
            found = true;
        }
    }
    if (!found) {
        fprintf(stderr, "%s: namespace %u is not in the BAR\n", prog_name,
                d.nsid);
        return 2;
    }
    msz = le64toh(((NvmeIdNsSlm *)identify(&d, NVME_ID_CNS_CS_NS, d.nsid,
                                           NVME_CSI_SLM))->msz);

    if (!strcmp(op, "bar-write")) {
        uint32_t flen;

        need(o.file, "no --file", usage_bar);
        buf = read_file(o.file, &flen);
        len = flen;
    } else {
        need(o.has_length, "no --length", usage_bar);
        len = o.length;
        buf = malloc(len ? len : 1);
    }
    if (o.offset > msz || len > msz - o.offset || memo > size ||
        msz > size - memo) {
        fprintf(stderr, "%s: the range is not inside namespace %u\n",
                prog_name, d.nsid);
        return 1;
    }

    snprintf(path, sizeof(path), "%s/device/resource%u", d.dirs[0], bir);
    fd = open(path, O_RDWR | O_SYNC);
    map = fd < 0 ? MAP_FAILED : mmap(NULL, size, PROT_READ | PROT_WRITE,
                                     MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        fprintf(stderr, "%s: %s: %s (a BAR the nvme driver holds maps with "
                "iomem=relaxed only)\n", prog_name, path, strerror(errno));
        return 1;
    }

    if (!strcmp(op, "bar-write")) {
        memcpy(map + memo + o.offset, buf, len);
    } else {
        memcpy(buf, map + memo + o.offset, len);
        if (write_out(o.file, buf, len)) {
            return 1;
        }
    }
    munmap(map, size);
    close(fd);
    free(buf);
    free(log);
    return 0;
}

/*
 * Main
 */

static void usage(void)
{
    printf("Usage: %s <command> <device> [-n NSID] [options]\n\n"
           "<device> is a controller (/dev/nvme0) and -n the namespace ID "
           "a command is for;\nor the generic char device of that namespace "
           "(/dev/ngXnY), which Linux does\nnot number by NSID.  Commands "
           "(each takes --help):\n"
           "  list                  memory and compute namespaces, "
           "programs\n"
           "  slm-write, slm-read   Memory Write, Memory Read\n"
           "  slm-fill, slm-copy    Memory Fill, Memory Copy\n"
           "  bar-info, bar-write, bar-read\n"
           "                        the subsystem local memory through a "
           "BAR\n"
           "  mrs-create, mrs-delete, mrs-list\n"
           "                        memory range sets\n"
           "  load, unload          download or remove an eBPF program\n"
           "  activate, deactivate  Program Activation Management\n"
           "  exec                  Execute Program\n", prog_name);
}

int main(int argc, char **argv)
{
    const char *c;

    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage();
        return argc < 2;
    }
    c = argv[1];
    argc--;
    argv++;

    if (!strcmp(c, "list")) {
        return cmd_list(argc, argv);
    } else if (!strcmp(c, "slm-write")) {
        return cmd_slm_rw(argc, argv, NVME_CMD_MEM_WRITE);
    } else if (!strcmp(c, "slm-read")) {
        return cmd_slm_rw(argc, argv, NVME_CMD_MEM_READ);
    } else if (!strcmp(c, "slm-fill")) {
        return cmd_slm_rw(argc, argv, NVME_CMD_MEM_FILL);
    } else if (!strcmp(c, "slm-copy")) {
        return cmd_slm_copy(argc, argv);
    } else if (!strcmp(c, "bar-info") || !strcmp(c, "bar-write") ||
               !strcmp(c, "bar-read")) {
        return cmd_bar(argc, argv, c);
    } else if (!strcmp(c, "mrs-create")) {
        return cmd_mrs(argc, argv, NVME_MRS_CREATE);
    } else if (!strcmp(c, "mrs-delete")) {
        return cmd_mrs(argc, argv, NVME_MRS_DELETE);
    } else if (!strcmp(c, "mrs-list")) {
        return cmd_mrs(argc, argv, -1);
    } else if (!strcmp(c, "load") || !strcmp(c, "unload") ||
               !strcmp(c, "activate") || !strcmp(c, "deactivate")) {
        return cmd_prog(argc, argv, c);
    } else if (!strcmp(c, "exec")) {
        return cmd_exec(argc, argv);
    }

    fprintf(stderr, "%s: unknown command %s\n", prog_name, c);
    usage();
    return 1;
}
