/* basic.c without writable globals, so that it loads in sBPF too: strings in .rodata, static
 * and global calls, syscalls by name, a function-pointer table (R_BPF_64_ABS64 in data).
 * Returns square(in[0]) + table[in[1] & 3] + ops[in[2] & 1](in[0]). */
typedef unsigned long u64;
typedef unsigned char u8;

extern void sol_log_(const char *message, u64 len);
extern void sol_log_64_(u64 a, u64 b, u64 c, u64 d, u64 e);

static const char greeting[] = "hello from rodata";
const u64 table[4] = {10, 20, 30, 40};

static __attribute__((noinline)) u64 square(u64 x) { return x * x; }
__attribute__((noinline)) u64 twice(u64 x) { return x + x; }
__attribute__((noinline)) u64 lookup(u64 i) { return table[i & 3]; }

u64 (*const ops[2])(u64) = {square, twice};

u64 entrypoint(const u8 *input) {
    sol_log_(greeting, sizeof(greeting) - 1);
    u64 value = square(input[0]) + lookup(input[1]) + ops[input[2] & 1](input[0]);
    sol_log_64_(value, 1, 2, 3, 4);
    return value;
}
