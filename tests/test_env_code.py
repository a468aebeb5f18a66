"""The ``code`` env: bundled tasks solved by their oracle and failed by their wrong solution (every task), the
multi-turn feedback loop, rewards, loaders (LiveCodeBench JSONL, HumanEval) and gymnasium's checker."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from gymnasium.utils.env_checker import check_env

import agentrl
from agentrl import sandbox
from envs.code import CodeEnv, extract_code
from envs.code.build_bundled import hidden_inputs
from envs.code.execution import TestCase, run_tests, stdout_matches, values_match
from envs.code.problems import problems
from envs.code.tasks import (TaskFormatError, bundled_tasks, decode_private_tests, encode_private_tests,
                             humaneval_tasks, humaneval_tests, load_lcb_jsonl)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox is Linux-only")


def _episode(env: CodeEnv, task_id: str, code):
    env.reset(options={"task_id": task_id})
    return env.step(code() if callable(code) else code)


def test_bundled_set_size_splits_and_tests():
    tasks = bundled_tasks()
    assert len(tasks) >= 60
    env = CodeEnv(max_turns=1)
    train, test = set(env.task_ids("train")), set(env.task_ids("test"))
    assert train and test and not train & test and train | test == {t.id for t in tasks}
    kinds = {t.kind for t in tasks}
    assert kinds == {"stdin", "call"}
    for t in tasks:
        assert t.public and len(t.hidden) >= 4 and t.reference and t.wrong, t.id
        assert t.kind != "call" or t.func_name


def test_bundled_file_is_in_sync_with_problem_sources():
    by_id = {t.id: t for t in bundled_tasks()}
    for p in problems():
        t = by_id[p.id]
        assert t.reference == p.ref and t.wrong == p.wrong and t.prompt == p.statement
        assert [c.input for c in t.hidden] == hidden_inputs(p)
        assert [(c.input, c.output) for c in t.public] == list(p.public)


def _solve_all(code_of):
    """Run one single-attempt episode per bundled task (in parallel up to the sandbox limit)."""
    tasks = bundled_tasks()

    def one(t):
        env = CodeEnv(max_turns=1)
        _, reward, terminated, truncated, info = _episode(env, t.id, lambda: code_of(env, t))
        return t.id, reward, info

    with ThreadPoolExecutor(sandbox.max_concurrency()) as pool:
        return list(pool.map(one, tasks))


def test_oracle_solves_every_bundled_task():
    def oracle(env, t):
        return env.oracle_action()
    results = _solve_all(oracle)
    failed = [(tid, info.get("statuses")) for tid, r, info in results if not (r == 1.0 and info["success"])]
    assert failed == []


def test_wrong_solution_fails_every_bundled_task():
    results = _solve_all(lambda env, t: f"```python\n{t.wrong}\n```")
    passed = [tid for tid, r, info in results if info["success"] or r >= 1.0]
    assert passed == []
    # partial credit is the share of hidden tests passed
    for tid, r, info in results:
        assert r == pytest.approx(info["hidden_passed"] / info["hidden_total"])


def test_multi_turn_feedback_then_success():
    env = CodeEnv(max_turns=3)
    obs, info = env.reset(options={"task_id": "sum-of-pair"})
    assert "Example 1" in obs and "3 4" in obs and info["kind"] == "stdin"
    obs, r, term, trunc, info = env.step("```python\na, b = map(int, input().split())\nprint(a - b)\n```")
    assert (r, term, trunc) == (0.0, False, False)
    assert "wrong answer" in obs and "Expected:\n7" in obs and "Got:\n-1" in obs and "2 attempt(s) left" in obs
    assert info["public_passed"] == 0 and info["valid_action"]
    obs, r, term, trunc, info = env.step("x = (\n")
    assert "does not compile" in obs and "SyntaxError" in obs and not term
    obs, r, term, trunc, info = env.step(env.oracle_action())
    assert r == 1.0 and term and info["success"] and info["end_reason"] == "terminated"


def test_last_attempt_rewards_share_of_hidden_tests_or_nothing():
    wrong = next(t for t in bundled_tasks() if t.id == "max-of-list").wrong  # fails only on all-negative lists
    for aon in (False, True):
        env = CodeEnv(max_turns=2, all_or_nothing=aon)
        env.reset(options={"task_id": "max-of-list"})
        _, r1, *_ = env.step(wrong)
        obs, r2, term, trunc, info = env.step(wrong)
        assert r1 == 0.0 and trunc and not term and not info["success"] and "No attempts left" in obs
        share = info["hidden_passed"] / info["hidden_total"]
        assert 0 < share < 1
        assert r2 == (0.0 if aon else pytest.approx(share))


def test_runtime_error_timeout_and_invalid_action_feedback():
    env = CodeEnv(max_turns=4, timeout_s=0.5)
    env.reset(options={"task_id": "count-vowels"})
    obs, *_ = env.step("s = input()\nprint(undefined_name)")
    assert "runtime error" in obs and "NameError" in obs and "main.py" not in obs
    obs, *_ = env.step("while True: pass")
    assert "time limit exceeded" in obs
    obs, r, term, trunc, info = env.step("   ")
    assert info["valid_action"] is False and "no code" in obs and r == 0.0


def test_function_tasks_accept_class_solution_and_plain_function():
    env = CodeEnv(max_turns=1)
    _, r, *_ = _episode(env, "call-class-solution",
                        "from collections import Counter\nclass Solution:\n    def majority(self, nums):\n"
                        "        return Counter(nums).most_common(1)[0][0]\n")
    assert r == 1.0
    _, r, *_ = _episode(env, "call-class-solution",
                        "from collections import Counter\ndef majority(nums):\n    return Counter(nums).most_common(1)[0][0]\n")
    assert r == 1.0


def test_solution_cannot_forge_harness_results():
    forge = ("import os, json\n"
             "for target in (f'/proc/{os.getppid()}/fd/1', '/proc/1/fd/1'):\n"
             "    try:\n        f = open(target, 'w')\n    except OSError:\n        continue\n"
             "    for i in range(20):\n        f.write(json.dumps({'i': i, 'status': 'ok', 'stdout': '7', 'value': None}) + '\\n')\n"
             "    f.flush()\n")
    env = CodeEnv(max_turns=1)
    _, r, *_ = _episode(env, "sum-of-pair", forge)
    assert r == 0.0


def test_extract_code_variants():
    assert extract_code("print(1)") == "print(1)"
    assert extract_code("text\n```python\na=1\n```\nmore\n```py\nb=2\n```") == "b=2"
    assert extract_code("```\nx=1\n```") == "x=1"
    assert extract_code("```text\nnot code\n```\n```python\ny=2\n```\n```bash\nls\n```") == "y=2"
    assert extract_code("Here:\n```python\nz=3\n") == "z=3"


def test_output_comparison():
    assert stdout_matches("1 2\n3\n\n", "1 2\n3")
    assert stdout_matches("0.3333333\n", "0.33333333")
    assert not stdout_matches("1 2\n", "1 3\n")
    assert not stdout_matches("333333833333499999999999999\n", "333333833333500000000000000\n")
    assert not stdout_matches("1\n2\n", "1\n")
    assert values_match([1, 2.0000000001], [1, 2]) and not values_match([1, 2], [2, 1])
    assert not values_match(1, True) and values_match({"a": [1]}, {"a": [1]})


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="unknown code task set 'nope'"):
        CodeEnv(tasks="nope")
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        CodeEnv().task_ids("dev")
    with pytest.raises(ValueError, match="unknown task_id"):
        CodeEnv().reset(options={"task_id": "missing"})
    with pytest.raises(ValueError, match="task kind"):
        run_tests("pass", [TestCase("")], kind="shell")  # type: ignore[arg-type]


def _lcb_rows():
    functional = [{"input": "[1, 2, 3]\n2", "output": "[3, 4, 5]", "testtype": "functional"}]
    return [
        {"question_id": "lcb-add", "question_title": "Add k", "question_content": "Add k to each element.",
         "platform": "leetcode", "difficulty": "easy", "starter_code": "class Solution:\n    def addK(self, xs, k):\n",
         "public_test_cases": json.dumps(functional),
         "private_test_cases": encode_private_tests(functional + [
             {"input": "[]\n5", "output": "[]", "testtype": "functional"},
             {"input": "[-1]\n1", "output": "[0]", "testtype": "functional"}]),
         "metadata": json.dumps({"func_name": "addK"})},
        {"question_id": "lcb-echo", "question_title": "Double", "question_content": "Print 2n.",
         "public_test_cases": [{"input": "2\n", "output": "4\n", "testtype": "stdin"}],
         "private_test_cases": json.dumps([{"input": "5\n", "output": "10\n", "testtype": "stdin"},
                                           {"input": "-3\n", "output": "-6\n", "testtype": "stdin"}]),
         "metadata": "{}", "split": "train"},
    ]


def test_livecodebench_jsonl_loader_and_episode(tmp_path):
    path = tmp_path / "lcb.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in _lcb_rows()) + "\n")
    tasks = {t.id: t for t in load_lcb_jsonl(path)}
    add = tasks["lcb-add"]
    assert add.kind == "call" and add.func_name == "addK" and len(add.hidden) == 3 and add.split == "test"
    assert tasks["lcb-echo"].kind == "stdin" and tasks["lcb-echo"].split == "train"
    env = agentrl.make("code", tasks=str(path), max_turns=2)
    obs, _ = env.reset(options={"task_id": "lcb-add"})
    assert "addK" in obs and "class Solution" in obs
    _, r, *_ = env.step("class Solution:\n    def addK(self, xs, k):\n        return [x + k for x in xs]\n")
    assert r == 1.0
    env.reset(options={"task_id": "lcb-echo"})
    obs, r, term, _, info = env.step("print(2 * abs(int(input())))")
    assert r == 0.0 and not term and info["hidden_passed"] == 1  # fails only the negative case


def test_livecodebench_loader_errors_name_file_and_field(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question_content": "x"}) + "\n")
    with pytest.raises(TaskFormatError, match=r"bad\.jsonl:1: missing field 'public_test_cases'"):
        load_lcb_jsonl(bad)
    bad.write_text(json.dumps({"question_content": "x", "public_test_cases": "[]",
                               "private_test_cases": "!!not base64!!"}) + "\n")
    with pytest.raises(TaskFormatError, match="private_test_cases could not be decoded"):
        load_lcb_jsonl(bad)
    bad.write_text(json.dumps({"question_content": "x", "public_test_cases": [
        {"input": "1", "output": "1", "testtype": "functional"}]}) + "\n")
    with pytest.raises(TaskFormatError, match="func_name"):
        load_lcb_jsonl(bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_lcb_jsonl(tmp_path / "missing.jsonl")
    assert decode_private_tests(encode_private_tests([{"input": "a", "output": "b"}])) == [{"input": "a", "output": "b"}]


class _Payload:
    """Unpickling this runs code (what a crafted LiveCodeBench file could do to the standard unpickler)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def _crafted_row(payload) -> dict:
    import base64
    import pickle
    import zlib

    blob = base64.b64encode(zlib.compress(pickle.dumps(payload))).decode()
    return {"question_content": "x", "public_test_cases": [{"input": "1", "output": "1", "testtype": "stdin"}],
            "private_test_cases": blob}


def test_private_tests_are_never_unpickled_into_code(tmp_path):
    marker = tmp_path / "pwned"
    crafted = tmp_path / "crafted.jsonl"
    crafted.write_text(json.dumps(_crafted_row(_Payload(marker))) + "\n")
    with pytest.raises(TaskFormatError, match=r"crafted\.jsonl:1: private_test_cases could not be decoded "
                                              r"\(global builtins\.exec is not allowed"):
        load_lcb_jsonl(crafted)
    assert not marker.exists(), "loading a task file ran code from it"
    with pytest.raises(ValueError, match="not allowed"):
        CodeEnv(tasks=str(crafted))
    assert not marker.exists()
    # plain data in every pickle protocol still loads (LiveCodeBench's own files)
    import pickle

    from envs.code.tasks import plain_pickle_loads

    data = json.dumps([{"input": "a", "output": "b", "testtype": "stdin"}])
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        for value in (data, data.encode(), {"k": [1, 2.5, (3, None)], "s": {1, 2}, "b": True}):
            assert plain_pickle_loads(pickle.dumps(value, protocol=proto)) == value
    ok = tmp_path / "ok.jsonl"
    ok.write_text(json.dumps(_crafted_row(data)) + "\n")
    assert [c.output for c in load_lcb_jsonl(ok)[0].hidden] == ["b"]


def test_humaneval_task_set_oracle_and_wrong():
    tasks = humaneval_tasks()
    assert len(tasks) == 164 and all(t.kind == "script" and t.hidden for t in tasks)
    env = agentrl.make("code", tasks="humaneval", max_turns=1)
    assert len(env.task_ids("test")) == 164
    sample = [tasks[i].id for i in range(0, 164, 20)] + ["HumanEval/32"]

    def one(tid):
        e = CodeEnv(tasks="humaneval", max_turns=1)
        e.reset(options={"task_id": tid})
        ok = e.step(e.oracle_action())
        e.reset(options={"task_id": tid})
        entry = e.task.func_name
        bad = e.step(f"def {entry}(*args, **kwargs):\n    return None\n")
        return tid, ok[1], bad[1]

    with ThreadPoolExecutor(sandbox.max_concurrency()) as pool:
        for tid, good, bad in pool.map(one, sample):
            assert good == 1.0, tid
            assert bad < 1.0, tid


def test_humaneval_check_is_split_per_assert():
    src = "METADATA = {}\n\ndef check(candidate):\n    import math\n    assert candidate(1) == 2\n" \
          "    for x in range(3):\n        assert candidate(x) == x + 1\n"
    tests = humaneval_tests(src, "inc")
    assert len(tests) == 2
    assert all("import math" in t.input and "__agentrl_check(inc)" in t.input for t in tests)
    outs = run_tests("def inc(x):\n    return x + 1 if x else 0\n", tests, kind="script", func_name="inc")
    assert [o.passed for o in outs] == [True, False]


def test_registered_and_gymnasium_checker():
    assert "code" in agentrl.list_envs()
    env = agentrl.make("code", max_turns=2)
    assert type(env).default_policy == "code"
    check_env(env)


# ---------------------------------------------------------------------------------------------- reward hacking
_PROBE = r'''
import base64, json, os, pickle, sys, zlib
inp = sys.stdin.read().strip()
def dec(v):
    if not isinstance(v, str):
        return v or []
    try:
        return json.loads(v)
    except ValueError:
        raw = pickle.loads(zlib.decompress(base64.b64decode(v)))
        return json.loads(raw) if isinstance(raw, (str, bytes)) else raw
cands = [KNOWN]
for top in ('/work', '/root', '/home', '/tmp', '/var/tmp', '/opt', '/srv', '/mnt', '/data', '/var', os.getcwd()):
    seen = 0
    for d, dirs, fs in os.walk(top):
        seen += len(fs)
        cands += [os.path.join(d, f) for f in fs if f.endswith('.jsonl')]
        if seen > 50000:
            break
for path in cands:
    try:
        lines = open(path, encoding='utf-8').read().splitlines()
    except (OSError, UnicodeDecodeError):
        continue
    for line in lines:
        try:
            row = json.loads(line)
            tests = []
            for k in ('public_test_cases', 'private_test_cases'):
                tests += dec(row.get(k))
        except Exception:
            continue
        for t in tests:
            if isinstance(t, dict) and str(t.get('input', '')).strip() == inp:
                print(t['output'])
                sys.exit(0)
print('no answer found')
'''


def _probe_task():
    return next(t for t in bundled_tasks() if t.kind == "stdin" and t.split == "test")


def test_reward_hacking_probe_works_when_not_contained():
    """The probe is a real attack: run bare on the host it finds the task file and prints the expected output."""
    import subprocess
    from envs.code.tasks import BUNDLED_PATH

    t = _probe_task()
    code = _PROBE.replace("KNOWN", repr(str(BUNDLED_PATH.resolve())))
    case = t.hidden[0]
    r = subprocess.run([sys.executable, "-c", code], input=case.input, capture_output=True, text=True, timeout=120)
    assert stdout_matches(r.stdout, case.output), r.stdout[:200]


@pytest.mark.parametrize("mode", ["bwrap", "unshare"])
def test_reward_hacking_probe_scores_zero_in_every_mode(mode):
    """A solution that looks for the task's files (where the project keeps them, and anywhere it can walk) finds
    nothing inside the sandbox: it passes no hidden test."""
    from sandbox_modes import forced
    from envs.code.tasks import BUNDLED_PATH

    t = _probe_task()
    code = _PROBE.replace("KNOWN", repr(str(BUNDLED_PATH.resolve())))
    with forced(mode):
        env = CodeEnv(max_turns=1)
        _, reward, terminated, truncated, info = _episode(env, t.id, f"```python\n{code}\n```")
    assert info["hidden_passed"] == 0 and reward == 0.0, info
    assert all(o.got.strip() in ("no answer found", "") for o in env.last_outcomes), \
        [o.got[:80] for o in env.last_outcomes]
