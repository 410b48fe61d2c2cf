/* A kernel-style object without `entrypoint`: a helper function in .text and the program in
 * its own section, which comes after .text. The entry is the program, not the lowest
 * function. Returns in[0] + 2. */
typedef unsigned long u64;

__attribute__((noinline)) u64 helper(u64 x) { return x + 2; }

__attribute__((section("socket"))) u64 program(const unsigned char *input) {
    return helper(input[0]);
}
