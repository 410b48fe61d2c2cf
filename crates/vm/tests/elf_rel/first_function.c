/* No `entrypoint` symbol: the entry is the first function. Returns 42 via a helper. */
typedef unsigned long u64;

static __attribute__((noinline)) u64 helper(u64 x) { return x + 2; }

u64 start(const unsigned char *input) {
    (void)input;
    return helper(40);
}

u64 other(u64 x) { return x * 3; }
