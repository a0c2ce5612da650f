// cxx_delete.cc — new int[10], one int written past it, delete[].
#include "check_util.h"

CK_FN static int *make_array() { return new int[10]; }
CK_FN static void write_past(int *a) { a[10] = 7; }

int main() {
    int *a = static_cast<int *>(ck_launder(make_array()));
    write_past(a);
    delete[] a;
    return 0;
}
