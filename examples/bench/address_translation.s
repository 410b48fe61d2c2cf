# Loads every byte of a 0x20000-byte input (655361 instructions).
    ldxb r0, [r1]
    add r1, 1
    mov r0, r1
    and r0, 0xFFFFFF
    jlt r0, 0x20000, -5
    exit
