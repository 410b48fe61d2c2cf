/* hash: the 64-bit FNV-1a hash of words chosen by the input, from tables in read-only data.
 *
 * Input: u8 count, then count bytes; each byte picks WORDS[byte % 4] ("alpha", "beta",
 * "gamma", "delta"). Result: r0 = FNV-1a over the chosen words, concatenated, with the
 * initial basis SEEDS[count % 4]. Examples (input hex -> r0):
 *   00         -> 0xcbf29ce484222325 (nothing hashed: the standard basis)
 *   0100       -> 0xb51e2ca8e40dd7d8 ("alpha")
 *   03010203   -> 0xbc87f7881955dbfb ("betagammadelta", basis SEEDS[3])
 *   020302     -> 0x8bf3a344cbf5fb6c ("deltagamma", basis SEEDS[2])
 *
 * Shows globals: WORDS is an array of pointers (R_BPF_64_ABS64 relocations in .rodata),
 * SEEDS a table read with a computed index (an lddw with R_BPF_64_64), and the strings
 * themselves in .rodata.str. */
#include "bpfvm.h"

static const char *const WORDS[4] = { "alpha", "beta", "gamma", "delta" };
const u64 SEEDS[4] = {
	0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL, 0x0123456789abcdefULL, 0xfedcba9876543210ULL,
};

static __attribute__((noinline)) u64 fnv1a(u64 hash, const char *text)
{
	for (; *text; text++) {
		hash ^= (u8)*text;
		hash *= 0x100000001b3ULL;
	}
	return hash;
}

u64 entrypoint(const u8 *input)
{
	u64 count = input[0];
	u64 hash = SEEDS[count % 4];

	for (u64 i = 0; i < count; i++)
		hash = fnv1a(hash, WORDS[input[1 + i] % 4]);
	return hash;
}
