/* 32-bit arithmetic whose results sBPF would sign-extend (add, sub, mul), 32-bit signed
 * compares (JMP32 under -mcpu=v3), unsigned division and shifts. The input holds two u32s
 * (at least 8 bytes; the length is not read, so the program runs alike in both dialects). */
#include "types.h"

static __attribute__((noinline)) u64 wrap_sub(u32 a, u32 b) { return (u32)(a - b); }

static __attribute__((noinline)) u64 mix(u32 x, u32 y) {
    u32 h = 2166136261u;
    for (int i = 0; i < 4; i++) {
        h ^= (x >> (8 * i)) & 0xff;
        h *= 16777619u;
    }
    if ((s32)h < (s32)y)
        h += y * 3u;
    else
        h -= y;
    return h;
}

u64 entrypoint(const u8 *input) {
    u32 a = *(const u32 *)input;
    u32 b = *(const u32 *)(input + 4);
    u64 r = wrap_sub(a, b);
    r = r * 1000003 + mix(a, b);
    r ^= (u64)(u32)(a * b) << 7;
    r += (u64)(a / (b | 1)) + (u64)(a % (b | 1));
    r += (u64)(u32)((s32)a >> 3);
    r += (u64)(u32)(a + 0x80000000u);
    return r;
}
