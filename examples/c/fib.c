/* fib: the n-th Fibonacci number (mod 2^64), n read from the input.
 *
 * Input: u64 n (little-endian), clamped to 93 (the largest that fits in 64 bits).
 * Result: r0 = fib(n); fib(10) = 55, fib(50) = 12586269025, fib(93) = 12200160415121876738.
 *
 * Shows a global function (called through an R_BPF_64_32 relocation against a defined
 * symbol) next to a static one (a pc-relative call with no relocation). */
#include "bpfvm.h"

__attribute__((noinline)) u64 fib(u64 n)
{
	u64 a = 0, b = 1;
	for (u64 i = 0; i < n; i++) {
		u64 next = a + b;
		a = b;
		b = next;
	}
	return a;
}

static __attribute__((noinline)) u64 clamp(u64 n, u64 max)
{
	return n > max ? max : n;
}

u64 entrypoint(const u8 *input)
{
	return fib(clamp(read_u64(input), 93));
}
