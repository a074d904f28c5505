// Fiber context switching for the scheduler. On x86-64 a switch saves the six
// callee-saved registers and the stack pointer and nothing else: glibc's swapcontext
// also makes a signal-mask system call on every switch, which made it most of the
// emulator's run time. Elsewhere, ucontext. (MXCSR and the x87 control word are not
// switched: every fiber runs with the process's defaults.)
#pragma once

#include <cstddef>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace cudasim::detail {

struct Context {
#if defined(__x86_64__)
  void* sp = nullptr;
#else
  ucontext_t uc{};
#endif
};

// Prepares `c` to start `entry` (which must never return) on the given stack.
void MakeContext(Context* c, void* stack, size_t bytes, void (*entry)());
// Saves the running context in `from` and resumes `to`.
void SwitchContext(Context* from, Context* to);

}  // namespace cudasim::detail
