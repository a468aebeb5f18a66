"""The sandbox API: one-shot runs, files, verdicts, long-lived processes over pipes, concurrency limit."""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time

import pytest

from agentrl import sandbox as sb
from agentrl.sandbox import Limits, SandboxError, run_python, spawn_python
from sandbox_modes import MODES, forced

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox is Linux-only")
FAST = Limits(cpu_s=2, wall_s=5, output_bytes=1 << 16)


def test_isolation_is_probed_and_bwrap_used_when_present():
    iso = sb.isolation()
    assert iso in ("bwrap", "unshare")
    if __import__("shutil").which("bwrap") and os.environ.get("AGENTRL_SANDBOX_ISOLATION") is None:
        assert sb.why_not("bwrap") is None  # make setup installs bubblewrap: it must contain code here
        assert iso == "bwrap"


def test_run_python_stdin_files_args_and_workdir():
    code = ("import sys, os\nprint(sys.stdin.read().upper())\nprint(open('data/in.txt').read())\n"
            "print(open('blob.bin', 'rb').read())\nprint(sys.argv[1:])\nopen('out.txt', 'w').write('x')\n"
            "print(sorted(os.listdir('.')))\n")
    r = run_python(code, stdin="hello", files={"data/in.txt": "TXT", "blob.bin": b"\x00\x01"}, args=["a", 2],
                   limits=FAST)
    assert r.verdict == "ok" and r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:4] == ["HELLO", "TXT", "b'\\x00\\x01'", "['a', '2']"]
    assert lines[4] == "['blob.bin', 'data', 'main.py', 'out.txt']"
    assert r.isolation == sb.isolation() and r.wall_s > 0


def test_each_run_gets_a_fresh_workdir():
    run_python("open('left.txt', 'w').write('x')", limits=FAST)
    r = run_python("import os\nprint(os.path.exists('left.txt'))", limits=FAST)
    assert r.stdout == "False\n"


def test_error_verdict_keeps_traceback_naming_the_program():
    r = run_python("x = 1\ny = x / 0\n", limits=FAST)
    assert r.verdict == "error" and r.returncode == 1
    assert 'main.py", line 2' in r.stderr and "ZeroDivisionError" in r.stderr_tail(1)
    assert "ZeroDivisionError" in r.reason
    r = run_python("import sys\nsys.exit(3)", limits=FAST)
    assert r.verdict == "error" and r.returncode == 3


def test_output_truncation_without_kill():
    lim = FAST.with_(output_bytes=100, kill_on_output_limit=False)
    r = run_python("print('a' * 1000)\nprint('done')", limits=lim)
    assert r.verdict == "ok" and r.stdout_truncated and len(r.stdout) == 100


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="cpu_s"):
        Limits(cpu_s=0)
    with pytest.raises(ValueError, match="wall_s"):
        Limits(wall_s=-1)
    with pytest.raises(ValueError, match=r"\.\."):
        run_python("pass", files={"../x": "y"})
    with pytest.raises(ValueError, match="reserved"):
        run_python("pass", files={"main.py": "y"})
    with pytest.raises(ValueError, match="wall-clock"):
        run_python("pass", limits=Limits(wall_s=None))
    with pytest.raises(TypeError):
        run_python(b"print(1)")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="1..32"):
        sb.set_max_concurrency(0)


def test_spawn_python_talks_over_pipes_and_leaves_nothing():
    server = ("import sys, json\nfor line in sys.stdin.buffer:\n"
              "    req = json.loads(line)\n    sys.stdout.write(json.dumps({'sum': sum(req)}) + '\\n')\n"
              "    sys.stdout.flush()\n")
    with spawn_python(server, limits=Limits(wall_s=None, cpu_s=30)) as p:
        assert p.isolation == sb.isolation()
        for k in range(3):
            p.send(f"[1, 2, {k}]\n".encode())
            assert p.read_line(timeout=10) == f'{{"sum": {3 + k}}}\n'.encode()
        with pytest.raises(TimeoutError):
            p.read_line(timeout=0.2)
        assert p.alive()
    assert not p.alive() and p.poll() is not None
    with pytest.raises(TypeError):
        p.send("text")  # type: ignore[arg-type]


def test_spawned_process_survives_the_thread_that_started_it():
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("p", spawn_python(
        "import sys\nfor l in sys.stdin.buffer: sys.stdout.buffer.write(l); sys.stdout.flush()",
        limits=Limits(wall_s=None, cpu_s=30))))
    t.start()
    t.join()
    p = box["p"]
    try:
        time.sleep(0.3)
        p.send(b"ping\n")
        assert p.read_line(timeout=10) == b"ping\n"
    finally:
        p.kill()
    assert not p.alive()


def test_spawn_wall_limit_watchdog_and_stderr_drain():
    # 4 MB of stderr would block a program whose stderr nobody reads; the drain thread keeps it moving
    src = "import sys, time\nsys.stderr.write('e' * (4 << 20)); sys.stderr.flush()\nprint('ready', flush=True)\n" \
          "time.sleep(60)\n"
    p = spawn_python(src, limits=Limits(wall_s=4, cpu_s=10, output_bytes=1000))
    try:
        assert p.read_line(timeout=10) == b"ready\n"
        assert p.read_line(timeout=10) == b""  # EOF: the watchdog killed it
        assert "wall-clock" in (p.killed_reason or "")
        assert len(p.stderr_text()) == 1000
    finally:
        p.close()


def test_spawn_read_exact_and_eof():
    with spawn_python("import sys\nsys.stdout.buffer.write(b'abcdef')", limits=FAST) as p:
        assert p.read_exact(4, timeout=10) == b"abcd"
        with pytest.raises(EOFError):
            p.read_exact(10, timeout=10)


def test_concurrency_limit_blocks_extra_runs_but_not_long_lived_processes(monkeypatch):
    old = sb.max_concurrency()
    sb.set_max_concurrency(1)
    try:
        first = threading.Thread(target=lambda: run_python("import time\ntime.sleep(3)", limits=FAST.with_(wall_s=10)))
        first.start()
        time.sleep(0.5)
        done = threading.Event()
        t = threading.Thread(target=lambda: (run_python("pass", limits=FAST), done.set()))
        t.start()
        assert not done.wait(0.8), "a second one-shot run started while the only run slot was taken"
        # a long-lived process draws from its own pool: it starts even though the run slot is busy
        with spawn_python("import sys\nprint('up', flush=True)\nsys.stdin.read()", slot_timeout=5) as p:
            assert p.read_line(timeout=20) == b"up\n"
        assert done.wait(30)
        first.join()
        t.join()
        # and that pool has its own bound, with a clear error
        monkeypatch.setattr(sb, "_interactive_free", [])
        with pytest.raises(SandboxError, match="no free slot for a long-lived sandbox"):
            spawn_python("pass", slot_timeout=0.1)
    finally:
        sb.set_max_concurrency(old)


def test_legitimate_programs_work_inside():
    # multiprocessing (needs /dev/shm), threads, temp files, /dev/null and the standard library
    code = ("import multiprocessing as mp, tempfile, threading, json, os\n"
            "def sq(x):\n    return x * x\n"
            "if __name__ == '__main__':\n"
            "    with mp.Pool(2) as p:\n        r = p.map(sq, range(5))\n"
            "    t = threading.Thread(target=print, args=('thread',)); t.start(); t.join()\n"
            "    with tempfile.NamedTemporaryFile('w') as f:\n        f.write('x')\n"
            "    open(os.devnull, 'w').write('gone')\n"
            "    print(json.dumps(r))\n")
    r = run_python(code, limits=Limits(cpu_s=5, wall_s=20))
    assert r.verdict == "ok", r.stderr
    assert r.stdout.splitlines() == ["thread", "[0, 1, 4, 9, 16]"]


@pytest.fixture(params=MODES)
def each_mode(request):
    with forced(request.param) as m:
        yield m


def test_legitimate_programs_and_pipes_in_each_mode(each_mode):
    code = ("import multiprocessing as mp, subprocess, sys, tempfile, threading\n"
            "def sq(x):\n    return x * x\n"
            "if __name__ == '__main__':\n"
            "    with mp.Pool(2) as p:\n        r = p.map(sq, range(5))\n"
            "    t = threading.Thread(target=print, args=('thread',)); t.start(); t.join()\n"
            "    with tempfile.NamedTemporaryFile('w') as f:\n        f.write('x')\n"
            "    print(subprocess.run([sys.executable, '-c', 'print(6*7)'], capture_output=True, text=True).stdout.strip())\n"
            "    print(open('data/in.txt').read(), r)\n")
    r = run_python(code, files={"data/in.txt": "TXT"}, limits=Limits(cpu_s=5, wall_s=20))
    assert r.verdict == "ok" and r.isolation == each_mode, r.stderr
    assert r.stdout.splitlines() == ["thread", "42", "TXT [0, 1, 4, 9, 16]"]
    with spawn_python("import sys\nfor l in sys.stdin.buffer:\n    sys.stdout.buffer.write(l.strip()[::-1] + "
                      "b'\\n'); sys.stdout.flush()", limits=Limits(wall_s=30)) as p:
        assert p.isolation == each_mode
        p.send(b"abc\n")
        assert p.read_line(timeout=10) == b"cba\n"
    assert not p.alive()


def test_spawned_process_memory_is_bounded_as_a_whole(each_mode):
    src = ("import os, sys, time\nfor _ in range(4):\n    if os.fork() == 0:\n        x = b'1' * (150 << 20)\n"
           "        time.sleep(60)\nprint('forked', flush=True)\ntime.sleep(60)\n")
    p = spawn_python(src, limits=Limits(wall_s=None, cpu_s=30, memory_mb=400))
    try:
        assert p.read_line(timeout=30) == b"forked\n"
        p.wait(timeout=60)
        assert "memory" in (p.killed_reason or "")
    finally:
        p.close()


def test_no_contained_mode_fails_closed(monkeypatch):
    """When no mode contains code (probe results injected), runs are refused unless the loud opt-in is set."""
    iso_mod = importlib.import_module("agentrl.sandbox.isolation")
    monkeypatch.setattr(iso_mod, "_why", {"bwrap": "bwrap missing (injected)", "unshare": "not root (injected)"})
    monkeypatch.delenv(sb.FORCE_ENV, raising=False)
    monkeypatch.delenv(sb.ALLOW_ENV, raising=False)
    sb._reset_isolation_cache()
    try:
        with pytest.raises(SandboxError, match=sb.ALLOW_ENV) as e:
            run_python("print('should not run')", limits=FAST)
        assert "bwrap missing (injected)" in str(e.value) and "not root (injected)" in str(e.value)
        monkeypatch.setenv(sb.FORCE_ENV, "unshare")
        sb._reset_isolation_cache()
        with pytest.raises(SandboxError, match="unshare does not contain code here: not root"):
            run_python("pass", limits=FAST)
        monkeypatch.setenv(sb.FORCE_ENV, "none")
        sb._reset_isolation_cache()
        with pytest.raises(SandboxError, match=sb.ALLOW_ENV):
            run_python("pass", limits=FAST)
        monkeypatch.setenv(sb.ALLOW_ENV, "1")
        sb._reset_isolation_cache()
        with pytest.warns(RuntimeWarning, match="WITHOUT ISOLATION"):
            r = run_python("print('ran')", limits=FAST)
        assert r.stdout == "ran\n" and r.isolation == "none"
    finally:
        sb._reset_isolation_cache()


def test_site_dirs_keep_path_lines_and_skip_pth_code(tmp_path, monkeypatch):
    """The sandbox's python runs no .pth code: only the site dirs and the plain path lines of .pth files that
    lie inside what the sandbox shows (and outside its masks) reach its sys.path."""
    from agentrl.sandbox import sitepath

    shown, hidden = tmp_path / "prefix", tmp_path / "elsewhere"
    sp = shown / "site-packages"
    for d in (sp, shown / "extra", shown / "masked", hidden):
        d.mkdir(parents=True)
    (sp / "a.pth").write_text(f"# comment\n../extra\nimport os; os.environ['PTH_RAN'] = '1'\n{hidden}\n")
    (sp / "b.pth").write_text(f"{shown / 'masked'}\n{shown / 'missing'}\n")
    monkeypatch.setattr(sitepath.site, "getsitepackages", lambda: [str(sp), str(shown / "nope")])
    dirs = sitepath.site_dirs.__wrapped__((str(shown),), (str(shown / "masked"),))
    assert dirs == (str(sp), str(shown / "extra"))


#: Paths every mode mounts privately: an interpreter or venv below them is hidden inside the sandbox.
PRIVATE = ("/tmp", "/var/tmp", "/dev/shm")


def _hidden_prefix() -> str | None:
    for pre in (sys.prefix, sys.base_prefix):
        real = os.path.realpath(pre)
        if any(real == p or real.startswith(p + "/") for p in PRIVATE):
            return real
    return None


def test_interpreter_basics_inside_in_each_mode(each_mode):
    """Started with -S, sandboxed code still imports site-packages and has exit/quit/help; no .pth code ran."""
    hidden = _hidden_prefix()
    if hidden:
        pytest.skip(f"the interpreter's environment {hidden} lies under {', '.join(PRIVATE)}, which every mode "
                    "mounts privately: its packages (numpy) are not visible inside the sandbox (README: put the "
                    "venv elsewhere)")
    code = ("import sys, numpy\nassert callable(quit) and callable(help) and 'site-packages' in numpy.__file__\n"
            "print(sorted(m for m in sys.modules if 'editable' in m or m == 'certifi'))\nexit(3)\n")
    r = run_python(code, limits=Limits(cpu_s=5, wall_s=20))
    assert r.returncode == 3 and r.isolation == each_mode, r.stderr
    assert r.stdout == "[]\n"
    # unbuffered, UTF-8 stdio as before -E: what a program printed before it hangs is still seen
    r = run_python("import sys, time\nprint(int(sys.stdout.write_through), sys.flags.utf8_mode, 'é')\ntime.sleep(60)\n",
                   limits=Limits(cpu_s=5, wall_s=3))
    assert r.stdout == "1 1 é\n", (r.stdout, r.stderr)


def test_hide_paths_keeps_task_data_out_of_view(each_mode, monkeypatch):
    """Task data that lies inside what the sandbox binds (a package's data in site-packages) is visible until
    hide_paths names it; then the dir is empty and the file empty, in each mode."""
    from agentrl.sandbox import launch

    base = os.path.realpath(os.path.join(os.path.dirname(__file__), ".."))
    if any(base == p or base.startswith(p + "/") for p in PRIVATE):
        pytest.skip(f"the checkout {base} lies under a path every mode mounts privately: a bind of it is hidden")
    pkg = os.path.join(base, f".hide-test-{os.getpid()}")
    os.makedirs(os.path.join(pkg, "data"), exist_ok=True)
    try:
        with open(os.path.join(pkg, "data", "ref.jsonl"), "w") as f:
            f.write("REFERENCE-SOLUTION\n")
        with open(os.path.join(pkg, "tests.json"), "w") as f:
            f.write("HIDDEN-TESTS\n")
        real = launch._minimal_root()
        bound = launch._Root(dirs=list(real.dirs) + [d for d in _ancestors(pkg) if d not in real.dirs],
                             ro=list(real.ro) + [pkg], symlinks=list(real.symlinks), masks=list(real.masks))
        monkeypatch.setattr(launch, "_minimal_root", lambda: bound)
        monkeypatch.setattr(launch, "_hidden", set())
        peek = (f"import os\nfor p in ({pkg + '/data/ref.jsonl'!r}, {pkg + '/tests.json'!r}):\n"
                "    try: print(repr(open(p).read()))\n    except OSError as e: print(type(e).__name__)\n"
                f"print(sorted(os.listdir({pkg!r})), os.listdir({pkg + '/data'!r}) if os.path.isdir({pkg + '/data'!r}) else '-')\n")
        before = run_python(peek, limits=FAST)
        assert before.verdict == "ok" and "REFERENCE-SOLUTION" in before.stdout, before.stderr_tail()
        sb.hide_paths(os.path.join(pkg, "data"), os.path.join(pkg, "tests.json"))
        after = run_python(peek, limits=FAST)
        assert after.verdict == "ok", after.stderr_tail()
        assert after.stdout.splitlines() == ["FileNotFoundError", "''", "['data', 'tests.json'] []"], after.stdout
    finally:
        import shutil
        shutil.rmtree(pkg, ignore_errors=True)


def _ancestors(path: str) -> list[str]:
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)]
