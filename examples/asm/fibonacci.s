# fibonacci.s: r0 = fib(n) where n is the first input byte.
# Run: bpfvm run examples/asm/fibonacci.s --input-hex 0a   (fib(10) = 55 = 0x37)
entrypoint:
    ldxb r2, [r1+0]
    mov64 r0, 0
    mov64 r3, 1
    jeq r2, 0, done
loop:
    mov64 r4, r0
    add64 r4, r3
    mov64 r0, r3
    mov64 r3, r4
    sub64 r2, 1
    jne r2, 0, loop
done:
    exit
