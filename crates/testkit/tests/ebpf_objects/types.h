/* Fixed-width types for the eBPF object tests (no libc here). */
#ifndef BPFVM_TEST_TYPES_H
#define BPFVM_TEST_TYPES_H

typedef unsigned char u8;
typedef unsigned int u32;
typedef int s32;
typedef unsigned long long u64;
typedef long long s64;

#endif
