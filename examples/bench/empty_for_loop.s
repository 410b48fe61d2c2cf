# The reference's empty for loop (0x10000 iterations, 262145 instructions).
    mov r1, r2
    and r1, 1023
    add r2, 1
    jlt r2, 0x10000, -4
    exit
