/* collatz: the lengths of Collatz trajectories (a loop of a few instructions with a
 * data-dependent branch, a multiply and a shift per step).
 *
 * Input: u64 start; u64 count.
 * Result: r0 = the sum over x in [start, start + count) of the number of steps x takes to
 * reach 1 (x = x / 2 when even, 3x + 1 when odd; 0 and 1 take 0 steps; values wrap mod
 * 2^64); start 27, count 1 gives 111. */
#include "kernel.h"

u64 entrypoint(u8 *input)
{
	u64 start = read_u64(input);
	u64 count = read_u64(input + 8);
	u64 total = 0;

	for (u64 x0 = start; x0 < start + count; x0++) {
		u64 x = x0;
		while (x > 1) {
			if (x & 1)
				x = 3 * x + 1;
			else
				x >>= 1;
			total++;
		}
	}
	return total;
}
