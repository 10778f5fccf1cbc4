# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Print the libvirt domain type for test and demo guests: ``kvm`` only when qemu can really use KVM.

libvirt lists ``<domain type='kvm'>`` whenever /dev/kvm exists, even where qemu, running as its own
user, cannot open it or the CPU has no hardware virtualisation; such a domain then fails to start
(after about a minute here). So KVM is used only when all of these hold:

- the CPU advertises ``vmx`` or ``svm`` in /proc/cpuinfo;
- /dev/kvm is a character device that qemu's user (``user =`` in /etc/libvirt/qemu.conf, else
  ``libvirt-qemu`` or ``qemu``) may read and write by owner, group or other bits (POSIX ACLs are
  not read: such a host falls back to ``qemu``, slower but correct).

``VMPAYLOAD_VIRT_TYPE=kvm|qemu`` overrides the detection. The reason goes to stderr.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import stat
import sys

QEMU_CONF = '/etc/libvirt/qemu.conf'


def qemu_user():
    try:
        with open(QEMU_CONF, encoding='utf-8') as conf:
            for line in conf:
                match = re.match(r'\s*user\s*=\s*"([^"]+)"', line)
                if match:
                    return match.group(1).lstrip('+')
    except OSError:
        pass
    for candidate in ('libvirt-qemu', 'qemu'):
        try:
            pwd.getpwnam(candidate)
            return candidate
        except KeyError:
            continue
    return 'root'


def user_can_rw(path, user):
    info = os.stat(path)
    if not stat.S_ISCHR(info.st_mode):
        return False
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return False
    if entry.pw_uid == 0:
        return True
    rw = stat.S_IRUSR | stat.S_IWUSR
    if info.st_uid == entry.pw_uid and info.st_mode & rw == rw:
        return True
    groups = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    rw = stat.S_IRGRP | stat.S_IWGRP
    if info.st_gid in groups and info.st_mode & rw == rw:
        return True
    rw = stat.S_IROTH | stat.S_IWOTH
    return info.st_mode & rw == rw


def decide():
    forced = os.environ.get('VMPAYLOAD_VIRT_TYPE')
    if forced:
        if forced not in ('kvm', 'qemu'):
            raise SystemExit('VMPAYLOAD_VIRT_TYPE must be kvm or qemu, not %r' % forced)
        return forced, 'forced by VMPAYLOAD_VIRT_TYPE'
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as cpuinfo:
            flags = set(re.findall(r'\b(vmx|svm)\b', cpuinfo.read()))
    except OSError:
        flags = set()
    if not flags:
        return 'qemu', 'the CPU has no vmx/svm flag (no hardware virtualisation)'
    if not os.path.exists('/dev/kvm'):
        return 'qemu', '/dev/kvm does not exist'
    user = qemu_user()
    if not user_can_rw('/dev/kvm', user):
        return 'qemu', '/dev/kvm is not readable and writable by qemu user %s' % user
    return 'kvm', 'vmx/svm present and /dev/kvm usable by qemu user %s' % user


def main():
    kind, reason = decide()
    sys.stderr.write('domain type %s: %s\n' % (kind, reason))
    sys.stdout.write(kind + '\n')


if __name__ == '__main__':
    main()
