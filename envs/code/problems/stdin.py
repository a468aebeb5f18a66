"""Authored stdin problems (read stdin, print the answer)."""

from __future__ import annotations

import random

from envs.code.problems.base import Problem, counted, ints, line, word

P: list[Problem] = []

P.append(Problem(
    "sum-of-pair", "Sum of a pair",
    "Read two integers a and b (|a|, |b| <= 10^18) on one line and print a + b.",
    "a, b = map(int, input().split())\nprint(a + b)\n",
    "a, b = map(int, input().split())\nprint(abs(a) + abs(b))\n",
    [("3 4\n", "7\n"), ("10 -2\n", "8\n")],
    lambda r: f"{r.randint(-10**18, 10**18)} {r.randint(-10**18, 10**18)}\n", edge=["-5 -6\n"]))

P.append(Problem(
    "max-of-list", "Largest number",
    "The first line has n (1 <= n <= 1000), the second n integers. Print the largest.",
    "input()\nprint(max(map(int, input().split())))\n",
    "input()\nxs = list(map(int, input().split()))\nm = 0\nfor x in xs:\n    m = max(m, x)\nprint(m)\n",
    [("3\n1 5 2\n", "5\n"), ("1\n7\n", "7\n")],
    lambda r: counted(ints(r, r.randint(1, 30), -100, 100)),
    edge=["3\n-4 -2 -9\n"]))

P.append(Problem(
    "count-vowels", "Count vowels",
    "Read one line of lowercase letters and spaces. Print how many characters are vowels (a, e, i, o, u).",
    "print(sum(c in 'aeiou' for c in input()))\n",
    "print(sum(c in 'aeio' for c in input()))\n",
    [("hello world\n", "3\n"), ("xyz\n", "0\n")],
    lambda r: " ".join(word(r, 1, 7, "abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(1, 6))) + "\n",
    edge=["queue\n"]))

P.append(Problem(
    "reverse-words", "Reverse the words",
    "Read a line of words separated by single spaces and print the words in reverse order, separated by "
    "single spaces.",
    "print(' '.join(input().split()[::-1]))\n",
    "print(input()[::-1])\n",
    [("one two three\n", "three two one\n"), ("solo\n", "solo\n")],
    lambda r: " ".join(word(r, 2, 6) for _ in range(r.randint(2, 7))) + "\n"))

P.append(Problem(
    "fizzbuzz-n", "FizzBuzz up to n",
    "Read n (1 <= n <= 100). For i = 1..n print one line: FizzBuzz if i is divisible by 15, Fizz if by 3, "
    "Buzz if by 5, else i.",
    "n = int(input())\nfor i in range(1, n + 1):\n    print('FizzBuzz' if i % 15 == 0 else 'Fizz' if i % 3 == 0 "
    "else 'Buzz' if i % 5 == 0 else i)\n",
    "n = int(input())\nfor i in range(1, n + 1):\n    print('Fizz' if i % 3 == 0 else 'Buzz' if i % 5 == 0 "
    "else 'FizzBuzz' if i % 15 == 0 else i)\n",
    [("5\n", "1\n2\nFizz\n4\nBuzz\n")],
    lambda r: f"{r.randint(1, 100)}\n", edge=["15\n", "30\n"]))

P.append(Problem(
    "gcd-lcm", "GCD and LCM",
    "Read two positive integers a, b (<= 10^12). Print gcd(a, b) and lcm(a, b) separated by a space.",
    "import math\na, b = map(int, input().split())\ng = math.gcd(a, b)\nprint(g, a // g * b)\n",
    "import math\na, b = map(int, input().split())\ng = math.gcd(a, b)\nprint(g, a * b)\n",
    [("4 6\n", "2 12\n"), ("7 7\n", "7 7\n")],
    lambda r: f"{r.randint(1, 10**6)} {r.randint(1, 10**6)}\n"))

P.append(Problem(
    "is-prime", "Prime test",
    "Read T, then T lines each with an integer n (1 <= n <= 10^9). For each, print YES if n is prime else NO.",
    "import sys\ndef isp(n):\n    if n < 2: return False\n    i = 2\n    while i * i <= n:\n        if n % i == 0: "
    "return False\n        i += 1\n    return True\nd = sys.stdin.read().split()\nfor x in d[1:]:\n    "
    "print('YES' if isp(int(x)) else 'NO')\n",
    "import sys\ndef isp(n):\n    i = 2\n    while i * i <= n:\n        if n % i == 0: return False\n        "
    "i += 1\n    return True\nd = sys.stdin.read().split()\nfor x in d[1:]:\n    print('YES' if isp(int(x)) else 'NO')\n",
    [("3\n2\n9\n13\n", "YES\nNO\nYES\n")],
    lambda r: counted(ints(r, 5, 1, 10**6), per_line=True),
    edge=["2\n1\n4\n"]))

P.append(Problem(
    "digit-sum", "Digit sum",
    "Read a non-negative integer with up to 1000 digits and print the sum of its digits.",
    "print(sum(map(int, input().strip())))\n",
    "print(int(input()) % 9)\n",
    [("123\n", "6\n"), ("0\n", "0\n")],
    lambda r: str(r.randint(0, 10**r.randint(1, 60))) + "\n", edge=["99\n"]))

P.append(Problem(
    "second-largest", "Second largest distinct",
    "Read n and then n integers. Print the second largest DISTINCT value, or NONE if there is none.",
    "input()\nxs = sorted(set(map(int, input().split())))\nprint(xs[-2] if len(xs) > 1 else 'NONE')\n",
    "input()\nxs = sorted(map(int, input().split()))\nprint(xs[-2] if len(xs) > 1 else 'NONE')\n",
    [("4\n3 1 4 4\n", "3\n"), ("2\n5 5\n", "NONE\n")],
    lambda r: counted(ints(r, r.randint(1, 10), 1, 6))))

P.append(Problem(
    "running-sum", "Prefix sums",
    "Read n and n integers. Print the n prefix sums on one line, separated by spaces.",
    "from itertools import accumulate\ninput()\nprint(*accumulate(map(int, input().split())))\n",
    "input()\nxs = list(map(int, input().split()))\nprint(*[sum(xs[:i]) for i in range(len(xs))])\n",
    [("3\n1 2 3\n", "1 3 6\n")],
    lambda r: counted(ints(r, r.randint(1, 12), -50, 50))))

P.append(Problem(
    "palindrome-check", "Palindrome after cleaning",
    "Read one line. Keep only letters and digits, lowercase them, and print YES if the result reads the same "
    "backwards, else NO.",
    "s = [c.lower() for c in input() if c.isalnum()]\nprint('YES' if s == s[::-1] else 'NO')\n",
    "s = input().lower()\nprint('YES' if s == s[::-1] else 'NO')\n",
    [("A man, a plan, a canal: Panama\n", "YES\n"), ("abc\n", "NO\n")],
    lambda r: (lambda w: (w + ", " + w[::-1].upper()) if r.random() < 0.6 else w + "x, y")(word(r, 2, 6)) + "\n"))

P.append(Problem(
    "count-distinct", "Distinct values",
    "Read n and n integers; print how many distinct values there are.",
    "input()\nprint(len(set(input().split())))\n",
    "input()\nxs = input().split()\nprint(sum(1 for i in range(1, len(xs)) if xs[i] != xs[i-1]) + 1)\n",
    [("5\n1 2 2 3 1\n", "3\n")],
    lambda r: counted(ints(r, r.randint(2, 15), 1, 5))))

P.append(Problem(
    "binary-repr", "To binary",
    "Read T and then T non-negative integers (< 2^60), one per line. Print each in binary without leading zeros.",
    "import sys\nfor x in sys.stdin.read().split()[1:]:\n    print(bin(int(x))[2:])\n",
    "import sys\nfor x in sys.stdin.read().split()[1:]:\n    print(bin(int(x))[3:] or '0')\n",
    [("2\n5\n0\n", "101\n0\n")],
    lambda r: counted(ints(r, 4, 0, 2**40), per_line=True)))

P.append(Problem(
    "matrix-transpose", "Transpose",
    "Read r and c, then r lines of c integers. Print the transposed matrix (c lines of r integers).",
    "r, c = map(int, input().split())\nm = [input().split() for _ in range(r)]\nfor row in zip(*m):\n    print(*row)\n",
    "r, c = map(int, input().split())\nm = [input().split() for _ in range(r)]\nfor row in m:\n    print(*row)\n",
    [("2 3\n1 2 3\n4 5 6\n", "1 4\n2 5\n3 6\n")],
    lambda r: (lambda a, b: f"{a} {b}\n" + "".join(line(ints(r, b, 0, 9)) + "\n" for _ in range(a)))(
        r.randint(1, 4), r.randint(2, 4))))

P.append(Problem(
    "word-frequency", "Most frequent word",
    "Read a line of lowercase words. Print the most frequent word; on ties, the alphabetically smallest.",
    "from collections import Counter\nc = Counter(input().split())\nbest = max(c.values())\n"
    "print(min(w for w in c if c[w] == best))\n",
    "from collections import Counter\nprint(Counter(input().split()).most_common(1)[0][0])\n",
    [("b a b a c\n", "a\n"), ("x\n", "x\n")],
    lambda r: " ".join(r.choice(["ox", "ant", "bee", "cat", "dog"]) for _ in range(r.randint(3, 9))) + "\n"))

P.append(Problem(
    "balanced-brackets", "Balanced brackets",
    "Read a string of the characters ()[]{}. Print YES if the brackets are balanced, else NO.",
    "s = input().strip()\nst = []\npairs = {')': '(', ']': '[', '}': '{'}\nok = True\nfor ch in s:\n"
    "    if ch in '([{': st.append(ch)\n    elif not st or st.pop() != pairs[ch]:\n        ok = False\n"
    "        break\nprint('YES' if ok and not st else 'NO')\n",
    "s = input().strip()\nprint('YES' if all(s.count(a) == s.count(b) for a, b in ['()', '[]', '{}']) else 'NO')\n",
    [("([]{})\n", "YES\n"), ("(]\n", "NO\n")],
    lambda r: "".join(r.choice("()[]{}") for _ in range(r.randint(2, 10))) + "\n",
    edge=["([)]\n", ")(\n", "{[()()]}\n"]))

P.append(Problem(
    "caesar-shift", "Caesar cipher",
    "The first line has k (0 <= k <= 1000), the second a line of text. Shift each letter k places forward in the "
    "alphabet (wrapping around, keeping case); other characters stay. Print the result.",
    "k = int(input()) % 26\nout = []\nfor ch in input():\n    if ch.islower(): out.append(chr((ord(ch) - 97 + k) % 26 + 97))\n"
    "    elif ch.isupper(): out.append(chr((ord(ch) - 65 + k) % 26 + 65))\n    else: out.append(ch)\nprint(''.join(out))\n",
    "k = int(input())\nprint(''.join(chr(ord(c) + k) if c.isalpha() else c for c in input()))\n",
    [("1\nabc XYZ!\n", "bcd YZA!\n")],
    lambda r: f"{r.randint(0, 60)}\n" + " ".join(word(r, 1, 6, "abcxyzABCXYZ") for _ in range(3)) + "\n"))

P.append(Problem(
    "min-coins", "Fewest coins",
    "Coin values are given on the first line (distinct positive integers). The second line has an amount "
    "A (0 <= A <= 10^4). Print the fewest coins summing to A, or -1 if impossible.",
    "cs = list(map(int, input().split()))\na = int(input())\nINF = float('inf')\nd = [0] + [INF] * a\n"
    "for v in range(1, a + 1):\n    for c in cs:\n        if c <= v and d[v - c] + 1 < d[v]: d[v] = d[v - c] + 1\n"
    "print(d[a] if d[a] != INF else -1)\n",
    "cs = sorted(map(int, input().split()), reverse=True)\na = int(input())\nn = 0\nfor c in cs:\n    n += a // c\n"
    "    a %= c\nprint(n if a == 0 else -1)\n",
    [("1 2 5\n11\n", "3\n"), ("2\n3\n", "-1\n")],
    lambda r: f"{line(sorted(set(ints(r, 3, 2, 12))))}\n{r.randint(0, 60)}\n", edge=["1 3 4\n6\n"],
    difficulty="medium"))

P.append(Problem(
    "longest-increasing-run", "Longest increasing run",
    "Read n and n integers. Print the length of the longest contiguous strictly increasing run.",
    "input()\nxs = list(map(int, input().split()))\nbest = cur = 1\nfor i in range(1, len(xs)):\n"
    "    cur = cur + 1 if xs[i] > xs[i-1] else 1\n    best = max(best, cur)\nprint(best)\n",
    "input()\nxs = list(map(int, input().split()))\nbest = cur = 1\nfor i in range(1, len(xs)):\n"
    "    cur = cur + 1 if xs[i] >= xs[i-1] else 1\n    best = max(best, cur)\nprint(best)\n",
    [("6\n1 2 2 3 4 1\n", "3\n")],
    lambda r: counted(ints(r, r.randint(1, 15), 1, 6))))

P.append(Problem(
    "anagram-groups", "Anagram classes",
    "Read n and then n lowercase words (one per line). Print the number of groups of mutual anagrams.",
    "import sys\nws = sys.stdin.read().split()[1:]\nprint(len({''.join(sorted(w)) for w in ws}))\n",
    "import sys\nws = sys.stdin.read().split()[1:]\nprint(len({frozenset(w) for w in ws}))\n",
    [("4\nlisten\nsilent\nabc\ncab\n", "2\n")],
    lambda r: (lambda ws: f"{len(ws)}\n" + "\n".join(ws) + "\n")([word(r, 2, 4, "aab") for _ in range(6)])))

P.append(Problem(
    "grid-paths", "Lattice paths with walls",
    "Read r and c, then an r x c grid of '.' (free) and '#' (wall). Moving only right or down from the top-left "
    "to the bottom-right cell, print the number of paths modulo 1000000007 (0 if a corner is a wall).",
    "r, c = map(int, input().split())\ng = [input().strip() for _ in range(r)]\nM = 10**9 + 7\nd = [[0] * c for _ in range(r)]\n"
    "for i in range(r):\n    for j in range(c):\n        if g[i][j] == '#': continue\n        if i == 0 and j == 0: d[i][j] = 1; continue\n"
    "        d[i][j] = ((d[i-1][j] if i else 0) + (d[i][j-1] if j else 0)) % M\nprint(d[r-1][c-1])\n",
    "r, c = map(int, input().split())\ng = [input().strip() for _ in range(r)]\nd = [[1] * c for _ in range(r)]\n"
    "for i in range(1, r):\n    for j in range(1, c):\n        d[i][j] = 0 if g[i][j] == '#' else d[i-1][j] + d[i][j-1]\nprint(d[r-1][c-1])\n",
    [("2 2\n..\n..\n", "2\n"), ("3 3\n...\n.#.\n...\n", "2\n")],
    lambda r: (lambda a, b: f"{a} {b}\n" + "".join("".join('#' if r.random() < 0.2 else '.' for _ in range(b)) + "\n"
                                                  for _ in range(a)))(r.randint(1, 6), r.randint(1, 6)),
    difficulty="medium"))

P.append(Problem(
    "roman-to-int", "Roman numerals",
    "Read a Roman numeral (value 1..3999, standard subtractive notation) and print its value.",
    "v = {'I': 1, 'V': 5, 'X': 10, 'L': 50, 'C': 100, 'D': 500, 'M': 1000}\ns = input().strip()\nt = 0\n"
    "for i, ch in enumerate(s):\n    if i + 1 < len(s) and v[ch] < v[s[i+1]]: t -= v[ch]\n    else: t += v[ch]\nprint(t)\n",
    "v = {'I': 1, 'V': 5, 'X': 10, 'L': 50, 'C': 100, 'D': 500, 'M': 1000}\nprint(sum(v[c] for c in input().strip()))\n",
    [("XIV\n", "14\n"), ("MMXXIV\n", "2024\n")],
    lambda r: _to_roman(r.randint(1, 3999)) + "\n"))


def _to_roman(n: int) -> str:
    out = ""
    for v, s in [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"),
                 (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]:
        while n >= v:
            out, n = out + s, n - v
    return out


P.append(Problem(
    "int-to-roman", "Integer to Roman",
    "Read an integer n (1 <= n <= 3999) and print it as a Roman numeral (subtractive notation: IV, IX, XL, ...).",
    "n = int(input())\nout = ''\nfor v, s in [(1000,'M'),(900,'CM'),(500,'D'),(400,'CD'),(100,'C'),(90,'XC'),(50,'L'),"
    "(40,'XL'),(10,'X'),(9,'IX'),(5,'V'),(4,'IV'),(1,'I')]:\n    while n >= v:\n        out += s\n        n -= v\nprint(out)\n",
    "n = int(input())\nout = ''\nfor v, s in [(1000,'M'),(500,'D'),(100,'C'),(50,'L'),(10,'X'),(5,'V'),(1,'I')]:\n"
    "    while n >= v:\n        out += s\n        n -= v\nprint(out)\n",
    [("3\n", "III\n"), ("1994\n", "MCMXCIV\n")],
    lambda r: f"{r.randint(1, 3999)}\n"))

P.append(Problem(
    "two-sum-count", "Pairs with a given sum",
    "Read n and k, then n integers. Print the number of index pairs i < j with a_i + a_j = k.",
    "from collections import Counter\nn, k = map(int, input().split())\nseen = Counter()\nt = 0\n"
    "for x in map(int, input().split()):\n    t += seen[k - x]\n    seen[x] += 1\nprint(t)\n",
    "n, k = map(int, input().split())\nxs = set(map(int, input().split()))\nprint(sum(1 for x in xs if k - x in xs and x < k - x))\n",
    [("4 5\n1 4 2 3\n", "2\n"), ("3 4\n2 2 2\n", "3\n")],
    lambda r: counted(ints(r, r.randint(2, 12), 0, 6), r.randint(2, 10)),
    difficulty="medium"))

P.append(Problem(
    "staircase", "Climbing stairs",
    "Read n (0 <= n <= 90). You climb 1 or 2 steps at a time. Print the number of ways to climb n steps.",
    "n = int(input())\na, b = 1, 1\nfor _ in range(n):\n    a, b = b, a + b\nprint(a)\n",
    "n = int(input())\na, b = 0, 1\nfor _ in range(n):\n    a, b = b, a + b\nprint(max(a, 1))\n",
    [("3\n", "3\n"), ("4\n", "5\n")],
    lambda r: f"{r.randint(0, 90)}\n", edge=["0\n", "1\n"]))

P.append(Problem(
    "time-add", "Add minutes to a clock",
    "Read a time HH:MM (24-hour) and an integer m (0 <= m <= 10^6) on the next line. Print the time m minutes "
    "later as HH:MM.",
    "h, mm = map(int, input().split(':'))\nt = (h * 60 + mm + int(input())) % 1440\nprint(f'{t // 60:02d}:{t % 60:02d}')\n",
    "h, mm = map(int, input().split(':'))\nt = h * 60 + mm + int(input())\nprint(f'{t // 60 % 24}:{t % 60}')\n",
    [("23:30\n45\n", "00:15\n"), ("10:00\n0\n", "10:00\n")],
    lambda r: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}\n{r.randint(0, 5000)}\n"))

P.append(Problem(
    "run-length", "Run-length encoding",
    "Read a string of lowercase letters; print its run-length encoding: each maximal run as the letter followed "
    "by the run length (e.g. aaab -> a3b1).",
    "from itertools import groupby\nprint(''.join(f'{k}{len(list(g))}' for k, g in groupby(input().strip())))\n",
    "from collections import Counter\nprint(''.join(f'{k}{v}' for k, v in Counter(input().strip()).items()))\n",
    [("aaabcc\n", "a3b1c2\n"), ("z\n", "z1\n")],
    lambda r: word(r, 3, 12, "ab") + "\n"))

P.append(Problem(
    "median", "Median",
    "Read n and n integers. Print the median: the middle value for odd n, the mean of the two middle values for "
    "even n, with exactly one digit after the decimal point.",
    "n = int(input())\nxs = sorted(map(int, input().split()))\nm = xs[n//2] if n % 2 else (xs[n//2-1] + xs[n//2]) / 2\n"
    "print(f'{m:.1f}')\n",
    "n = int(input())\nxs = list(map(int, input().split()))\nprint(f'{xs[n//2]:.1f}')\n",
    [("3\n3 1 2\n", "2.0\n"), ("4\n1 2 3 4\n", "2.5\n")],
    lambda r: counted(ints(r, r.randint(1, 9), -20, 20))))

P.append(Problem(
    "bfs-grid", "Shortest path in a maze",
    "Read r and c, then an r x c grid with '.', '#', exactly one 'S' and one 'E'. Moving in 4 directions through "
    "non-wall cells, print the fewest moves from S to E, or -1.",
    "from collections import deque\nr, c = map(int, input().split())\ng = [input().strip() for _ in range(r)]\n"
    "s = next((i, j) for i in range(r) for j in range(c) if g[i][j] == 'S')\nd = {s: 0}\nq = deque([s])\nans = -1\n"
    "while q:\n    i, j = q.popleft()\n    if g[i][j] == 'E': ans = d[(i, j)]; break\n"
    "    for a, b in ((i+1, j), (i-1, j), (i, j+1), (i, j-1)):\n        if 0 <= a < r and 0 <= b < c and g[a][b] != '#' "
    "and (a, b) not in d:\n            d[(a, b)] = d[(i, j)] + 1\n            q.append((a, b))\nprint(ans)\n",
    "r, c = map(int, input().split())\ng = [input().strip() for _ in range(r)]\n"
    "s = next((i, j) for i in range(r) for j in range(c) if g[i][j] == 'S')\n"
    "e = next((i, j) for i in range(r) for j in range(c) if g[i][j] == 'E')\nprint(abs(s[0]-e[0]) + abs(s[1]-e[1]))\n",
    [("3 3\nS.#\n.#.\n..E\n", "4\n"), ("1 3\nS#E\n", "-1\n")],
    lambda r: _maze(r), difficulty="medium"))


def _maze(r: random.Random) -> str:
    a, b = r.randint(2, 6), r.randint(2, 6)
    g = [["#" if r.random() < 0.3 else "." for _ in range(b)] for _ in range(a)]
    cells = r.sample([(i, j) for i in range(a) for j in range(b)], 2)
    g[cells[0][0]][cells[0][1]], g[cells[1][0]][cells[1][1]] = "S", "E"
    return f"{a} {b}\n" + "".join("".join(row) + "\n" for row in g)


P.append(Problem(
    "sort-by-key", "Sort people",
    "Read n, then n lines 'name age'. Print the names sorted by age ascending, ties by name ascending, one per "
    "line.",
    "import sys\nrows = [l.split() for l in sys.stdin.read().splitlines()[1:] if l.strip()]\n"
    "for name, age in sorted(rows, key=lambda t: (int(t[1]), t[0])):\n    print(name)\n",
    "import sys\nrows = [l.split() for l in sys.stdin.read().splitlines()[1:] if l.strip()]\n"
    "for name, age in sorted(rows, key=lambda t: t[1]):\n    print(name)\n",
    [("3\nbob 30\nann 25\ncid 30\n", "ann\nbob\ncid\n")],
    lambda r: (lambda rows: f"{len(rows)}\n" + "".join(f"{n} {a}\n" for n, a in rows))(
        [(word(r, 3, 5, "abcdefg"), r.choice([5, 9, 10, 42, 100])) for _ in range(r.randint(2, 7))])))

P.append(Problem(
    "perfect-numbers", "Perfect numbers in a range",
    "Read a and b (1 <= a <= b <= 10^4). Print all perfect numbers in [a, b] on one line separated by spaces, or "
    "NONE.",
    "a, b = map(int, input().split())\nr = [n for n in range(max(a, 2), b + 1) if sum(d for d in range(1, n) if n % d == 0) == n]\n"
    "print(*r) if r else print('NONE')\n",
    "a, b = map(int, input().split())\nr = [n for n in range(a, b) if sum(d for d in range(1, n) if n % d == 0) == n]\n"
    "print(*r) if r else print('NONE')\n",
    [("1 30\n", "6 28\n"), ("7 20\n", "NONE\n")],
    lambda r: (lambda a: f"{a} {a + r.randint(0, 600)}\n")(r.randint(1, 500)), edge=["6 6\n", "28 28\n"]))

P.append(Problem(
    "kth-smallest", "k-th smallest",
    "Read n and k, then n integers. Print the k-th smallest value (1-based, counting duplicates).",
    "n, k = map(int, input().split())\nprint(sorted(map(int, input().split()))[k - 1])\n",
    "n, k = map(int, input().split())\nprint(sorted(set(map(int, input().split())))[k - 1])\n",
    [("5 2\n4 1 3 1 5\n", "1\n")],
    lambda r: counted(xs := ints(r, r.randint(3, 10), 1, 5), r.randint(1, len(xs)))))

P.append(Problem(
    "collatz-steps", "Collatz steps",
    "Read n (1 <= n <= 10^6). Print how many steps of n -> n/2 (even) or 3n+1 (odd) reach 1.",
    "n = int(input())\ns = 0\nwhile n != 1:\n    n = n // 2 if n % 2 == 0 else 3 * n + 1\n    s += 1\nprint(s)\n",
    "n = int(input())\ns = 1\nwhile n != 1:\n    n = n // 2 if n % 2 == 0 else 3 * n + 1\n    s += 1\nprint(s)\n",
    [("6\n", "8\n"), ("1\n", "0\n")],
    lambda r: f"{r.randint(1, 10**6)}\n"))

P.append(Problem(
    "interval-merge", "Merge intervals",
    "Read n, then n lines 'l r' (l <= r). Merge overlapping or touching intervals and print them sorted, one "
    "'l r' per line.",
    "import sys\nv = sorted(tuple(map(int, l.split())) for l in sys.stdin.read().splitlines()[1:] if l.strip())\nout = []\n"
    "for l, r in v:\n    if out and l <= out[-1][1]: out[-1][1] = max(out[-1][1], r)\n    else: out.append([l, r])\n"
    "for l, r in out: print(l, r)\n",
    "import sys\nv = sorted(tuple(map(int, l.split())) for l in sys.stdin.read().splitlines()[1:] if l.strip())\nout = []\n"
    "for l, r in v:\n    if out and l < out[-1][1]: out[-1][1] = r\n    else: out.append([l, r])\nfor l, r in out: print(l, r)\n",
    [("3\n1 3\n2 6\n8 9\n", "1 6\n8 9\n")],
    lambda r: (lambda n: f"{n}\n" + "".join((lambda l: f"{l} {l + r.randint(0, 5)}\n")(r.randint(0, 20))
                                            for _ in range(n)))(r.randint(1, 6)),
    edge=["2\n1 5\n2 3\n", "2\n1 2\n2 4\n"], difficulty="medium"))

P.append(Problem(
    "power-mod", "Modular power",
    "Read a, b, m (0 <= a, b <= 10^18, 1 <= m <= 10^9). Print a^b mod m.",
    "a, b, m = map(int, input().split())\nprint(pow(a, b, m))\n",
    "a, b, m = map(int, input().split())\nr = 1\nfor _ in range(min(b, 10**5)):\n    r = r * a % m\nprint(r)\n",
    [("2 10 1000\n", "24\n"), ("5 0 7\n", "1\n")],
    lambda r: f"{r.randint(0, 10**18)} {r.randint(10**6, 10**18)} {r.randint(2, 10**9)}\n", edge=["3 4 1\n"]))

P.append(Problem(
    "count-islands", "Count islands",
    "Read r and c, then an r x c grid of '1' (land) and '0' (water). Print the number of 4-connected islands.",
    "import sys\nsys.setrecursionlimit(10000)\nr, c = map(int, input().split())\ng = [list(input().strip()) for _ in range(r)]\n"
    "def fill(i, j):\n    st = [(i, j)]\n    g[i][j] = '0'\n    while st:\n        a, b = st.pop()\n"
    "        for x, y in ((a+1, b), (a-1, b), (a, b+1), (a, b-1)):\n            if 0 <= x < r and 0 <= y < c and g[x][y] == '1':\n"
    "                g[x][y] = '0'\n                st.append((x, y))\nn = 0\nfor i in range(r):\n    for j in range(c):\n"
    "        if g[i][j] == '1':\n            n += 1\n            fill(i, j)\nprint(n)\n",
    "r, c = map(int, input().split())\ng = [input().strip() for _ in range(r)]\n"
    "print(sum(1 for i in range(r) for j in range(c) if g[i][j] == '1' and (i == 0 or g[i-1][j] == '0') and (j == 0 or g[i][j-1] == '0')))\n",
    [("3 4\n1100\n0100\n0011\n", "2\n")],
    lambda r: (lambda a, b: f"{a} {b}\n" + "".join("".join(r.choice("01") for _ in range(b)) + "\n" for _ in range(a)))(
        r.randint(2, 6), r.randint(2, 6)), edge=["2 3\n011\n110\n"], difficulty="medium"))

P.append(Problem(
    "triangle-type", "Triangle type",
    "Read three positive integers. Print INVALID if they cannot form a triangle with positive area, else "
    "EQUILATERAL, ISOSCELES or SCALENE.",
    "a, b, c = sorted(map(int, input().split()))\nif a + b <= c: print('INVALID')\nelif a == c: print('EQUILATERAL')\n"
    "elif a == b or b == c: print('ISOSCELES')\nelse: print('SCALENE')\n",
    "a, b, c = sorted(map(int, input().split()))\nif a + b < c: print('INVALID')\nelif a == c: print('EQUILATERAL')\n"
    "elif a == b or b == c: print('ISOSCELES')\nelse: print('SCALENE')\n",
    [("3 4 5\n", "SCALENE\n"), ("1 1 3\n", "INVALID\n")],
    lambda r: line(ints(r, 3, 1, 6)) + "\n", edge=["1 2 3\n", "2 2 2\n"]))

P.append(Problem(
    "leap-years", "Leap years between",
    "Read two years a <= b (1 <= a, b <= 10^9). Print how many leap years (Gregorian rules) lie in [a, b].",
    "a, b = map(int, input().split())\nf = lambda y: y // 4 - y // 100 + y // 400\nprint(f(b) - f(a - 1))\n",
    "a, b = map(int, input().split())\nprint(b // 4 - (a - 1) // 4)\n",
    [("2000 2004\n", "2\n"), ("1900 1900\n", "0\n")],
    lambda r: (lambda a: f"{a} {a + r.randint(0, 1000)}\n")(r.randint(1, 3000)), edge=["1 400\n"]))

P.append(Problem(
    "char-histogram", "Letter histogram",
    "Read a line. For each lowercase letter that appears, in alphabetical order, print 'letter count'.",
    "from collections import Counter\nc = Counter(ch for ch in input() if 'a' <= ch <= 'z')\nfor k in sorted(c):\n    print(k, c[k])\n",
    "from collections import Counter\nc = Counter(input())\nfor k in sorted(c):\n    print(k, c[k])\n",
    [("banana\n", "a 3\nb 1\nn 2\n")],
    lambda r: " ".join(word(r, 1, 6, "abcdz") for _ in range(r.randint(1, 4))) + "\n"))

P.append(Problem(
    "knapsack-01", "0/1 knapsack",
    "Read n and W, then n lines 'weight value'. Print the largest total value with total weight <= W, each item "
    "used at most once.",
    "import sys\nd = sys.stdin.read().split()\nn, W = int(d[0]), int(d[1])\nbest = [0] * (W + 1)\nfor i in range(n):\n"
    "    w, v = int(d[2 + 2*i]), int(d[3 + 2*i])\n    for c in range(W, w - 1, -1):\n        best[c] = max(best[c], best[c - w] + v)\nprint(best[W])\n",
    "import sys\nd = sys.stdin.read().split()\nn, W = int(d[0]), int(d[1])\nbest = [0] * (W + 1)\nfor i in range(n):\n"
    "    w, v = int(d[2 + 2*i]), int(d[3 + 2*i])\n    for c in range(w, W + 1):\n        best[c] = max(best[c], best[c - w] + v)\nprint(best[W])\n",
    [("3 5\n2 3\n3 4\n4 5\n", "7\n")],
    lambda r: (lambda n: f"{n} {r.randint(1, 20)}\n" + "".join(f"{r.randint(1, 8)} {r.randint(1, 20)}\n" for _ in range(n)))(
        r.randint(1, 6)), edge=["1 10\n3 5\n"], difficulty="medium"))

P.append(Problem(
    "next-permutation", "Next permutation",
    "Read n and a permutation of 1..n. Print the next permutation in lexicographic order, or the first one "
    "(1 2 ... n) if it is the last.",
    "input()\na = list(map(int, input().split()))\ni = len(a) - 2\nwhile i >= 0 and a[i] >= a[i+1]: i -= 1\nif i >= 0:\n"
    "    j = len(a) - 1\n    while a[j] <= a[i]: j -= 1\n    a[i], a[j] = a[j], a[i]\na[i+1:] = reversed(a[i+1:])\nprint(*a)\n",
    "input()\na = list(map(int, input().split()))\ni = len(a) - 2\nwhile i >= 0 and a[i] >= a[i+1]: i -= 1\nif i >= 0:\n"
    "    a[i], a[i+1] = a[i+1], a[i]\nprint(*a)\n",
    [("3\n1 2 3\n", "1 3 2\n"), ("3\n3 2 1\n", "1 2 3\n")],
    lambda r: (lambda n: (lambda p: f"{n}\n{line(p)}\n")(r.sample(range(1, n + 1), n)))(r.randint(2, 7)),
    edge=["4\n1 3 4 2\n"], difficulty="medium"))

P.append(Problem(
    "unique-chars-window", "Longest substring without repeats",
    "Read a string; print the length of its longest substring with no repeated character.",
    "s = input().strip()\nlast = {}\nstart = best = 0\nfor i, ch in enumerate(s):\n    if last.get(ch, -1) >= start: start = last[ch] + 1\n"
    "    last[ch] = i\n    best = max(best, i - start + 1)\nprint(best)\n",
    "s = input().strip()\nprint(len(set(s)))\n",
    [("abcabcbb\n", "3\n"), ("bbbb\n", "1\n")],
    lambda r: word(r, 1, 14, "abcd") + "\n", edge=["abcbd\n", "pwwkew\n"], difficulty="medium"))

P.append(Problem(
    "change-base", "Base conversion",
    "Read a number written in base b1 (digits 0-9 then A-Z) and two bases b1, b2 (2..36) on one line: 'x b1 b2'. "
    "Print x in base b2 (uppercase digits).",
    "x, b1, b2 = input().split()\nn = int(x, int(b1))\nb2 = int(b2)\nD = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'\nout = ''\n"
    "while n:\n    out = D[n % b2] + out\n    n //= b2\nprint(out or '0')\n",
    "x, b1, b2 = input().split()\nn = int(x, int(b1))\nb2 = int(b2)\nD = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'\nout = ''\n"
    "while n:\n    out += D[n % b2]\n    n //= b2\nprint(out or '0')\n",
    [("FF 16 2\n", "11111111\n"), ("0 10 7\n", "0\n")],
    lambda r: (lambda n, b1: f"{_to_base(n, b1)} {b1} {r.randint(2, 36)}\n")(r.randint(0, 10**6), r.randint(2, 36))))


def _to_base(n: int, b: int) -> str:
    D = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    while n:
        out, n = D[n % b] + out, n // b
    return out or "0"


P.append(Problem(
    "stock-profit", "Best single trade",
    "Read n and n daily prices. Buy on one day and sell on a later day; print the largest profit (0 if none).",
    "input()\nbest, lo = 0, float('inf')\nfor p in map(int, input().split()):\n    lo = min(lo, p)\n    best = max(best, p - lo)\nprint(best)\n",
    "input()\nps = list(map(int, input().split()))\nprint(max(0, max(ps) - min(ps)))\n",
    [("6\n7 1 5 3 6 4\n", "5\n"), ("3\n5 4 3\n", "0\n")],
    lambda r: counted(ints(r, r.randint(2, 10), 1, 20))))

P.append(Problem(
    "triangle-numbers-sum", "Sum of squares",
    "Read n (1 <= n <= 10^9). Print 1^2 + 2^2 + ... + n^2.",
    "n = int(input())\nprint(n * (n + 1) * (2 * n + 1) // 6)\n",
    "n = int(input())\nprint(int(n * (n + 1) * (2 * n + 1) / 6))\n",
    [("3\n", "14\n")],
    lambda r: f"{r.randint(10**6, 10**9)}\n"))

P.append(Problem(
    "string-compress-decode", "Decode run-length",
    "Read a run-length encoding: letters each followed by a positive count (may have several digits), e.g. "
    "a12b3. Print the decoded string.",
    "import re\nprint(''.join(ch * int(n) for ch, n in re.findall(r'([a-z])(\\d+)', input())))\n",
    "s = input().strip()\nprint(''.join(s[i] * int(s[i+1]) for i in range(0, len(s), 2)))\n",
    [("a3b1\n", "aaab\n")],
    lambda r: "".join(f"{r.choice('xyz')}{r.randint(1, 14)}" for _ in range(r.randint(1, 4))) + "\n"))

P.append(Problem(
    "josephus", "Josephus circle",
    "n people stand in a circle numbered 1..n; every k-th person is removed, counting from person 1. Read n and k "
    "(1 <= n, k <= 1000) and print the number of the last one remaining.",
    "n, k = map(int, input().split())\nr = 0\nfor m in range(2, n + 1):\n    r = (r + k) % m\nprint(r + 1)\n",
    "n, k = map(int, input().split())\nprint((k * n) % n + 1)\n",
    [("7 3\n", "4\n"), ("1 5\n", "1\n")],
    lambda r: f"{r.randint(1, 60)} {r.randint(1, 10)}\n", difficulty="medium"))
