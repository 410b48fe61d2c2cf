/* Shared declarations for the benchmark kernels. Each kernel is one C file built twice from
 * the same source: for BPF (`clang -O2 -target bpf -mcpu=v2`, the committed .o) and natively
 * (by crates/testkit/build.rs, with `entrypoint` renamed per kernel). Kernels stay
 * relocation-free so both VMs can run the raw .text: one exported function, everything else
 * `static inline`, no globals, no strings, no calls the compiler could turn into memset or
 * memcpy. Input words are 8-byte aligned (the VM's input starts at 0x4_0000_0000; the
 * native benchmark passes a u64 buffer). */
#ifndef BPFVM_KERNEL_H
#define BPFVM_KERNEL_H

typedef unsigned char u8;
typedef unsigned int u32;
typedef unsigned long long u64;

static inline u64 read_u64(const u8 *p) { return *(const u64 *)p; }

#endif
