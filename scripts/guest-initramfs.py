#!/usr/bin/env python3
"""Build the guest's initramfs (a gzip'd cpio "newc" archive).

  guest-initramfs.py OUT ROOT KROOT KVER FILES...

ROOT is the tree the userland's Debian packages were unpacked into, KROOT
that of kernel KVER's package, with a modules.dep made by depmod.  The
archive gets busybox and its applets, the NVMe driver modules of the
kernel with the modules they depend on according to modules.dep (in load
order, in /lib/modules/load-order; decompressed), nvme-cli with the shared
libraries it needs (checked through their DT_NEEDED entries), and each of
FILES given as SRC=DEST.
"""

import gzip
import lzma
import os
import stat
import struct
import subprocess
import sys

MODULES = ['nvme']
# Loaded first where they are modules, not built in: the CRC algorithms
# that crc-t10dif and crc64-rocksoft look up through the crypto API at run
# time (6.1), which modules.dep does not record and which a guest without
# modprobe could not load on demand.
SOFT = ['crct10dif_generic', 'crc64_rocksoft_generic']
LIBDIRS = ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu']


class Cpio:
    def __init__(self):
        self.data = bytearray()
        self.ino = 1
        self.seen = set()

    def add(self, name, mode, body=b'', target=None):
        name = name.lstrip('/')
        if name in self.seen:
            return
        parent = os.path.dirname(name)
        if parent and parent not in self.seen:
            self.add(parent, stat.S_IFDIR | 0o755)
        self.seen.add(name)
        if target is not None:
            body = target.encode()
        fields = [self.ino, mode, 0, 0, 1, 0, len(body), 0, 0, 0, 0,
                  len(name) + 1, 0]
        hdr = b'070701' + b''.join(b'%08x' % f for f in fields)
        self.data += hdr + name.encode() + b'\0'
        self.data += b'\0' * (-len(self.data) % 4)
        self.data += body
        self.data += b'\0' * (-len(self.data) % 4)
        self.ino += 1

    def file(self, name, src, mode=None):
        with open(src, 'rb') as f:
            body = f.read()
        if mode is None:
            mode = os.stat(src).st_mode & 0o777
        self.add(name, stat.S_IFREG | mode, body)

    def finish(self):
        self.add('TRAILER!!!', 0)
        return bytes(self.data)


def module_name(path):
    name = os.path.basename(path)
    return name[:name.index('.ko')].replace('-', '_')


def read_module(path):
    """A module's ELF image: Debian compresses them with xz since 6.x"""
    with open(path, 'rb') as f:
        data = f.read()
    if path.endswith('.xz'):
        return lzma.decompress(data)
    if path.endswith('.gz'):
        return gzip.decompress(data)
    if not path.endswith('.ko'):
        sys.exit(f'{path}: a compression this script does not know')
    return data


def module_order(moddir, wanted):
    """The modules @wanted and what they depend on, in load order"""
    deps = {}
    with open(os.path.join(moddir, 'modules.dep')) as f:
        for line in f:
            path, _, rest = line.partition(':')
            deps[module_name(path)] = (path, rest.split())
    with open(os.path.join(moddir, 'modules.builtin')) as f:
        builtin = {module_name(line.strip()) for line in f if line.strip()}
    order = []

    def visit(name):
        if name in order:
            return
        if name not in deps:
            sys.exit(f'module {name} not in {moddir}/modules.dep')
        for dep in deps[name][1]:
            visit(module_name(dep))
        order.append(name)

    for m in SOFT:
        if m not in builtin:
            visit(m)
    for m in wanted:
        visit(m)
    return [(m, os.path.join(moddir, deps[m][0])) for m in order]


def needed(path):
    out = subprocess.run(['readelf', '-d', path], capture_output=True,
                         text=True).stdout
    return [line.split('[')[1].split(']')[0] for line in out.splitlines()
            if '(NEEDED)' in line]


def main():
    out, pkgroot, kroot, kver = sys.argv[1:5]
    files = sys.argv[5:]
    c = Cpio()

    for d in ['dev', 'proc', 'sys', 'tmp', 'bin', 'sbin', 'mnt']:
        c.add(d, stat.S_IFDIR | 0o755)
    c.file('bin/busybox', os.path.join(pkgroot, 'bin/busybox'), 0o755)
    applets = subprocess.run([os.path.join(pkgroot, 'bin/busybox'),
                              '--list'], capture_output=True,
                             text=True).stdout.split()
    for a in applets:
        if a != 'busybox':
            c.add('bin/' + a, stat.S_IFLNK | 0o777, target='busybox')

    moddir = os.path.join(kroot, 'lib/modules', kver)
    order = []
    for name, path in module_order(moddir, MODULES):
        c.add(f'lib/modules/{name}.ko', stat.S_IFREG | 0o644,
              read_module(path))
        order.append(name)
    c.add('lib/modules/load-order', stat.S_IFREG | 0o644,
          ('\n'.join(order) + '\n').encode())

    # nvme-cli and the closure of its shared libraries
    todo = [os.path.join(pkgroot, 'usr/sbin/nvme')]
    c.file('usr/sbin/nvme', todo[0], 0o755)
    done = set()
    while todo:
        for lib in needed(todo.pop()):
            if lib in done:
                continue
            done.add(lib)
            for d in LIBDIRS:
                p = os.path.join(pkgroot, d, lib)
                if os.path.exists(p):
                    real = os.path.realpath(p)
                    c.file(f'lib/x86_64-linux-gnu/{lib}', real, 0o755)
                    todo.append(real)
                    break
            else:
                sys.exit(f'nvme-cli needs {lib}, in none of the packages')
    ld = os.path.realpath(os.path.join(pkgroot,
                                       'lib64/ld-linux-x86-64.so.2'))
    c.file('lib64/ld-linux-x86-64.so.2', ld, 0o755)

    for spec in files:
        src, dest = spec.split('=', 1)
        c.file(dest, src, 0o755 if dest == 'init' else None)

    with gzip.open(out, 'wb', compresslevel=6) as f:
        f.write(c.finish())


if __name__ == '__main__':
    main()
