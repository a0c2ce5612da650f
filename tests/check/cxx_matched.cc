// cxx_matched.cc — every family freed by its own: new[]/delete[] (with and without a cookie),
// new/sized delete, aligned new/delete, nothrow new/delete, malloc/realloc/free. Nothing may be
// reported.
#include <cstdlib>
#include <new>

#include "check_util.h"

struct Plain {
    long a, b;
};
struct WithDtor {
    long a;
    ~WithDtor() { a = 0; }
};
struct alignas(64) Wide {
    char bytes[64];
};

int main() {
    Plain *arr = static_cast<Plain *>(ck_launder(new Plain[3]));
    delete[] arr;
    WithDtor *cookie = static_cast<WithDtor *>(ck_launder(new WithDtor[4]));
    delete[] cookie;
    Plain *one = static_cast<Plain *>(ck_launder(new Plain()));
    delete one; // the sized delete, 16 bytes: right
    Wide *w = static_cast<Wide *>(ck_launder(new Wide()));
    delete w;
    Wide *ws = static_cast<Wide *>(ck_launder(new Wide[2]));
    delete[] ws;
    int *nt = static_cast<int *>(ck_launder(new (std::nothrow) int(3)));
    delete nt;
    char *c = static_cast<char *>(ck_launder(std::malloc(10)));
    c = static_cast<char *>(std::realloc(c, 100));
    std::free(ck_launder(c));
    return 0;
}
