"""Build the command line of one sandboxed run for each isolation mode, start it, watch it, tear it down."""

from __future__ import annotations

import importlib.util
import json
import logging
import marshal
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache

from agentrl.sandbox import seccomp
from agentrl.sandbox.sitepath import site_dirs
from agentrl.sandbox.boot import BOOT, SETUP_FAILED, STAGE
from agentrl.sandbox.isolation import isolation
from agentrl.sandbox.limits import Limits, SandboxError
from agentrl.sandbox.slots import MAX_SLOTS, PROBE_SLOT, slot_uid

log = logging.getLogger("agentrl.sandbox")

#: Path of the work dir as the sandboxed program sees it (contained modes); it is also ``HOME`` and the cwd.
WORKDIR = "/sandbox"
#: Name of the program file inside the work dir.
MAIN = "main.py"
_MB = 1024 * 1024
_ETC = ["ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group", "nsswitch.conf",
        "mime.types", "ssl", "ca-certificates", "alternatives"]
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
#: Packages of this project: masked (empty) inside the sandbox should they sit in the interpreter's prefix.
_OWN_PACKAGES = ("agentrl", "envs", "policies")
#: Interpreter flags of every sandboxed start: no PYTHON* variables, no user site, no ``site`` at start-up
#: (the bootstrap puts the site dirs on ``sys.path`` itself, without running ``.pth`` code; see sitepath);
#: ``-E`` drops PYTHONUNBUFFERED/PYTHONIOENCODING, so ``-u`` and ``-X utf8`` say the same as flags.
PYFLAGS = ("-E", "-s", "-S", "-u", "-X", "utf8")


def python() -> str:
    return os.path.realpath(sys.executable)


def scrubbed_env(home: str, tmp: str = "/tmp") -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8", "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TMPDIR": tmp,
    }


def check_files(files: Mapping[str, str | bytes] | None) -> dict[str, bytes]:
    """Validate ``files`` (relative path -> content) and return them as bytes."""
    out: dict[str, bytes] = {}
    for name, data in (files or {}).items():
        parts = name.split("/")
        if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"file name {name!r} must be a relative path without '.', '..' or empty parts")
        if name == MAIN:
            raise ValueError(f"file name {MAIN!r} is reserved for the program itself")
        if isinstance(data, str):
            data = data.encode()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"files[{name!r}] must be str or bytes, got {type(data).__name__}")
        out[name] = bytes(data)
    return out


# ---------------------------------------------------------------------------------------------- the minimal root
def _prefixes() -> list[str]:
    out = []
    for pre in (os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix),
                os.path.dirname(os.path.dirname(python()))):
        if pre == "/usr" or pre.startswith("/usr/") or pre in out:
            continue
        out.append(pre)
    return out


def _masks(prefixes: list[str]) -> list[str]:
    """Directories of this project's packages that lie inside a bound prefix (e.g. a non-editable install)."""
    out = []
    for name in _OWN_PACKAGES:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        for loc in (spec.submodule_search_locations or []) if spec else []:
            loc = os.path.realpath(loc)
            if any(loc == p or loc.startswith(p.rstrip("/") + "/") for p in prefixes + ["/usr"]):
                out.append(loc)
    return out


@dataclass
class _Root:
    dirs: list[str] = field(default_factory=list)      # created 0755 (ancestors of binds)
    ro: list[str] = field(default_factory=list)        # read-only binds (same path inside)
    symlinks: list[tuple[str, str]] = field(default_factory=list)
    masks: list[str] = field(default_factory=list)     # dirs shown as empty read-only tmpfs
    blanks: list[str] = field(default_factory=list)    # files shown as /dev/null (empty)


_hidden: set[str] = set()


def hide_paths(*paths: str | os.PathLike) -> None:
    """Keep host files or dirs (task data, reference solutions) out of every later sandbox's view.

    Only paths inside what the sandbox binds (e.g. a task package's data in site-packages) need it: a dir is
    shown as an empty read-only tmpfs, a file as an empty one. Paths outside the binds are never visible.
    """
    for p in paths:
        _hidden.add(os.path.realpath(os.fspath(p)))


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def minimal_root() -> _Root:
    """What the sandbox sees of the host: system dirs, a few /etc files, the interpreter's prefix.

    Built once per process (it only depends on the host's layout); each call returns a fresh copy.
    """
    r = _minimal_root()
    out = replace(r, dirs=list(r.dirs), ro=list(r.ro), symlinks=list(r.symlinks), masks=list(r.masks), blanks=[])
    for p in sorted(_hidden):
        if _under(p, out.ro) and not _under(p, out.masks) and os.path.lexists(p):
            (out.masks if os.path.isdir(p) else out.blanks).append(p)
    return out


@lru_cache(maxsize=1)
def _minimal_root() -> _Root:
    r = _Root()
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            r.symlinks.append((os.readlink(top), top))
        elif os.path.isdir(top):
            r.ro.append(top)
    for name in _ETC:
        p = os.path.join("/etc", name)
        if os.path.exists(p):
            r.ro.append(p)
    pres = _prefixes()
    for pre in pres:
        parts = pre.strip("/").split("/")[:-1]
        r.dirs += ["/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        r.ro.append(pre)
    r.masks = _masks(pres)
    return r


def site_path(root: _Root) -> str:
    """The bootstrap's site-dirs argument: the dirs ``site`` would add that ``root`` shows (``-`` for none)."""
    dirs = site_dirs(tuple(root.ro), tuple(root.masks))
    return os.pathsep.join(dirs) if dirs else "-"


@lru_cache(maxsize=1)
def _filter_hex() -> str:
    filt = seccomp.filter_bytes()
    return filt.hex() if filt else "-"


def _bwrap_args(root: _Root) -> list[str]:
    # As root, no user namespace: the bootstrap drops to the slot uid itself (a real host uid, so that
    # RLIMIT_NPROC counts). As a normal user, bwrap needs a user namespace to do anything.
    args = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if os.geteuid() != 0:
        args.insert(0, "--unshare-user")
    args += ["--die-with-parent", "--new-session"]
    for target, link in root.symlinks:
        args += ["--symlink", target, link]
    for d in root.dirs:  # bwrap copies the modes of the source's ancestors (e.g. /root is 0700): make them 0755
        args += ["--perms", "0755", "--dir", d]
    for p in root.ro:
        args += ["--ro-bind", p, p]
    for m in root.masks:
        args += ["--perms", "0555", "--size", "4096", "--tmpfs", m, "--remount-ro", m]
    return args


# ---------------------------------------------------------------------------------------------- identity
_drop_ok: bool | None = None


def _uid_drop_works() -> bool:
    """Whether this root can setuid to the slot uids (not so under some user-namespaced containers)."""
    global _drop_ok
    if _drop_ok is None:
        u = str(slot_uid(MAX_SLOTS - 1))
        try:
            _drop_ok = subprocess.run([python(), "-E", "-s", "-c",
                                       f"import os; os.setgroups([]); os.setgid({u}); os.setuid({u})"],
                                      capture_output=True, timeout=20).returncode == 0
        except (OSError, subprocess.SubprocessError):
            _drop_ok = False
    return _drop_ok


def run_uid(slot: int) -> int:
    """The uid sandboxed code of ``slot`` runs as, or -1 to keep this process's uid (with no capabilities)."""
    if os.geteuid() != 0:
        return -1
    if not _uid_drop_works():
        _warn_once("agentrl sandbox: cannot switch to a private uid here (user-namespaced root?); sandboxed code "
                   "keeps this process's uid without capabilities, and RLIMIT_NPROC does not bound its processes")
        return -1
    return slot_uid(slot)


_warned: set[str] = set()


def _warn_once(msg: str) -> None:
    if msg not in _warned:
        _warned.add(msg)
        log.warning(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)


def _count_procs(uid: int) -> int:
    n = 0
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                n += os.stat(f"/proc/{p}").st_uid == uid
            except OSError:
                pass
    return n


# ---------------------------------------------------------------------------------------------- launch
@dataclass
class Launch:
    """A prepared command line, with what must be closed or removed once it has started or ended."""

    cmd: list[str]
    env: dict[str, str] | None
    cwd: str | None
    pass_fds: tuple[int, ...]
    tmpdir: str | None
    fds_to_close: list[int] = field(default_factory=list)
    iso: str = ""
    uid: int = -1


def _memfd(data: bytes) -> int:
    fd = os.memfd_create("sbx", 0)
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def prepare(script: str, files: dict[str, bytes], limits: Limits, slot: int, iso: str | None = None,
            args: list[str] | None = None) -> Launch:
    """The command line that runs ``script`` (as ``main.py`` next to ``files``) in ``iso`` mode for ``slot``."""
    iso = iso or isolation()
    uid = run_uid(slot) if iso != "none" else (slot_uid(slot) if os.geteuid() == 0 and _uid_drop_works() else -1)
    cpu = max(1, int(round(limits.cpu_s)))
    # RLIMIT_NPROC counts every process of the real uid: the slot uid has none besides this run; a shared
    # user uid gets its current count on top (an upper bound: newer kernels count per user namespace).
    nproc = limits.max_procs if uid >= 0 else _count_procs(os.getuid()) + limits.max_procs
    filt = _filter_hex() if iso != "none" else "-"
    boot_args = [str(cpu), str(limits.memory_mb * _MB), str(nproc), str(limits.file_size_mb * _MB),
                 str(limits.open_files), str(uid), ".", filt]
    inodes = max(1024, limits.disk_mb * 256)  # 16 k files per 64 MB tmpfs: a flood of empty files stops there
    remount = (f"size={limits.disk_mb * _MB},nr_inodes={inodes}|/tmp,/var/tmp,/dev/shm,{WORKDIR}"
               if iso == "bwrap" and os.geteuid() == 0 else "-")
    boot_args.append(remount)
    root = minimal_root()
    sp = site_path(root)
    extra = [str(a) for a in (args or [])]
    py = python()
    disk = str(limits.disk_mb * _MB)
    if iso == "bwrap":
        fds: list[int] = []
        cmd = ["bwrap", *_bwrap_args(root), "--dev", "/dev", "--proc", "/proc"]
        for d in ("/tmp", "/var/tmp", "/dev/shm"):
            cmd += ["--perms", "1777", "--size", disk, "--tmpfs", d]
        cmd += ["--perms", "0777", "--size", disk, "--tmpfs", WORKDIR]
        made_dirs: set[str] = set()
        for name, data in {MAIN: script.encode(), **files}.items():
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in made_dirs:
                    made_dirs.add(d)
                    cmd += ["--perms", "0777", "--dir", f"{WORKDIR}/{d}"]
            fd = _memfd(data)
            fds.append(fd)
            cmd += ["--perms", "0666", "--file", str(fd), f"{WORKDIR}/{name}"]
        for b in root.blanks:  # an empty read-only file (a bind of /dev/null would be nodev: unreadable)
            fd = _memfd(b"")
            fds.append(fd)
            cmd += ["--perms", "0444", "--ro-bind-data", str(fd), b]
        cmd += ["--chdir", WORKDIR, "--clearenv"]
        for k, v in scrubbed_env(WORKDIR).items():
            cmd += ["--setenv", k, v]
        cmd += ["--", py, *PYFLAGS, "-c", BOOT, *boot_args, sp, f"{WORKDIR}/{MAIN}", *extra]
        return Launch(cmd, None, None, tuple(fds), None, fds, iso, uid)
    # unshare / none: the files go to a fresh root-only host temp dir first (named after this process, so
    # that a later process removes it should this one be killed before its cleanup)
    remove_stale_dirs(once=True)
    tmp = tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-")
    try:
        fdir = os.path.join(tmp, "files") if iso == "unshare" else tmp
        for name, data in {MAIN: script.encode(), **files}.items():
            path = os.path.join(fdir, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        if iso == "none" and uid >= 0:
            for dirpath, dirnames, filenames in os.walk(tmp):
                for n in dirnames + filenames:
                    os.chown(os.path.join(dirpath, n), uid, uid)
            os.chown(tmp, uid, uid)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if iso == "none":
        host_sp = site_path(_Root(ro=["/"]))  # uncontained: everything is visible
        cmd = [py, *PYFLAGS, "-c", BOOT, *boot_args[:6], tmp, "-", "-", host_sp, os.path.join(tmp, MAIN), *extra]
        return Launch(cmd, scrubbed_env(tmp, tmp), tmp, (), tmp, [], iso, uid)
    if iso != "unshare":
        raise SandboxError(f"unknown isolation mode {iso!r}")
    os.mkdir(os.path.join(tmp, "root"))
    spec = {"ppid": os.getpid(), "root": os.path.join(tmp, "root"), "files": fdir, "workdir": WORKDIR,
            "disk": limits.disk_mb * _MB, "inodes": inodes, "uid": uid,
            "dirs": root.dirs, "ro": root.ro, "symlinks": root.symlinks, "masks": root.masks,
            "blanks": root.blanks, "pivot_root_nr": _PIVOT_ROOT.get(os.uname().machine, -1),
            "boot": BOOT}
    # the spec travels marshalled (no json import inside) in a memfd, not on the command line: /proc/1/cmdline
    # inside shows neither the host's temp dir nor its pid; BOOT's argv stays readable there
    try:
        sfd = _memfd(marshal.dumps(spec))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    cmd = [py, *PYFLAGS, "-c", STAGE, str(sfd),
           *boot_args[:6], WORKDIR, boot_args[7], "-", sp, f"{WORKDIR}/{MAIN}", *extra]
    return Launch(cmd, scrubbed_env(WORKDIR), tmp, (sfd,), tmp, [sfd], iso, uid)


_TMP_PREFIX = "agentrl-sbx-"
_stale_checked = False


def remove_stale_dirs(once: bool = False) -> list[str]:
    """Remove host temp dirs of unshare/none runs whose process is gone (killed before its cleanup).

    Called before this process's first such run (``once=True``); returns the dirs removed.
    """
    global _stale_checked
    if once and _stale_checked:
        return []
    _stale_checked = True
    base = tempfile.gettempdir()
    removed = []
    try:
        names = os.listdir(base)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(_TMP_PREFIX):
            continue
        pid = name[len(_TMP_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # its process lives
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        path = os.path.join(base, name)
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path):
            removed.append(path)
    return removed


def popen(launch: Launch, stdin_pipe: bool) -> subprocess.Popen:
    """Start a prepared launch (its own session), with pipes for stdout and stderr (and stdin if asked)."""
    try:
        return subprocess.Popen(
            launch.cmd, stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=launch.env, cwd=launch.cwd,
            pass_fds=launch.pass_fds, start_new_session=True, close_fds=True, bufsize=0)
    except OSError as e:
        raise SandboxError(f"could not start the sandbox ({launch.iso}): {e}") from e
    finally:
        for fd in launch.fds_to_close:
            try:
                os.close(fd)
            except OSError:
                pass
        launch.fds_to_close.clear()


def setup_failure(rc: int | None, err: str) -> str | None:
    """The sandbox's own refusal (exit 125 with an ``agentrl sandbox:`` line), if that is how the run ended."""
    if rc == SETUP_FAILED:
        for line in err.splitlines():
            if line.startswith("agentrl sandbox:"):
                return line
    return None


def kill_tree(proc: subprocess.Popen, launch: Launch) -> None:
    """SIGKILL the process group of ``proc`` and (as root) every process of the run's uid."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if launch.uid >= 0 and os.geteuid() == 0:
        kill_uid(launch.uid)


def kill_uid(uid: int) -> int:
    """Kill every process whose real uid is ``uid``; repeat until none is left (forks race the sweep)."""
    killed = 0
    for _ in range(50):
        found = 0
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                if os.stat(f"/proc/{p}").st_uid != uid:
                    continue
                os.kill(int(p), signal.SIGKILL)
                found += 1
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
        killed += found
        if not found:
            break
        time.sleep(0.005)
    return killed


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss(pid: str) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _run_pids(proc: subprocess.Popen, launch: Launch) -> list[str]:
    """The run's processes: by its uid as root, else by descent from ``proc``."""
    if launch.uid >= 0:
        out = []
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    if os.stat(f"/proc/{p}").st_uid == launch.uid:
                        out.append(p)
                except OSError:
                    pass
        return out
    children: dict[int, list[int]] = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(p))
            except (OSError, ValueError, IndexError):
                pass
    todo, seen = [proc.pid], []
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.append(pid)
        todo += children.get(pid, [])
    return [str(p) for p in seen]


def tree_rss(proc: subprocess.Popen, launch: Launch) -> int:
    """Resident memory of all the run's processes together."""
    return sum(_rss(p) for p in _run_pids(proc, launch))


#: The run's private tmpfs: what is stored there is memory too, and counts toward ``Limits.memory_mb``.
TMPFS = ("/tmp", "/var/tmp", "/dev/shm", WORKDIR)


def _tmpfs_used(pids: list[str], launch: Launch, skip: int) -> int:
    if launch.iso not in ("bwrap", "unshare"):
        return 0
    for p in pids:
        if p == str(skip):  # bwrap / the namespace stage as the host sees it: the host's root
            continue
        total, seen = 0, 0
        for d in TMPFS:
            try:
                st = os.statvfs(f"/proc/{p}/root{d}")
            except OSError:
                continue
            seen += 1
            total += (st.f_blocks - st.f_bfree) * st.f_frsize
        if seen:
            return total
    return 0


def run_memory(proc: subprocess.Popen, launch: Launch) -> int:
    """Memory the run holds: resident memory of its processes plus what it stored in its private tmpfs.

    (memfds, SysV shared memory and message queues are refused by the seccomp filter, POSIX message queues by
    ``RLIMIT_MSGQUEUE=0``; a tmpfs file that is also mapped counts twice, on the safe side.)
    """
    pids = _run_pids(proc, launch)
    return sum(_rss(p) for p in pids) + _tmpfs_used(pids, launch, proc.pid)


def cleanup(launch: Launch) -> None:
    if launch.tmpdir:
        shutil.rmtree(launch.tmpdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- probe
_PROBE = """import json, os
st = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines() if ':' in l)
print(json.dumps({'cap': int(st['CapEff'], 16) | int(st['CapPrm'], 16), 'nnp': st['NoNewPrivs'].strip(),
                  'seccomp': st.get('Seccomp', '?').strip(), 'host': os.path.exists(%r),
                  'tmp': os.listdir('/tmp'), 'uid': os.getuid()}))
"""


def probe(mode: str) -> str | None:
    """Run a check program in ``mode``: ``None`` when it is contained as promised, else why not."""
    if mode == "bwrap" and shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    if mode == "unshare":
        if os.geteuid() != 0:
            return "needs root (mount and pid namespaces are set up without a user namespace)"
        if os.uname().machine not in _PIVOT_ROOT:
            return f"unknown architecture {os.uname().machine}"
    canary = os.path.abspath(__file__)
    lim = Limits(cpu_s=10, wall_s=30, memory_mb=512)
    try:
        launch = prepare(_PROBE % canary, {}, lim, PROBE_SLOT, iso=mode)
    except (OSError, SandboxError) as e:
        return f"could not prepare a run: {e}"
    try:
        r = subprocess.run(launch.cmd, env=launch.env, cwd=launch.cwd, pass_fds=launch.pass_fds,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60, start_new_session=True)
    except (OSError, subprocess.SubprocessError) as e:
        return f"the probe run failed to start: {e}"
    finally:
        for fd in launch.fds_to_close:
            os.close(fd)
        launch.fds_to_close.clear()
        if launch.uid >= 0:
            kill_uid(launch.uid)
        cleanup(launch)
    err = r.stderr.decode(errors="replace").strip()
    if r.returncode != 0:
        return f"the probe run exited with {r.returncode}: {err.splitlines()[-1] if err else ''}"
    try:
        got = json.loads(r.stdout)
    except ValueError:
        return f"the probe run printed {r.stdout[:200]!r}"
    problems = []
    if got["cap"]:
        problems.append(f"capabilities left ({got['cap']:#x})")
    if got["nnp"] != "1":
        problems.append("no_new_privs not set")
    if seccomp.filter_bytes() is not None and got["seccomp"] != "2":
        problems.append("no seccomp filter")
    if got["host"]:
        problems.append("the project's files are visible")
    if got["tmp"]:
        problems.append(f"/tmp is not private ({got['tmp'][:3]})")
    if launch.uid >= 0 and got["uid"] != launch.uid:
        problems.append(f"runs as uid {got['uid']}, not the slot uid")
    return "; ".join(problems) or None
