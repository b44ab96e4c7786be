"""The seccomp filter every sandboxed process runs under, as classic BPF for bubblewrap's
``--seccomp FD``: the system calls a container never needs (mounting, namespaces, tracing,
kernel modules and keys, eBPF, rebooting) answer EPERM; everything else is allowed.

Written with ``struct`` rather than libseccomp: the program is small and cove needs no native
dependency for it.  Other architectures than the filter's own (x86-64's 32-bit and x32 ABIs
included) are refused outright, so the numbers below cannot be dodged.
"""

from __future__ import annotations

import errno
import platform
import struct

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6];
_NR, _ARCH, _ARG0_LOW = 0, 4, 16
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
_KILL_PROCESS = 0x80000000

#: clone() flags that would make new namespaces (user, mount, pid, net, ipc, uts, cgroup, time).
_CLONE_NAMESPACES = (0x10000000 | 0x00020000 | 0x20000000 | 0x40000000 | 0x08000000
                     | 0x04000000 | 0x02000000 | 0x00000080)

#: Refused calls by name; the numbers per architecture follow.
REFUSED = ("mount", "umount2", "pivot_root", "chroot", "swapon", "swapoff", "reboot",
           "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
           "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "bpf", "perf_event_open",
           "userfaultfd", "keyctl", "add_key", "request_key", "setns", "unshare",
           "open_by_handle_at", "name_to_handle_at", "open_tree", "move_mount", "fsopen",
           "fsconfig", "fsmount", "fspick", "mount_setattr", "acct", "quotactl", "syslog",
           "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "vhangup")

_X86_64 = {"mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "swapon": 167,
           "swapoff": 168, "reboot": 169, "init_module": 175, "finit_module": 313,
           "delete_module": 176, "kexec_load": 246, "kexec_file_load": 320, "ptrace": 101,
           "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "bpf": 321,
           "perf_event_open": 298, "userfaultfd": 323, "keyctl": 250, "add_key": 248,
           "request_key": 249, "setns": 308, "unshare": 272, "open_by_handle_at": 304,
           "name_to_handle_at": 303, "open_tree": 428, "move_mount": 429, "fsopen": 430,
           "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442, "acct": 163,
           "quotactl": 179, "syslog": 103, "settimeofday": 164, "clock_settime": 227,
           "clock_adjtime": 305, "adjtimex": 159, "vhangup": 153, "clone": 56, "clone3": 435}
_AARCH64 = {"mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "swapon": 224,
            "swapoff": 225, "reboot": 142, "init_module": 105, "finit_module": 273,
            "delete_module": 106, "kexec_load": 104, "kexec_file_load": 294, "ptrace": 117,
            "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272, "bpf": 280,
            "perf_event_open": 241, "userfaultfd": 282, "keyctl": 219, "add_key": 217,
            "request_key": 218, "setns": 268, "unshare": 97, "open_by_handle_at": 265,
            "name_to_handle_at": 264, "open_tree": 428, "move_mount": 429, "fsopen": 430,
            "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442, "acct": 89,
            "quotactl": 60, "syslog": 116, "settimeofday": 170, "clock_settime": 112,
            "clock_adjtime": 266, "adjtimex": 171, "vhangup": 58, "clone": 220, "clone3": 435}
#: machine -> (AUDIT_ARCH_*, syscall numbers, lowest number of a foreign ABI or 0)
ARCHITECTURES = {"x86_64": (0xC000003E, _X86_64, 0x40000000),
                 "aarch64": (0xC00000B7, _AARCH64, 0)}


def program(machine: str | None = None) -> bytes:
    """The filter for ``machine`` (this one by default), as the bytes bwrap reads."""
    machine = machine or platform.machine()
    if machine not in ARCHITECTURES:
        from cove import errors

        raise errors.ServerError(f"cove's sandbox has no seccomp filter for {machine!r}")
    arch, numbers, foreign = ARCHITECTURES[machine]
    # (code, k, label if true, label if false); "" falls through.  Labels name the returns.
    ops: list[tuple[int, int, str, str]] = [(_LD_W_ABS, _ARCH, "", ""),
                                            (_JEQ_K, arch, "", "kill"),
                                            (_LD_W_ABS, _NR, "", "")]
    if foreign:
        ops.append((_JGE_K, foreign, "kill", ""))
    ops += [(_JEQ_K, numbers[name], "eperm", "") for name in REFUSED]
    ops += [(_JEQ_K, numbers["clone3"], "enosys", ""),  # libc falls back to clone, checked
            (_JEQ_K, numbers["clone"], "", "allow"),
            (_LD_W_ABS, _ARG0_LOW, "", ""),
            (_JSET_K, _CLONE_NAMESPACES, "eperm", "allow")]
    returns = {"allow": _ALLOW, "eperm": _ERRNO | errno.EPERM,
               "enosys": _ERRNO | errno.ENOSYS, "kill": _KILL_PROCESS}
    at = {label: len(ops) + i for i, label in enumerate(returns)}
    out = [struct.pack("=HBBI", code, _jump(at, i, jt), _jump(at, i, jf), k)
           for i, (code, k, jt, jf) in enumerate(ops)]
    out += [struct.pack("=HBBI", _RET_K, 0, 0, value) for value in returns.values()]
    return b"".join(out)


def _jump(at: dict[str, int], index: int, label: str) -> int:
    offset = at[label] - index - 1 if label else 0
    assert 0 <= offset < 256, "the filter outgrew BPF's 8-bit jumps"
    return offset
