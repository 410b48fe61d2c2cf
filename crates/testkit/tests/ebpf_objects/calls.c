/* Calls that need frames of their own: arrays on the stack across calls, a callee filling
 * its caller's array, naive recursion, and function pointers (callx through a table in
 * .rodata). The input holds at least four bytes (the length is not read, so the program runs
 * alike in both dialects). */
#include "types.h"

static __attribute__((noinline)) void fill(u64 *out, u64 n, u64 seed) {
    for (u64 i = 0; i < n; i++)
        out[i] = seed * i + (i ^ seed);
}

static __attribute__((noinline)) u64 sum_local(u64 seed) {
    u64 buf[16];
    fill(buf, 16, seed);
    u64 s = 0;
    for (u64 i = 0; i < 16; i++)
        s += buf[i] * (i + 1);
    return s;
}

static __attribute__((noinline)) u64 fib(u64 n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static __attribute__((noinline)) u64 twice(u64 x) { return 2 * x; }
static __attribute__((noinline)) u64 square(u64 x) { return x * x; }
u64 (*const ops[2])(u64) = {twice, square};

u64 entrypoint(const u8 *input) {
    u64 keep[4] = {input[0], input[1], input[2], input[3]};
    u64 a = sum_local(keep[0]);
    u64 b = sum_local(keep[1] + 1);
    u64 c = fib(keep[2] % 12);
    u64 d = ops[keep[3] & 1](keep[0] + keep[1]);
    return a + b * 3 + c + d + keep[0] + keep[1] + keep[2] + keep[3];
}
