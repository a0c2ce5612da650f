# alloc.py — an allocation-heavy Python workload for bench/compare: builds and drops records
# (dicts), lists, strings, tuples and sets; prints a checksum that must not depend on the allocator.
# Run: python3 alloc.py [scale]   (compare runs it with PYTHONMALLOC=malloc so every object hits malloc)
import sys


def records(n, seed):
    x = seed
    out = []
    for i in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        out.append({
            "id": i,
            "name": "user%d-%x" % (i, x >> 40),
            "tags": ["t%d" % ((x >> s) & 63) for s in range(0, 40, 8)],
            "score": (x >> 20) % 1000,
        })
    return out


def churn(scale):
    check = 0
    for rnd in range(scale):
        recs = records(20000, rnd + 1)
        by_tag = {}
        for r in recs:
            for t in r["tags"]:
                by_tag.setdefault(t, []).append(r["id"])
        recs.sort(key=lambda r: (r["score"], r["name"]))
        text = ",".join("%s:%d" % (r["name"], r["score"]) for r in recs[::3])
        words = text.split(",")
        uniq = set(w[:7] for w in words)
        pairs = [(a, b) for a, b in zip(words, words[1:]) if a < b]
        del recs[::2]
        check = (check * 31 + len(text) + len(uniq) + len(pairs) + sum(len(v) for v in by_tag.values())
                 + sum(r["score"] for r in recs)) % (1 << 61)
    return check


if __name__ == "__main__":
    scale = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print("checksum %016x" % churn(scale))
