// cudasim controls for tests: shrink the simulated device to provoke out-of-memory,
// hide the device, and read how much device memory is allocated.
#pragma once

#include <cstddef>

namespace cudasim {

void SetMemoryLimit(size_t bytes);  // the simulated device's size (default 16 GiB)
// 1: one device; 0: no device (cudaErrorNoDevice); -1: no driver (cudaErrorInsufficientDriver).
void SetDeviceCount(int devices);
size_t DeviceBytesInUse();

}  // namespace cudasim
