# workload.py — a deterministic python3 workload for real_python: dicts, lists, sets, big ints,
# strings, json, bytes, classes, generators, sorting, gc and threads. Prints results and digests;
# the output must be identical with and without heapkit preloaded.
import gc
import hashlib
import json
import random
import sys
import threading
from collections import Counter, OrderedDict, defaultdict, deque

random.seed(20240601)
if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)  # big-int printing below goes past the default limit
digest = hashlib.sha256()


def out(label, value):
    text = f"{label}: {value}"
    digest.update(text.encode())
    print(text)


# dicts: grow, shrink, rebuild
d = {}
for i in range(200000):
    d[f"key{i}"] = i * i
for i in range(0, 200000, 3):
    del d[f"key{i}"]
out("dict size", len(d))
out("dict sum", sum(d.values()) % 1000000007)
inv = {v: k for k, v in d.items()}
out("inverse size", len(inv))
nested = defaultdict(lambda: defaultdict(list))
for i in range(50000):
    nested[i % 97][i % 13].append(i)
out("nested", sum(len(v) for inner in nested.values() for v in inner.values()))

# lists: append, slicing, sort, comprehension
lst = [random.randint(0, 10**6) for _ in range(300000)]
lst.sort()
out("sorted head", lst[:5])
out("sorted tail", lst[-3:])
lst2 = [x * 2 for x in lst if x % 7 == 3]
out("filtered", (len(lst2), sum(lst2)))
chunks = [lst[i:i + 1000] for i in range(0, len(lst), 1000)]
out("chunks", (len(chunks), sum(len(c) for c in chunks)))
dq = deque()
for i in range(100000):
    dq.append(i)
    if i % 3 == 0:
        dq.popleft()
out("deque", (len(dq), dq[0], dq[-1]))

# sets and counters
s1 = set(range(0, 100000, 2))
s2 = set(range(0, 100000, 3))
out("sets", (len(s1 & s2), len(s1 | s2), len(s1 ^ s2)))
words = [random.choice(["alpha", "beta", "gamma", "delta", "epsilon"]) * random.randint(1, 4) for _ in range(100000)]
out("counter", sorted(Counter(words).most_common(3)))

# big integers
f = 1
for i in range(1, 3001):
    f *= i
out("3000! digits", len(str(f)))
out("3000! mod", f % (2**61 - 1))
a, b = 0, 1
for _ in range(20000):
    a, b = b, a + b
out("fib20000 digits", len(str(a)))
out("pow", pow(7, 10**5, 10**40 + 3))
big = int("9" * 5000)
out("big square digits", len(str(big * big)))

# strings
text = " ".join(f"word{i % 1000}" for i in range(200000))
out("text len", len(text))
out("split", len(text.split()))
out("replace", text.replace("word1", "W").count("W"))
up = text.upper()
out("upper hash", hashlib.md5(up.encode()).hexdigest())
parts = []
for i in range(100000):
    parts.append(f"{i:08x}|{i * 3.5:.2f}|{'x' * (i % 50)}")
joined = "\n".join(parts)
out("joined", hashlib.sha1(joined.encode()).hexdigest())
s = ""
for i in range(20000):
    s += chr(65 + i % 26)
out("concat", s[-30:])
out("unicode", len("".join(chr(0x4E00 + i % 500) for i in range(100000)).encode("utf-8")))

# json round trip
doc = {
    "items": [{"id": i, "name": f"item-{i}", "tags": [f"t{j}" for j in range(i % 7)], "score": i / 7}
              for i in range(30000)],
    "meta": OrderedDict((f"m{i}", list(range(i % 20))) for i in range(2000)),
}
enc = json.dumps(doc, sort_keys=True)
dec = json.loads(enc)
out("json len", len(enc))
out("json equal", dec == json.loads(json.dumps(dec, sort_keys=True)))
out("json digest", hashlib.sha256(enc.encode()).hexdigest())

# bytes / bytearray growth (realloc heavy)
ba = bytearray()
for i in range(200000):
    ba += bytes([i % 256]) * (i % 5)
out("bytearray", (len(ba), hashlib.sha256(ba).hexdigest()[:16]))
bs = b"".join(i.to_bytes(4, "little") for i in range(100000))
out("bytes", hashlib.sha256(bs).hexdigest()[:16])


# objects and cycles, collected by gc
class Node:
    __slots__ = ("value", "next", "prev", "__weakref__")

    def __init__(self, value):
        self.value = value
        self.next = None
        self.prev = None


class Tree:
    def __init__(self, depth):
        self.children = [Tree(depth - 1) for _ in range(2)] if depth else []
        self.parent = None
        for c in self.children:
            c.parent = self


for round_ in range(5):
    nodes = [Node(i) for i in range(50000)]
    for x, y in zip(nodes, nodes[1:]):
        x.next, y.prev = y, x
    nodes[-1].next = nodes[0]
    trees = [Tree(10) for _ in range(5)]
    del nodes, trees
    gc.collect()
out("gc done", gc.collect() >= 0)


# generators and closures
def gen(n):
    for i in range(n):
        yield (i, str(i), [i] * (i % 4))


out("gen", sum(t[0] + len(t[1]) + len(t[2]) for t in gen(200000)))
funcs = [(lambda k: (lambda x: x + k))(i) for i in range(10000)]
out("closures", sum(f(1) for f in funcs))

# threads: results combined in a fixed order
results = [None] * 8


def worker(idx):
    local = {}
    for i in range(40000):
        local[(idx, i % 1000)] = local.get((idx, i % 1000), 0) + i
    data = [str(v) for v in local.values()]
    results[idx] = hashlib.sha256(",".join(sorted(data)).encode()).hexdigest()[:12]


threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
out("threads", results)

# an exception-heavy loop
caught = 0
for i in range(50000):
    try:
        {}[i]
    except KeyError as e:
        caught += len(str(e))
out("exceptions", caught)

print("digest:", digest.hexdigest())
sys.stdout.flush()
