// Args: a small command-line parser that names unknown flags and bad values.
//
// Flags are declared before parsing (name, whether it takes a value, help text), so
// a typo is an error that lists what the command accepts instead of being ignored.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace gpen::cli {

class Args {
 public:
  explicit Args(std::string command) : command_(std::move(command)) {}
  Args& Flag(const std::string& names, bool takes_value, const std::string& help,
             const std::string& def = "");
  Status Parse(int argc, char** argv);  // argv[0] is the first argument after the command

  bool Has(const std::string& name) const { return values_.count(Canon(name)) > 0; }
  std::string Get(const std::string& name) const;
  Result<int64_t> GetInt(const std::string& name, int64_t lo, int64_t hi) const;
  // "4G", "512M", "2.5GB", "1073741824": bytes.
  Result<int64_t> GetBytes(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }
  std::string Help() const;

 private:
  struct Spec {
    std::vector<std::string> names;
    bool takes_value;
    std::string help, def;
  };
  std::string Canon(const std::string& name) const;
  std::string command_;
  std::vector<Spec> specs_;
  std::map<std::string, std::string> values_;  // canonical name -> value ("" for switches)
  std::vector<std::string> positional_;
};

}  // namespace gpen::cli
