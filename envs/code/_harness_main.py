"""Test harness that runs *inside* the sandbox (it is the sandbox's main.py; never imported by the host).

Reads ``job.json`` and ``solution.py`` from the work dir and deletes ``job.json`` before any code of the
solution runs. For each test it forks a fresh child with a per-test timeout, and prints one JSON line per
finished test to its stdout (the host's channel, which no solution process holds):
``{"i": k, "status": "ok|error|timeout|crash", "stdout": ..., "stderr": ..., "value": ..., "wall_s": ...}``.
A run that ends early has reported only the tests that finished.

* ``stdin`` / ``call`` tests: the child runs the solution (with the test's input, or calling the named
  function); the host compares its stdout, or the JSON of the return value, with the expected output, which
  never enters the sandbox. Its exit status only says whether it ended cleanly.
* ``script`` tests (HumanEval): the test script holds the expected values, so it never runs next to the
  solution. A *checker* child (harness code, the task's trusted prelude and the test script only) runs it;
  the function under test is a proxy that calls the solution in a *worker*, forked for the test by a
  *zygote*: a process forked from the harness before it reads ``job.json`` (no test in its memory, no file of
  the harness open), which receives only the worker's five fds. The worker runs ``solution.py`` and answers calls over
  two pipes. Arguments and return values cross as tagged JSON and are rebuilt by the checker as plain builtin
  values (int, float, str, list, tuple, dict, set...), so the test's comparisons never call an object of the
  solution: an always-equal object, ``sys.exit(0)``, ``os._exit(0)`` or a crash in the worker fail the test.
  The test passes only when the checker ran the whole script and reported so over a pipe of its own.

The harness and the checker are non-dumpable, so a solution (same uid) cannot open their /proc files.
"""

import builtins
import ctypes
import fcntl
import json
import os
import resource
import select
import signal
import struct
import sys
import time
import traceback

PR_SET_DUMPABLE = 4
#: Largest message the checker accepts from a worker (a return value); more is an error of the solution.
MAX_MESSAGE = 64 << 20

# Tagged JSON for values crossing between checker and worker. The encoder (used by both sides) is lenient;
# the checker's decoder (_dec) is strict and builds only plain builtin objects: nothing of the solution survives.
_HDR = struct.Struct('<Q')
_PLAIN = 'the value must be plain data (None, bool, int, float, complex, str, bytes, list, tuple, dict, set)'


def _enc(x, depth=0):
    if depth > 500:
        raise ValueError('the value is nested too deeply')
    if x is None or isinstance(x, bool):
        return None if x is None else bool(x)
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        return float(x)
    if isinstance(x, str):
        return str.__str__(x)
    for t, name in ((list, 'list'), (tuple, 'tuple'), (set, 'set'), (frozenset, 'frozenset')):
        if isinstance(x, t):
            return {'t': name, 'v': [_enc(e, depth + 1) for e in x]}
    if isinstance(x, dict):
        return {'t': 'dict', 'v': [[_enc(k, depth + 1), _enc(v, depth + 1)] for k, v in x.items()]}
    if isinstance(x, (bytes, bytearray)):
        return {'t': 'bytes', 'v': bytes(x).hex()}
    if isinstance(x, complex):
        return {'t': 'complex', 'v': [float(x.real), float(x.imag)]}
    raise TypeError('got a %s; %s' % (type(x).__name__, _PLAIN))


_SEQ = {'list': list, 'tuple': tuple, 'set': set, 'frozenset': frozenset}


def _dec(x):
    t = type(x)
    if x is None or t is bool or t is int or t is float or t is str:
        return x
    if t is dict and len(x) == 2 and type(x.get('t')) is str:
        tag, v = x['t'], x.get('v')
        if tag in _SEQ and type(v) is list:
            return _SEQ[tag](_dec(e) for e in v)
        if tag == 'dict' and type(v) is list:
            out = {}
            for pair in v:
                if type(pair) is not list or len(pair) != 2:
                    break
                out[_dec(pair[0])] = _dec(pair[1])
            else:
                return out
        if tag == 'bytes' and type(v) is str:
            return bytes.fromhex(v)
        if tag == 'complex' and type(v) is list and len(v) == 2 and all(type(e) in (int, float) for e in v):
            return complex(float(v[0]), float(v[1]))
    raise ValueError('a malformed value came back from the solution')


def _send(fd, obj):
    data = json.dumps(obj).encode()
    view = memoryview(_HDR.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _read_n(fd, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def _recv(fd, cap):
    (n,) = _HDR.unpack(_read_n(fd, _HDR.size))
    if n > cap:
        raise ValueError('a message of %d bytes came back from the solution (at most %d)' % (n, cap))
    return json.loads(_read_n(fd, n))

def _worker(name, path, cpu):
    """A worker (forked by the zygote; fds 0-4 set): load the solution, answer calls until EOF."""
    import traceback as tb_mod
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    ns = {"__name__": "__main__", "__file__": "solution.py", "__builtins__": builtins}
    try:
        with open(path, encoding="utf-8") as f:
            code = compile(f.read(), "solution.py", "exec")
        exec(code, ns)
        fn = ns.get(name)
        if not callable(fn):
            raise NameError(f"the solution defines no function {name!r}")
    except BaseException as e:
        tb_mod.print_exc()
        _send(4, {"setup": f"{type(e).__name__}: {e}"})
        os._exit(1)
    _send(4, {"ready": 1})
    while True:
        try:
            req = _recv(3, 1 << 40)
        except EOFError:
            os._exit(0)
        try:
            msg = {"v": _enc(fn(*_dec(req["a"]), **_dec(req["k"])))}
        except BaseException as e:
            tb_mod.print_exc()
            try:
                m = str(e)[:2000]
            except BaseException:
                m = ""
            msg = {"e": type(e).__name__, "m": m}
        _send(4, msg)


def _zygote_main(ctl):
    """The zygote's loop: for each request (the solution's function name, CPU seconds and five fds) fork a
    worker with the fds as its 0-4 and answer its pid."""
    import socket
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the workers
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(ctl, 4096, 8)
            req = json.loads(msg)
        except (OSError, ValueError):
            os._exit(0)
        if len(fds) != 5 or type(req) is not dict:
            os._exit(0)
        pid = os.fork()
        if pid == 0:
            try:
                ctl.close()
                os.setpgid(0, 0)
                high = [_high(fd) for fd in fds]
                for i, fd in enumerate(high):
                    os.dup2(fd, i)
                os.closerange(5, max(256, resource.getrlimit(resource.RLIMIT_NOFILE)[0]))
                sys.stdin = open(0, "r", encoding="utf-8", closefd=False)
                sys.stdout = open(1, "w", encoding="utf-8", closefd=False, buffering=1)
                sys.stderr = open(2, "w", encoding="utf-8", closefd=False, buffering=1)
                _worker(req["name"], req["path"], int(req["cpu"]))
            finally:
                os._exit(70)
        for fd in fds:
            os.close(fd)
        ctl.sendall(b"%d\n" % pid)


class Zygote:
    """The process that forks each test's worker. It is forked from the harness before the harness reads
    ``job.json``, so neither it nor its workers ever hold a test; it receives only each worker's fds.
    ``worker(...)`` returns the new worker's pid (or None). Everything in the zygote and its workers is the
    solution's to tamper with."""

    def __init__(self):
        import socket
        self.sock, theirs = socket.socketpair()
        sys.stdout.flush()
        self.pid = os.fork()
        if self.pid == 0:
            try:
                os.setpgid(0, 0)
                self.sock.close()
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                ctl = _high(theirs.fileno())
                os.dup2(ctl, 3)
                os.closerange(4, max(256, resource.getrlimit(resource.RLIMIT_NOFILE)[0]))
                _zygote_main(socket.socket(fileno=3))
            finally:
                os._exit(71)
        theirs.close()
        self.sock.settimeout(30)

    def worker(self, name, cpu, fds):
        import socket
        try:
            req = json.dumps({"name": name, "path": os.path.abspath("solution.py"), "cpu": cpu}).encode()
            socket.send_fds(self.sock, [req], fds)
            line = b""
            while not line.endswith(b"\n") and len(line) < 32:
                chunk = self.sock.recv(32 - len(line))
                if not chunk:
                    return None
                line += chunk
            pid = int(line)
        except (OSError, ValueError):
            return None
        return pid if pid > 1 else None

    def close(self):
        self.sock.close()
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except OSError:
            pass


def _nondumpable():
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except Exception:
        pass


def _read_capped(path, cap):
    try:
        with open(path, "rb") as f:
            data = f.read(cap + 1)
    except OSError:
        return "", False
    return data[:cap].decode("utf-8", "replace"), len(data) > cap


def _child(job, code_obj, test, paths):
    fd_in = os.open(paths["in"], os.O_RDONLY)
    fd_out = os.open(paths["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    fd_err = os.open(paths["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd_in, 0)
    os.dup2(fd_out, 1)
    os.dup2(fd_err, 2)
    fd_val = os.open(paths["val"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    keep = {0, 1, 2, fd_val}
    for fd in range(3, 256):
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
    import io
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", write_through=True)
    status = 0
    try:
        ns = {"__name__": "__main__", "__file__": "solution.py", "__builtins__": __builtins__}
        kind = job["kind"]
        if kind == "call":
            ns["__name__"] = "solution"
        exec(code_obj, ns)
        if kind == "call":
            name = job["func_name"]
            fn = None
            if isinstance(ns.get("Solution"), type) and hasattr(ns["Solution"], name):
                fn = getattr(ns["Solution"](), name)
            elif callable(ns.get(name)):
                fn = ns[name]
            if fn is None:
                raise NameError(f"the solution defines no function {name!r} (nor a class Solution with it)")
            args = [json.loads(line) for line in test["input"].splitlines() if line.strip()]
            value = fn(*args)
            try:
                text = json.dumps(value)
            except (TypeError, ValueError):
                text = json.dumps({"__repr__": repr(value)[:10000]})
            os.write(fd_val, text.encode())
    except SystemExit as e:
        code = e.code
        status = code if isinstance(code, int) else (0 if code is None else 1)
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
    except BaseException as e:  # report the solution's frames only, not the harness's
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next
        traceback.print_exception(type(e), e, tb)
        status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        pass
    os._exit(status & 0xFF)


class SolutionError(Exception):
    """The solution's process failed to answer a call (it exited, crashed or sent something else)."""


def _exception(name, msg):
    cls = getattr(builtins, name, None) if isinstance(name, str) else None
    msg = str(msg)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(msg)
        except Exception:
            pass
    return SolutionError(f"{name}: {msg}")


class _Candidate:
    """The function under test, as the test script sees it: each call runs in the worker."""

    def __init__(self, name, req_w, resp_r):
        self.__name__ = name
        self._w, self._r = req_w, resp_r

    def __call__(self, *args, **kwargs):
        _send(self._w, {"a": _enc(list(args)), "k": _enc(kwargs)})
        try:
            msg = _recv(self._r, MAX_MESSAGE)
        except EOFError:
            raise SolutionError("the solution's process ended before it answered (it exited or crashed)") from None
        if type(msg) is dict and "v" in msg:
            return _dec(msg["v"])
        if type(msg) is dict and "e" in msg:
            raise _exception(msg["e"], msg.get("m", ""))
        raise SolutionError("the solution's process sent something other than an answer")


def _high(fd):
    return fcntl.fcntl(fd, fcntl.F_DUPFD, 16)


def _checker(job, test, paths, w_res, req_w, resp_r):
    """Run one script test (in a forked child) against the worker at the other end of ``req_w``/``resp_r``."""
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(os.open(paths["out"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), 1)
    os.dup2(os.open(paths["err"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), 2)
    name = job["func_name"]
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)
    status = 1
    try:
        try:
            ready = _recv(resp_r, MAX_MESSAGE)
        except EOFError:
            raise SolutionError("the solution's process ended while loading (it exited or crashed)") from None
        if type(ready) is not dict or "ready" not in ready:
            setup = ready.get("setup") if type(ready) is dict else None
            raise SolutionError(f"the solution failed to load: {str(setup)[:2000]}")
        ns = {"__name__": "__main__", "__builtins__": builtins}
        if job.get("prelude"):
            exec(compile(job["prelude"], "prompt.py", "exec"), ns)
        ns[name] = _Candidate(name, req_w, resp_r)
        exec(compile(test["input"], "test.py", "exec"), ns)
        os.write(w_res, b"PASS")
        status = 0
    except BaseException as e:
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next
        traceback.print_exception(type(e), e, tb)
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass
    os._exit(status)


def _cpu_limit(timeout_s):
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    used = int(resource.getrusage(resource.RUSAGE_SELF).ru_utime + resource.getrusage(resource.RUSAGE_SELF).ru_stime)
    lim = used + int(timeout_s) + 1
    if hard == resource.RLIM_INFINITY or lim < hard:
        resource.setrlimit(resource.RLIMIT_CPU, (lim, lim if hard == resource.RLIM_INFINITY else hard))


def _script_test(job, test, paths, i, zygote):
    """One script test: the checker's own pipe says PASS only when it ran the whole test script."""
    t0 = time.monotonic()
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    mine = [os.open(os.devnull, os.O_RDONLY),
            os.open(paths["out"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
            os.open(paths["err"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), req_r, resp_w]
    wpid = zygote.worker(job["func_name"], int(job["timeout_s"]) + 1, mine)
    for fd in mine:
        os.close(fd)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.setpgid(0, 0)
            os.close(r)
            _cpu_limit(job["timeout_s"])
            if wpid is None:
                os.write(os.open(paths["err"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
                         b"SolutionError: the solution's process could not be started\n")
                os._exit(1)
            _checker(job, test, paths, w, req_w, resp_r)
        finally:
            os._exit(70)
    os.close(req_w)
    os.close(resp_r)
    os.close(w)
    st = _wait(pid, float(job["timeout_s"]))
    wall = time.monotonic() - t0
    for group in (pid, wpid):
        try:
            if group:
                os.killpg(group, signal.SIGKILL)
        except OSError:
            pass
    if st is None:
        os.waitpid(pid, 0)
    os.set_blocking(r, False)
    try:
        said = os.read(r, 16)
    except OSError:
        said = b""
    os.close(r)
    rc = None if st is None else os.waitstatus_to_exitcode(st)
    if rc is None:
        status = "timeout"
    elif rc == 0 and said == b"PASS":
        status = "ok"
    elif rc < 0:
        status = "timeout" if -rc == signal.SIGXCPU else "crash"
    else:
        status = "error"
    stdout, trunc = _read_capped(paths["out"], int(test.get("cap", 1 << 16)))
    stderr, _ = _read_capped(paths["err"], 1 << 16)
    for p in paths.values():
        try:
            os.unlink(p)
        except OSError:
            pass
    return {"i": i, "status": status, "stdout": stdout, "stdout_truncated": trunc, "stderr": stderr[-4000:],
            "value": None, "wall_s": round(wall, 4)}


def _wait(pid, timeout):
    """Wait for ``pid`` up to ``timeout`` s; return its wait status or None on timeout."""
    deadline = time.monotonic() + timeout
    pidfd = None
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pass
    try:
        while True:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                return st
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if pidfd is not None:
                select.select([pidfd], [], [], left)
            else:
                time.sleep(min(left, 0.005))
    finally:
        if pidfd is not None:
            os.close(pidfd)


def main():
    _nondumpable()
    # script tests: the zygote is forked before anything of the job is read (the host passes the kind)
    zygote = Zygote() if sys.argv[1:2] == ["script"] else None
    with open("job.json") as f:
        job = json.load(f)
    os.unlink("job.json")  # the tests are gone from the work dir before any code of the solution runs
    with open("solution.py", encoding="utf-8") as f:
        src = f.read()
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    try:
        code_obj = compile(src, "solution.py", "exec")
    except (SyntaxError, ValueError) as e:
        msg = "".join(traceback.format_exception_only(type(e), e))
        for i in range(len(job["tests"])):
            out.write(json.dumps({"i": i, "status": "error", "stdout": "", "stderr": msg, "value": None,
                                  "wall_s": 0.0}) + "\n")
        out.flush()
        return
    tmp = os.path.join(os.getcwd(), ".harness")  # the work dir: private to this run in every isolation mode
    os.makedirs(tmp, exist_ok=True)
    for i, test in enumerate(job["tests"]):
        paths = {k: f"{tmp}/{k}{i}" for k in ("in", "out", "err", "val")}
        with open(paths["in"], "w", encoding="utf-8") as f:
            f.write(test["input"] if job["kind"] == "stdin" else "")
        t0 = time.monotonic()
        sys.stdout.flush()
        if job["kind"] == "script":
            row = _script_test(job, test, paths, i, zygote)
            out.write(json.dumps(row) + "\n")
            out.flush()
            continue
        pid = os.fork()
        if pid == 0:
            try:
                os.setpgid(0, 0)
                _cpu_limit(job["timeout_s"])
                _child(job, code_obj, test, paths)
            finally:
                os._exit(70)
        st = _wait(pid, float(job["timeout_s"]))
        wall = time.monotonic() - t0
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        if st is None:
            os.waitpid(pid, 0)
            status = "timeout"
        else:
            rc = os.waitstatus_to_exitcode(st)
            if rc == 0:
                status = "ok"
            elif rc < 0:
                status = "timeout" if -rc == signal.SIGXCPU else "crash"
            else:
                status = "error"
        cap = int(test.get("cap", 1 << 16))
        stdout, trunc = _read_capped(paths["out"], cap)
        stderr, _ = _read_capped(paths["err"], 1 << 16)
        value = None
        if job["kind"] == "call" and status == "ok":
            raw, _ = _read_capped(paths["val"], cap)
            try:
                value = json.loads(raw)
            except ValueError:
                status, stderr = "error", stderr + "\n(the return value could not be read back)"
        for p in paths.values():
            try:
                os.unlink(p)
            except OSError:
                pass
        out.write(json.dumps({"i": i, "status": status, "stdout": stdout, "stdout_truncated": trunc,
                              "stderr": stderr[-4000:], "value": value, "wall_s": round(wall, 4)}) + "\n")
        out.flush()
    if zygote is not None:
        zygote.close()


main()
