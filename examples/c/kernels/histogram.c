/* histogram: a byte histogram over a large buffer (memory-heavy: a load, then a
 * read-modify-write of a counter, per byte).
 *
 * Input: u64 len; u32 counts[256] (scratch, overwritten); u8 data[len].
 * Result: r0 = the counts folded by h = h * 31 + counts[b], b = 0..255. */
#include "kernel.h"

u64 entrypoint(u8 *input)
{
	u64 len = read_u64(input);
	u32 *counts = (u32 *)(input + 8);
	const u8 *data = input + 8 + 256 * 4;
	u64 h = 0;

	/* volatile keeps the compiler from turning the clear into a memset call. */
	for (u32 i = 0; i < 128; i++)
		((volatile u64 *)counts)[i] = 0;
	for (u64 i = 0; i < len; i++)
		counts[data[i]]++;
	for (u32 b = 0; b < 256; b++)
		h = h * 31 + counts[b];
	return h;
}
