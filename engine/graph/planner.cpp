// Best-fit arena planner with in-place reuse for element-wise ops.
#include "graph/planner.h"

#include <algorithm>
#include <climits>
#include <map>

#include "core/check.h"

namespace gpen {

namespace {

int64_t AlignUp(int64_t v, int64_t a) {
  return (v + a - 1) / a * a;
}

// Free list of [offset, offset + size) blocks, merged on release.
class FreeList {
 public:
  int64_t Allocate(int64_t size) {
    auto best = blocks_.end();
    for (auto it = blocks_.begin(); it != blocks_.end(); ++it) {
      if (it->second >= size && (best == blocks_.end() || it->second < best->second)) best = it;
    }
    if (best != blocks_.end()) {
      const int64_t off = best->first;
      const int64_t rest = best->second - size;
      blocks_.erase(best);
      if (rest > 0) blocks_[off + size] = rest;
      return off;
    }
    // Grow the arena; reuse a free block that ends at the top.
    int64_t off = top_;
    if (!blocks_.empty()) {
      auto last = std::prev(blocks_.end());
      if (last->first + last->second == top_) {
        off = last->first;
        blocks_.erase(last);
      }
    }
    top_ = off + size;
    peak_ = std::max(peak_, top_);
    return off;
  }
  void Release(int64_t off, int64_t size) {
    auto it = blocks_.emplace(off, size).first;
    auto next = std::next(it);
    if (next != blocks_.end() && it->first + it->second == next->first) {
      it->second += next->second;
      blocks_.erase(next);
    }
    if (it != blocks_.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        blocks_.erase(it);
      }
    }
  }
  int64_t peak() const { return peak_; }

 private:
  std::map<int64_t, int64_t> blocks_;
  int64_t top_ = 0;
  int64_t peak_ = 0;
};

}  // namespace

MemoryPlan PlanMemory(const Graph& g, size_t act_elem_bytes, size_t alignment) {
  const auto& ts = g.tensors();
  const auto& ns = g.nodes();
  const int nt = static_cast<int>(ts.size());
  MemoryPlan p;
  p.alignment = alignment;
  p.offset.assign(nt, -1);
  p.bytes.resize(nt);
  p.first_node.resize(nt);
  p.last_node.assign(nt, -1);
  for (int t = 0; t < nt; ++t) {
    const size_t es = ts[t].cls == TensorClass::kAlwaysFp32 ? 4 : act_elem_bytes;
    p.bytes[t] = ts[t].shape.numel() * static_cast<int64_t>(es);
    p.first_node[t] = ts[t].producer;
  }
  for (int i = 0; i < static_cast<int>(ns.size()); ++i)
    for (int t : ns[i].in) p.last_node[t] = std::max(p.last_node[t], i);
  for (int t = 0; t < nt; ++t)
    if (ts[t].is_output) p.last_node[t] = INT32_MAX;
  // Inputs stay intact so that a pass can be repeated (benchmarks, graph replay).
  for (int t : g.inputs()) p.last_node[t] = INT32_MAX;

  std::vector<int64_t> slot(nt, 0);  // aligned size actually held
  FreeList fl;
  const int64_t al = static_cast<int64_t>(alignment);
  auto alloc = [&](int t) {
    slot[t] = AlignUp(std::max<int64_t>(p.bytes[t], 1), al);
    p.offset[t] = fl.Allocate(slot[t]);
  };
  for (int t : g.inputs()) alloc(t);
  for (int i = 0; i < static_cast<int>(ns.size()); ++i) {
    const Node& n = ns[i];
    int donated = -1;
    if (MayRunInPlace(n) && !n.in.empty()) {
      const int src = n.in[0];
      const bool used_again =
          std::count(n.in.begin(), n.in.end(), src) > 1 || p.last_node[src] != i;
      if (!used_again && slot[src] >= AlignUp(std::max<int64_t>(p.bytes[n.out], 1), al) &&
          p.bytes[src] == p.bytes[n.out]) {
        p.offset[n.out] = p.offset[src];
        slot[n.out] = slot[src];
        donated = src;
      }
    }
    if (donated < 0) alloc(n.out);
    std::vector<int> freed;
    for (int t : n.in) {
      if (t == donated || p.last_node[t] != i) continue;
      if (std::find(freed.begin(), freed.end(), t) != freed.end()) continue;
      freed.push_back(t);
      fl.Release(p.offset[t], slot[t]);
    }
  }
  p.arena_bytes = fl.peak();
  return p;
}

bool PlanIsValid(const Graph& g, const MemoryPlan& p) {
  const int nt = static_cast<int>(g.tensors().size());
  // A tensor occupies its bytes from its producer to its last reader, inclusive.
  for (int a = 0; a < nt; ++a) {
    for (int b = a + 1; b < nt; ++b) {
      const int a0 = p.first_node[a], a1 = std::max(p.last_node[a], a0);
      const int b0 = p.first_node[b], b1 = std::max(p.last_node[b], b0);
      if (a1 < b0 || b1 < a0) continue;  // lifetimes disjoint
      const bool overlap =
          p.offset[a] < p.offset[b] + p.bytes[b] && p.offset[b] < p.offset[a] + p.bytes[a];
      if (!overlap) continue;
      // Allowed only for in-place hand-over: b produced by the node where a dies.
      const bool handover =
          (a1 == b0 && MayRunInPlace(g.nodes()[b0]) && g.nodes()[b0].in[0] == a) ||
          (b1 == a0 && MayRunInPlace(g.nodes()[a0]) && g.nodes()[a0].in[0] == b);
      if (!handover) return false;
    }
  }
  return true;
}

}  // namespace gpen
