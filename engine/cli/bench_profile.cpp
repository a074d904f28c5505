// gpen bench --profile (bench_profile.h): the per-op table, the top ten, the CSV.
#include "cli/bench_profile.h"

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace gpen::cli {

namespace {

double Rate(double amount, double ms) {
  return ms > 0 ? amount / (ms * 1e-3) : 0;
}

// The op's name as a CSV field (module paths have no commas, but quote any that would).
std::string CsvName(const std::string& v) {
  if (v.find_first_of(",\"") == std::string::npos) return v;
  std::string q = "\"";
  for (char ch : v) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

Status WriteCsv(const std::vector<OpProfileRow>& rows, const std::string& path) {
  std::ofstream f(path);
  if (!f) {
    return InvalidArgument("cannot write the profile to '" + path + "'",
                           "give --profile-csv a path in a writable folder");
  }
  f << "index,op,name,ms,gflop,gbytes,gflops,gbps,share\n";
  char buf[256];
  for (const OpProfileRow& r : rows) {
    std::snprintf(buf, sizeof buf, ",%.6f,%.6f,%.6f,%.3f,%.3f,%.6f", r.ms, r.gflop, r.gbytes,
                  Rate(r.gflop, r.ms), Rate(r.gbytes, r.ms), r.share);
    f << r.index << "," << r.op << "," << CsvName(r.name) << buf << "\n";
  }
  f.close();
  if (!f) {
    return InvalidArgument("cannot write the profile to '" + path + "'",
                           "check the free space of the folder given to --profile-csv");
  }
  return Status::Ok();
}

void PrintTop(const std::vector<OpProfileRow>& rows, double total_ms) {
  std::vector<const OpProfileRow*> top;
  for (const OpProfileRow& r : rows) top.push_back(&r);
  std::stable_sort(top.begin(), top.end(),
                   [](const OpProfileRow* a, const OpProfileRow* b) { return a->ms > b->ms; });
  top.resize(std::min<size_t>(top.size(), 10));
  std::printf("  profile: %zu ops, %.3f ms in all; the most expensive:\n", rows.size(), total_ms);
  std::printf("  %5s  %-18s %10s %6s %9s %8s  %s\n", "index", "op", "ms", "share", "GFLOP/s",
              "GB/s", "name");
  for (const OpProfileRow* r : top) {
    std::printf("  %5zu  %-18s %10.3f %5.1f%% %9.1f %8.1f  %s\n", r->index, r->op.c_str(), r->ms,
                100.0 * r->share, Rate(r->gflop, r->ms), Rate(r->gbytes, r->ms), r->name.c_str());
  }
}

}  // namespace

std::vector<OpProfileRow> ProfileRows(const Graph& g, const std::vector<OpTiming>& timings,
                                      Precision precision) {
  const size_t es = precision == Precision::kFp16 ? 2 : 4;
  double total = 0;
  for (const OpTiming& t : timings) total += t.ms;
  std::vector<OpProfileRow> rows;
  for (const OpTiming& t : timings) {
    const Node& n = g.nodes()[t.node];
    OpProfileRow r;
    r.index = t.node;
    r.op = OpName(n.kind);
    r.name = n.name;
    r.ms = t.ms;
    r.gflop = g.NodeFlops(t.node) / 1e9;
    r.gbytes = g.NodeBytes(t.node, es) / 1e9;
    r.share = total > 0 ? t.ms / total : 1.0 / static_cast<double>(timings.size());
    rows.push_back(std::move(r));
  }
  return rows;
}

Status ProfilePass(Backend& backend, Precision precision, const std::string& csv_path) {
  GPEN_ASSIGN_OR_RETURN(std::vector<OpTiming> timings, backend.ProfiledRun());
  const std::vector<OpProfileRow> rows = ProfileRows(backend.graph(), timings, precision);
  double total = 0;
  for (const OpProfileRow& r : rows) total += r.ms;
  PrintTop(rows, total);
  if (!csv_path.empty()) {
    GPEN_TRY(WriteCsv(rows, csv_path));
    std::printf("  profile of every op written to %s\n", csv_path.c_str());
  }
  return Status::Ok();
}

}  // namespace gpen::cli
