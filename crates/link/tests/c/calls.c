/* calls: every kind of call and address the linker rewrites.
 *
 * - OPS, a table of function pointers in read-only data (R_BPF_64_ABS64 against .text),
 *   called through it (`callx`, register in the immediate as clang 14 writes it);
 * - fold, a global function (R_BPF_64_32 against a defined symbol);
 * - depth, a static recursive function (a pc-relative call, no relocation);
 * - NAMES, a string passed to a syscall (R_BPF_64_64 against .rodata);
 * - sol_log_ and sol_log_64_, imports (R_BPF_64_32 against undefined symbols).
 *
 * Input: u8 n (at most 8 operations are used), then n operation bytes.
 * Result: r0 = fold(ops, min(n, 8), 3) + depth(n & 15), where operation k % 3 is
 * x + 1, 2 * x or x * x. Input 03 00 01 02 gives ((3 + 1) * 2)^2 + 3 = 67. */
typedef unsigned char u8;
typedef unsigned long long u64;

extern u64 sol_log_(const char *message, u64 len);
extern u64 sol_log_64_(u64 a, u64 b, u64 c, u64 d, u64 e);

static u64 add_one(u64 x) { return x + 1; }
static u64 twice(u64 x) { return x * 2; }
static u64 square(u64 x) { return x * x; }

u64 (*const OPS[3])(u64) = { add_one, twice, square };
static const char NAMES[] = "add_one twice square";

__attribute__((noinline)) u64 fold(const u8 *ops, u64 n, u64 x)
{
	for (u64 i = 0; i < n; i++)
		x = OPS[ops[i] % 3](x);
	return x;
}

static __attribute__((noinline)) u64 depth(u64 n)
{
	return n == 0 ? 0 : 1 + depth(n - 1);
}

u64 entrypoint(const u8 *input)
{
	u64 n = input[0] > 8 ? 8 : input[0];

	sol_log_(NAMES, sizeof(NAMES) - 1);
	u64 folded = fold(input + 1, n, 3);
	sol_log_64_(n, folded, 0, 0, 0);
	return folded + depth(input[0] & 15);
}
