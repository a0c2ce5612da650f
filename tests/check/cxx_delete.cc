// cxx_delete.cc — new int[10], one int written past it, delete[]. The allocating function is a
// class member in a namespace, so the report must name it demangled (corpus::Arrays::make(int)).
#include "check_util.h"

namespace corpus {
struct Arrays {
    CK_FN static int *make(int n) { return new int[n]; }
};
} // namespace corpus
CK_FN static void write_past(int *a) { a[10] = 7; }

int main() {
    int *a = static_cast<int *>(ck_launder(corpus::Arrays::make(10)));
    write_past(a);
    delete[] a;
    return 0;
}
