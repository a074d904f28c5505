// gpen info MODEL: what a model file of any family holds, after full validation.
#include <cstdio>
#include <memory>

#include "cli/args.h"
#include "cli/commands.h"
#include "model/model_file.h"
#include "net/registry.h"

namespace gpen::cli {

namespace {
std::string Mib(int64_t bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return b;
}
}  // namespace

Status CmdInfo(int argc, char** argv) {
  Args a("info");
  a.Flag("-h,--help", false, "show this help").Positional(1, "MODEL");
  GPEN_TRY(a.Parse(argc, argv));
  if (a.Has("--help") || a.positional().size() != 1) {
    std::printf(
        "usage: gpen info MODEL.safetensors\n\nValidates a converted model file and "
        "describes it.\n");
    if (a.Has("--help")) return Status::Ok();
    return InvalidArgument("gpen info: expected exactly one MODEL argument",
                           "usage: gpen info MODEL.safetensors");
  }
  const std::string path = a.positional()[0];
  GPEN_ASSIGN_OR_RETURN(std::shared_ptr<const Network> net, LoadNetwork(path));
  GPEN_ASSIGN_OR_RETURN(ModelFile file, ModelFile::Open(path));  // its metadata, checked again
  const WeightStore& store = net->store();
  const int64_t params = store.total_params();
  auto meta = [&](const char* k) {
    auto it = file.metadata().find(k);
    return it == file.metadata().end() ? std::string("?") : it->second;
  };
  std::printf("model         %s\n", path.c_str());
  std::printf("family        %s\n", net->family().c_str());
  std::printf("architecture  %s\n", net->Describe().c_str());
  std::printf("tensors       %zu\n", store.count());
  std::printf("parameters    %lld (%.2f M)\n", static_cast<long long>(params), params / 1e6);
  std::printf("bytes fp32    %s\n", Mib(params * 4).c_str());
  std::printf("bytes fp16    %s\n", Mib(params * 2).c_str());
  std::printf("stored as     %s\n", meta("dtype").c_str());
  std::printf("source        %s (sha256 %s)\n", meta("source_file").c_str(),
              meta("source_sha256").c_str());
  std::printf("converter     %s, format %s v%s\n", meta("converter_version").c_str(),
              meta("format").c_str(), meta("format_version").c_str());
  return Status::Ok();
}

}  // namespace gpen::cli
