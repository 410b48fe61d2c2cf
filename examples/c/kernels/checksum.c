/* checksum: a mixing copy of a large buffer followed by a Fletcher-style checksum of the
 * copy (memory-heavy, streaming: one load and one store per word, then one load per word).
 *
 * Input: u64 words; u64 src[words]; u64 dst[words] (scratch, overwritten).
 * Result: r0 = (b << 32) ^ a, where a += dst[i] and b += a over the copy. The copy xors
 * each word with i * 0x9e3779b97f4a7c15 so the loop is no memcpy idiom. */
#include "kernel.h"

u64 entrypoint(u8 *input)
{
	u64 words = read_u64(input);
	const u64 *src = (const u64 *)(input + 8);
	u64 *dst = (u64 *)(input + 8 + words * 8);
	u64 a = 0, b = 0;

	for (u64 i = 0; i < words; i++)
		dst[i] = src[i] ^ (i * 0x9e3779b97f4a7c15ULL);
	for (u64 i = 0; i < words; i++) {
		a += dst[i];
		b += a;
	}
	return (b << 32) ^ a;
}
