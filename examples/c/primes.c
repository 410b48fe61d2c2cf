/* primes: how many primes are below n, by the sieve of Eratosthenes.
 *
 * Input: u64 n (little-endian), clamped to 2048.
 * Result: r0 = the count; n = 100 gives 25, n = 1000 gives 168, n = 2048 gives 309.
 *
 * The sieve is a 256-byte bitset on the stack (BPF frames are small), cleared and marked by
 * two static helpers. */
#include "bpfvm.h"

#define LIMIT 2048
#define WORDS (LIMIT / 64)

static __attribute__((noinline)) void clear(u64 *bits)
{
	for (u32 i = 0; i < WORDS; i++)
		((volatile u64 *)bits)[i] = 0;
}

static __attribute__((noinline)) void mark_multiples(u64 *bits, u64 p, u64 n)
{
	for (u64 m = p * p; m < n; m += p)
		bits[m / 64] |= 1ULL << (m % 64);
}

u64 entrypoint(const u8 *input)
{
	u64 bits[WORDS];
	u64 n = read_u64(input);
	u64 count = 0;

	if (n > LIMIT)
		n = LIMIT;
	clear(bits);
	for (u64 i = 2; i < n; i++) {
		if (bits[i / 64] & (1ULL << (i % 64)))
			continue;
		count++;
		mark_multiples(bits, i, n);
	}
	return count;
}
