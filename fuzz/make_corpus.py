#!/usr/bin/env python3
# make_corpus.py — writes the seed corpus of fuzz_ops into fuzz/corpus/, one file per pattern
# of use. It speaks fuzz_ops.c's input format: run it again whenever that format changes.
import os
import struct

# Opcodes: byte % 12 in run(); 11 with the top bit set is hk_trim, without it a stats check;
# 0xe0-0xef a pool operation, 0xf0-0xff an arena operation (taken before the % 12).
MALLOC, CALLOC, REALLOC, REALLOCARRAY, FREE, FREE_SIZED = 0, 2, 3, 4, 5, 6
ALIGNED, USABLE, FAIL, BURST, STATS, TRIM = 7, 8, 9, 10, 11, 11 | 0x80
POOL, ARENA = 0xe0, 0xf0
# op_pool's first byte % 8, then the pool's index
P_CREATE, P_ALLOC, P_FREE, P_TRIM, P_STATS, P_BAD = 0, 1, 4, 5, 6, 7
# op_arena's first byte % 10 (the slot byte picks the arena)
A_CREATE, A_ALLOC, A_PRINTF, A_RESET, A_MARK, A_REWIND, A_STATS, A_DESTROY = 0, 1, 4, 5, 6, 7, 8, 9


def pool_create(i, sz, align_shift=None, shared=False):
    align = bytes([1]) if align_shift is None else bytes([0, align_shift])
    return op(POOL, 0, bytes([P_CREATE, i]), struct.pack('<H', sz), align, bytes([1 if shared else 0]))


def arena_create(slot, first=None, locked=False, keep=0):
    f = bytes([1]) if first is None else bytes([0]) + struct.pack('<H', first)
    return op(ARENA, slot, bytes([A_CREATE]), f, bytes([1 if locked else 0]), struct.pack('<H', keep))


def size(v):
    """Arguments that make pick_size() return v, using the narrowest size range."""
    if v == 0:
        return bytes([0])
    if v <= 16:
        return bytes([1, v])
    if v <= 1024:
        return bytes([3]) + struct.pack('<H', v)
    if v <= 65535:
        return bytes([8]) + struct.pack('<H', v)
    if v < 512 << 10:
        return bytes([11]) + struct.pack('<I', v)[:3]
    assert v <= 4 << 20
    return bytes([12]) + struct.pack('<I', v)[:3]


def edge(k, variant):
    """2**k, 2**k - 1 or 2**k + 1 (variant 0, 1, 2)."""
    return bytes([13, variant * 23 + k])


def op(code, slot, *args):
    return bytes([code, slot]) + b''.join(args)


def seeds():
    s = {}
    ops = [op(MALLOC, i, size(v)) for i, v in enumerate([0, 1, 7, 8, 15, 16, 24, 100, 512, 1000, 1024])]
    ops += [op(FREE, i) for i in range(0, 11, 2)] + [op(FREE_SIZED, i) for i in range(1, 11, 2)]
    s['small-mix'] = ops

    # dirty memory handed back by calloc must read as zero
    s['calloc-reuse'] = [op(MALLOC, 0, size(1000)), op(MALLOC, 2, size(4000)), op(FREE, 0), op(FREE, 2),
                         op(CALLOC, 1, bytes([10]), size(100)), op(CALLOC, 3, bytes([4]), size(1000)),
                         op(MALLOC, 4, size(300000)), op(FREE, 4),
                         op(CALLOC, 5, bytes([3]), size(100000)), op(CALLOC, 6, bytes([0]), size(5))]

    ops = [op(REALLOC, 0, size(v)) for v in [1, 17, 100, 1000, 65000, 500000, 4 << 20, 10, 0]]
    ops += [op(REALLOCARRAY, 1, size(v)) for v in [64, 48, 4096, 0]]
    s['realloc-chain'] = ops

    ops = []
    for how in range(5):  # posix_memalign, aligned_alloc, memalign, valloc, pvalloc
        for k in [0, 3, 4, 6, 12, 16, 21]:
            ops.append(op(ALIGNED, (how * 7 + k) % 64, bytes([how, k]), size([1, 64, 4096, 100000][k % 4])))
    s['aligned'] = ops + [op(FREE_SIZED, 7), op(FREE_SIZED, 8)]

    # variants 0-2 read one more byte, 3-5 none
    fails = [op(FAIL, 0, bytes([v, 5] if v < 3 else [v])) for v in range(6)]
    s['fails'] = [op(MALLOC, 0, size(200))] + fails + [op(USABLE, 0)]

    s['burst'] = [op(BURST, 0, bytes([n]), struct.pack('<H', sz), bytes([order]))
                  for order in range(3) for n, sz in [(255, 16), (100, 2048), (7, 0), (200, 48)]]

    ops = [op(MALLOC, i, size(i * 37 + 1)) for i in range(12)] + [op(USABLE, i) for i in range(12)]
    s['usable-stats-trim'] = ops + [op(STATS, 0), op(TRIM, 0), op(REALLOC, 3, size(5000)), op(STATS, 0)]

    s['edges'] = [op(MALLOC, (v * 23 + k) % 64, edge(k, v)) for v in range(3) for k in range(23)] + [op(TRIM, 0)]

    ops = [op(MALLOC, i, size((1 << 20) * (i % 4 + 1) - 1)) for i in range(6)]
    s['large'] = ops + [op(FREE, 1), op(FREE, 3), op(TRIM, 0), op(MALLOC, 1, size(3 << 20)),
                        op(REALLOC, 0, size(4 << 20)), op(REALLOC, 2, size(100))]

    # pools: local and shared, aligned, objects in and out, trim, statistics, bad handles
    ops = [pool_create(0, 40), pool_create(1, 100, 6, True), pool_create(2, 3000)]
    ops += [op(POOL, k, bytes([P_ALLOC, k % 3])) for k in range(48)]
    ops += [op(POOL, k, bytes([P_FREE, 0])) for k in range(0, 48, 3)]
    ops += [op(POOL, 0, bytes([P_TRIM, i])) for i in range(3)] + [op(POOL, 0, bytes([P_STATS, i])) for i in range(3)]
    ops += [op(POOL, 0, bytes([P_BAD, 0, 1])), pool_create(1, 24), op(POOL, 0, bytes([P_BAD, 0, 0]))]
    ops += [op(POOL, k, bytes([P_ALLOC, 1])) for k in range(60, 64)] + [op(POOL, 0, bytes([P_STATS, 1]))]
    s['pools'] = ops

    # arenas: small and large allocations, zeroed and aligned, printf, marks, reset, destroy
    ops = [arena_create(0), arena_create(1, first=300, locked=True, keep=8192)]
    for k in range(20):
        how = bytes([k % 3, k % 14]) if k % 3 == 2 else bytes([k % 3])  # aligned_alloc reads the alignment
        ops.append(op(ARENA, k % 2, bytes([A_ALLOC]), size([8, 100, 5000, 200000][k % 4]), how))
    ops += [op(ARENA, 0, bytes([A_MARK])), op(ARENA, 0, bytes([A_ALLOC]), size(3000), bytes([0])),
            op(ARENA, 0, bytes([A_PRINTF, 4, 30]), struct.pack('<q', -123456789)),
            op(ARENA, 0, bytes([A_REWIND])), op(ARENA, 0, bytes([A_STATS])), op(ARENA, 0, bytes([A_REWIND])),
            op(ARENA, 1, bytes([A_RESET])), op(ARENA, 1, bytes([A_ALLOC]), size(64), bytes([2, 12])),
            op(ARENA, 1, bytes([A_STATS])), op(ARENA, 0, bytes([A_DESTROY])), op(POOL, 0, bytes([P_BAD, 0, 0]))]
    s['arenas'] = ops
    return s


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')
    os.makedirs(out, exist_ok=True)
    for name, ops in seeds().items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(b''.join(ops))


if __name__ == '__main__':
    main()
