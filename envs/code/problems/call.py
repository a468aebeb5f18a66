"""Authored call problems (a function called with JSON arguments)."""

from __future__ import annotations

import random

from envs.code.problems.base import Problem, ints, args, word

P: list[Problem] = []

P.append(Problem(
    "call-reverse-list", "Reverse a list",
    "Write `reverse_list(xs)` returning a new list with the elements of `xs` in reverse order.",
    "def reverse_list(xs):\n    return xs[::-1]\n",
    "def reverse_list(xs):\n    return sorted(xs, reverse=True)\n",
    [(args([1, 2, 3]), "[3, 2, 1]"), (args([]), "[]")],
    lambda r: args(ints(r, r.randint(1, 8), -9, 9)), kind="call", func_name="reverse_list",
    starter="def reverse_list(xs):\n    ..."))

P.append(Problem(
    "call-is-anagram", "Anagrams",
    "Write `is_anagram(a, b)` returning True when string `b` is a rearrangement of string `a`.",
    "def is_anagram(a, b):\n    return sorted(a) == sorted(b)\n",
    "def is_anagram(a, b):\n    return set(a) == set(b)\n",
    [(args("listen", "silent"), "true"), (args("ab", "abc"), "false")],
    lambda r: (lambda w: args(w, "".join(r.sample(w, len(w))) if r.random() < 0.5 else w + w[0]))(word(r, 2, 6)),
    kind="call", func_name="is_anagram"))

P.append(Problem(
    "call-flatten", "Flatten nested lists",
    "Write `flatten(x)` that returns all integers of an arbitrarily nested list in left-to-right order.",
    "def flatten(x):\n    out = []\n    for e in x:\n        if isinstance(e, list): out.extend(flatten(e))\n        else: out.append(e)\n    return out\n",
    "def flatten(x):\n    out = []\n    for e in x:\n        if isinstance(e, list): out.extend(e)\n        else: out.append(e)\n    return out\n",
    [(args([1, [2, [3]], 4]), "[1, 2, 3, 4]")],
    lambda r: args(_nest(r, 3)), kind="call", func_name="flatten", edge=[args([[[[5]]], 6])]))


def _nest(r: random.Random, depth: int):
    return [(_nest(r, depth - 1) if depth and r.random() < 0.35 else r.randint(0, 9)) for _ in range(r.randint(1, 4))]


P.append(Problem(
    "call-two-sum-indices", "Two indices",
    "Write `two_sum(nums, target)` returning the pair [i, j] with i < j and nums[i] + nums[j] == target, choosing "
    "the smallest j and then the smallest i; return [] if no pair exists.",
    "def two_sum(nums, target):\n    seen = {}\n    for j, x in enumerate(nums):\n        if target - x in seen: return [seen[target - x], j]\n"
    "        seen.setdefault(x, j)\n    return []\n",
    "def two_sum(nums, target):\n    for i in range(len(nums)):\n        for j in range(i + 1, len(nums)):\n"
    "            if nums[i] + nums[j] == target: return [i, j]\n    return []\n",
    [(args([2, 7, 11, 15], 9), "[0, 1]"), (args([1, 2], 7), "[]")],
    lambda r: args(ints(r, r.randint(2, 8), 0, 9), r.randint(0, 15)), kind="call", func_name="two_sum",
    edge=[args([3, 1, 5, 3], 6)]))

P.append(Problem(
    "call-word-lengths", "Word lengths",
    "Write `word_lengths(s)` returning a dict mapping each distinct word of `s` (split on whitespace) to its "
    "length.",
    "def word_lengths(s):\n    return {w: len(w) for w in s.split()}\n",
    "def word_lengths(s):\n    return {w: len(w) for w in s.split(' ')}\n",
    [(args("hi there"), '{"hi": 2, "there": 5}')],
    lambda r: args(("  " if r.random() < 0.5 else "").join([" ".join(word(r, 1, 5) for _ in range(r.randint(1, 4)))] * 1)
                    + ("  " + word(r) if r.random() < 0.6 else "")),
    kind="call", func_name="word_lengths", edge=[args("a  bb")]))

P.append(Problem(
    "call-rotate-matrix", "Rotate a matrix",
    "Write `rotate(m)` returning the square matrix `m` (list of lists) rotated 90 degrees clockwise.",
    "def rotate(m):\n    return [list(r) for r in zip(*m[::-1])]\n",
    "def rotate(m):\n    return [list(r) for r in zip(*m)]\n",
    [(args([[1, 2], [3, 4]]), "[[3, 1], [4, 2]]")],
    lambda r: (lambda n: args([ints(r, n, 0, 9) for _ in range(n)]))(r.randint(2, 4)), kind="call", func_name="rotate"))

P.append(Problem(
    "call-mean-std", "Mean and deviation",
    "Write `mean_std(xs)` returning [mean, population standard deviation] of a non-empty list of numbers "
    "(floats; compared with tolerance 1e-6).",
    "import math\ndef mean_std(xs):\n    m = sum(xs) / len(xs)\n    return [m, math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))]\n",
    "import statistics\ndef mean_std(xs):\n    return [statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0]\n",
    [(args([1, 2, 3, 4]), "[2.5, 1.118033988749895]")],
    lambda r: args(ints(r, r.randint(2, 8), 0, 50)), kind="call", func_name="mean_std"))

P.append(Problem(
    "call-class-solution", "Majority element (class style)",
    "Implement `class Solution` with a method `majority(self, nums)` returning the element that appears more "
    "than len(nums) // 2 times (it always exists).",
    "class Solution:\n    def majority(self, nums):\n        c, n = None, 0\n        for x in nums:\n"
    "            if n == 0: c = x\n            n += 1 if x == c else -1\n        return c\n",
    "class Solution:\n    def majority(self, nums):\n        return nums[len(nums) // 2]\n",
    [(args([3, 2, 3]), "3")],
    lambda r: (lambda m, others: args(r.sample([m] * (len(others) + 1) + others, 2 * len(others) + 1)))(
        r.randint(0, 9), ints(r, r.randint(1, 5), 0, 9)),
    kind="call", func_name="majority", starter="class Solution:\n    def majority(self, nums):\n        ..."))

P.append(Problem(
    "call-merge-sorted", "Merge sorted lists",
    "Write `merge(a, b)` returning the sorted merge of two sorted lists (keep duplicates).",
    "import heapq\ndef merge(a, b):\n    return list(heapq.merge(a, b))\n",
    "def merge(a, b):\n    return sorted(set(a) | set(b))\n",
    [(args([1, 3], [2, 3]), "[1, 2, 3, 3]")],
    lambda r: args(sorted(ints(r, r.randint(0, 5), 0, 9)), sorted(ints(r, r.randint(1, 5), 0, 9))),
    kind="call", func_name="merge"))

P.append(Problem(
    "call-valid-ipv4", "Valid IPv4",
    "Write `valid_ipv4(s)` returning True if `s` is four decimal numbers 0..255 separated by dots, with no "
    "leading zeros (except the number 0 itself).",
    "def valid_ipv4(s):\n    ps = s.split('.')\n    return len(ps) == 4 and all(p.isdigit() and str(int(p)) == p and int(p) <= 255 for p in ps)\n",
    "def valid_ipv4(s):\n    ps = s.split('.')\n    return len(ps) == 4 and all(p.isdigit() and int(p) <= 255 for p in ps)\n",
    [(args("192.168.0.1"), "true"), (args("256.1.1.1"), "false")],
    lambda r: args(".".join(r.choice(["0", "1", "01", "255", "256", "10", "007", "99"]) for _ in range(r.choice([3, 4, 4, 4])))),
    kind="call", func_name="valid_ipv4", edge=[args("1.02.3.4")]))

P.append(Problem(
    "call-group-by-parity", "Odds then evens",
    "Write `by_parity(xs)` returning [odds, evens]: the odd and the even numbers of `xs`, each in original order.",
    "def by_parity(xs):\n    return [[x for x in xs if x % 2], [x for x in xs if x % 2 == 0]]\n",
    "def by_parity(xs):\n    return [sorted(x for x in xs if x % 2), sorted(x for x in xs if x % 2 == 0)]\n",
    [(args([1, 2, 3, 4]), "[[1, 3], [2, 4]]")],
    lambda r: args(ints(r, r.randint(2, 9), -9, 9)), kind="call", func_name="by_parity"))

P.append(Problem(
    "call-lcs-length", "Longest common subsequence",
    "Write `lcs(a, b)` returning the length of the longest common subsequence of strings a and b.",
    "def lcs(a, b):\n    prev = [0] * (len(b) + 1)\n    for x in a:\n        cur = [0]\n        for j, y in enumerate(b):\n"
    "            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))\n        prev = cur\n    return prev[-1]\n",
    "def lcs(a, b):\n    return len(set(a) & set(b))\n",
    [(args("abcde", "ace"), "3")],
    lambda r: args(word(r, 1, 9, "abc"), word(r, 1, 9, "abc")), kind="call", func_name="lcs", difficulty="medium"))

P.append(Problem(
    "call-count-bits", "Bit counts",
    "Write `count_bits(n)` returning the list [popcount(0), popcount(1), ..., popcount(n)].",
    "def count_bits(n):\n    return [bin(i).count('1') for i in range(n + 1)]\n",
    "def count_bits(n):\n    return [bin(i).count('1') for i in range(n)]\n",
    [(args(5), "[0, 1, 1, 2, 1, 2]")],
    lambda r: args(r.randint(0, 40)), kind="call", func_name="count_bits"))

P.append(Problem(
    "call-title-case", "Title case",
    "Write `title(s)` that capitalises the first letter of every word and lowercases the rest; words are "
    "separated by single spaces.",
    "def title(s):\n    return ' '.join(w[:1].upper() + w[1:].lower() for w in s.split(' '))\n",
    "def title(s):\n    return ' '.join(w[:1].upper() + w[1:] for w in s.split(' '))\n",
    [(args("hello wORLD"), '"Hello World"')],
    lambda r: args(" ".join(word(r, 1, 6, "abcXYZ") for _ in range(r.randint(1, 4)))), kind="call", func_name="title"))

P.append(Problem(
    "call-dedupe-keep-order", "Remove duplicates",
    "Write `dedupe(xs)` returning `xs` without repeated elements, keeping each element's first occurrence.",
    "def dedupe(xs):\n    return list(dict.fromkeys(xs))\n",
    "def dedupe(xs):\n    return sorted(set(xs))\n",
    [(args([3, 1, 3, 2, 1]), "[3, 1, 2]")],
    lambda r: args(ints(r, r.randint(2, 10), 0, 6)), kind="call", func_name="dedupe"))

P.append(Problem(
    "call-pascal-row", "Pascal's triangle row",
    "Write `pascal_row(n)` returning row n (0-based) of Pascal's triangle.",
    "def pascal_row(n):\n    row = [1]\n    for k in range(n):\n        row.append(row[-1] * (n - k) // (k + 1))\n    return row\n",
    "def pascal_row(n):\n    row = [1]\n    for k in range(n):\n        row.append(row[-1] * (n - k) / (k + 1))\n    return [int(x) for x in row]\n",
    [(args(4), "[1, 4, 6, 4, 1]")],
    lambda r: args(r.randint(50, 70)), kind="call", func_name="pascal_row"))

P.append(Problem(
    "call-spiral", "Spiral order",
    "Write `spiral(m)` returning the elements of the r x c matrix `m` in clockwise spiral order from the top-left.",
    "def spiral(m):\n    out = []\n    m = [row[:] for row in m]\n    while m:\n        out += m.pop(0)\n        m = [list(r) for r in zip(*m)][::-1]\n    return out\n",
    "def spiral(m):\n    return [x for row in m for x in row]\n",
    [(args([[1, 2, 3], [4, 5, 6], [7, 8, 9]]), "[1, 2, 3, 6, 9, 8, 7, 4, 5]")],
    lambda r: (lambda a, b: args([ints(r, b, 0, 9) for _ in range(a)]))(r.randint(2, 4), r.randint(2, 4)),
    kind="call", func_name="spiral", difficulty="medium"))

P.append(Problem(
    "call-edit-distance", "Edit distance",
    "Write `edit_distance(a, b)` returning the Levenshtein distance (insert, delete, substitute) between a and b.",
    "def edit_distance(a, b):\n    prev = list(range(len(b) + 1))\n    for i, x in enumerate(a, 1):\n        cur = [i]\n"
    "        for j, y in enumerate(b, 1):\n            cur.append(min(prev[j] + 1, cur[j-1] + 1, prev[j-1] + (x != y)))\n"
    "        prev = cur\n    return prev[-1]\n",
    "def edit_distance(a, b):\n    return sum(x != y for x, y in zip(a, b)) + abs(len(a) - len(b))\n",
    [(args("kitten", "sitting"), "3")],
    lambda r: args(word(r, 1, 7, "abc"), word(r, 1, 7, "abc")), kind="call", func_name="edit_distance",
    difficulty="medium"))

P.append(Problem(
    "call-topo-order", "Course order",
    "Write `course_order(n, prereqs)`: courses are 0..n-1, each prereq [a, b] means b must come before a. Return "
    "the lexicographically smallest valid order as a list, or [] if there is a cycle.",
    "import heapq\ndef course_order(n, prereqs):\n    indeg = [0] * n\n    g = [[] for _ in range(n)]\n    for a, b in prereqs:\n"
    "        g[b].append(a)\n        indeg[a] += 1\n    h = [i for i in range(n) if indeg[i] == 0]\n    heapq.heapify(h)\n    out = []\n"
    "    while h:\n        v = heapq.heappop(h)\n        out.append(v)\n        for w in g[v]:\n            indeg[w] -= 1\n"
    "            if indeg[w] == 0: heapq.heappush(h, w)\n    return out if len(out) == n else []\n",
    "from collections import deque\ndef course_order(n, prereqs):\n    indeg = [0] * n\n    g = [[] for _ in range(n)]\n"
    "    for a, b in prereqs:\n        g[b].append(a)\n        indeg[a] += 1\n    q = deque(i for i in range(n) if indeg[i] == 0)\n"
    "    out = []\n    while q:\n        v = q.popleft()\n        out.append(v)\n        for w in g[v]:\n            indeg[w] -= 1\n"
    "            if indeg[w] == 0: q.append(w)\n    return out if len(out) == n else []\n",
    [(args(2, [[1, 0]]), "[0, 1]"), (args(2, [[1, 0], [0, 1]]), "[]")],
    lambda r: (lambda n: args(n, [list(p) for p in {(r.randrange(n), r.randrange(n)) for _ in range(r.randint(0, n))}
                                   if p[0] > p[1] or r.random() < 0.1]))(r.randint(2, 7)),
    kind="call", func_name="course_order", edge=[args(4, [[3, 1], [2, 0]])], difficulty="medium"))

P.append(Problem(
    "call-sum-digits-until", "Digital root",
    "Write `digital_root(n)` that repeatedly sums the decimal digits of the non-negative integer n until one "
    "digit remains, and returns it.",
    "def digital_root(n):\n    while n >= 10:\n        n = sum(map(int, str(n)))\n    return n\n",
    "def digital_root(n):\n    return n % 9\n",
    [(args(38), "2"), (args(0), "0")],
    lambda r: args(r.randint(0, 10**9)), kind="call", func_name="digital_root", edge=[args(18)]))

P.append(Problem(
    "call-chunk", "Chunk a list",
    "Write `chunk(xs, k)` splitting `xs` into consecutive pieces of length k (the last may be shorter).",
    "def chunk(xs, k):\n    return [xs[i:i + k] for i in range(0, len(xs), k)]\n",
    "def chunk(xs, k):\n    return [xs[i:i + k] for i in range(0, len(xs) - k + 1, k)]\n",
    [(args([1, 2, 3, 4], 2), "[[1, 2], [3, 4]]")],
    lambda r: args(ints(r, r.randint(1, 10), 0, 9), r.randint(1, 4)), kind="call", func_name="chunk",
    edge=[args([1, 2, 3], 2)]))
