// RRDBNet on the CUDA backend (a GPU, or the CPU emulator in CI): the rrdb fixture sets
// in fp32 and fp16 against upstream's float64 outputs.
//
// Tolerances. fp32: the CPU bounds (test_rrdb.cpp), since cuDNN/cuBLAS differ from
// OpenBLAS only in the order of sums. fp16: activations and convolution weights are
// stored in fp16 (11 significant bits, 2^-11 ~ 4.9e-4 relative per rounding) with fp32
// accumulation, through ~35 layers whose residual adds keep errors from compounding
// multiplicatively: relative L2 5e-3 (GPEN's fp16 bound), and as 8-bit images within
// 2 levels on 99.9% of values.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <memory>

#include "compare.h"
#include "fixtures.h"
#include "net/registry.h"
#include "npy.h"
#include "session.h"

using namespace gpen;
using namespace gpen::test;

TEST_CASE("gpu rrdb fixtures: fp32 and fp16 against upstream's float64 outputs") {
  for (const char* set : {"rrdb_x1_tiny", "rrdb_x2_tiny", "rrdb_x4_tiny"}) {
    const std::string dir = FixtureDir("rrdb", set);
    REQUIRE_MESSAGE(!dir.empty(), set << " ships in tests/data/rrdb");
    auto net = LoadNetwork(ModelsDir() + "/" + set + ".safetensors");
    REQUIRE_MESSAGE(net.ok(), net.status().ToString());
    auto in = ReadNpy(dir + "/input.npy");
    auto ref = ReadNpy(dir + "/output.npy");
    REQUIRE(in.ok());
    REQUIRE(ref.ok());
    auto io = net.value()->Io(in->shape[2], in->shape[3]);
    REQUIRE(io.ok());
    for (Precision p : {Precision::kFp32, Precision::kFp16}) {
      const bool h = p == Precision::kFp16;
      BackendOptions bo;
      bo.precision = p;
      auto s = Session::Create(net.value(), net.value()->OptionsFor(io.value(), in->shape[0]),
                               Device::kCuda, bo);
      REQUIRE_MESSAGE(s.ok(), s.status().ToString());
      std::vector<float> out(static_cast<size_t>(ref->shape.numel()));
      REQUIRE(s.value()->Run(in->data.data(), out.data()).ok());
      const std::string what = std::string(set) + (h ? " cuda fp16" : " cuda fp32");
      CompareResult r = Compare(what, out, ref->shape, ref->data, ref->shape,
                                h ? Tolerance{1e-1, 1e-1, 5e-3} : Tolerance{1e-4, 1e-4, 1e-5});
      MESSAGE(r.message);
      CHECK_MESSAGE(r.ok, r.message);
      int64_t over = 0;
      for (size_t i = 0; i < out.size(); ++i) {
        auto level = [](float v) { return std::lround(std::fmin(std::fmax(v, 0.f), 1.f) * 255.f); };
        over += std::labs(level(out[i]) - level(ref->data[i])) > (h ? 2 : 1);
      }
      CHECK(over <= (h ? static_cast<int64_t>(out.size()) / 1000 : 0));
    }
  }
}
