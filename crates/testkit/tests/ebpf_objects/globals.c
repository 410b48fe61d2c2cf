/* Writable globals: a counter in .data, a histogram and a word in .bss, a table and a string
 * in .rodata. Each run counts itself and adds the input to the histogram, so a second run in
 * the same VM sees the first run's writes. */
#include "types.h"

const u64 primes[8] = {2, 3, 5, 7, 11, 13, 17, 19};
static const char banner[] = "bpfvm";
u64 calls = 100;
u64 histogram[8];
static u32 last;

u64 entrypoint(const u8 *input, u64 len) {
    calls += 1;
    u64 sum = 0;
    for (u64 i = 0; i < len && i < 64; i++) {
        histogram[input[i] & 7] += 1;
        sum += primes[input[i] & 7] * (u64)banner[i % 5];
    }
    u64 previous = last;
    last = (u32)sum;
    u64 h = 0;
    for (int i = 0; i < 8; i++)
        h = h * 31 + histogram[i];
    return sum ^ (h << 20) ^ (calls << 40) ^ (previous << 8);
}
