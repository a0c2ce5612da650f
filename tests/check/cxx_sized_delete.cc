// cxx_sized_delete.cc — a Derived deleted through a pointer to its Base, which has no virtual
// destructor: the compiler's sized delete says sizeof(Base), 8 bytes, for a block of 40.
#include "check_util.h"

struct Base {
    long id;
};
struct Derived : Base {
    char name[32];
};

CK_FN static Base *make_derived() { return new Derived(); }

int main() {
    Base *b = static_cast<Base *>(ck_launder(make_derived()));
    delete b;
    return 0;
}
