# sum_calls.s: sums the 8 input bytes with an internal function call per byte, keeping the
# running total in r6 (callee-saved: the VM restores it), and logs the total with `log_64`.
# Run: bpfvm run examples/asm/sum_calls.s --input-hex 0102030405060708 --syscalls demo
entrypoint:
    mov64 r6, 0
    mov64 r7, 0
    mov64 r8, r1
next:
    mov64 r1, r8
    add64 r1, r7
    call function_load
    add64 r6, r0
    add64 r7, 1
    jlt r7, 8, next
    mov64 r1, r6
    mov64 r2, 0
    mov64 r3, 0
    mov64 r4, 0
    mov64 r5, 0
    syscall log_64
    mov64 r0, r6
    exit
function_load:
    ldxb r0, [r1+0]
    mov64 r6, 99
    exit
