/* Helpers by number, declared as kernel-style programs declare them, in a program section
 * ("socket") without an `entrypoint` symbol: 1 memfrob, 2 no_op, 3 sqrti, 4 strcmp_ext,
 * 5 unwind (the bpf_conformance set). Inputs shorter than 8 bytes unwind with r0 = 0. */
#include "types.h"

static u64 (*memfrob)(void *, u64) = (void *)1;
static u64 (*no_op)(void) = (void *)2;
static u64 (*sqrti)(u64) = (void *)3;
static s64 (*strcmp_ext)(const char *, const char *) = (void *)4;
static u64 (*unwind)(u64) = (void *)5;

static __attribute__((noinline)) u64 read_u64(const u8 *p) { return *(const u64 *)p; }

__attribute__((section("socket"))) u64 program(u8 *input, u64 len) {
    if (len < 8)
        return unwind(0) + 1;
    u64 value = read_u64(input);
    memfrob(input, 4);
    u64 root = sqrti(value);
    s64 cmp = strcmp_ext("abc", "abd");
    return value ^ (root << 1) ^ (u64)cmp ^ ((u64)input[0] << 56) ^ no_op();
}
