/* module_history.c — every named ELF object that was loaded while allocation stacks were
 * recorded, kept after it is unloaded (dlclose of a plugin), so a leak check can still say which
 * object and which offset a frame of a stack captured back then belongs to, and the command can
 * symbolize it (its path and load bias at the time).
 * The tracker calls hk_module_history_note before it walks a stack to store; the loader's count of
 * loads (dlpi_adds) tells in one step whether anything new was loaded since the last look, and
 * with its count of unloads it is the generation the cached walker's rules are valid for. Entries are
 * appended only inside dl_iterate_phdr callbacks, which the loader runs under its own lock, so
 * writers need no lock of ours (and take none the loader could wait on); readers see `count`
 * published after the entry it counts. */
#define _GNU_SOURCE
#include "leak.h"

#include <link.h>

/* Objects remembered over the life of the process, and bytes of their paths: far more than a
 * program that loads and unloads plugins all day has distinct ones (address space only, pages
 * touched as used). */
/* The span of an object's loaded segments (lo >= hi: none). */
void hk_module_span(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi) {
    *lo = UINTPTR_MAX;
    *hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD) continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr, b = a + ph->p_memsz;
        if (a < *lo) *lo = a;
        if (b > *hi) *hi = b;
    }
}

#define HK_HISTORY_MAX 4096
#define HK_HISTORY_PATH_BYTES ((size_t)1 << 20)

static struct {
    unsigned long long adds; /* the loader's dlpi_adds when we last looked */
    bool looked;
    hk_module_t *modules;
    char *paths;
    size_t paths_used;
    _Atomic size_t count;
    bool failed;
} hk_history;

static bool hk_history_known(const struct dl_phdr_info *info) {
    size_t n = atomic_load_explicit(&hk_history.count, memory_order_relaxed);
    for (size_t i = 0; i < n; i++)
        if (hk_history.modules[i].bias == info->dlpi_addr && strcmp(hk_history.modules[i].path, info->dlpi_name) == 0)
            return true;
    return false;
}

typedef struct {
    bool first;
    unsigned long long generation; /* the loader's loads + unloads, 0 if it does not count them */
} hk_history_walk_t;

static int hk_history_visit(struct dl_phdr_info *info, size_t size, void *arg) {
    hk_history_walk_t *walk = arg;
    if (walk->first) { /* the executable: is there anything new at all? */
        walk->first = false;
        if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs)
            walk->generation = info->dlpi_adds + info->dlpi_subs;
        if (hk_history.modules == NULL) { /* set up under the loader's lock, like every write */
            hk_history.modules = hk_meta_map(HK_HISTORY_MAX * sizeof(hk_module_t));
            hk_history.paths = hk_meta_map(HK_HISTORY_PATH_BYTES);
            if (hk_history.modules == NULL || hk_history.paths == NULL) {
                hk_history.failed = true;
                return 1;
            }
        }
        if (size < offsetof(struct dl_phdr_info, dlpi_subs)) return 1; /* an old loader: no counter */
        if (hk_history.looked && hk_history.adds == info->dlpi_adds) return 1;
        hk_history.adds = info->dlpi_adds;
        hk_history.looked = true;
    }
    if (info->dlpi_name == NULL || info->dlpi_name[0] != '/' || hk_history_known(info)) return 0;
    uintptr_t lo, hi;
    hk_module_span(info, &lo, &hi);
    size_t n = atomic_load_explicit(&hk_history.count, memory_order_relaxed);
    size_t len = strlen(info->dlpi_name) + 1;
    if (lo >= hi || n == HK_HISTORY_MAX || len > HK_HISTORY_PATH_BYTES - hk_history.paths_used) return 0;
    char *path = hk_history.paths + hk_history.paths_used;
    memcpy(path, info->dlpi_name, len);
    hk_history.paths_used += len;
    hk_history.modules[n] = (hk_module_t){lo, hi, info->dlpi_addr, path};
    atomic_store_explicit(&hk_history.count, n + 1, memory_order_release);
    return 0;
}

unsigned long long hk_module_history_note(void) {
    if (hk_history.failed) return 0;
    hk_history_walk_t walk = {.first = true};
    dl_iterate_phdr(hk_history_visit, &walk);
    return walk.generation;
}

const hk_module_t *hk_module_history(size_t *count) {
    *count = hk_history.modules == NULL ? 0 : atomic_load_explicit(&hk_history.count, memory_order_acquire);
    return hk_history.modules;
}
