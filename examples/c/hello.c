/* hello: logs a greeting, copies part of the input with sol_memcpy_ and logs it back.
 *
 * Input: u64 len (little-endian), then len bytes of text; len is clamped to 64.
 * Result: r0 = len. Logs, in order: "hello from C", the text, and sol_log_64_ of
 * (len, first byte, last byte, 0, 0). Example: input 0500000000000000776f726c64 ("world")
 * returns 5 and logs "hello from C", "world", "0x5, 0x77, 0x64, 0x0, 0x0".
 *
 * Shows calls to syscalls by name (R_BPF_64_32 against undefined symbols) and a string
 * constant in .rodata passed to the host. */
#include "bpfvm.h"

static const char GREETING[] = "hello from C";

u64 entrypoint(const u8 *input)
{
	u8 text[64];
	u64 len = read_u64(input);

	if (len > sizeof(text))
		len = sizeof(text);
	sol_log_(GREETING, sizeof(GREETING) - 1);
	sol_memcpy_(text, input + 8, len);
	sol_log_((const char *)text, len);
	sol_log_64_(len, len ? text[0] : 0, len ? text[len - 1] : 0, 0, 0);
	return len;
}
