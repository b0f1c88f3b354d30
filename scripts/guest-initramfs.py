#!/usr/bin/env python3
"""Build the guest's initramfs (a gzip'd cpio "newc" archive).

  guest-initramfs.py OUT PKGROOT KVER FILES...

PKGROOT is the tree the Debian packages were unpacked into.  The archive
gets busybox and its applets, the NVMe driver modules of kernel KVER with
the modules they depend on (in load order, in /lib/modules/load-order),
nvme-cli with the shared libraries it needs (checked through their
DT_NEEDED entries), and each of FILES given as SRC=DEST.
"""

import gzip
import os
import stat
import struct
import subprocess
import sys

MODULES = ['nvme']
# Loaded first: the CRC algorithms crc-t10dif and crc64-rocksoft look up
# through the crypto API at run time (no modprobe in the guest).
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


def modinfo_depends(path):
    with open(path, 'rb') as f:
        data = f.read()
    i = data.find(b'\0depends=')
    if i < 0:
        return []
    end = data.index(b'\0', i + 1)
    deps = data[i + 9:end].decode()
    return [d for d in deps.split(',') if d]


def find_modules(moddir):
    found = {}
    for root, _, files in os.walk(moddir):
        for f in files:
            if f.endswith('.ko'):
                found[f[:-3].replace('-', '_')] = os.path.join(root, f)
    return found


def module_order(moddir, wanted):
    found = find_modules(moddir)
    order = []

    def visit(name):
        name = name.replace('-', '_')
        if name in order:
            return
        if name not in found:
            sys.exit(f'module {name} not found in {moddir}')
        for dep in modinfo_depends(found[name]):
            visit(dep)
        order.append(name)

    for m in SOFT + wanted:
        visit(m)
    return [(m, found[m]) for m in order]


def needed(path):
    out = subprocess.run(['readelf', '-d', path], capture_output=True,
                         text=True).stdout
    return [line.split('[')[1].split(']')[0] for line in out.splitlines()
            if '(NEEDED)' in line]


def main():
    out, pkgroot, kver = sys.argv[1:4]
    files = sys.argv[4:]
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

    moddir = os.path.join(pkgroot, 'lib/modules', kver)
    order = []
    for name, path in module_order(moddir, MODULES):
        c.file(f'lib/modules/{name}.ko', path, 0o644)
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
