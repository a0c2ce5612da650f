/* page.c — a page: blocks of one size class with two free lists.
 * `free` is the owner's (it allocates from and frees to it, last in first out, so the block handed
 * out is warm in cache); `thread_free` is an atomic stack other threads push to, collected by the
 * owner when `free` runs dry. */
#include "hooks.h"

/* The block size and what follows from it (fit.c makes blocks of other sizes than the class). */
void hk_page_set_block_size(hk_page_t *page, size_t size) {
    page->block_size = size;
    page->block_inverse = UINT64_MAX / size + 1;
    page->carve_count = size < HK_EXTEND_BYTES ? (uint32_t)(HK_EXTEND_BYTES / size) : 1;
}

/* Set up a page the segment just handed out (in_use, under the segment lock) for a size class;
 * page->mem_dirty says whether its memory may hold old contents. */
void hk_page_init(hk_page_t *page, size_t bin) {
    size_t area_size;
    page->start = hk_page_area(page, &area_size);
    hk_page_set_block_size(page, hk_bin_size(bin));
    page->bin = (uint8_t)bin;
    page->reserved = (uint32_t)(area_size / page->block_size);
    page->capacity = 0;
    page->used = 0;
    page->free = NULL;
    page->is_zero = 0;
    atomic_store_explicit(&page->tail_state, HK_TAIL_NONE, memory_order_relaxed);
    page->next = page->prev = NULL;
    /* Hardened too: every free goes where the quarantine is. Not for leak tracking alone, whose
     * frees take the plain paths (hk_state.frees_plain). */
    hk_page_set_flags(page, (hk_observed() && !hk_state.frees_plain) || hk_secure() ? HK_PAGE_OBSERVED : 0);
    hk_remote_init(&page->thread_free);
}

/* Link the next few uncarved blocks into `free` (which is empty). */
void hk_page_extend(hk_page_t *page) {
    size_t bsize = page->block_size;
    size_t n = page->carve_count;
    if (n > page->reserved - page->capacity) n = page->reserved - page->capacity;
    uint8_t *first = page->start + (size_t)page->capacity * bsize;
    if (hk_unlikely(hk_secure())) {
        page->free = hk_secure_shuffle(first, n, bsize, page->free);
    } else {
        uint8_t *b = first;
        for (size_t i = 1; i < n; i++, b += bsize) ((hk_block_t *)b)->next = hk_encode(b + bsize);
        ((hk_block_t *)b)->next = hk_encode(page->free);
        page->free = (hk_block_t *)first;
    }
    if (bsize > HK_SMALL_MAX && page->mem_dirty) {
        /* hollow.c's walk stops at a marked block: a mark left by this memory's last life (the
         * page restarted or taken again) would stop it at a block never hollowed. */
        for (size_t i = 0; i < n; i++) ((uintptr_t *)(first + i * bsize))[1] = 0;
    }
    page->capacity += (uint32_t)n;
    page->is_zero = !page->mem_dirty;
}

/* An empty page its heap keeps (the last of its bin) starts carving over from its start: only its
 * first few KiB of blocks stay linked, and the rest of its memory, whose free blocks the free list
 * no longer names, can be given back while the page stays in its queue (hk_segment_purge_due
 * does when the program goes idle, or the purger, for a thread that sleeps and so never runs its
 * own pass). The owner's fast paths touch only what is carved: the page needs no lock meanwhile. */
void hk_page_restart(hk_page_t *page) {
    page->free = NULL;
    page->capacity = 0;
    page->mem_dirty = 1; /* what was carved is dirty */
    hk_page_extend(page);
    atomic_store_explicit(&page->tail_state, HK_TAIL_IDLE, memory_order_release);
}

/* The whole OS pages past the carved blocks of a page, up to its area's end: its tail. */
uint8_t *hk_page_tail(hk_page_t *page, size_t *size) {
    size_t area, ps = hk_os_page_size();
    uint8_t *area_start = hk_page_area(page, &area);
    uintptr_t start = hk_align_up((uintptr_t)(page->start + (size_t)page->capacity * page->block_size), ps);
    uintptr_t end = ((uintptr_t)area_start + area) & ~(uintptr_t)(ps - 1);
    *size = end > start ? end - start : 0;
    return (uint8_t *)start;
}

/* Take the blocks other threads freed onto `free`, keeping the notify bit as it is. Returns how
 * many blocks were collected. With `free` empty (the usual case) this is O(1): the stack's length
 * is in the word; otherwise it walks the stack to find its tail. */
size_t hk_page_collect(hk_page_t *page) {
    /* Empty (the usual case): one load, no store. */
    if (hk_remote_head(hk_remote_load(&page->thread_free, memory_order_relaxed)) == 0) return 0;
    /* A signal (a leak check's stop) between the take and the count below must see the flag: the
     * fences keep the compiler from moving the flag's stores across them; no instruction. */
    page->collecting = 1;
    atomic_signal_fence(memory_order_seq_cst);
    uintptr_t tf = hk_remote_take(&page->thread_free);
    if (tf == 0) { /* only the owner takes, so not after the load above; kept as the old guard */
        atomic_signal_fence(memory_order_seq_cst);
        page->collecting = 0;
        return 0;
    }
    hk_block_t *head = (hk_block_t *)hk_remote_head(tf);
    size_t count = hk_remote_count(tf);
    /* Only blocks of this page are ever pushed, and no more than it has handed out: a head
     * elsewhere or a count too big is a page record written over. */
    if (!hk_page_link_valid(page, (uintptr_t)head) || count > page->used)
        hk_corrupt_page(page, "its remote-free list points outside the page or counts more blocks than are in use");
    if (page->free != NULL) {
        hk_block_t *tail = head;
        for (size_t walked = 0; walked < count; walked++) {
            uintptr_t next = tail->next ^ hk_key;
            if (next == 0) break;
            tail = hk_page_link_checked(page, tail, next);
        }
        tail->next = hk_encode(page->free);
    }
    page->free = head;
    page->is_zero = 0;
    page->used -= (uint32_t)count;
    atomic_signal_fence(memory_order_seq_cst);
    page->collecting = 0;
    return count;
}

/* Every link is checked before it is followed: the list may be the one a stray write broke. */
static bool hk_list_contains(hk_page_t *page, hk_block_t *list, const hk_block_t *b, size_t limit) {
    for (; list != NULL && limit > 0; list = hk_page_link_checked(page, list, list->next ^ hk_key), limit--)
        if (list == b) return true;
    return false;
}

/* Is b on one of the page's free lists? Only the owner may ask. */
bool hk_page_contains_free(hk_page_t *page, const hk_block_t *b) {
    hk_block_t *remote = (hk_block_t *)hk_remote_head(hk_remote_load(&page->thread_free, memory_order_acquire));
    return hk_list_contains(page, page->free, b, page->reserved) || hk_list_contains(page, remote, b, page->reserved);
}

/* Marks the blocks of one list in bits; how many it holds, or SIZE_MAX when it leaves the page's
 * carved block starts, names a block twice or is longer than `most` (what it marked is marked). */
hk_rare_path static size_t hk_page_mark_list(const hk_page_t *page, uintptr_t head, uint64_t *bits, size_t most) {
    size_t n = 0;
    for (uintptr_t b = head; b != 0; b = ((const hk_block_t *)b)->next ^ hk_key) {
        if (n == most || !hk_page_link_valid(page, b)) return SIZE_MAX;
        uint64_t i = hk_page_block_index(page, (const void *)b);
        if (bits[i / 64] & ((uint64_t)1 << (i % 64))) return SIZE_MAX;
        bits[i / 64] |= (uint64_t)1 << (i % 64);
        n++;
    }
    return n;
}

/* For the leak check while the threads that could change the page are stopped: sets bit i of
 * `bits` (page->capacity bits, zeroed by the caller) for every carved block i on the page's free
 * lists, its own and the remote stack. Only links to carved block starts not seen yet are
 * followed, so a list that a stopped thread was changing, or that a stray
 * write broke, gives a wrong answer, never a fault or an abort. Returns whether the lists hold
 * exactly the blocks the page counts as free: false when a thread stopped between two steps of a
 * pop or a push (the counts disagree) or inside a collect (page->collecting: the stack it took is
 * held in its registers only, and the counts still agree). */
hk_rare_path bool hk_page_free_bitmap(const hk_page_t *page, uint64_t *bits) {
    uint32_t capacity = page->capacity, used = page->used;
    uintptr_t tf = hk_remote_load((hk_remote_t *)&page->thread_free, memory_order_acquire);
    if (capacity > page->reserved || used > capacity) return false;
    bool exact = !page->collecting; /* a stack taken and not yet counted is on no list */
    if (used == 0 && hk_remote_head(tf) == 0) { /* all free: no need to touch every block */
        for (uint32_t i = 0; i < capacity; i++) bits[i / 64] |= (uint64_t)1 << (i % 64);
        return exact;
    }
    size_t local = hk_page_mark_list(page, (uintptr_t)page->free, bits, capacity);
    size_t remote = hk_page_mark_list(page, hk_remote_head(tf), bits, capacity);
    return exact && local == capacity - used && remote == hk_remote_count(tf);
}

/* ------------------------------------------------------------- page queues */

void hk_queue_push_front(hk_page_queue_t *q, hk_page_t *page) {
    page->prev = NULL;
    page->next = q->first;
    if (q->first) q->first->prev = page;
    else q->last = page;
    q->first = page;
}

void hk_queue_push_back(hk_page_queue_t *q, hk_page_t *page) {
    page->next = NULL;
    page->prev = q->last;
    if (q->last) q->last->next = page;
    else q->first = page;
    q->last = page;
}

void hk_queue_remove(hk_page_queue_t *q, hk_page_t *page) {
    if (page->prev) page->prev->next = page->next;
    else q->first = page->next;
    if (page->next) page->next->prev = page->prev;
    else q->last = page->prev;
    page->next = page->prev = NULL;
}
