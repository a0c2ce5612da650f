// cxx_mismatch_scalar.cc — new int freed by delete[].
#include "check_util.h"

CK_FN static int *make_int() { return new int(7); }

int main() {
    int *p = static_cast<int *>(ck_launder(make_int()));
    delete[] p;
    return 0;
}
