// gpen bench --sweep AXIS=v1,v2,... (repeatable): the cartesian product of the axes,
// each point measured in a child process (this binary re-executed, /proc/self/exe, as
// `gpen bench <flags> <the point's flags> --sweep-point`), so that a point's peak RSS
// and device memory are its own; the children print their rows (bench_point.h), and
// the sweep writes them as CSV (--csv), a Markdown table (--md) and to stdout. A point
// that fails keeps its row, with valid=no and no measurements.
#pragma once

#include <string>
#include <vector>

#include "cli/bench_point.h"
#include "core/status.h"

namespace gpen::cli {

struct SweepAxis {
  std::string name;  // arch, device, precision, batch, size, tile, tile_pad, tile_batch,
                     // budget, threads
  std::string flag;  // the gpen bench flag that sets it
  std::vector<std::string> values;
};

// "AXIS=v1,v2,..." each; an unknown axis, an empty value or an axis given twice is an
// error naming --sweep.
Result<std::vector<SweepAxis>> ParseSweepAxes(const std::vector<std::string>& specs);

struct SweepOptions {
  // Flags every point gets ("--iters", "3", ...), none that an axis sets.
  std::vector<std::string> base_args;
  std::string csv, md;  // output files; empty: none
};

// Prints `rows` as a Markdown table and writes them to `csv` and `md` (each when given).
[[nodiscard]] Status WriteTables(const std::vector<PointRow>& rows, const std::string& csv,
                                 const std::string& md);

// Runs every point; an error when any point failed (after the tables are written).
[[nodiscard]] Status RunSweep(const std::vector<SweepAxis>& axes, const SweepOptions& o);

}  // namespace gpen::cli
