// std_cxx_new.cc — C++'s operator new and delete under LD_PRELOAD: every replaceable form resolves to
// heapkit's own (not libstdc++'s) and hands out heapkit's blocks, aligned as asked; a request that
// cannot be served throws std::bad_alloc after calling the new-handler (the nothrow forms return
// nullptr); sized and aligned deletes give the blocks back; containers churn on it from threads.
#include <dlfcn.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <thread>
#include <vector>

static int failures;
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

using owns_fn = bool (*)(const void *);
static owns_fn hk_owns_fn;

// The module that defines a symbol the program resolves.
static std::string module_of(const char *mangled) {
    void *sym = dlsym(RTLD_DEFAULT, mangled);
    Dl_info info;
    if (sym == nullptr || dladdr(sym, &info) == 0 || info.dli_fname == nullptr) return "";
    return info.dli_fname;
}

static bool from_heapkit(const void *p) { return hk_owns_fn != nullptr && hk_owns_fn(p); }

struct alignas(64) Line {
    char bytes[64];
};
struct alignas(4096) Page {
    char bytes[100];
};

static int handler_calls;
static void give_up_handler() {
    handler_calls++;
    std::set_new_handler(nullptr); // the next failure throws
}

// Too big for any allocator: the request fails at once, without touching memory.
static const std::size_t too_big = (std::size_t)1 << 62;

static void check_symbols() {
    static const char *const forms[] = {
        "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t", "_ZnwmSt11align_val_t",
        "_ZnamSt11align_val_t", "_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t",
        "_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm", "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t",
        "_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t", "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
        "_ZdlPvSt11align_val_tRKSt9nothrow_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t"};
    for (const char *f : forms) {
        std::string m = module_of(f);
        if (m.find("libheapkit") == std::string::npos) {
            std::fprintf(stderr, "%s resolves to '%s', not heapkit\n", f, m.c_str());
            failures++;
        }
    }
}

static void check_forms() {
    int *one = new int(7);
    CHECK(from_heapkit(one) && *one == 7);
    delete one; // sized delete (-fsized-deallocation is on by default in C++14 and later)

    int *many = new int[1000];
    CHECK(from_heapkit(many));
    for (int i = 0; i < 1000; i++) many[i] = i;
    delete[] many;

    char *empty = new char[0];
    char *empty2 = new char[0];
    CHECK(empty != nullptr && empty2 != nullptr && empty != empty2);
    delete[] empty;
    delete[] empty2;

    double *quiet = new (std::nothrow) double[16];
    CHECK(quiet != nullptr && from_heapkit(quiet));
    ::operator delete[](quiet, std::nothrow);
    void *raw = ::operator new(24, std::nothrow);
    CHECK(raw != nullptr && from_heapkit(raw));
    ::operator delete(raw, std::nothrow);

    Line *line = new Line;
    CHECK(((uintptr_t)line & 63) == 0 && from_heapkit(line));
    delete line; // aligned sized delete
    Line *lines = new Line[5];
    CHECK(((uintptr_t)lines & 63) == 0);
    delete[] lines;
    Page *page = new Page;
    CHECK(((uintptr_t)page & 4095) == 0 && from_heapkit(page));
    delete page;
    void *al = ::operator new(100, std::align_val_t(256), std::nothrow);
    CHECK(al != nullptr && ((uintptr_t)al & 255) == 0);
    ::operator delete(al, std::align_val_t(256), std::nothrow);
    void *al2 = ::operator new[](100, std::align_val_t(128));
    CHECK(((uintptr_t)al2 & 127) == 0);
    ::operator delete[](al2, std::align_val_t(128));
    void *al3 = ::operator new(48, std::align_val_t(8)); // below the default alignment
    CHECK(al3 != nullptr && ((uintptr_t)al3 & 15) == 0);
    ::operator delete(al3, 48, std::align_val_t(8));
    ::operator delete(nullptr);
    ::operator delete[](nullptr, 16);
}

static void check_failures() {
    bool threw = false;
    try {
        char *p = new char[too_big];
        p[0] = 1;
        delete[] p;
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw);

    threw = false;
    try {
        void *p = ::operator new(too_big);
        ::operator delete(p);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw);

    threw = false;
    try {
        void *p = ::operator new[](too_big, std::align_val_t(64));
        ::operator delete[](p, std::align_val_t(64));
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw);

    CHECK(::operator new(too_big, std::nothrow) == nullptr);
    CHECK(::operator new[](too_big, std::nothrow) == nullptr);
    CHECK(::operator new(too_big, std::align_val_t(64), std::nothrow) == nullptr);
    CHECK(::operator new[](too_big, std::align_val_t(64), std::nothrow) == nullptr);

    // The handler runs before the exception, and a request after it works as before.
    handler_calls = 0;
    std::set_new_handler(give_up_handler);
    threw = false;
    try {
        void *p = ::operator new(too_big);
        ::operator delete(p);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw && handler_calls == 1);
    handler_calls = 0;
    std::set_new_handler(give_up_handler);
    CHECK(::operator new(too_big, std::nothrow) == nullptr && handler_calls == 1);
    std::set_new_handler(nullptr);
    int *after = new int(3);
    CHECK(from_heapkit(after) && *after == 3);
    delete after;
}

// std::map and std::string churn, in threads that also free what others allocated.
static void check_containers() {
    std::vector<std::map<int, std::string>> maps(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++) {
        threads.emplace_back([&maps, t] {
            std::map<int, std::string> &m = maps[t];
            for (int i = 0; i < 20000; i++) {
                m[i % 997] = std::string((size_t)(i % 200), (char)('a' + t));
                if (i % 3 == 0) m.erase((i * 7) % 997);
            }
        });
    }
    for (auto &th : threads) th.join();
    std::thread other([&maps] { maps.clear(); }); // freed by another thread
    other.join();
    CHECK(maps.empty());
}

int main() {
    hk_owns_fn = (owns_fn)dlsym(RTLD_DEFAULT, "hk_owns");
    if (hk_owns_fn == nullptr) {
        std::fprintf(stderr, "std_cxx_new: heapkit is not loaded (run with LD_PRELOAD=libheapkit.so)\n");
        return 1;
    }
    check_symbols();
    check_forms();
    check_failures();
    check_containers();
    if (failures != 0) {
        std::printf("std_cxx_new: FAILED (%d failed checks)\n", failures);
        return 1;
    }
    std::printf("std_cxx_new: passed\n");
    return 0;
}
