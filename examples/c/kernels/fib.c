/* fib: the doubly recursive Fibonacci function, many rounds (calls: deep recursion with
 * small bodies; clang keeps one of the two calls and turns the other into a loop, so each
 * call frame does a compare, a call, an add and a return).
 *
 * Input: u64 rounds; u64 n (clamped to 1..=16, so that the recursion stays within the 20
 * call frames of the 2022 configuration).
 * Result: r0 = for each round r, fib(n - (r & 1)) folded by h = h * 31 + fib; one round of
 * n = 16 gives 987. */
#include "kernel.h"

#define MAX_N 16

static __attribute__((noinline)) u64 fib(u64 n)
{
	if (n < 2)
		return n;
	return fib(n - 1) + fib(n - 2);
}

u64 entrypoint(u8 *input)
{
	u64 rounds = read_u64(input);
	u64 n = read_u64(input + 8);
	u64 h = 0;

	if (n > MAX_N)
		n = MAX_N;
	if (n == 0)
		n = 1;
	for (u64 r = 0; r < rounds; r++)
		h = h * 31 + fib(n - (r & 1));
	return h;
}
