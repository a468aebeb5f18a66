"""Hostile programs against the sandbox, in every permitted isolation mode (bwrap and unshare, each forced):
each must be contained with a clear verdict, leave the host and its files untouched, leave nothing running,
and return within its wall limit + 2 s.

All programs run once per mode, in parallel up to the sandbox's concurrency limit (module fixture); each test
then checks its own program's outcome. Leaks across runs and slots, death with the host, and the whole-run
memory bound have their own tests below.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agentrl import sandbox as sb
from agentrl.sandbox import Limits, SandboxResult, run_python, spawn_python
from sandbox_modes import MODES, forced

MARKER = f"agentrl-hostile-{uuid.uuid4().hex[:12]}"
WALL = 3.0
LIM = Limits(cpu_s=1, wall_s=WALL, memory_mb=512, max_procs=24, file_size_mb=8, disk_mb=32,
             output_bytes=64 * 1024)
SLOW = LIM.with_(wall_s=10.0, cpu_s=5)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox is Linux-only")
ROOT = Path(__file__).resolve().parents[1]
TASK_FILE = ROOT / "envs" / "code" / "data" / "bundled.jsonl"


NAMES = [
    "fork_bomb", "infinite_loop", "sleep_forever", "ignores_sigterm", "memory_bomb", "huge_output", "huge_stderr",
    "fill_disk_many_files", "fill_disk_one_file", "socket_loopback", "socket_outside", "dns_lookup",
    "read_project_file", "read_home_canary", "list_home", "write_outside_workdir", "kill_parent", "kill_host_pid",
    "kill_everything", "daemon_outlives", "daemon_holds_stdout", "deep_recursion", "thread_bomb", "fd_exhaustion",
    "env_secrets", "proc_environ_of_host", "setuid_root", "ignore_stdin_flood", "multiprocess_cpu_burn",
    # added for issue 15 (the unshare fallback held none of these before)
    "setsid_daemon_writes_later", "read_etc_shadow", "read_root_only_file", "read_task_file", "read_tests_dir",
    "search_for_task_files", "host_tmp_dirs_visible", "unix_socket_on_disk", "unix_socket_abstract",
    "setuid_binary", "capabilities_and_nnp", "ptrace_attach", "user_namespace", "mount_in_user_namespace",
    "memory_across_processes", "fill_inodes", "dev_shm_past_disk_limit", "write_proc_and_sys", "host_pids_visible",
    # added for issue 28 (memory outside the run's bound, socket families, the host seen through /proc/1)
    "memfd_hoard", "sysv_shm_hoard", "sysv_msg_queue", "posix_msg_queue", "tmpfs_past_memory_limit",
    "socket_families", "vsock_bind", "host_in_pid1_cmdline",
]
#: Limits of the tmpfs hoard: each private tmpfs (80 MB) alone fits, all four pass the run's 160 MB.
TMPFS_HOARD = SLOW.with_(memory_mb=160, disk_mb=80, file_size_mb=64)


@dataclass
class Host:
    """Things on the host that hostile programs try to reach."""

    tmp: Path
    canary_home: Path
    project_file: Path
    listener: socket.socket
    port: int
    accepted: list = field(default_factory=list)
    victim: subprocess.Popen | None = None
    root_only: Path | None = None
    sock_path: str = ""
    unix_listeners: list = field(default_factory=list)
    host_markers: list = field(default_factory=list)


@dataclass
class Case:
    code: str
    verdicts: set[str]
    stdin: str = ""
    limits: Limits = LIM


def _cases(h: Host) -> dict[str, Case]:
    daemon_argv = f"[sys.executable, '-c', 'import time; time.sleep(60)', '{MARKER}']"
    return {
        "fork_bomb": Case("import os\nwhile True:\n    try: os.fork()\n    except OSError: pass\n", {"timeout"}),
        "infinite_loop": Case("while True: pass\n", {"timeout"}),
        "sleep_forever": Case("import time\ntime.sleep(3600)\n", {"timeout"}),
        "ignores_sigterm": Case("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                                "while True: time.sleep(0.01)\n", {"timeout"}),
        # these two must reach their own limit first: a generous wall keeps a loaded machine from turning them
        # into timeouts
        "memory_bomb": Case("x = []\nwhile True: x.append(bytearray(10**7))\n", {"memory"}, limits=SLOW),
        "huge_output": Case("while True: print('x' * 1000)\n", {"output_limit"}),
        "huge_stderr": Case("import sys\nwhile True: sys.stderr.write('e' * 1000)\n", {"output_limit"}),
        "fill_disk_many_files": Case(
            "i = 0\nwhile True:\n    open(f'f{i}', 'wb').write(b'0' * 4_000_000); i += 1\n", {"disk"}),
        "fill_disk_one_file": Case("f = open('/tmp/big', 'wb')\nwhile True: f.write(b'0' * 1_000_000)\n", {"disk"}),
        "socket_loopback": Case(
            f"import socket\ns = socket.create_connection(('127.0.0.1', {h.port}), timeout=1)\nprint('CONNECTED')\n",
            {"error"}),
        "socket_outside": Case("import socket\ns = socket.create_connection(('1.1.1.1', 80), timeout=1)\n"
                               "print('CONNECTED')\n", {"error"}),
        "dns_lookup": Case("import socket\nprint(socket.getaddrinfo('pypi.org', 443))\n", {"error"}),
        "read_project_file": Case(f"print(open({str(h.project_file)!r}).read()[:50])\n", {"error"}),
        "read_home_canary": Case(f"print(open({str(h.canary_home)!r}).read())\n", {"error"}),
        "list_home": Case(f"import os\nprint(os.listdir({str(Path.home())!r}))\n", {"ok", "error"}),
        "write_outside_workdir": Case(
            f"import os\nfor p in [{str(h.tmp / 'pwned')!r}, '/usr/pwned', {str(h.project_file.parent / 'pwned')!r}]:\n"
            "    try: open(p, 'w').write('x'); print('WROTE', p)\n    except OSError as e: print('denied', p)\n",
            {"ok"}),
        "kill_parent": Case("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nimport time; time.sleep(5)\n",
                            {"error", "killed", "timeout"}),
        "kill_host_pid": Case(f"import os\nos.kill({h.victim.pid}, 9)\nprint('KILLED')\n", {"error"}),
        "kill_everything": Case("import os, time\nos.kill(-1, 9)\ntime.sleep(5)\n", {"killed", "timeout", "error"}),
        "daemon_outlives": Case(
            "import os, subprocess, sys\n"
            "if os.fork() == 0:\n    os.setsid()\n"
            f"    subprocess.Popen({daemon_argv}, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, "
            "stderr=subprocess.DEVNULL, start_new_session=True)\n    os._exit(0)\n"
            "os.wait()\nprint('parent done')\n", {"ok"}),
        "daemon_holds_stdout": Case(
            f"import subprocess, sys\nsubprocess.Popen({daemon_argv}, start_new_session=True)\nprint('bye')\n",
            {"ok"}),
        "deep_recursion": Case("import sys\nsys.setrecursionlimit(10**8)\nl = []\nfor _ in range(10**6): l = [l]\n"
                               "print(len(repr(l)))\n", {"killed", "error", "memory", "timeout"}, limits=SLOW),
        "thread_bomb": Case("import threading, time\nts = []\nwhile True:\n"
                            "    t = threading.Thread(target=time.sleep, args=(60,)); t.start(); ts.append(t)\n",
                            {"error", "memory", "timeout"}),
        "fd_exhaustion": Case("fs = []\nwhile True: fs.append(open('/dev/null'))\n", {"error"}),
        "env_secrets": Case("import os\nprint(sorted(os.environ.items()))\n", {"ok"}),
        "proc_environ_of_host": Case(f"print(open('/proc/{os.getpid()}/environ', 'rb').read()[:100])\n",
                                     {"error"}),
        "setuid_root": Case("import os\nos.setuid(0)\nprint('ROOT')\n", {"error"}),
        "ignore_stdin_flood": Case("print('ignoring input')\n", {"ok"}, stdin="y" * (8 << 20)),
        "multiprocess_cpu_burn": Case(
            "import multiprocessing as mp\ndef burn(_):\n    while True: pass\n"
            "if __name__ == '__main__':\n    with mp.Pool(4) as p: p.map(burn, range(8))\n", {"timeout"}),
        "setsid_daemon_writes_later": Case(
            "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            "        time.sleep(1.5)\n"
            f"        for p in [{str(h.tmp / 'daemon_wrote')!r}, '/tmp/daemon_wrote']:\n"
            "            try: open(p, 'w').write('x')\n            except OSError: pass\n"
            "        time.sleep(60)\n    os._exit(0)\nos.wait()\nprint('parent done')\n", {"ok"}),
        "read_etc_shadow": Case("print(open('/etc/shadow').read()[:80])\n", {"error"}),
        "read_root_only_file": Case(f"print(open({str(h.root_only)!r}).read())\n", {"error"}),
        "read_task_file": Case(f"print(open({str(TASK_FILE)!r}).read()[:200])\n", {"error"}),
        "read_tests_dir": Case(f"import os\nprint(os.listdir({str(ROOT / 'tests')!r}))\n", {"error"}),
        "search_for_task_files": Case(
            "import os\nfor top in os.listdir('/'):\n    if top in ('proc', 'sys', 'dev'): continue\n"
            "    for d, dirs, fs in os.walk('/' + top):\n        for f in fs:\n"
            f"            if f in ('bundled.jsonl', 'test_sandbox_hostile.py') or {MARKER!r} in f:\n"
            "                print('FOUND', os.path.join(d, f))\nprint('searched')\n", {"ok", "timeout"},
            limits=SLOW),
        "host_tmp_dirs_visible": Case(
            "import os\nfor d in ('/tmp', '/var/tmp', '/dev/shm'):\n    try: print(d, os.listdir(d))\n"
            "    except OSError as e: print(d, e)\n", {"ok"}),
        "unix_socket_on_disk": Case(
            f"import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({h.sock_path!r})\nprint('CONNECTED')\n",
            {"error"}),
        "unix_socket_abstract": Case(
            f"import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect('\\0{MARKER}')\nprint('CONNECTED')\n",
            {"error"}),
        "setuid_binary": Case(
            "import os, shutil, subprocess\nfor b in ('su', 'sudo', 'passwd', 'mount', 'newgrp'):\n"
            "    p = shutil.which(b)\n    if not p: continue\n"
            "    try: r = subprocess.run([p, '-c', 'id -u'] if b == 'su' else [p], stdin=subprocess.DEVNULL, "
            "capture_output=True, timeout=2)\n    except Exception as e: print(b, 'failed', e); continue\n"
            "    print(b, r.returncode, r.stdout[:50], r.stderr[:80])\nos.setuid(0)\nprint('ROOT')\n", {"error"}),
        "capabilities_and_nnp": Case(
            "for l in open('/proc/self/status'):\n"
            "    if l.startswith(('Cap', 'NoNewPrivs', 'Seccomp:', 'Uid')): print(l.strip())\n", {"ok"}),
        "ptrace_attach": Case(
            "import ctypes, os, time\nlc = ctypes.CDLL(None, use_errno=True)\npid = os.fork()\n"
            "if pid == 0:\n    time.sleep(30)\n    os._exit(0)\n"
            "r = lc.ptrace(16, pid, None, None)\nprint('PTRACE_OK' if r == 0 else 'denied', ctypes.get_errno())\n"
            "r2 = lc.ptrace(16, os.getppid(), None, None)\nprint('PTRACE_OK' if r2 == 0 else 'denied')\n"
            "os.kill(pid, 9)\n", {"ok"}),
        "user_namespace": Case(
            "import ctypes, os, subprocess\nlc = ctypes.CDLL(None, use_errno=True)\n"
            "print('USERNS' if lc.unshare(0x10000000) == 0 else 'denied')\n"
            "try: print('unshare tool', subprocess.run(['unshare', '-U', '-r', 'id', '-u'], capture_output=True, "
            "timeout=2).stdout)\nexcept Exception as e: print('no tool', e)\n", {"ok"}),
        "mount_in_user_namespace": Case(
            "import ctypes, os\nlc = ctypes.CDLL(None, use_errno=True)\n"
            "lc.unshare(0x10000000 | 0x20000)\n"
            "r = lc.mount(b'none', b'/tmp', b'tmpfs', 0, None)\nprint('MOUNTED' if r == 0 else 'denied')\n", {"ok"}),
        "memory_across_processes": Case(
            "import os, time\nkids = []\nfor _ in range(4):\n    pid = os.fork()\n    if pid == 0:\n"
            "        x = b'1' * (200 << 20)\n        time.sleep(30)\n        os._exit(0)\n    kids.append(pid)\n"
            "for k in kids: os.waitpid(k, 0)\nprint('ALL_ALLOCATED')\n", {"memory"}, limits=SLOW),
        "fill_inodes": Case("i = 0\nwhile True:\n    open(f'/tmp/f{i}', 'w').close(); i += 1\n",
                            {"disk", "timeout", "error"}),
        "dev_shm_past_disk_limit": Case(
            "f = open('/dev/shm/big', 'wb')\nfor _ in range(120): f.write(b'0' * (1 << 20)); f.flush()\n"
            "print('WROTE_ALL')\n", {"disk"}),
        "write_proc_and_sys": Case(
            "import os\nfor p in ('/proc/sysrq-trigger', '/proc/sys/kernel/hostname', '/sys/fs/cgroup/x'):\n"
            "    try: open(p, 'w').write('x'); print('WROTE', p)\n    except OSError as e: print('denied', p)\n",
            {"ok"}),
        "host_pids_visible": Case(
            "import os\nprint(len([p for p in os.listdir('/proc') if p.isdigit()]))\n", {"ok"}),
        "memfd_hoard": Case(
            "import mmap, os\nfds = []\ntry:\n    for _ in range(100):\n        fd = os.memfd_create('x')\n"
            "        os.ftruncate(fd, 7 << 20)\n        m = mmap.mmap(fd, 7 << 20)\n        m.write(b'1' * (7 << 20))\n"
            "        m.close()\n        fds.append(fd)\n    print('MEMFD_HELD', len(fds) * 7, 'MB')\n"
            "except OSError as e:\n    print('denied', e.errno, len(fds))\n", {"ok"}, limits=SLOW),
        "sysv_shm_hoard": Case(
            "import ctypes\nlc = ctypes.CDLL(None, use_errno=True)\nlc.shmat.restype = ctypes.c_void_p\nheld = 0\n"
            "for _ in range(8):\n    i = lc.shmget(0, 250 << 20, 0o1600)\n    if i < 0: print('denied', ctypes.get_errno()); break\n"
            "    a = lc.shmat(i, None, 0)\n    ctypes.memset(a, 1, 250 << 20)\n    lc.shmdt(ctypes.c_void_p(a))\n"
            "    held += 250\nelse:\n    print('SHM_HELD', held, 'MB')\n", {"ok"}, limits=SLOW),
        "sysv_msg_queue": Case(
            "import ctypes\nlc = ctypes.CDLL(None, use_errno=True)\nq = lc.msgget(0, 0o1600)\n"
            "print('MSGQ_MADE' if q >= 0 else 'denied', ctypes.get_errno())\n", {"ok"}),
        "posix_msg_queue": Case(
            "import ctypes\nlc = ctypes.CDLL(None, use_errno=True)\nq = lc.mq_open(b'/hoard', 0o100 | 2, 0o600, None)\n"
            "print('MQ_MADE' if q >= 0 else 'denied', ctypes.get_errno())\n", {"ok"}),
        "tmpfs_past_memory_limit": Case(
            "import time\nfor d in ('/tmp', '/var/tmp', '/dev/shm', '/sandbox'):\n    f = open(d + '/hoard', 'wb')\n"
            "    for _ in range(60): f.write(b'1' * (1 << 20))\n    f.close()\nprint('wrote all (the host polls; it kills the run at its next look)')\ntime.sleep(30)\n",
            {"memory"}, limits=TMPFS_HOARD),
        "socket_families": Case(
            "import socket\nfor fam in ('AF_INET', 'AF_INET6', 'AF_VSOCK', 'AF_NETLINK', 'AF_PACKET', 'AF_ALG', 'AF_TIPC'):\n"
            "    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW, socket.SOCK_SEQPACKET):\n"
            "        try:\n            socket.socket(getattr(socket, fam, 40), kind).close()\n"
            "            print('SOCKET_MADE', fam, kind)\n        except OSError as e:\n            pass\n"
            "a, b = socket.socketpair()\na.sendall(b'unix ok')\nprint(b.recv(16).decode())\n", {"ok"}),
        "vsock_bind": Case(
            "import socket\ns = socket.socket(40, socket.SOCK_STREAM)\ns.bind((0xFFFFFFFF, 5000))\n"
            "print('SOCKET_MADE vsock bound')\n", {"error"}),
        "host_in_pid1_cmdline": Case(
            "import marshal\nleak = []\nfor p in ('/proc/1/cmdline', '/proc/self/mountinfo', '/proc/1/mountinfo'):\n"
            "    try: data = open(p, 'rb').read()\n    except OSError: continue\n"
            "    if b'agentrl-sbx' in data: leak.append(p)\n    for arg in data.split(b'\\0'):\n"
            "        try: spec = marshal.loads(bytes.fromhex(arg.decode()))\n        except Exception: continue\n"
            "        if isinstance(spec, dict) and 'ppid' in spec: leak.append((p, spec['ppid'], spec.get('root')))\n"
            "print('HOSTLEAK' if leak else 'clean', leak)\n", {"ok"}),
    }


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("host")
    canary = Path.home() / f".agentrl_canary_{uuid.uuid4().hex[:8]}"
    canary.write_text("SECRET-HOME-FILE")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.2)
    h = Host(tmp, canary, Path(__file__).resolve(), listener, listener.getsockname()[1])
    h.victim = subprocess.Popen(["sleep", "120"])
    h.root_only = tmp / "root_only.txt"
    h.root_only.write_text("SECRET-HOME-FILE")
    h.root_only.chmod(0o600)
    h.sock_path = str(tmp / f"{MARKER}.sock")
    for addr in (h.sock_path, f"\0{MARKER}"):
        u = socket.socket(socket.AF_UNIX)
        u.bind(addr)
        u.listen(5)
        u.settimeout(0.2)
        h.unix_listeners.append(u)
    for d in ("/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(d):
            m = Path(d) / f"{MARKER}-host"
            m.write_text("host file")
            h.host_markers.append(m)
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            for lst in [listener, *h.unix_listeners]:
                try:
                    conn, _ = lst.accept()
                    h.accepted.append(conn)
                except OSError:
                    pass

    th = threading.Thread(target=accept, daemon=True)
    th.start()
    yield h
    stop.set()
    th.join()
    listener.close()
    for u in h.unix_listeners:
        u.close()
    for m in h.host_markers:
        m.unlink(missing_ok=True)
    h.victim.kill()
    h.victim.wait()
    canary.unlink(missing_ok=True)


@pytest.fixture(scope="module", params=MODES)
def mode(request):
    with forced(request.param) as m:
        yield m


@pytest.fixture(scope="module")
def outcomes(host, mode):
    os.environ["AGENTRL_TEST_SECRET"] = "hunter2-secret"
    try:
        cases = _cases(host)

        def one(item):
            name, case = item
            t0 = time.monotonic()
            res = run_python(case.code, stdin=case.stdin, limits=case.limits)
            return name, (res, time.monotonic() - t0)

        with ThreadPoolExecutor(sb.max_concurrency()) as pool:
            return dict(pool.map(one, cases.items())), cases
    finally:
        os.environ.pop("AGENTRL_TEST_SECRET", None)


def _leftovers() -> list[str]:
    """Processes carrying our marker, or owned by this process's sandbox uids."""
    lo, hi = sb._slot_uid(0), sb._slot_uid(63)
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            uid = os.stat(f"/proc/{p}").st_uid
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if MARKER in cmd or (lo <= uid <= hi and os.geteuid() == 0):
            found.append(f"{p} uid={uid} {cmd[:80]}")
    return found


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_suite_has_at_least_52_programs(host):
    assert sorted(_cases(host)) == sorted(NAMES) and len(NAMES) >= 29 + 15 + 8


@pytest.mark.parametrize("name", NAMES)
def test_hostile_program_is_contained(name, outcomes, host, mode):
    results, cases = outcomes
    res, elapsed = results[name]
    case = cases[name]
    assert isinstance(res, SandboxResult)
    assert res.isolation == mode
    assert res.verdict in case.verdicts, (name, res.verdict, res.reason, res.stderr_tail())
    assert res.reason or res.verdict == "ok"
    assert elapsed <= case.limits.wall_s + 2.0, (name, elapsed)
    assert len(res.stdout.encode()) <= case.limits.output_bytes
    assert len(res.stderr.encode()) <= case.limits.output_bytes
    # the host is unaffected
    assert host.victim.poll() is None, "a sandboxed program killed a host process"
    assert host.canary_home.read_text() == "SECRET-HOME-FILE"
    for bad in ("CONNECTED", "KILLED", "ROOT", "FOUND", "PTRACE_OK", "USERNS", "MOUNTED", "WROTE", "ALL_ALLOCATED",
                "SECRET-HOME-FILE", "hunter2", MARKER, '"question_content"', "MEMFD_HELD", "SHM_HELD", "MSGQ_MADE",
                "MQ_MADE", "SOCKET_MADE", "HOSTLEAK"):
        assert bad not in res.stdout, (name, bad, res.stdout[:300])


def test_specific_containment_details(outcomes, host, mode):
    results, _ = outcomes
    assert not host.accepted, "a sandboxed program reached a loopback or unix-socket server of the host"
    assert results["huge_output"][0].stdout_truncated
    assert results["huge_stderr"][0].stderr_truncated
    out = results["write_outside_workdir"][0].stdout
    assert "WROTE" not in out and out.count("denied") == 3
    assert not (host.tmp / "pwned").exists() and not Path("/usr/pwned").exists()
    assert not (host.project_file.parent / "pwned").exists()
    env_out = results["env_secrets"][0].stdout
    assert "AGENTRL_TEST_SECRET" not in env_out and "PATH" in env_out
    assert results["daemon_outlives"][0].stdout.strip() == "parent done"
    # the project, its task data and the host's temp dirs do not even exist inside
    for name in ("read_project_file", "read_task_file", "read_tests_dir", "read_root_only_file"):
        assert "No such file" in results[name][0].stderr, (name, results[name][0].stderr_tail())
    assert "searched" in results["search_for_task_files"][0].stdout or \
        results["search_for_task_files"][0].verdict == "timeout"
    for line in results["host_tmp_dirs_visible"][0].stdout.splitlines():
        assert line.split(" ", 1)[1] == "[]", line  # private, empty /tmp, /var/tmp and /dev/shm
    status = dict(line.split(":", 1) for line in results["capabilities_and_nnp"][0].stdout.splitlines())
    for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        assert int(status[cap], 16) == 0, (cap, status[cap])
    assert status["NoNewPrivs"].strip() == "1" and status["Seccomp"].strip() == "2"
    if os.geteuid() == 0:
        assert int(status["Uid"].split()[0]) != 0
    assert results["ptrace_attach"][0].stdout.count("denied") == 2
    assert results["user_namespace"][0].stdout.startswith("denied")
    assert "b'0\\n'" not in results["user_namespace"][0].stdout  # the unshare tool could not map root either
    assert results["mount_in_user_namespace"][0].stdout.strip() == "denied"
    assert results["write_proc_and_sys"][0].stdout.count("denied") == 3
    assert int(results["host_pids_visible"][0].stdout) < 10  # its own pid namespace
    assert "together" in results["memory_across_processes"][0].reason
    if os.geteuid() == 0:  # the private tmpfs have an inode limit too: a flood of empty files ends as "disk"
        assert results["fill_inodes"][0].verdict == "disk", results["fill_inodes"][0].reason
    assert results["setsid_daemon_writes_later"][0].stdout.strip() == "parent done"
    # memory the host cannot see is refused; what the tmpfs hold counts toward the run's memory
    assert results["memfd_hoard"][0].stdout.startswith("denied 1 0"), results["memfd_hoard"][0].stdout
    assert results["sysv_shm_hoard"][0].stdout.startswith("denied 1"), results["sysv_shm_hoard"][0].stdout
    assert results["sysv_msg_queue"][0].stdout.startswith("denied 1")
    assert results["posix_msg_queue"][0].stdout.startswith("denied 24")  # RLIMIT_MSGQUEUE=0: EMFILE
    assert "tmpfs" in results["tmpfs_past_memory_limit"][0].reason
    # only AF_UNIX sockets: vsock (no namespace isolates it), netlink, packet, inet all fail
    assert results["socket_families"][0].stdout.strip() == "unix ok", results["socket_families"][0].stdout
    assert "Address family not supported" in results["vsock_bind"][0].stderr, results["vsock_bind"][0].stderr_tail()
    assert results["host_in_pid1_cmdline"][0].stdout.startswith("clean")


def test_nothing_left_running_and_host_healthy(outcomes, host):
    deadline = time.monotonic() + 3
    while _leftovers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _leftovers() == []
    time.sleep(2)  # the daemon would have written by now
    assert not (host.tmp / "daemon_wrote").exists() and not Path("/tmp/daemon_wrote").exists()
    # the machine still forks and runs programs
    assert subprocess.run([sys.executable, "-c", "print(6*7)"], capture_output=True, text=True).stdout == "42\n"
    # and the sandbox still works after all that
    assert run_python("print('still fine')", limits=LIM).stdout == "still fine\n"




# ---------------------------------------------------------------------------------------------- per-mode checks
@pytest.fixture(params=MODES)
def each_mode(request):
    with forced(request.param) as m:
        yield m


_WRITE_EVERYWHERE = f"""import os
for d in ('/tmp', '/var/tmp', '/dev/shm', '.'):
    try:
        open(os.path.join(d, '{MARKER}-left'), 'w').write('secret of run A')
        print('wrote', d)
    except OSError as e:
        print('could not write', d, e)
"""
_FIND = f"""import os
found = []
for d in ('/tmp', '/var/tmp', '/dev/shm', '.', {str(Path(__import__("tempfile").gettempdir()))!r}):
    for root, dirs, files in os.walk(d):
        found += [os.path.join(root, f) for f in files if f.startswith('{MARKER}-left')]
for pid in os.listdir('/proc'):
    for sub in ('cwd', 'root'):
        try:
            for root, dirs, files in os.walk(f'/proc/{{pid}}/{{sub}}'):
                found += [os.path.join(root, f) for f in files if f.startswith('{MARKER}-left')]
                break
        except OSError:
            pass
print('FOUND' if found else 'clean', found)
"""


def test_no_leak_across_runs(each_mode):
    a = run_python(_WRITE_EVERYWHERE, limits=LIM)
    assert a.verdict == "ok" and a.stdout.count("wrote") == 4, a.stdout
    b = run_python(_FIND, limits=LIM)
    assert b.verdict == "ok" and b.stdout.startswith("clean"), b.stdout
    assert not any(Path(d, f"{MARKER}-left").exists() for d in ("/tmp", "/var/tmp", "/dev/shm"))


def test_no_leak_across_concurrent_slots(each_mode):
    writer = _WRITE_EVERYWHERE + "import sys\nprint('ready', flush=True)\nsys.stdin.read()\n"
    with spawn_python(writer, limits=LIM.with_(wall_s=60, cpu_s=10)) as a:
        lines = [a.read_line(timeout=30) for _ in range(5)]
        assert lines[-1] == b"ready\n", lines
        b = run_python(_FIND, limits=LIM)
        assert a.alive()
    assert b.verdict == "ok" and b.stdout.startswith("clean"), b.stdout


_HOLDER = f"""
import os, sys
sys.path.insert(0, {str(ROOT)!r})
os.environ[{sb.FORCE_ENV!r}] = sys.argv[1]
from agentrl.sandbox import Limits, spawn_python
p = spawn_python("import time\\nprint('up', flush=True)\\ntime.sleep(600)\\n",
                 limits=Limits(wall_s=None, cpu_s=600), args=[{MARKER!r} + '-holder'])
assert p.read_line(timeout=60) == b'up\\n'
print(os.getpid(), flush=True)
sys.stdin.read()
"""


def _sbx_dirs(pid: int) -> list[str]:
    import tempfile
    base = tempfile.gettempdir()
    return [n for n in os.listdir(base) if n.startswith(f"agentrl-sbx-{pid}-")]


def test_sandbox_dies_with_its_host_process(each_mode):
    """The host process is SIGKILLed while its sandbox runs: nothing of the sandbox survives, and its host temp
    dir (unshare mode) is removed before the next process's first run."""
    from agentrl.sandbox import launch

    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, each_mode], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, cwd=str(ROOT))
    try:
        line = holder.stdout.readline()
        assert line.strip().isdigit(), line

        def sandboxed():
            return [p for p in os.listdir("/proc") if p.isdigit() and f"{MARKER}-holder".encode() in _cmdline(p)]

        assert sandboxed(), "the sandboxed program should be running now"
        holder.kill()
        holder.wait()
        deadline = time.monotonic() + 30
        while sandboxed() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sandboxed() == []
        left = _sbx_dirs(holder.pid)
        assert len(left) == (1 if each_mode == "unshare" else 0), left  # bwrap keeps its files in memfds
        launch.remove_stale_dirs()
        assert _sbx_dirs(holder.pid) == []
    finally:
        holder.kill()
        holder.wait()


def test_a_mode_that_leaks_is_refused(monkeypatch, each_mode):
    """The probe runs inside the mode and refuses it when the project is visible (here: bound in on purpose)."""
    import importlib

    private = ("/tmp", "/var/tmp", "/dev/shm")
    if any(str(ROOT) == p or str(ROOT).startswith(p + "/") for p in private):
        pytest.skip(f"the checkout {ROOT} lies under a path every mode mounts privately ({', '.join(private)}), "
                    "so a bind of it is hidden and cannot leak")

    iso_mod = importlib.import_module("agentrl.sandbox.isolation")
    launch = importlib.import_module("agentrl.sandbox.launch")

    real = launch.minimal_root

    def leaky():
        r = real()
        parts = str(ROOT).strip("/").split("/")[:-1]
        r.dirs += ["/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        r.ro.append(str(ROOT))
        return r

    monkeypatch.setattr(launch, "minimal_root", leaky)
    monkeypatch.setattr(iso_mod, "_why", {})
    why = sb.why_not(each_mode)
    assert why is not None and "project's files are visible" in why
