// gpen bench --profile: one forward pass timed op by op (Backend::ProfiledRun), with
// each op's GFLOP/s and GB/s (Graph::NodeFlops, Graph::NodeBytes), the ten most
// expensive ops and their share of the pass, and optionally a CSV of every op.
#pragma once

#include <string>
#include <vector>

#include "backend.h"
#include "core/status.h"

namespace gpen::cli {

struct OpProfileRow {
  size_t index = 0;
  std::string op, name;
  double ms = 0, gflop = 0, gbytes = 0, share = 0;
};

// Rows of a profiled run of `g` (the backend's own graph; fp16 counts 2-byte activations).
std::vector<OpProfileRow> ProfileRows(const Graph& g, const std::vector<OpTiming>& timings,
                                      Precision precision);

// Profiles one pass of `backend` (its input already set, warmed up), prints the summary
// and, with csv_path, writes index,op,name,ms,gflop,gbytes,gflops,gbps,share per op.
[[nodiscard]] Status ProfilePass(Backend& backend, Precision precision,
                                 const std::string& csv_path);

}  // namespace gpen::cli
