// cxx_mismatch_array.cc — new S[3] freed by a plain delete: memcheck's "Mismatched free() / delete /
// delete []". S is trivially destructible, so the array has no cookie and the compiler's sized
// delete says sizeof(S), 16 bytes, for a block of 48: the mismatch is what must be reported, not
// the size.
#include "check_util.h"

struct S {
    long a, b;
};

CK_FN static S *make_array() { return new S[3]; }

int main() {
    S *s = static_cast<S *>(ck_launder(make_array()));
    delete s;
    return 0;
}
