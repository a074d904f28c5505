// cudasim internals shared by the runtime, the scheduler and the cuBLAS stand-in:
// configuration, messages, the last-error slot, stream submission, and the registry
// of device allocations that range checks consult.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace cudasim::internal {

enum class Order { kForward, kReverse, kShuffle };

struct Config {
  int devices = 1;                   // GPEN_CUDASIM_DEVICES: 0, 1, or "nodriver" (-1)
  size_t memory = size_t{16} << 30;  // GPEN_CUDASIM_MEMORY: e.g. 512M, 16G
  Order order = Order::kForward;     // GPEN_CUDASIM_ORDER: forward, reverse, shuffle
  uint64_t seed = 1;                 // GPEN_CUDASIM_SEED: for the shuffled order
  bool always_fibers = false;        // GPEN_CUDASIM_FIBERS=always: no fast path
  // GPEN_CUDASIM_POISON: the byte fresh device and shared memory is filled with. 0xFF
  // (NaN) by default; 0x7F (3.4e38 as float) shows a read that fmaxf would hide.
  int poison = 0xFF;
};
Config& GetConfig();

// "cudasim: <message>" on stderr, then abort(): for kernel bugs that a GPU would turn
// into a hang or undefined behaviour.
[[noreturn]] void Abort(const std::string& message);
// A message for an API misuse that returns an error code (the caller's CUDA_CHECK
// then names the call).
void Report(const std::string& message);

void SetLastError(cudaError_t e);

// Runs `op` now, or records it when `stream` is capturing a graph. Returns the error
// a real runtime would give (a legacy-stream call during a capture, a dead stream).
cudaError_t Submit(cudaStream_t stream, std::function<void()> op);
// Whether a synchronous call is allowed now; invalidates captures when it is not.
cudaError_t CheckNotCapturing(const char* api);

// The allocation containing [p, p + bytes): true, or false with a Report naming `what`.
bool DeviceRangeOk(const void* p, size_t bytes, const char* what);
bool IsDevicePointer(const void* p);

}  // namespace cudasim::internal
