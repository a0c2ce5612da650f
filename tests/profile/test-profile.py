#!/usr/bin/env python3
# test-profile.py — the heap profile end to end: `heapkit run --profile` on profile_prog's known
# allocation patterns, then `heapkit report` (text, --collapsed, --pprof, --diff, --html).
# One section per ctest test:  test-profile.py SECTION HEAPKIT PROFILE_PROG WORKDIR
#   exact      every site's exact numbers (calls, bytes, temporaries, live at exit, at the peak)
#   sampled    estimates within their statistical bounds
#   dumps      hk_profile_dump() twice, then --diff between the two dumps
#   children   a forked child's profile apart from its parent's
#   signal     --profile-signal writes a profile of the running program
#   formats    --collapsed read back by a reference reader (flamegraph.pl's and speedscope's
#              grammar of folded stacks), --pprof decoded as profile.proto
#   options    usage errors and bad HEAPKIT_PROFILE* values
#   html       the page in headless Chromium: no console error, every chart drawn, a screenshot
#              kept (WORKDIR/profile-report.png); exit 77 (skipped) without chromium
# Prints one "ok"/"FAIL" line per check, and "N passed, N failed" at the end.
import os
import re
import shutil
import subprocess
import sys
import tempfile

SECTION, HEAPKIT, PROG, WORK = sys.argv[1:5]
os.makedirs(WORK, exist_ok=True)
passed = failed = 0


def check(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok   " + what)
    else:
        failed += 1
        print("FAIL " + what + (": " + detail if detail else ""))


def run(args, env=None, check_rc=True):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run(args, capture_output=True, text=True, env=e, timeout=300)
    if check_rc and p.returncode != 0:
        print("command failed (%d): %s\n%s%s" % (p.returncode, " ".join(args), p.stdout, p.stderr))
    return p


def profile(mode, out, prog_args, extra=(), env=None):
    p = run([HEAPKIT, "run", "--profile=" + mode, "-o", out] + list(extra) + ["--", PROG] + prog_args, env=env)
    check(p.returncode == 0 and os.path.exists(out), "%s %s: heapkit run --profile wrote %s" % (mode, prog_args[0], out),
          p.stderr)
    return p


# ------------------------------------------------------------------ the reference reader
def read_folded(text):
    """Folded stacks as flamegraph.pl reads them: a line is `frames count`, the count being the
    last run of digits after white space (its regex: ^(.*)\\s+?(\\d+(?:\\.\\d*)?)$), frames split on
    ';', root first; speedscope's importer reads the same. Returns [(frames, count)]."""
    stacks = []
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(r"^(.*)\s+?(\d+(?:\.\d*)?)$", line)
        if m is None:
            raise ValueError("line %d is not a folded stack: %r" % (n, line))
        frames = m.group(1).rstrip().split(";")
        if any(f == "" for f in frames):
            raise ValueError("line %d has an empty frame: %r" % (n, line))
        stacks.append((frames, float(m.group(2))))
    return stacks


def collapsed(path, metric):
    p = run([HEAPKIT, "report", "--collapsed=" + metric, path])
    return read_folded(p.stdout)


def site_value(stacks, function):
    """The weight of the stacks through `function` (0 when none)."""
    return sum(c for frames, c in stacks if function in frames)


def raw_record(path, kind):
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.startswith(kind + "\t")]


MIB = 1 << 20


# ------------------------------------------------------------------------------ sections
def section_exact():
    out = os.path.join(WORK, "exact.hkp")
    profile("exact", out, ["pattern"])
    want = {  # function: (calls, bytes, temporary, live at exit, at the heap's peak)
        "site_big": (10, 10 * MIB, 0, 0, 10 * MIB),
        "site_temp": (1000, 100000, 1000, 0, 0),
        "site_kept": (5, 20000, 0, 4000, None),
        "site_huge": (3, 9 * MIB, 0, 0, 0),
        "site_thread": (7, 7 * 2048, 0, 0, 0),
        "site_calloc": (1, 3000, 1, 0, 0),
    }
    got = {m: collapsed(out, m) for m in ("calls", "bytes", "temporary", "leaked", "peak")}
    for fn, (calls, nbytes, temp, live, at_peak) in want.items():
        values = (site_value(got["calls"], fn), site_value(got["bytes"], fn), site_value(got["temporary"], fn),
                  site_value(got["leaked"], fn), site_value(got["peak"], fn))
        expect = (calls, nbytes, temp, live, at_peak if at_peak is not None else values[4])
        check(values == expect, "exact: %s calls, bytes, temporaries, live at exit, at peak = %s" % (fn, expect),
              "got %s" % (values,))
    totals = raw_record(out, "totals")[0]
    check(sum(c for _, c in got["calls"]) == int(totals[1]), "exact: the sites' calls add up to the total",
          "%s vs %s" % (sum(c for _, c in got["calls"]), totals[1]))
    check(sum(c for _, c in got["bytes"]) == int(totals[2]), "exact: the sites' bytes add up to the total")
    # totals' calls, bytes and live blocks are sums the profiler makes when it writes (of the size
    # histogram and of the sites), not counters of their own: they must still match the parts
    sites = raw_record(out, "site")
    check(sum(int(s[7]) for s in sites) == int(totals[4]), "exact: the sites' live blocks add up to the total",
          "%s vs %s" % (sum(int(s[7]) for s in sites), totals[4]))
    check(sum(int(h[2]) for h in raw_record(out, "hist")) == int(totals[1]),
          "exact: the size histogram's calls add up to the total")
    peak = int(totals[5])
    check(10 * MIB <= peak < 10 * MIB + 64 * 1024, "exact: the heap's peak is the ten 1 MiB blocks and a little",
          str(peak))
    text = run([HEAPKIT, "report", out]).stdout
    check("Top sites by live bytes at the heap's peak" in text and re.search(r"10\.0 MiB in +10 blocks.*site_big", text),
          "exact: the text report puts site_big first at the peak", text[:2000])
    check(re.search(r"1000 temporary of 1000 calls.*site_temp", text) is not None,
          "exact: the text report lists site_temp's temporaries")
    check(re.search(r"3\.9 KiB in +1 blocks.*site_kept", text) is not None,
          "exact: the text report lists site_kept's block live at exit")
    check(len(raw_record(out, "tick")) >= 1 and len(raw_record(out, "hist")) >= 4 and raw_record(out, "segment"),
          "exact: the file has a timeline, a size histogram and a heap map")
    hist = {int(r[1]): (int(r[2]), int(r[3])) for r in raw_record(out, "hist")}
    check(hist.get(21, (0, 0))[0] >= 10 and hist.get(7, (0, 0))[0] >= 1000,
          "exact: the histogram counts the 1 MiB and the 100-byte blocks in their classes", str(hist))
    # A tiny heap (7000 bytes at most) has its peak's sites too.
    small = os.path.join(WORK, "tiny.hkp")
    profile("exact", small, ["tiny"])
    tiny_peak = collapsed(small, "peak")
    check(site_value(tiny_peak, "site_tiny_a") == 5000 and site_value(tiny_peak, "site_tiny_b") == 2000,
          "exact: a tiny program's peak names its sites (5000 and 2000 bytes)", str(tiny_peak)[:500])
    text = run([HEAPKIT, "report", small]).stdout
    check(re.search(r"peak:\n +4\.9 KiB in +1 blocks.*site_tiny_a", text) is not None,
          "exact: the text report lists a tiny program's peak sites", text[:1500])
    # One site allocated from and freed by three threads in turn (profile_prog's handoff): their
    # counts add up, and the site's peak (8008 bytes) is reached by the third thread on top of the
    # others' blocks. One frame of the program kept, so that the threads' calls make one site.
    handoff = os.path.join(WORK, "handoff.hkp")
    profile("exact", handoff, ["handoff"], env={"HEAPKIT_STACK_DEPTH": "1"})
    got = {m: site_value(collapsed(handoff, m), "site_shared") for m in ("calls", "bytes", "temporary", "leaked")}
    check(got == {"calls": 9, "bytes": 9009, "temporary": 0, "leaked": 6006},
          "exact: a site moved by three threads has 9 calls, 9009 bytes, 6006 live at exit", str(got))
    rows = [r for r in raw_record(handoff, "site") if r[2:4] == ["9", "9009"]]
    check(len(rows) == 1 and rows[0][6:9] == ["6006", "6", "8008"],
          "exact: that site's live bytes, live blocks and peak are 6006, 6 and 8008", str(rows))
    # Leak checking and the exact profile at once: both see every block.
    both = os.path.join(WORK, "exact-leaks.hkp")
    p = run([HEAPKIT, "run", "--leaks", "--profile", "-o", both, "--", PROG, "pattern"])
    check(p.returncode == 0 and "LEAK SUMMARY" in p.stderr and os.path.exists(both),
          "exact: --leaks and --profile together give both reports", p.stderr[-800:])
    if os.path.exists(both):
        check(site_value(collapsed(both, "calls"), "site_temp") == 1000 and
              site_value(collapsed(both, "leaked"), "site_kept") == 4000, "exact: the numbers are the same with --leaks")


def section_sampled():
    out = os.path.join(WORK, "sampled.hkp")
    profile("sampled", out, ["sampled"], ["--profile-rate", "64K"])
    mode = raw_record(out, "mode")[0]
    check(mode[1:3] == ["sampled", "65536"], "sampled: the file says sampled, a sample per 64 KiB", str(mode))
    calls, nbytes, live = (collapsed(out, m) for m in ("calls", "bytes", "leaked"))
    small_bytes = 200000 * 256
    # 781 samples expected: the estimate's relative standard deviation is 3.6%; 15% is over 4 of them.
    for what, value, want in (("bytes", site_value(nbytes, "site_small"), small_bytes),
                              ("calls", site_value(calls, "site_small"), 200000),
                              ("live at exit", site_value(live, "site_small"), small_bytes)):
        check(abs(value - want) <= 0.15 * want, "sampled: site_small's %s within 15%% of %d" % (what, want), str(value))
    # A 1 MiB block is sampled with probability 1 - exp(-16): each one counts as itself.
    check(site_value(calls, "site_large") == 20, "sampled: site_large's 20 calls", str(site_value(calls, "site_large")))
    check(abs(site_value(nbytes, "site_large") - 20 * MIB) <= 20 * 16,
          "sampled: site_large's 20 MiB", str(site_value(nbytes, "site_large")))
    size = os.path.getsize(out)
    check(size < 64 * 1024, "sampled: the file grows with sites, not allocations (%d bytes for 200,020)" % size)
    # Every block sampled (a sample per byte): each free must find its block's sample (through the
    # sample table and the counting filter in front of it), so the blocks freed are not live at
    # exit, from the main thread or another, small or huge, and the one block kept is.
    every = os.path.join(WORK, "sampled-every.hkp")
    profile("sampled", every, ["pattern"], ["--profile-rate", "1"])
    calls, live = collapsed(every, "calls"), collapsed(every, "leaked")
    got = {fn: (site_value(calls, fn), site_value(live, fn))
           for fn in ("site_big", "site_temp", "site_kept", "site_huge", "site_thread", "site_calloc")}
    want = {"site_big": (10, 0), "site_temp": (1000, 0), "site_kept": (5, 4000), "site_huge": (3, 0),
            "site_thread": (7, 0), "site_calloc": (1, 0)}
    check(got == want, "sampled, every block: calls and live bytes at exit of each site", "got %s" % got)


def section_dumps():
    out = os.path.join(WORK, "dumps.hkp")
    p = profile("exact", out, ["dump"])
    dumps = sorted(f for f in os.listdir(WORK) if f.startswith("dumps.hkp."))
    check(len(dumps) == 2, "dumps: two profiles by hk_profile_dump beside the one at exit", str(dumps))
    if len(dumps) != 2:
        return
    first, second = (os.path.join(WORK, d) for d in dumps)
    check(raw_record(first, "dump")[0][2] == "call" and raw_record(out, "dump")[0][2] == "exit",
          "dumps: their reasons are call, then exit")
    check(site_value(collapsed(first, "leaked"), "site_grow") == 160000 and
          site_value(collapsed(second, "leaked"), "site_grow") == 640000, "dumps: site_grow's live bytes at each dump")
    d = run([HEAPKIT, "report", "--diff", first, second]).stdout
    check(re.search(r"live\s+\+468\.8 KiB.*site_grow", d) is not None, "dumps: --diff shows site_grow grew by 480000 bytes",
          d)
    # From the last dump to the exit every block of site_grow was freed: its live bytes shrank while
    # its bytes at the heap's peak stayed (the sort by growth put it mid-list, and the list of
    # sites that shrank, read from the end, said none had)
    d = run([HEAPKIT, "report", "--diff", second, out]).stdout
    check(re.search(r"shrank most:\n  live +-625\.0 KiB .*site_grow", d) is not None,
          "dumps: --diff lists site_grow among the sites that shrank, by 640000 bytes", d)
    check("written to " + first in p.stderr, "dumps: the command names each file it wrote", p.stderr)


def section_children():
    out = os.path.join(WORK, "children.hkp")
    profile("exact", out, ["fork"])
    others = [f for f in os.listdir(WORK) if f.startswith("children.hkp.")]
    check(len(others) == 1, "children: the forked child's profile is apart from the program's", str(others))
    if len(others) != 1:
        return
    child = os.path.join(WORK, others[0])
    check(raw_record(child, "pid")[0][2] == raw_record(out, "pid")[0][1], "children: the child's parent is the program")
    check(site_value(collapsed(child, "calls"), "site_child") == 11 and
          site_value(collapsed(child, "calls"), "site_parent") == 0, "children: the child's profile has its 11 calls")
    check(site_value(collapsed(out, "calls"), "site_parent") == 13 and
          site_value(collapsed(out, "calls"), "site_child") == 0, "children: the program's profile has its own 13")


def section_signal():
    out = os.path.join(WORK, "signal.hkp")
    profile("exact", out, ["signal"], ["--profile-signal", "USR2"], env={"PROFILE_PROG_SIGNAL": "12"})
    others = [os.path.join(WORK, f) for f in os.listdir(WORK) if f.startswith("signal.hkp.")]
    check(len(others) == 1, "signal: one profile written on the signal", str(others))
    if others:
        check(raw_record(others[0], "dump")[0][2] == "signal" and
              site_value(collapsed(others[0], "leaked"), "site_grow") == 27000,
              "signal: it says signal and holds the 9 blocks live then")
    # The profile signal sent to the command is passed on to the program, also when a leak signal
    # is asked for too (only the leak signal was: USR1 ended the command, exit 138, and the run's
    # reports were lost)
    both = os.path.join(WORK, "signal-both.hkp")
    p = run([HEAPKIT, "run", "--leaks", "--leak-signal", "USR2", "--profile", "-o", both, "--profile-signal", "USR1",
             "--", PROG, "signal"], env={"PROFILE_PROG_SIGNAL": "10", "PROFILE_PROG_SIGNAL_PARENT": "1"}, check_rc=False)
    dumps = [f for f in os.listdir(WORK) if f.startswith("signal-both.hkp.")]
    check(p.returncode == 0 and "LEAK SUMMARY" in p.stderr and len(dumps) == 1,
          "signal: --profile-signal USR1 sent to the command with --leak-signal USR2 reaches the program",
          "exit %d, dumps %s: %s" % (p.returncode, dumps, p.stderr[-600:]))


def pb_fields(data):
    """A protobuf message's fields: [(number, wire type, value)], values of type 2 as bytes."""
    i, out = 0, []

    def varint():
        nonlocal i
        v = shift = 0
        while True:
            b = data[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return v

    while i < len(data):
        key = varint()
        num, wire = key >> 3, key & 7
        if wire == 0:
            out.append((num, 0, varint()))
        elif wire == 2:
            n = varint()
            out.append((num, 2, data[i:i + n]))
            i += n
        else:
            raise ValueError("unexpected wire type %d" % wire)
    return out


def _unpack(data):
    vals, v, shift = [], 0, 0
    for b in data:
        v |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            vals.append(v)
            v = shift = 0
    return vals


def section_formats():
    out = os.path.join(WORK, "formats.hkp")
    profile("exact", out, ["pattern"])
    text = run([HEAPKIT, "report", "--collapsed", out]).stdout
    try:
        stacks = read_folded(text)
        check(len(stacks) > 0, "formats: --collapsed is read back by the folded-stack grammar")
    except ValueError as e:
        check(False, "formats: --collapsed is read back by the folded-stack grammar", str(e))
        return
    roots = {frames[0] for frames, _ in stacks}
    check("_start" in roots and not any(frames[0] in ("hk_malloc", "malloc") for frames, _ in stacks),
          "formats: stacks start at the root (_start), not at the allocation call", str(roots))
    check(any(frames[-1].endswith("malloc") and "site_big" in frames for frames, _ in stacks),
          "formats: site_big's stack ends in the allocation call (leaf last)")
    pb = os.path.join(WORK, "formats.pb")
    run([HEAPKIT, "report", "--pprof", pb, out])
    with open(pb, "rb") as f:
        fields = pb_fields(f.read())
    strings = [v.decode() for n, w, v in fields if n == 6]
    types = [[strings[x] for _, _, x in pb_fields(v)] for n, w, v in fields if n == 1]
    check(strings[:1] == [""] and ["alloc_objects", "count"] in types and ["inuse_space", "bytes"] in types,
          "formats: --pprof has the string table and Go's heap sample types", str(types))
    funcs = {}
    for n, w, v in fields:
        if n == 5:
            f = {k: x for k, _, x in pb_fields(v)}
            funcs[f.get(1)] = strings[f.get(2, 0)]
    locs, places = {}, []
    for n, w, v in fields:
        if n == 4:
            f = pb_fields(v)
            lid = [x for k, _, x in f if k == 1][0]
            line = {k: x for k, _, x in pb_fields([x for k, _, x in f if k == 4][0])}
            locs[lid] = funcs[line[1]]
            places.append(({k: x for k, _, x in f}.get(3, 0), line[1], line.get(2, 0)))
    check(len(places) == len(set(places)),
          "formats: --pprof makes one location per address, function and line, shared by the sites through it",
          "%d locations, %d distinct" % (len(places), len(set(places))))
    top = {n: v for n, w, v in fields if w == 0}
    check(strings[top.get(14, 0)] == "peak_space" and top.get(9, 0) > 0,
          "formats: --pprof names its default sample type (peak_space) and when profiling started",
          "default %r, time_nanos %r" % (strings[top.get(14, 0)], top.get(9)))
    samples = []
    for n, w, v in fields:
        if n == 2:
            f = pb_fields(v)
            ids = _unpack([x for k, _, x in f if k == 1][0])
            vals = _unpack([x for k, _, x in f if k == 2][0])
            samples.append(([locs[i] for i in ids], vals))
    big = [vals for names, vals in samples if "site_big" in names]
    check(len(big) == 1 and big[0][0] == 10 and big[0][1] == 10 * MIB,
          "formats: --pprof's site_big sample has 10 objects and 10 MiB allocated", str(big))
    temp = [vals for names, vals in samples if "site_temp" in names]
    check(len(temp) == 1 and temp[0][4] == 1000, "formats: --pprof's site_temp sample has 1000 temporaries", str(temp))


    # Two sites behind one chain of wrappers deeper than the report's first frames: each line
    # shows its stack far enough to name its own site (it showed malloc < wrap_inner < wrap_middle
    # < wrap_outer < ... for both).
    wrapped = os.path.join(WORK, "wrapped.hkp")
    profile("exact", wrapped, ["wrapped"])
    text = run([HEAPKIT, "report", wrapped]).stdout
    leaked = text.split("still live at exit", 1)[-1]
    check(re.search(r"6\.8 KiB in +1 blocks .*wrap_outer.*site_wrapped_b", leaked) is not None and
          re.search(r"2\.9 KiB in +1 blocks .*wrap_outer.*site_wrapped_a", leaked) is not None,
          "formats: the text report tells two sites behind the same wrappers apart", leaked[:1500])
    # ... and only those: a site the others never read the same as keeps its first four frames
    # (one pair behind wrappers once made every line of the table as long as theirs)
    plain = [l for l in leaked.splitlines() if "site_unwrapped" in l]
    check(len(plain) == 1 and plain[0].count(" < ") == 4 and plain[0].endswith(" < ..."),
          "formats: the text report shows a site with nothing to tell apart by its first four frames", leaked[:1500])
    first, second = (os.path.join(WORK, "wrapped-%d.hkp" % i) for i in (1, 2))
    profile("exact", first, ["tiny"])
    profile("exact", second, ["wrapped"])
    d = run([HEAPKIT, "report", "--diff", first, second]).stdout
    check(re.search(r"live +\+6\.8 KiB.*site_wrapped_b", d) is not None and
          re.search(r"live +\+2\.9 KiB.*site_wrapped_a", d) is not None,
          "formats: --diff tells two sites behind the same wrappers apart", d[:1500])


def section_options():
    p = run([HEAPKIT, "run", "--profile=fast", "--", "true"], check_rc=False)
    check(p.returncode == 2 and "--profile= wants exact or sampled" in p.stderr, "options: --profile=fast refused",
          p.stderr)
    p = run([HEAPKIT, "run", "-o", "x.hkp", "--", "true"], check_rc=False)
    check(p.returncode == 2 and "need --profile" in p.stderr, "options: -o without --profile refused", p.stderr)
    p = run([HEAPKIT, "run", "--profile=sampled", "--profile-rate", "0", "--", "true"], check_rc=False)
    check(p.returncode == 2 and "--profile-rate" in p.stderr, "options: --profile-rate 0 refused", p.stderr)
    p = run([HEAPKIT, "report"], check_rc=False)
    check(p.returncode == 2 and "no profile given" in p.stderr, "options: report without a file refused", p.stderr)
    bad = os.path.join(WORK, "bad.hkp")
    with open(bad, "w") as f:
        f.write("heapkit-profile\t1\nmode\texact\t0\ndump\t1\texit\t5\nsite\t2\tx\n")
    p = run([HEAPKIT, "report", bad], check_rc=False)
    check(p.returncode == 1 and re.search(r"bad\.hkp:4: a site record wants", p.stderr) is not None,
          "options: a damaged profile is named with its line", p.stderr)
    lib = os.environ.get("HKT_TEST_LIB")
    if lib:
        p = run(["true"], env={"LD_PRELOAD": lib, "HEAPKIT_PROFILE": "maybe"}, check_rc=False)
        check("HEAPKIT_PROFILE='maybe' is not valid" in p.stderr, "options: a bad HEAPKIT_PROFILE is named", p.stderr)
        p = run(["true"], env={"LD_PRELOAD": lib, "HEAPKIT_PROFILE_RATE": "1M"}, check_rc=False)
        check("HEAPKIT_PROFILE_RATE is set but ignored" in p.stderr, "options: a profile option without profiling is named",
              p.stderr)


def section_html():
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("SKIP html: chromium is not installed (apt-get install chromium; scripts/ci-deps installs it)")
        sys.exit(77)
    out = os.path.join(WORK, "html.hkp")
    profile("exact", out, ["pattern"])
    page = os.path.join(WORK, "profile-report.html")
    p = run([HEAPKIT, "report", "--html", page, out])
    check(p.returncode == 0 and os.path.getsize(page) > 0, "html: heapkit report --html wrote the page")
    with open(page) as f:
        html = f.read()
    check(re.search(r"<script[^>]+src=|<link[^>]+href=|https?://(?!www\.w3\.org/2000/svg)", html) is None,
          "html: nothing outside the page is loaded (no src, no link, no URL)")

    def browse(path, shot=None):
        profile_dir = tempfile.mkdtemp(prefix="hk-chromium.")
        args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--no-first-run", "--disable-component-update", "--disable-sync", "--user-data-dir=" + profile_dir,
                "--enable-logging=stderr", "--v=0", "--window-size=1280,3000", "--virtual-time-budget=5000"]
        args += ["--screenshot=" + shot] if shot else ["--dump-dom"]
        r = subprocess.run(args + ["file://" + os.path.abspath(path)], capture_output=True, text=True, timeout=120)
        shutil.rmtree(profile_dir, ignore_errors=True)
        console = [l for l in r.stderr.splitlines() if "CONSOLE" in l or "Uncaught" in l]
        return r, console

    r, console = browse(page)
    dom = r.stdout
    check(r.returncode == 0 and 'data-rendered="yes"' in dom, "html: the page's script ran to its end", r.stderr[-1500:])
    check(console == [], "html: no console message or error", "\n".join(console))

    def svg(id_):
        m = re.search(r'<svg id="%s".*?</svg>' % id_, dom, re.S)
        return m.group(0) if m else ""

    timeline = svg("timeline")
    paths = re.findall(r'<path d="M([^"]+)"', timeline)
    check(len(paths) == 3 and all(p.count("L") >= 1 for p in paths), "html: the timeline draws live, committed, resident",
          str(len(paths)))
    for id_ in ("flame-peak", "flame-calls"):
        rects = re.findall(r"<rect ", svg(id_))
        check(len(rects) >= 4, "html: flame graph %s has boxes (%d)" % (id_, len(rects)))
    check(re.search(r"site_big", svg("flame-peak")) is not None, "html: the peak flame graph names site_big")
    check(re.search(r"site_temp", svg("flame-calls")) is not None, "html: the calls flame graph names site_temp")
    check(len(re.findall(r"<rect ", svg("histogram"))) >= 4, "html: the size histogram has bars")
    m = re.search(r'data-heapmap-pixels="(\d+)"', dom)
    check(m is not None and int(m.group(1)) > 1000, "html: the heap map canvas is drawn",
          m.group(1) if m else "no attribute")
    check(len(re.findall(r"<tr>", re.search(r'<table id="top-sites">.*?</table>', dom, re.S).group(0))) >= 3,
          "html: the top sites table has rows")
    # The table's line for a site names it far enough to tell it from the others, as the text
    # report does: two sites behind one chain of wrappers once both read "wrap_inner (...)".
    wrapped = os.path.join(WORK, "html-wrapped.hkp")
    profile("exact", wrapped, ["wrapped"])
    wpage = os.path.join(WORK, "profile-wrapped.html")
    run([HEAPKIT, "report", "--html", wpage, wrapped])
    r, _ = browse(wpage)
    table = re.search(r'<table id="top-sites">.*?</table>', r.stdout, re.S)
    summaries = re.findall(r"<summary>(.*?)</summary>", table.group(0) if table else "")
    check(any("site_wrapped_a" in x for x in summaries) and any("site_wrapped_b" in x for x in summaries) and
          any(x.startswith("site_unwrapped") and " &lt; " in x for x in summaries),
          "html: the top sites table tells two sites behind the same wrappers apart", "\n".join(summaries))
    shot = os.path.join(WORK, "profile-report.png")
    if os.path.exists(shot):
        os.unlink(shot)
    r, _ = browse(page, shot)
    check(os.path.exists(shot) and os.path.getsize(shot) > 10000, "html: screenshot kept as " + shot)
    # The checks above can fail: a page whose script throws is caught by them.
    broken = os.path.join(WORK, "broken.html")
    with open(broken, "w") as f:
        f.write(html.replace("summary();\n", "summary();\nthrow new Error('hk-broken-page');\n", 1))
    r, console = browse(broken)
    check(any("hk-broken-page" in l for l in console) and 'data-rendered="yes"' not in r.stdout,
          "html: a page whose script throws is told apart (the checks can fail)", "\n".join(console))


def section_fragmentation():
    import json
    lib = os.environ["HKT_TEST_LIB"]
    stats = os.path.join(WORK, "fragmentation-stats.json")
    for tracked in (False, True):
        if os.path.exists(stats):
            os.unlink(stats)
        # no purging: the freed huge blocks must still be cached when the statistics are taken at
        # exit, however long the machine takes to get there (the purge delay is 50 ms)
        env = {"LD_PRELOAD": lib, "HEAPKIT_STATS_FILE": stats, "HEAPKIT_PURGE_DELAY": "-1"}
        if tracked:
            env["HEAPKIT_LEAKS"] = "1"
        run([PROG, "pattern"], env=env)
        with open(stats) as f:
            report = json.load(f)
        classes = {c["block_size"]: c for c in report["fragmentation_classes"]}
        kept = classes.get(4096, {})
        # site_kept's one live 4000-byte block: 96 bytes of rounding, the rest of its page free
        want_internal = 96 if tracked else None
        check(kept.get("internal", "missing") == want_internal,
              "fragmentation: the 4096-byte class's internal bytes are %s %s" % (want_internal, "tracked" if tracked else "untracked"),
              str(kept))
        per_page = {c["block_size"]: c for c in report["classes"]}.get(4096, {})
        check(kept.get("external", -1) > 0 and kept["external"] == per_page.get("page_bytes", 0) - 4096 * per_page.get("live_blocks", 0),
              "fragmentation: its external bytes are the page's free blocks", "%s %s" % (kept, per_page))
        check(report["retained_huge_cached"] >= 9 * MIB,
              "fragmentation: the three freed 3 MiB blocks are retained in the huge cache", str(report["retained_huge_cached"]))
    # Leak tracking alone leaves freed blocks' records stale: its internal figures must still be
    # those of the live blocks, as an exact profile (whose free hook clears records) counts them.
    internal = {}
    for mode in ({"HEAPKIT_LEAKS": "1"}, {"HEAPKIT_PROFILE": "exact", "HEAPKIT_PROFILE_DIR": WORK}):
        if os.path.exists(stats):
            os.unlink(stats)
        run([PROG, "freed"], env=dict({"LD_PRELOAD": lib, "HEAPKIT_STATS_FILE": stats}, **mode))
        with open(stats) as f:
            internal[str(mode)] = {c["block_size"]: c["internal"] for c in json.load(f)["fragmentation_classes"]}
    # (the 40-byte blocks' class only: writing the profile at exit allocates blocks of other sizes)
    leaks, exact = internal.values()
    check(leaks.get(48, "missing") == exact.get(48), "fragmentation: leak tracking alone counts only live blocks' internal bytes, as an exact profile",
          "leaks %s, exact %s" % (leaks, exact))
    p = run([PROG, "pattern"], env={"LD_PRELOAD": lib, "HEAPKIT_STATS": "1"})
    check("fragmentation by class" in p.stderr and "internal needs tracked blocks" in p.stderr,
          "fragmentation: the text report has the table and says why internal is unknown", p.stderr[-600:])


SECTIONS = {"exact": section_exact, "sampled": section_sampled, "dumps": section_dumps, "children": section_children,
            "signal": section_signal, "formats": section_formats, "options": section_options, "html": section_html,
            "fragmentation": section_fragmentation}
os.chdir(WORK)
for f in os.listdir(WORK):
    if f.startswith(SECTION) and (f.endswith(".hkp") or ".hkp." in f):
        os.unlink(f)
SECTIONS[SECTION]()
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
