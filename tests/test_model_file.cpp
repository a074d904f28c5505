// The malformed-file suite: every corruption gets its own clear error, never a crash.
//
// Starts from a valid converted model (tiny64, converted by ctest's convert step from
// tests/data, so it always runs), damages one thing at a time in memory, and checks
// the Status code and message. Runs under AddressSanitizer/UBSan in CI
// (GPEN_SANITIZE=ON). Also: reading a failed Result's value throws InternalError.
// The hostile-header cases at the end (issue 9) build files that once crashed the
// loader, took minutes or allocated gigabytes, and check each is refused quickly.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

#include "core/check.h"
#include "fixtures.h"
#include "model/gpen_weights.h"

using namespace gpen;
using namespace gpen::test;
using Bytes = std::vector<uint8_t>;
using nlohmann::ordered_json;

namespace {

Bytes ValidFile() {
  const std::string p = ModelsDir() + "/tiny64.safetensors";
  std::ifstream f(p, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "converted model missing: " << p);
  return Bytes(std::istreambuf_iterator<char>(f), {});
}

uint64_t HeaderLen(const Bytes& b) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | b[i];
  return n;
}

std::string HeaderText(const Bytes& b) {
  return std::string(b.begin() + 8, b.begin() + 8 + static_cast<int64_t>(HeaderLen(b)));
}

ordered_json Header(const Bytes& b) {
  return ordered_json::parse(HeaderText(b));
}

// Replaces the header text, keeping the data section byte-identical and aligned.
Bytes WithHeaderText(const Bytes& b, std::string text) {
  const uint64_t old = HeaderLen(b);
  text.append((64 - (8 + text.size()) % 64) % 64, ' ');
  Bytes out;
  out.reserve(8 + text.size() + b.size());
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(n >> (8 * i)));
  out.insert(out.end(), text.begin(), text.end());
  out.insert(out.end(), b.begin() + 8 + static_cast<int64_t>(old), b.end());
  return out;
}

Bytes WithHeader(const Bytes& b, const ordered_json& h) {
  return WithHeaderText(b, h.dump());
}

Status Load(const Bytes& b) {
  auto mf = ModelFile::FromBytes(b, "damaged.safetensors");
  if (!mf.ok()) return mf.status();
  auto w = GpenWeights::FromFile(mf.value());
  return w.ok() ? Status::Ok() : w.status();
}

void ExpectError(const Bytes& b, const std::string& needle) {
  Status s = Load(b);
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == ErrorCode::kFormat);
  CHECK_MESSAGE(s.message().find("damaged.safetensors") != std::string::npos, s.message());
  CHECK_MESSAGE(s.message().find(needle) != std::string::npos,
                "expected '" << needle << "' in: " << s.message());
}

}  // namespace

TEST_CASE("model file: the valid file loads and binds") {
  Status s = Load(ValidFile());
  CHECK_MESSAGE(s.ok(), s.ToString());
}

TEST_CASE("model file: too short for the header length") {
  Bytes b = ValidFile();
  b.resize(5);
  ExpectError(b, "too short for the 8-byte header length");
}

TEST_CASE("model file: header length past the end") {
  Bytes b = ValidFile();
  const uint64_t n = b.size();  // 8 + n > size
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(n >> (8 * i));
  ExpectError(b, "reaches past the end of the file");
  for (int i = 0; i < 8; ++i) b[i] = 0xFF;
  ExpectError(b, "reaches past the end of the file");
}

TEST_CASE("model file: truncated data") {
  Bytes b = ValidFile();
  b.resize(b.size() - 1000);
  ExpectError(b, "lie outside the data section");
}

TEST_CASE("model file: offsets out of bounds") {
  Bytes b = ValidFile();
  ordered_json h = Header(b);
  auto& e = h["generator.style.1.bias"];
  const uint64_t len = e["data_offsets"][1].get<uint64_t>() - e["data_offsets"][0].get<uint64_t>();
  const uint64_t far = uint64_t{1} << 40;
  e["data_offsets"] = {far, far + len};
  ExpectError(WithHeader(b, h), "tensor 'generator.style.1.bias': data_offsets");
  e["data_offsets"] = {std::numeric_limits<uint64_t>::max() - 1, 3};
  ExpectError(WithHeader(b, h), "end before they begin");
}

TEST_CASE("model file: overlapping tensors") {
  Bytes b = ValidFile();
  ordered_json h = Header(b);
  // Two biases of the same size: point the second at the first's bytes.
  h["generator.style.2.bias"]["data_offsets"] = h["generator.style.1.bias"]["data_offsets"];
  ExpectError(WithHeader(b, h), "overlap");
}

TEST_CASE("model file: byte size disagrees with shape and dtype") {
  Bytes b = ValidFile();
  ordered_json h = Header(b);
  h["generator.style.1.bias"]["shape"] = {65};
  ExpectError(WithHeader(b, h), "holds 256 bytes but shape (65) of F32 needs 260 bytes");
}

TEST_CASE("model file: wrong shape for the architecture") {
  Bytes b = ValidFile();
  ordered_json h = Header(b);
  h["generator.style.1.weight"]["shape"] = {32, 128};  // same bytes, wrong shape
  ExpectError(WithHeader(b, h),
              "tensor 'generator.style.1.weight' has shape (32, 128), expected (64, 64)");
}

TEST_CASE("model file: missing and unknown tensors are both reported") {
  Bytes b = ValidFile();
  ordered_json h = Header(b);
  ordered_json renamed;
  for (auto it = h.begin(); it != h.end(); ++it)
    renamed[it.key() == "generator.style.1.bias" ? "generator.style.1.bias_renamed" : it.key()] =
        it.value();
  const Bytes d = WithHeader(b, renamed);
  ExpectError(d, "missing tensor 'generator.style.1.bias', expected shape (64)");
  ExpectError(d, "unknown tensor 'generator.style.1.bias_renamed' with shape (64)");
}

TEST_CASE("model file: unknown dtype") {
  Bytes b = ValidFile();
  ordered_json h = Header(b);
  h["generator.style.1.bias"]["dtype"] = "F64";
  ExpectError(WithHeader(b, h), "unsupported dtype 'F64'");
}

TEST_CASE("model file: duplicate tensor name") {
  Bytes b = ValidFile();
  std::string text = HeaderText(b);
  while (!text.empty() && text.back() == ' ') text.pop_back();
  const ordered_json h = ordered_json::parse(text);
  const std::string first = "\"generator.style.1.weight\":" + h["generator.style.1.weight"].dump();
  text.insert(1, first + ",");
  ExpectError(WithHeaderText(b, text),
              "tensor name 'generator.style.1.weight' appears more than once");
}

TEST_CASE("model file: header that is not JSON") {
  Bytes b = ValidFile();
  std::string text = HeaderText(b);
  text[text.size() / 2] = '{';
  text[0] = '[';
  ExpectError(WithHeaderText(b, text), "is not valid JSON");
  ExpectError(WithHeaderText(b, "[1, 2, 3]"), "not an object");
}

TEST_CASE("model file: malformed entries") {
  Bytes b = ValidFile();
  ordered_json h = Header(b);
  ordered_json h1 = h;
  h1["generator.style.1.bias"]["shape"] = {-4};
  ExpectError(WithHeader(b, h1), "is not a list of non-negative integers");
  ordered_json h2 = h;
  h2["generator.style.1.bias"].erase("data_offsets");
  ExpectError(WithHeader(b, h2), "'data_offsets' must be two non-negative integers");
  ordered_json h3 = h;
  h3["generator.style.1.bias"] = 7;
  ExpectError(WithHeader(b, h3), "entry is not a JSON object");
  ordered_json h4 = h;
  h4["__metadata__"]["in_size"] = 64;
  ExpectError(WithHeader(b, h4), "__metadata__ entry 'in_size' is not a string");
}

TEST_CASE("model file: misaligned tensor") {
  Bytes b = ValidFile();
  ordered_json h = Header(b);
  // A tensor followed by a padding entry of at least 4 bytes: move it into the gap.
  std::string moved;
  for (auto it = h.begin(); it != h.end() && moved.empty(); ++it) {
    if (it.key() == "__metadata__" || it.key().rfind("__pad__.", 0) == 0) continue;
    const uint64_t end = it.value()["data_offsets"][1].get<uint64_t>();
    const std::string pad = "__pad__." + std::to_string(end);
    if (h.contains(pad) && h[pad]["shape"][0].get<uint64_t>() >= 4) {
      it.value()["data_offsets"] = {it.value()["data_offsets"][0].get<uint64_t>() + 4, end + 4};
      h.erase(pad);
      moved = it.key();
    }
  }
  REQUIRE(!moved.empty());
  ExpectError(WithHeader(b, h), "tensor '" + moved + "': starts at file byte");
}

TEST_CASE("model file: metadata problems") {
  Bytes b = ValidFile();
  ordered_json h = Header(b);
  ordered_json h1 = h;
  h1["__metadata__"].erase("format");
  ExpectError(WithHeader(b, h1), "was not written by our converter");
  ordered_json h2 = h;
  h2["__metadata__"]["in_size"] = "sixty-four";
  ExpectError(WithHeader(b, h2), "'in_size' is 'sixty-four', expected an integer");
  ordered_json h3 = h;
  h3["__metadata__"]["narrow"] = "0.125";  // disagrees with the tensors
  ExpectError(WithHeader(b, h3), "tensors do not match");
  ordered_json h4 = h;
  h4["__metadata__"]["format_version"] = "99";
  ExpectError(WithHeader(b, h4), "format_version is '99'");
}

TEST_CASE("model file: NaN in a weight") {
  Bytes b = ValidFile();
  const ordered_json h = Header(b);
  const uint64_t begin = h["generator.style.1.bias"]["data_offsets"][0].get<uint64_t>();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(b.data() + 8 + HeaderLen(b) + begin + 8, &nan, 4);
  ExpectError(b, "tensor 'generator.style.1.bias' holds a NaN or Inf at flat index 2");
}

TEST_CASE("model file: wrong blur kernel values") {
  Bytes b = ValidFile();
  const ordered_json h = Header(b);
  const uint64_t begin = h["ecd1.0.0.kernel"]["data_offsets"][0].get<uint64_t>();
  const float v = 0.5f;
  std::memcpy(b.data() + 8 + HeaderLen(b) + begin, &v, 4);
  ExpectError(b, "tensor 'ecd1.0.0.kernel' element 0 is 0.5");
}

TEST_CASE("model file: random corruption never crashes") {
  // A deterministic miniature of the fuzz target: flip bytes in the header and
  // near the start of the data; every outcome must be a Status.
  const Bytes base = ValidFile();
  std::mt19937 rng(1234);
  const size_t span = std::min<size_t>(base.size(), 8 + HeaderLen(base) + 256);
  int rejected = 0;
  for (int i = 0; i < 300; ++i) {
    Bytes b = base;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) b[rng() % span] = static_cast<uint8_t>(rng());
    if (rng() % 8 == 0) b.resize(rng() % b.size());
    if (!Load(b).ok()) ++rejected;
  }
  CHECK(rejected > 0);
}

// Reading the value of a failed Result is a programmer error, not undefined behaviour:
// every accessor throws InternalError, and the message names the Status.
TEST_CASE("model file: value() of a failed load throws InternalError naming the status") {
  Bytes b = ValidFile();
  b.resize(5);
  auto mf = ModelFile::FromBytes(b, "damaged.safetensors");
  REQUIRE_FALSE(mf.ok());
  const auto& cmf = mf;
  CHECK_THROWS_WITH_AS(mf.value(), doctest::Contains("damaged.safetensors"), InternalError);
  CHECK_THROWS_WITH_AS(mf.value(), doctest::Contains("value of a failed Result"), InternalError);
  CHECK_THROWS_AS(cmf.value(), InternalError);
  CHECK_THROWS_AS(mf.operator->(), InternalError);
  CHECK_THROWS_AS(cmf.operator->(), InternalError);
  CHECK_THROWS_AS(std::move(mf).value(), InternalError);
  Result<int> fine = 3;
  CHECK(fine.value() == 3);
}

// ---- Hostile headers (issue 9): each class of attack gets a bounded, fast refusal. ----

namespace {

// A file of just a header (no data section), padded like the converter pads.
Bytes HeaderOnly(const std::string& text) {
  return WithHeaderText(Bytes(8, 0), text);
}

const char* kSmallMeta = R"("__metadata__":{"format":"gpen-engine","format_version":"1"})";

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int64_t PeakRssBytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<int64_t>(u.ru_maxrss) * 1024;
}

}  // namespace

// Stack overflow class: a shape nested 100,000 deep crashed while its error message
// printed the JSON recursively. Nesting is refused while parsing, before any DOM.
TEST_CASE("model file: stack overflow class: deep nesting is refused before it is built") {
  const int depth = 100000;
  const std::string text = std::string("{") + kSmallMeta + R"(,"t":{"dtype":"F32","shape":)" +
                           std::string(depth, '[') + std::string(depth, ']') +
                           R"(,"data_offsets":[0,0]}})";
  const Bytes b = HeaderOnly(text);
  CHECK(b.size() > 200000);
  ExpectError(b, "nested more than 8 levels deep");
  // Within the limit, a malformed shape is named in a bounded excerpt.
  const std::string nested = std::string("{") + kSmallMeta +
                             R"(,"t":{"dtype":"F32","shape":[[[[[")" + std::string(2000, '7') +
                             R"("]]]]],"data_offsets":[0,0]}})";
  const Status s = Load(HeaderOnly(nested));
  REQUIRE_FALSE(s.ok());
  CHECK_MESSAGE(s.message().find("is not a list of non-negative integers") != std::string::npos,
                s.message());
  CHECK(s.message().size() < 400);
}

// Error messages quote what the file holds, bounded and with control characters escaped.
TEST_CASE("model file: stack overflow class: messages quote file text bounded and escaped") {
  const std::string long_name(1 << 20, 'n');
  Status s = Load(HeaderOnly(std::string("{") + kSmallMeta + ",\"" + long_name +
                             R"(":{"dtype":"F64","shape":[1],"data_offsets":[0,4]}})"));
  REQUIRE_FALSE(s.ok());
  CHECK_MESSAGE(s.message().find("(1048576 bytes)") != std::string::npos, s.message());
  CHECK(s.message().size() < 400);
  const std::string long_dtype(100000, 'D');
  s = Load(HeaderOnly(std::string("{") + kSmallMeta + R"(,"t":{"dtype":")" + long_dtype +
                      R"(","shape":[1],"data_offsets":[0,4]}})"));
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("unsupported dtype") != std::string::npos);
  CHECK(s.message().size() < 400);
  s = Load(
      HeaderOnly(std::string("{") +
                 R"("__metadata__":{"format":"gpen-engine","format_version":"1\u001b[31m"}})"));
  REQUIRE_FALSE(s.ok());
  CHECK_MESSAGE(s.message().find("'1\\x1B[31m'") != std::string::npos, s.message());
  CHECK(s.message().find('\x1b') == std::string::npos);
  CHECK(QuoteUntrusted(std::string(300, 'a'), 100) ==
        "'" + std::string(100, 'a') + "'... (300 bytes)");
  CHECK(QuoteUntrusted("\xC3\xA9\xC3\xA9", 3) == "'\xC3\xA9'... (4 bytes)");  // no cut UTF-8
}

// Memory bomb class: a 256-byte file whose in-range metadata names a huge architecture
// used 10 GiB and 71 s zero-filling tensors it did not hold. Now presence and shape of
// every tensor are checked first, and nothing is allocated.
TEST_CASE("model file: memory bomb class: metadata without tensors allocates nothing") {
  const std::string text =
      R"({"__metadata__":{"format":"gpen-engine","format_version":"1","family":"gpen",)"
      R"("in_size":"2048","out_size":"2048","style_dim":"8192","n_mlp":"64",)"
      R"("channel_multiplier":"16","narrow":"16","isconcat":"true","lr_mlp":"0.01",)"
      R"("blur_kernel":"[1,3,3,1]"}})";
  const Bytes b = HeaderOnly(text);
  CHECK(b.size() <= 320);
  const int64_t rss0 = PeakRssBytes();
  const auto t0 = std::chrono::steady_clock::now();
  ExpectError(b, "missing tensor 'generator.style.1.weight', expected shape (8192, 8192)");
  CHECK(SecondsSince(t0) < 5.0);
  // The peak resident size did not grow by anything like one tensor (256 MiB here).
  CHECK((PeakRssBytes() - rss0) < (int64_t{256} << 20));
}

TEST_CASE("model file: memory bomb class: the check pass reads and allocates no tensor") {
  const Bytes b = ValidFile();
  auto mf = ModelFile::FromBytes(b, "valid.safetensors");
  REQUIRE(mf.ok());
  auto arch = GpenArch::FromModelFile(mf.value());
  REQUIRE(arch.ok());
  WeightStore store;
  Binder check = Binder::CheckOnly(&mf.value(), &store);
  const Param p = check.Bind("generator.style.1.weight", {64, 64});
  CHECK(p.valid());
  CHECK(store.tensor(0).empty());  // checked, not read
  const Param q = check.Bind("generator.style.1.weight_missing", {64, 64});
  CHECK_FALSE(q.valid());
}

// Quadratic parse class: 40,000 zero-size entries took 194 s (the JSON callback parser
// rescans the parent object after every entry). Parsing is now linear, and the number
// of entries is capped.
TEST_CASE("model file: quadratic parse class: entries are capped and parsed in linear time") {
  auto many = [](int n) {
    std::string text = std::string("{") + kSmallMeta;
    char buf[96];
    for (int i = 0; i < n; ++i) {
      std::snprintf(buf, sizeof buf, R"(,"t%06d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]})",
                    i);
      text += buf;
    }
    return HeaderOnly(text + "}");
  };
  auto t0 = std::chrono::steady_clock::now();
  ExpectError(many(40000), "the header has more than 16384 entries");
  CHECK(SecondsSince(t0) < 5.0);
  t0 = std::chrono::steady_clock::now();
  // Just under the cap: parsed whole (the error comes from the metadata, after the parse).
  ExpectError(many(static_cast<int>(kMaxHeaderEntries) - 1), "__metadata__ lacks 'family'");
  CHECK(SecondsSince(t0) < 5.0);
}

TEST_CASE("model file: quadratic parse class: duplicate keys are found in every object") {
  ExpectError(HeaderOnly(std::string("{") + kSmallMeta +
                         R"(,"t":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})"),
              "key 'dtype' appears more than once in the entry 't'");
  ExpectError(HeaderOnly(R"({"__metadata__":{"format":"gpen-engine","format":"x"}})"),
              "key 'format' appears more than once");
}

TEST_CASE("model file: a FIFO or a folder is refused without blocking") {
  char tmpl[] = "/tmp/gpen_model_XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string fifo = std::string(tmpl) + "/m.safetensors";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  auto pending = std::async(std::launch::async, [&] { return ModelFile::Open(fifo).status(); });
  if (pending.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    // Unblock the reader so the test can end, then fail.
    const int fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0) close(fd);
    FAIL("ModelFile::Open blocked on a FIFO");
  }
  const Status s = pending.get();
  CHECK(s.code() == ErrorCode::kIo);
  CHECK_MESSAGE(s.message().find("not a regular file (a FIFO)") != std::string::npos, s.message());
  const Status d = ModelFile::Open(tmpl).status();
  CHECK(d.message().find("not a regular file (a folder)") != std::string::npos);
  unlink(fifo.c_str());
  rmdir(tmpl);
}
