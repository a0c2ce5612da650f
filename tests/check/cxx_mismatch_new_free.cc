// cxx_mismatch_new_free.cc — a block from new freed by free.
#include <cstdlib>

#include "check_util.h"

struct Node {
    Node *next;
    int value;
};

CK_FN static Node *make_node() { return new Node{nullptr, 1}; }

int main() {
    Node *n = static_cast<Node *>(ck_launder(make_node()));
    std::free(n);
    return 0;
}
