/* Shared declarations for the example programs: fixed-width types (no libc here) and the
 * Solana syscalls they call. A call to an extern function becomes an R_BPF_64_32 relocation
 * against an undefined symbol, which the loader resolves to a syscall by name. */
#ifndef BPFVM_EXAMPLE_H
#define BPFVM_EXAMPLE_H

typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;

extern u64 sol_log_(const char *message, u64 len);
extern u64 sol_log_64_(u64 a, u64 b, u64 c, u64 d, u64 e);
extern u64 sol_memcpy_(void *dst, const void *src, u64 n);

/* The input starts at 0x4_0000_0000, so the first u64 is aligned. */
static inline u64 read_u64(const u8 *p) { return *(const u64 *)p; }

#endif
