/* sort: insertion sort of a small array, several rounds (branchy: data-dependent compares
 * and an inner loop of unpredictable length).
 *
 * Input: u64 rounds; u64 n (clamped to 96); u32 values[n].
 * Result: r0 = for each round r, the values xored with r * 0x9e3779b9 (as u32), sorted on
 * the stack, folded by h = h * 1000003 + value. */
#include "kernel.h"

#define MAX 96

static inline void insertion_sort(u32 *a, u64 n)
{
	for (u64 i = 1; i < n; i++) {
		u32 v = a[i];
		u64 j = i;
		while (j > 0 && a[j - 1] > v) {
			a[j] = a[j - 1];
			j--;
		}
		a[j] = v;
	}
}

u64 entrypoint(u8 *input)
{
	u64 rounds = read_u64(input);
	u64 n = read_u64(input + 8);
	const u32 *values = (const u32 *)(input + 16);
	u32 a[MAX];
	u64 h = 0;

	if (n > MAX)
		n = MAX;
	for (u64 r = 0; r < rounds; r++) {
		u32 key = (u32)(r * 0x9e3779b9ULL);
		for (u64 i = 0; i < n; i++)
			a[i] = values[i] ^ key;
		insertion_sort(a, n);
		for (u64 i = 0; i < n; i++)
			h = h * 1000003 + a[i];
	}
	return h;
}
