// Memory planner: places every tensor of a graph in one arena, before anything runs.
//
// Lifetimes come from the graph order: a tensor lives from the node that produces
// it to the last node that reads it (graph outputs and the input live to the end). Tensors are
// placed at aligned best-fit offsets in a free list, as ggml-alloc does; an
// element-wise op whose input dies at that op may write over it in place. The
// arena size the plan reports is exactly what a backend allocates for activations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "graph/graph.h"

namespace gpen {

struct MemoryPlan {
  std::vector<int64_t> offset;  // per tensor, bytes from the arena start
  std::vector<int64_t> bytes;   // per tensor, unaligned size
  std::vector<int> first_node;  // producing node (-1: graph input)
  std::vector<int> last_node;   // last reading node (INT32_MAX: graph output)
  int64_t arena_bytes = 0;      // peak = size of the arena
  size_t alignment = 256;
};

// act_elem_bytes: 4 for fp32 activations, 2 for fp16 (kAlwaysFp32 tensors stay 4).
MemoryPlan PlanMemory(const Graph& g, size_t act_elem_bytes, size_t alignment = 256);

// True when no two tensors whose lifetimes overlap share bytes (a test oracle).
bool PlanIsValid(const Graph& g, const MemoryPlan& p);

}  // namespace gpen
