"""A small seccomp-BPF filter for sandboxed code: no new namespaces, no mounts, no ptrace, no kernel keyrings, no
memory outside the run's accounting (memfds, SysV shared memory and message queues), no socket but ``AF_UNIX``.

The host builds the filter (:func:`filter_bytes`); the bootstrap inside the sandbox installs it with
``prctl(PR_SET_SECCOMP)`` right after ``no_new_privs`` and before the user's program runs. Denied calls fail
with ``EPERM`` (``clone3`` with ``ENOSYS``, so glibc falls back to ``clone``, whose flags the filter can
read). ``socket``/``socketpair`` with any family but ``AF_UNIX`` (``AF_INET``, ``AF_NETLINK``, ``AF_VSOCK``,
``AF_PACKET``...) fail with ``EAFNOSUPPORT``: no namespace isolates vsock, and the run needs nothing else.
``memfd_create``, ``shmget`` and ``msgget`` fail with ``EPERM``: their memory is not in any tmpfs the host
measures nor charged to the run (see the README's security model). A call from another ABI (32-bit on x86_64, x32) kills the process. On an architecture this module
does not know the filter is ``None`` and the sandbox relies on its other layers.
"""

from __future__ import annotations

import errno
import os
import struct

# struct seccomp_data: int nr; u32 arch; u64 ip; u64 args[6]
_NR, _ARCH, _ARG0 = 0, 4, 16
_RET_ALLOW, _RET_KILL_PROCESS, _RET_ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06

# every namespace flag of clone(2)
_CLONE_NS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080

_COMMON = {"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
           "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442}
_ARCHES = {
    "x86_64": (0xC000003E, dict(_COMMON, unshare=272, setns=308, mount=165, umount2=166, pivot_root=155,
                                chroot=161, ptrace=101, bpf=321, perf_event_open=298, userfaultfd=323, keyctl=250,
                                add_key=248, request_key=249, open_by_handle_at=304, process_vm_readv=310,
                                process_vm_writev=311, kexec_load=246, init_module=175, finit_module=313,
                                delete_module=176, memfd_create=319, shmget=29, msgget=68),
               56, True, (41, 53)),
    "aarch64": (0xC00000B7, dict(_COMMON, unshare=97, setns=268, mount=40, umount2=39, pivot_root=41, chroot=51,
                                 ptrace=117, bpf=280, perf_event_open=241, userfaultfd=282, keyctl=219, add_key=217,
                                 request_key=218, open_by_handle_at=265, process_vm_readv=270,
                                 process_vm_writev=271, kexec_load=104, init_module=105, finit_module=273,
                                 delete_module=106, memfd_create=279, shmget=194, msgget=186),
                220, False, (198, 199)),
}
_CLONE3 = 435
AF_UNIX = 1

#: System calls the filter refuses (by name), whatever the architecture.
DENIED = tuple(sorted(_ARCHES["x86_64"][1]))


def _ins(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k & 0xFFFFFFFF)


def filter_bytes(machine: str | None = None) -> bytes | None:
    """The filter as ``struct sock_filter`` bytes for this machine (``None`` on an unknown architecture)."""
    machine = machine or os.uname().machine
    if machine not in _ARCHES:
        return None
    arch, denied, clone_nr, x32, socket_nrs = _ARCHES[machine]
    # layout: [0] ld arch, [1] jeq arch, [2] kill, [3] ld nr, [x32 check], denied..., clone3, clone, allow,
    #         clone flags check (ld arg0, jset, allow), eperm, enosys
    body: list[tuple] = []  # (code, k, target_true, target_false) with symbolic targets
    body.append((_LD_W_ABS, _ARCH, None, None))
    body.append((_JEQ_K, arch, "next", "kill"))
    body.append((_LD_W_ABS, _NR, None, None))
    if x32:
        body.append((_JGE_K, 0x40000000, "kill", "next"))
    for nr in sorted(set(denied.values())):
        body.append((_JEQ_K, nr, "eperm", "next"))
    body.append((_JEQ_K, _CLONE3, "enosys", "next"))
    body.append((_JEQ_K, clone_nr, "clone", "next"))
    for nr in socket_nrs:
        body.append((_JEQ_K, nr, "socket", "next"))
    body.append((_RET_K, _RET_ALLOW, None, None))
    labels = {"socket": len(body)}
    body.append((_LD_W_ABS, _ARG0, None, None))
    body.append((_JEQ_K, AF_UNIX, "allow", "eafnosupport"))
    labels["clone"] = len(body)
    body.append((_LD_W_ABS, _ARG0, None, None))
    body.append((_JSET_K, _CLONE_NS, "eperm", "next"))
    labels["allow"] = len(body)
    body.append((_RET_K, _RET_ALLOW, None, None))
    labels["eperm"] = len(body)
    body.append((_RET_K, _RET_ERRNO | errno.EPERM, None, None))
    labels["eafnosupport"] = len(body)
    body.append((_RET_K, _RET_ERRNO | errno.EAFNOSUPPORT, None, None))
    labels["enosys"] = len(body)
    body.append((_RET_K, _RET_ERRNO | errno.ENOSYS, None, None))
    labels["kill"] = len(body)
    body.append((_RET_K, _RET_KILL_PROCESS, None, None))
    out = b""
    for i, (code, k, jt, jf) in enumerate(body):
        def off(t):
            return 0 if t in (None, "next") else labels[t] - i - 1
        out += _ins(code, k, off(jt), off(jf))
    return out
