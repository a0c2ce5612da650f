/* profile_write.c — writes the heap profile as one text file, DIR/profile.PID.N.hkp
 * (docs/profile-format.md): the module map and the raw stacks of the sites (module + offset, as
 * the raw leak report has them: the `heapkit` command symbolizes offline), one line per site,
 * the timeline, the size histogram and the heap map at the peak. Its size grows with the number
 * of sites and buckets, never with the number of allocations. Nothing here calls malloc: the
 * module table is a metadata mapping, the text goes out through one static buffer. */
#define _GNU_SOURCE
#include "leak.h" /* the module history and spans */
#include "profile.h"

#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <unistd.h>

#define HK_PROFILE_MODULES_MAX 4096
#define HK_PROFILE_PATHS_BYTES ((size_t)1 << 20)
/* The writer's buffer: flushed when full, so its size only sets how many write calls a profile
 * takes; small, because every byte of the library's static data counts under ulimit -v. */
#define HK_PROFILE_OUT_BYTES 16384
/* File numbers tried past those an earlier image of this pid (before an exec) left. */
#define HK_PROFILE_NAME_TRIES 10000

static struct {
    int fd;
    hk_buf_t buf;
    char text[HK_PROFILE_OUT_BYTES];
    hk_module_t *modules;
    size_t module_count;
    char *paths;
    size_t paths_used;
} hk_out_state;

/* Text to the report, through its buffer. */
#define hk_out(...) hk_buf_printf_to(&hk_out_state.buf, hk_out_state.fd, __VA_ARGS__)

/* A TAB and a number, in decimal or hex, straight into the buffer: the sites' and stacks' lines
 * are most of a profile, and going through the formatter for each field costs ten times more. */
static size_t hk_out_field(uint64_t v, bool hex, bool negative) {
    /* The digits' count first, then each written in its place from the last (no copy of a
     * reversed string), decimal two at a time: a profile has hundreds of thousands of fields
     * (python3: 264,000, ~81 instructions each the old way). Returns the count. */
    size_t n;
    if (hex) {
        n = v == 0 ? 1 : (size_t)(67 - __builtin_clzll(v)) / 4;
    } else {
        n = 1;
        for (uint64_t p = 10; n < 20 && v >= p; p *= 10) n++;
    }
    hk_buf_t *b = &hk_out_state.buf;
    if (b->cap - b->len < n + 3) hk_buf_flush(b, hk_out_state.fd);
    char *out = b->data + b->len; /* a local cursor: b->len written once, not at every digit */
    *out++ = '\t';
    if (negative) *out++ = '-';
    char *end = out + n, *d = end;
    if (hex) {
        for (; d > out; v >>= 4) *--d = "0123456789abcdef"[v & 15];
    } else {
        static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                    "8081828384858687888990919293949596979899";
        for (; v >= 100; v /= 100) {
            size_t r = (size_t)(v % 100);
            d -= 2;
            d[0] = pairs[2 * r];
            d[1] = pairs[2 * r + 1];
        }
        if (v >= 10) {
            d[-2] = pairs[2 * v];
            d[-1] = pairs[2 * v + 1];
        } else {
            d[-1] = (char)('0' + v);
        }
    }
    b->len = (size_t)(end - b->data);
    return n;
}

static void hk_out_u64(uint64_t v) { (void)hk_out_field(v, false, false); }
static void hk_out_i64(int64_t v) { (void)hk_out_field(v < 0 ? 0 - (uint64_t)v : (uint64_t)v, false, v < 0); }

/* ------------------------------------------------------------------ modules */

static const char *hk_keep_path(const char *path) {
    size_t len = strlen(path) + 1;
    if (len > HK_PROFILE_PATHS_BYTES - hk_out_state.paths_used) return NULL;
    char *copy = hk_out_state.paths + hk_out_state.paths_used;
    memcpy(copy, path, len);
    hk_out_state.paths_used += len;
    return copy;
}

static int hk_collect(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    (void)arg;
    if (hk_out_state.module_count == HK_PROFILE_MODULES_MAX) return 1;
    uintptr_t lo, hi;
    hk_module_span(info, &lo, &hi);
    if (lo >= hi) return 0;
    const char *path = info->dlpi_name;
    char exe[PATH_MAX];
    if (path == NULL || path[0] == '\0') {
        if (hk_out_state.module_count != 0) return 0; /* the vDSO has no name either */
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        path = exe;
    }
    path = hk_keep_path(path);
    if (path != NULL) hk_out_state.modules[hk_out_state.module_count++] = (hk_module_t){lo, hi, info->dlpi_addr, path};
    return 0;
}

static bool hk_modules_collect(void) {
    if (hk_out_state.modules == NULL) {
        hk_out_state.modules = hk_meta_map(HK_PROFILE_MODULES_MAX * sizeof(hk_module_t));
        hk_out_state.paths = hk_meta_map(HK_PROFILE_PATHS_BYTES);
        if (hk_out_state.modules == NULL || hk_out_state.paths == NULL) return false;
    }
    hk_out_state.module_count = hk_out_state.paths_used = 0;
    dl_iterate_phdr(hk_collect, NULL);
    /* Objects unloaded since a stack was recorded in them, after the loaded ones. */
    size_t count;
    const hk_module_t *history = hk_module_history(&count);
    size_t loaded = hk_out_state.module_count;
    for (size_t i = 0; i < count && hk_out_state.module_count < HK_PROFILE_MODULES_MAX; i++) {
        bool still = false;
        for (size_t j = 0; j < loaded && !still; j++)
            still = hk_out_state.modules[j].bias == history[i].bias && strcmp(hk_out_state.modules[j].path, history[i].path) == 0;
        if (!still) hk_out_state.modules[hk_out_state.module_count++] = history[i];
    }
    return true;
}

static const hk_module_t *hk_module_of(uintptr_t pc) {
    for (size_t i = 0; i < hk_out_state.module_count; i++)
        if (pc >= hk_out_state.modules[i].lo && pc < hk_out_state.modules[i].hi) return &hk_out_state.modules[i];
    return NULL;
}

/* -------------------------------------------------------------------- body */

static void hk_write_body(const char *reason, uint64_t now) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    bool exact = hk_state.options.profile == HK_PROFILE_EXACT;
    hk_out("heapkit-profile\t1\npid\t%d\t%d\nexe\t%s\n", (int)getpid(), (int)getppid(), exe);
    hk_out("mode\t%s\t%zu\ndump\t%u\t%s\t%lu\n", exact ? "exact" : "sampled", exact ? (size_t)0 : hk_state.options.profile_rate,
           hk_profile.dumps, reason, (unsigned long)now);
    uint64_t peak_ms;
    int64_t peak = hk_profile_peak(&peak_ms);
    hk_out("totals\t%lu\t%lu\t%ld\t%ld\t%ld\t%lu\n", (unsigned long)hk_profile_total_calls(),
           (unsigned long)hk_profile_total_bytes(), (long)hk_profile_live(), (long)hk_profile_live_blocks(), (long)peak,
           (unsigned long)peak_ms);
    hk_out("snapshot\t%ld\t%lu\n", (long)atomic_load_explicit(&hk_profile.snap_live, memory_order_relaxed),
           (unsigned long)hk_profile.snap_ms);
    if (!exact)
        hk_out("dropped\t%lu\n", (unsigned long)atomic_load_explicit(&hk_profile.samples_dropped, memory_order_relaxed));
    for (size_t i = 0; i < hk_out_state.module_count; i++) {
        const hk_module_t *m = &hk_out_state.modules[i];
        hk_out("module\t%zu\t%lx\t%lx\t%lx\t%s\n", i, (unsigned long)m->bias, (unsigned long)m->lo, (unsigned long)m->hi,
               m->path);
    }
    size_t sites = atomic_load_explicit(&hk_profile.site_count, memory_order_acquire);
    for (size_t i = 0; i < sites; i++) {
        const hk_profile_site_t *s = &hk_profile.sites[i];
        uint64_t calls = hk_site_calls(s);
        if (calls == 0) continue;
        size_t depth;
        const uintptr_t *frames = hk_stack_get(s->stack, &depth);
        hk_out("stack");
        hk_out_u64(s->stack);
        for (size_t f = 0; f < depth; f++) {
            const hk_module_t *m = hk_module_of(frames[f]);
            if (m != NULL) {
                hk_out_u64((uint64_t)(m - hk_out_state.modules));
                size_t digits = hk_out_field(frames[f] - m->bias, true, false);
                hk_out_state.buf.data[hk_out_state.buf.len - 1 - digits] = ':'; /* the TAB before them */
            } else {
                hk_out("\t-1:%lx", (unsigned long)frames[f]);
            }
        }
        hk_out("\nsite");
        hk_out_u64(s->stack);
        uint64_t site_peak_ms;
        int64_t site_peak = hk_site_peak(s, &site_peak_ms);
        hk_out_u64(calls);
        hk_out_u64(hk_site_bytes(s));
        hk_out_u64(hk_site_temp_calls(s));
        hk_out_u64(hk_site_temp_bytes(s));
        hk_out_i64(hk_site_live(s));
        hk_out_i64(hk_site_live_blocks(s));
        hk_out_i64(site_peak);
        hk_out_u64(site_peak_ms);
        int64_t blocks_at_peak, at_peak = hk_site_at_peak(s, &blocks_at_peak);
        hk_out_i64(at_peak);
        hk_out_i64(blocks_at_peak);
        hk_out("\n");
    }
    hk_out("width\t%lu\n", (unsigned long)hk_profile.bucket_width_ms);
    for (size_t i = 0; i < hk_profile.bucket_count; i++) {
        const hk_profile_bucket_t *b = &hk_profile.buckets[i];
        hk_out("tick\t%lu\t%ld\t%lu\t%lu\t%lu\t%lu\n", (unsigned long)b->ms, (long)b->live, (unsigned long)b->committed,
               (unsigned long)b->resident, (unsigned long)b->calls, (unsigned long)b->bytes);
    }
    for (unsigned k = 0; k < HK_PROFILE_HIST; k++) {
        uint64_t calls = hk_profile_hist_calls(k);
        if (calls != 0) hk_out("hist\t%u\t%lu\t%lu\n", k, (unsigned long)calls, (unsigned long)hk_profile_hist_bytes(k));
    }
    for (size_t bin = 0; bin < HK_BIN_COUNT; bin++) hk_out("class\t%zu\t%zu\n", bin, hk_bin_size(bin));
    if (hk_profile.map_segment_count > 0) {
        hk_out("map\t%lu\t%ld\n", (unsigned long)hk_profile.map_ms, (long)hk_profile.map_live);
        const hk_profile_map_page_t *page = hk_profile.map_pages;
        for (size_t i = 0; i < hk_profile.map_segment_count; i++) {
            const hk_profile_map_segment_t *seg = &hk_profile.map_segments[i];
            hk_out("segment\t%lx\t%u\t%zu\t%zu", (unsigned long)seg->address, seg->kind, seg->page_bytes, seg->huge_bytes);
            for (uint32_t p = 0; p < seg->page_count; p++, page++) {
                if (page->in_use) hk_out("\t%u:%u:%u", page->bin, page->used, page->reserved);
                else hk_out("\t-");
            }
            hk_out("\n");
        }
    }
    hk_out("end\n");
}

int hk_profile_write(const char *reason) {
    pthread_mutex_lock(&hk_profile.lock);
    bool own_was = hk_own_work;
    hk_own_work = true; /* anything allocated on the way is the library's, not the program's */
    uint64_t now = hk_clock_ms() - hk_profile.start_ms;
    atomic_store_explicit(&hk_profile.now_ms, now, memory_order_relaxed);
    hk_profile_timeline_tick(now); /* the last bucket: now */
    if (hk_profile.map_segment_count == 0) (void)hk_profile_map_take(true); /* no peak snapshot took one: the heap now */
    int rc = -1;
    const char *dir = hk_profile.dir[0] != '\0' ? hk_profile.dir : ".";
    char path[PATH_MAX];
    unsigned number = hk_profile.dumps + 1;
    int fd = -1;
    for (unsigned tries = 0; tries <= HK_PROFILE_NAME_TRIES; tries++, number++) {
        hk_buf_t b = {path, sizeof path, 0};
        hk_buf_printf(&b, "%s/profile.%d.%u.hkp", dir, (int)getpid(), number);
        if (b.len >= sizeof path) {
            errno = ENAMETOOLONG;
            break;
        }
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST) break;
    }
    if (fd < 0) {
        hk_message("cannot write the heap profile to %s: %m", dir);
    } else if (!hk_modules_collect()) {
        close(fd);
        errno = ENOMEM;
    } else {
        hk_profile.dumps = number;
        hk_out_state.fd = fd;
        hk_out_state.buf = (hk_buf_t){hk_out_state.text, sizeof hk_out_state.text, 0};
        hk_write_body(reason, now);
        hk_buf_flush(&hk_out_state.buf, fd);
        close(fd);
        rc = 0;
    }
    hk_own_work = own_was;
    pthread_mutex_unlock(&hk_profile.lock);
    return rc;
}
