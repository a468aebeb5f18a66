"""Build ``data/bundled.jsonl`` from the authored problems (``envs/code/problems/``): ``python -m envs.code.build_bundled``.

For every problem: draw the hidden inputs (edge cases + a seeded generator), run the reference solution in the
sandbox to get the expected outputs, check the reference against the hand-written public examples, and check
that the deliberately wrong solution fails at least one hidden test. Any failure stops the build.
Every 5th problem goes to the ``test`` split, the others to ``train``.
"""

from __future__ import annotations

import json
import random
import sys
from concurrent.futures import ThreadPoolExecutor

from agentrl import sandbox
from envs.code.execution import TestCase, run_tests, stdout_matches, values_match
from envs.code.problems import Problem, problems
from envs.code.tasks import BUNDLED_PATH, encode_private_tests


def hidden_inputs(p: Problem) -> list[str]:
    rng = random.Random(f"agentrl-code-{p.id}")
    seen: list[str] = []
    for x in list(p.edge) + [p.gen(rng) for _ in range(p.n_hidden * 3)]:
        if x not in seen:
            seen.append(x)
        if len(seen) >= p.n_hidden + len(p.edge):
            break
    return seen


def build_row(p: Problem, index: int) -> dict:
    ins = hidden_inputs(p)
    pub_in = [i for i, _ in p.public]
    outs = run_tests(p.ref, [TestCase(x) for x in pub_in + ins], kind=p.kind, func_name=p.func_name)
    bad = [o for o in outs if o.status not in ("passed", "wrong_answer")]
    if bad:
        raise RuntimeError(f"{p.id}: the reference solution fails to run: {bad[0].status} {bad[0].stderr[-500:]}")
    for (inp, exp), o in zip(p.public, outs):
        same = (stdout_matches(o.got, exp) if p.kind == "stdin"
                else values_match(json.loads(o.got), json.loads(exp)))
        if not same:
            raise RuntimeError(f"{p.id}: reference gives {o.got!r} on public input {inp!r}, expected {exp!r}")
    hidden = [TestCase(x, o.got) for x, o in zip(ins, outs[len(pub_in):])]
    wrong = run_tests(p.wrong, hidden, kind=p.kind, func_name=p.func_name)
    if all(o.passed for o in wrong):
        raise RuntimeError(f"{p.id}: the wrong solution passes every hidden test; add a discriminating case")
    ttype = "functional" if p.kind == "call" else "stdin"
    public = [{"input": i, "output": o, "testtype": ttype} for i, o in p.public]
    private = [{"input": t.input, "output": t.output, "testtype": ttype} for t in hidden]
    return {
        "question_id": p.id, "question_title": p.title, "question_content": p.statement, "platform": "agentrl",
        "difficulty": p.difficulty, "starter_code": p.starter, "public_test_cases": json.dumps(public),
        "private_test_cases": encode_private_tests(private),
        "metadata": json.dumps({"func_name": p.func_name} if p.func_name else {}),
        "reference_solution": p.ref, "wrong_solution": p.wrong, "split": "test" if index % 5 == 4 else "train",
        "timeout_s": 4.0,
    }


def main() -> int:
    ps = problems()
    with ThreadPoolExecutor(sandbox.max_concurrency()) as pool:
        futs = [pool.submit(build_row, p, i) for i, p in enumerate(ps)]
    rows, errors = [], []
    for fut in futs:
        try:
            rows.append(fut.result())
        except RuntimeError as e:
            errors.append(str(e))
    if errors:
        print("build failed:\n  " + "\n  ".join(errors), file=sys.stderr)
        return 1
    BUNDLED_PATH.parent.mkdir(parents=True, exist_ok=True)
    with BUNDLED_PATH.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, sort_keys=True) + "\n")
    n_test = sum(r["split"] == "test" for r in rows)
    print(f"wrote {len(rows)} tasks ({len(rows) - n_test} train, {n_test} test) to {BUNDLED_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
