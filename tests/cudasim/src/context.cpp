// Fiber context switching (context.h).
#include "context.h"

#include <cstdint>

#if defined(__x86_64__)
extern "C" void cudasim_switch_stack(void** save_sp, void* new_sp);
// System V x86-64: rbx, rbp, r12-r15 are callee-saved; the return address is on the
// stack, so "ret" after restoring the new stack resumes the other fiber.
asm(R"(
  .text
  .globl cudasim_switch_stack
  .type cudasim_switch_stack, @function
cudasim_switch_stack:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size cudasim_switch_stack, .-cudasim_switch_stack
  .section .note.GNU-stack, "", @progbits
  .text
)");
#endif

namespace cudasim::detail {

#if defined(__x86_64__)
void MakeContext(Context* c, void* stack, size_t bytes, void (*entry)()) {
  // The first switch pops six zeroed registers, then "returns" into entry with the
  // stack aligned as after a call (rsp + 8 a multiple of 16).
  auto top = (reinterpret_cast<uintptr_t>(stack) + bytes) & ~uintptr_t{15};
  auto** sp = reinterpret_cast<void**>(top - 16);
  *sp = reinterpret_cast<void*>(entry);
  for (int i = 0; i < 6; ++i) *--sp = nullptr;
  c->sp = sp;
}

void SwitchContext(Context* from, Context* to) {
  cudasim_switch_stack(&from->sp, to->sp);
}
#else
void MakeContext(Context* c, void* stack, size_t bytes, void (*entry)()) {
  getcontext(&c->uc);
  c->uc.uc_stack.ss_sp = stack;
  c->uc.uc_stack.ss_size = bytes;
  c->uc.uc_link = nullptr;
  makecontext(&c->uc, entry, 0);
}

void SwitchContext(Context* from, Context* to) {
  swapcontext(&from->uc, &to->uc);
}
#endif

}  // namespace cudasim::detail
