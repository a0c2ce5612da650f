// cxx_mismatch_malloc_delete.cc — a block from malloc freed by delete.
#include <cstdlib>

#include "check_util.h"

CK_FN static long *make_long() { return static_cast<long *>(std::malloc(sizeof(long))); }

int main() {
    long *p = static_cast<long *>(ck_launder(make_long()));
    delete p;
    return 0;
}
