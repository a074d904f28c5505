// .npy reader: parses the v1/v2 header dict and accepts only '<f4' C-order arrays.
#include "npy.h"

#include <cstring>
#include <fstream>
#include <regex>

namespace gpen::test {

Result<NpyArray> ReadNpy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return IoError(path + ": cannot open");
  char magic[6];
  f.read(magic, 6);
  if (!f || std::memcmp(magic, "\x93NUMPY", 6) != 0) return FormatError(path + ": not a .npy file");
  unsigned char ver[2];
  f.read(reinterpret_cast<char*>(ver), 2);
  uint32_t hlen = 0;
  if (ver[0] == 1) {
    unsigned char b[2];
    f.read(reinterpret_cast<char*>(b), 2);
    hlen = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    f.read(reinterpret_cast<char*>(b), 4);
    hlen = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  }
  std::string header(hlen, '\0');
  f.read(header.data(), hlen);
  if (header.find("'<f4'") == std::string::npos)
    return FormatError(path + ": expected dtype <f4, header " + header);
  if (header.find("'fortran_order': False") == std::string::npos)
    return FormatError(path + ": expected C order");
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'shape': \\(([^)]*)\\)")))
    return FormatError(path + ": no shape in header");
  NpyArray a;
  std::string dims = m[1];
  std::regex num("[0-9]+");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num); it != std::sregex_iterator(); ++it)
    a.shape.dims.push_back(std::stoll(it->str()));
  a.data.resize(static_cast<size_t>(a.shape.numel()));
  f.read(reinterpret_cast<char*>(a.data.data()), static_cast<std::streamsize>(a.data.size() * 4));
  if (!f) return FormatError(path + ": truncated data");
  return a;
}

}  // namespace gpen::test
