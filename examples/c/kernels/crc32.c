/* crc32: the CRC-32 of IEEE 802.3 (reflected, polynomial 0xedb88320), bit by bit
 * (arithmetic: shifts, masks and xors, eight rounds per byte, no table).
 *
 * Input: u64 len; u8 data[len].
 * Result: r0 = the CRC; "123456789" gives 0xcbf43926. */
#include "kernel.h"

u64 entrypoint(u8 *input)
{
	u64 len = read_u64(input);
	const u8 *data = input + 8;
	u64 crc = 0xffffffffULL;

	for (u64 i = 0; i < len; i++) {
		crc ^= data[i];
		for (u32 bit = 0; bit < 8; bit++)
			crc = (crc >> 1) ^ (0xedb88320ULL & (0ULL - (crc & 1)));
	}
	return crc ^ 0xffffffffULL;
}
