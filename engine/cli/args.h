// Args: a small command-line parser that names unknown flags and bad values.
//
// Flags are declared before parsing (name, whether it takes a value, help text), so
// a typo is an error that lists what the command accepts instead of being ignored.
// Nothing is guessed: a flag given twice (unless declared repeatable, as -m for chained
// models), a value that is itself a flag, an argument
// the command does not take, a number with trailing text, or a size that is not a
// positive whole number of bytes is an error naming the flag (exit 1).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"

namespace gpen::cli {

class Args {
 public:
  explicit Args(std::string command) : command_(std::move(command)) {}
  Args& Flag(const std::string& names, bool takes_value, const std::string& help,
             const std::string& def = "");
  // A flag that may be given more than once (each value kept, in order: GetAll).
  Args& Repeatable(const std::string& name);
  // The command takes at most `count` positional arguments (default none); `what`
  // names them in the error about one too many, e.g. "MODEL".
  Args& Positional(size_t count, const std::string& what);
  [[nodiscard]] Status Parse(int argc,
                             char** argv);  // argv[0]: the first argument after the command

  bool Has(const std::string& name) const { return values_.count(Canon(name)) > 0; }
  std::string Get(const std::string& name) const;  // the first value of a repeatable flag
  std::vector<std::string> GetAll(const std::string& name) const;
  // An integer in [lo, hi]: optional '-', then decimal digits, nothing else.
  Result<int64_t> GetInt(const std::string& name, int64_t lo, int64_t hi) const;
  // A finite decimal number in [lo, hi].
  Result<double> GetDouble(const std::string& name, double lo, double hi) const;
  // A positive whole number of bytes: "1073741824", "512M", "2G", "1.5G" (binary units
  // K, M, G, optionally followed by B or iB, any case). "0.5", "0.9B", "1e9" are not.
  Result<int64_t> GetBytes(const std::string& name) const;
  // An image size "WIDTHxHEIGHT", each 1..65536, as (height, width).
  Result<std::pair<int64_t, int64_t>> GetSize(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }
  std::string Help() const;

 private:
  struct Spec {
    std::vector<std::string> names;
    bool takes_value;
    std::string help, def;
    bool repeatable = false;
  };
  std::string Canon(const std::string& name) const;
  const Spec* Find(const std::string& name) const;
  Status Usage(const std::string& message) const;
  std::string command_;
  std::vector<Spec> specs_;
  std::map<std::string, std::string> values_;  // canonical name -> value ("" for switches)
  std::map<std::string, std::vector<std::string>> all_;  // every value of a repeatable flag
  std::vector<std::string> positional_;
  size_t max_positional_ = 0;
  std::string positional_what_;
};

// Parses a size as Args::GetBytes does; the error names `flag`.
Result<int64_t> ParseBytes(const std::string& flag, const std::string& text);

}  // namespace gpen::cli
