"""Programs that run inside the sandbox before the user's code (their source is passed with ``python -c``).

:data:`BOOT` (every mode): sets rlimits, drops to the slot uid when started as root, makes sure no
capability is left (or exits 125), sets ``no_new_privs``, installs the seccomp filter, then executes the
program as ``__main__`` (so tracebacks name main.py and its lines). The interpreter starts with ``-S``: the
bootstrap appends the host-computed site dirs (:mod:`agentrl.sandbox.sitepath`) to ``sys.path`` and installs
``exit``/``quit``/``help``, so no ``.pth`` code of the host runs inside. Under bwrap as root it first remounts
the private tmpfs with an inode limit (bubblewrap sets only their size).

:data:`STAGE` (``unshare`` mode only, run as root on the host): dies with its parent, enters new mount, pid,
net, ipc, uts and cgroup namespaces, builds a minimal root on a tmpfs (read-only, nosuid binds of the
interpreter and its libraries; private size-limited tmpfs for ``/sandbox``, ``/tmp``, ``/var/tmp`` and
``/dev/shm``; a fresh ``/proc``; a few device nodes), moves into it with ``pivot_root`` and runs
:data:`BOOT` in the same interpreter.
Exit status 125 with a line starting ``agentrl sandbox:`` on stderr means the sandbox could not be set up.
"""

SETUP_FAILED = 125

BOOT = r"""
import os, resource as R, sys, ctypes as _ct
_a = sys.argv[1:11]
_lc = _ct.CDLL(None, use_errno=True)
def _die(m):
    os.write(2, ('agentrl sandbox: ' + m + '\n').encode()); os._exit(125)
if os.getpid() == 1:  # a pid namespace's init ignores SIGXCPU and friends: stay init, run as a child
    _pid = os.fork()
    if _pid:
        while True:
            try: _p, _st = os.wait()
            except ChildProcessError: os._exit(1)
            if _p == _pid:
                _c = os.waitstatus_to_exitcode(_st); os._exit(128 - _c if _c < 0 else _c)
def _lim(k, v):
    v = int(v)
    if v >= 0:
        try: R.setrlimit(k, (v, v))
        except (ValueError, OSError): R.setrlimit(k, (min(v, R.getrlimit(k)[1]),) * 2)
_cpu = int(_a[0]); R.setrlimit(R.RLIMIT_CPU, (_cpu, _cpu + 1))
_lim(R.RLIMIT_AS, _a[1]); _lim(R.RLIMIT_FSIZE, _a[3]); _lim(R.RLIMIT_NOFILE, _a[4]); _lim(R.RLIMIT_CORE, 0)
_lim(R.RLIMIT_MSGQUEUE, 0)  # POSIX message queues hold kernel memory outside the run's accounting
if _a[8] != '-' and os.geteuid() == 0:  # bound the inodes of the private tmpfs (bwrap sets only their size)
    _o, _, _ds = _a[8].partition('|')
    for _d in _ds.split(','):
        if _lc.mount(None, _d.encode(), None, 32 | 2 | 4, _o.encode()) != 0:
            _die('remounting %s (%s) failed: %s; refusing to run' % (_d, _o, os.strerror(_ct.get_errno())))
_uid = int(_a[5])
if _uid >= 0:
    os.setgroups([]); os.setgid(_uid); os.setuid(_uid)
_lim(R.RLIMIT_NPROC, _a[2])
def _status():
    with open('/proc/self/status') as f:
        return dict(l.split(':', 1) for l in f.read().splitlines() if ':' in l)
_st = _status()
if int(_st['CapEff'], 16) or int(_st['CapPrm'], 16):  # no uid switch here: drop every capability instead
    for _c in range(64): _lc.prctl(24, _c, 0, 0, 0)  # PR_CAPBSET_DROP
    _lc.capset((_ct.c_uint32 * 2)(0x20080522, 0), (_ct.c_uint32 * 6)())
    _st = _status()
    if int(_st['CapEff'], 16) or int(_st['CapPrm'], 16):
        _die('capabilities could not be dropped (CapEff ' + _st['CapEff'].strip() + '); refusing to run')
if _lc.prctl(38, 1, 0, 0, 0) != 0: _die('prctl(PR_SET_NO_NEW_PRIVS) failed; refusing to run')
if _a[7] != '-':
    _prog = bytes.fromhex(_a[7])
    _buf = _ct.create_string_buffer(_prog, len(_prog))
    class _Fprog(_ct.Structure):
        _fields_ = [('len', _ct.c_ushort), ('filter', _ct.c_void_p)]
    _fp = _Fprog(len(_prog) // 8, _ct.addressof(_buf))
    if _lc.prctl(22, 2, _ct.byref(_fp), 0, 0) != 0:
        _die('the seccomp filter could not be installed (' + os.strerror(_ct.get_errno()) + '); refusing to run')
if _a[6] != '.': os.chdir(_a[6])
_f = sys.argv[11]
sys.argv = sys.argv[11:]
sys.path[0] = os.path.dirname(os.path.abspath(_f))
if _a[9] != '-': sys.path.extend(_a[9].split(os.pathsep))  # what site would add, without running .pth code
import site as _s
_s.setquit(); _s.setcopyright(); _s.sethelper()
del _s
del _lc, _ct, _st, _a
import __main__ as _m, builtins as _b
with open(_f, 'rb') as _h: _c = compile(_h.read(), _f, 'exec')
def _run(d, c, f, b):
    d.clear(); d.update(__name__='__main__', __file__=f, __builtins__=b)
    exec(c, d)
_run(_m.__dict__, _c, _f, _b)
"""

STAGE = r"""
import ctypes, marshal, os, sys
_sfd = int(sys.argv[1]); _sb = bytearray()
while True:
    _c = os.read(_sfd, 1 << 20)
    if not _c: break
    _sb += _c
os.close(_sfd)
S = marshal.loads(bytes(_sb))
del _sfd, _sb, _c
lc = ctypes.CDLL(None, use_errno=True)
def die(m):
    os.write(2, ('agentrl sandbox: ' + m + '\n').encode()); os._exit(125)
def err():
    return os.strerror(ctypes.get_errno())
lc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG: SIGKILL when the host thread that started us goes
if os.getppid() != S['ppid']: os._exit(125)
lc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
RDONLY, NOSUID, NODEV, NOEXEC, REMOUNT, BIND, REC, PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
def mnt(src, dst, fs, fl, data=None):
    if lc.mount(src and src.encode(), dst.encode(), fs and fs.encode(), fl, data and data.encode()) != 0:
        die('mount %s on %s failed: %s' % (src, dst, err()))
if lc.unshare(0x20000 | 0x04000000 | 0x08000000 | 0x20000000 | 0x40000000 | 0x02000000) != 0:
    die('unshare failed: ' + err())
mnt(None, '/', None, REC | PRIVATE)
pid = os.fork()
if pid:
    while True:
        try: p, st = os.waitpid(pid, 0)
        except InterruptedError: continue
        c = os.waitstatus_to_exitcode(st); os._exit(128 - c if c < 0 else c)
lc.prctl(1, 9, 0, 0, 0)
root = S['root']
P = lambda p: root + p
mnt('tmpfs', root, 'tmpfs', NOSUID | NODEV, 'mode=0755,size=1m,nr_inodes=4096')
for d in S['dirs']:
    os.makedirs(P(d), mode=0o755, exist_ok=True)
for src in S['ro']:
    dst = P(src)
    if os.path.isdir(src):
        os.makedirs(dst, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True); open(dst, 'a').close()
    mnt(src, dst, None, BIND)
    mnt(None, dst, None, BIND | REMOUNT | RDONLY | NOSUID | NODEV)
for target, link in S['symlinks']:
    os.symlink(target, P(link))
for m in S['masks']:
    mnt('tmpfs', P(m), 'tmpfs', RDONLY | NOSUID | NODEV | NOEXEC, 'mode=0555,size=4k,nr_inodes=16')
for b in S['blanks']:
    mnt('/dev/null', P(b), None, BIND)
    mnt(None, P(b), None, BIND | REMOUNT | RDONLY | NOSUID | NOEXEC)  # /dev/null, read-only: reads as empty
os.makedirs(P('/dev'), exist_ok=True)
mnt('tmpfs', P('/dev'), 'tmpfs', NOSUID | NOEXEC, 'mode=0755,size=64k,nr_inodes=64')
for n in ('null', 'zero', 'full', 'random', 'urandom', 'tty'):
    if os.path.exists('/dev/' + n):
        open(P('/dev/' + n), 'a').close(); mnt('/dev/' + n, P('/dev/' + n), None, BIND)
for n, t in (('fd', '/proc/self/fd'), ('stdin', '/proc/self/fd/0'), ('stdout', '/proc/self/fd/1'),
             ('stderr', '/proc/self/fd/2')):
    os.symlink(t, P('/dev/' + n))
opts = 'mode=1777,size=%d,nr_inodes=%d' % (S['disk'], S['inodes'])
for d in ('/tmp', '/var/tmp', '/dev/shm', S['workdir']):
    os.makedirs(P(d), exist_ok=True)
    mnt('tmpfs', P(d), 'tmpfs', NOSUID | NODEV, opts)
uid, wd = S['uid'], P(S['workdir'])
for dirpath, dirnames, filenames in os.walk(S['files']):
    rel = os.path.relpath(dirpath, S['files'])
    out = wd if rel == '.' else os.path.join(wd, rel)
    os.makedirs(out, exist_ok=True)
    for n in filenames:
        with open(os.path.join(dirpath, n), 'rb') as fi, open(os.path.join(out, n), 'wb') as fo:
            while True:
                b = fi.read(1 << 20)
                if not b: break
                fo.write(b)
if uid >= 0:
    for dirpath, dirnames, filenames in os.walk(wd):
        for n in dirnames + filenames:
            os.chown(os.path.join(dirpath, n), uid, uid)
    os.chown(wd, uid, uid)
os.chmod(wd, 0o755)
os.makedirs(P('/proc'), exist_ok=True)
mnt('proc', P('/proc'), 'proc', NOSUID | NODEV | NOEXEC)
os.chdir(root)
if lc.syscall(S['pivot_root_nr'], b'.', b'.') != 0: die('pivot_root failed: ' + err())
if lc.umount2(b'.', 2) != 0: die('detaching the host root failed: ' + err())
os.chdir('/')
mnt(None, '/', None, REMOUNT | RDONLY | NOSUID | NODEV)
# run BOOT in this interpreter (one interpreter start, not two): it sees the argv of ``python -c BOOT ...``
sys.argv = ['-c'] + sys.argv[2:]
_boot = S['boot']
del S, P, lc, root, wd, uid, opts
exec(compile(_boot, '<agentrl-boot>', 'exec'), globals())
"""
