// IDX files (the MNIST format): a 4-byte magic (0, 0, element type, rank), `rank` big-endian 32-bit
// extents, then the elements, big-endian, row-major. Read through zlib, so gzip-compressed and plain
// files both work. The file is untrusted: every field is checked, and the data must be exactly as
// long as the extents say (a decompression bomb stops at the declared size).
#pragma once

#include <zlib.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <statix/statix.hpp>

#include "error.hpp"

namespace statix::io {

enum class idx_type : std::uint8_t { u8 = 0x08, i8 = 0x09, i16 = 0x0B, i32 = 0x0C, f32 = 0x0D, f64 = 0x0E };

/// Bytes per element of an IDX element type; 0 for a code that is not one.
constexpr std::size_t idx_element_size(std::uint8_t code) {
  switch (code) {
    case 0x08:
    case 0x09:
      return 1;
    case 0x0B:
      return 2;
    case 0x0C:
    case 0x0D:
      return 4;
    case 0x0E:
      return 8;
    default:
      return 0;
  }
}

/// The contents of an IDX file: element type, extents, and the elements in native byte order.
struct idx_array {
  idx_type type;
  std::vector<std::size_t> shape;
  std::vector<unsigned char> bytes;

  std::size_t size() const {
    std::size_t n = 1;
    for (std::size_t e : shape) n *= e;
    return n;
  }
  /// Element i converted to T.
  template <class T>
  T at(std::size_t i) const {
    const unsigned char* p = bytes.data() + i * idx_element_size(static_cast<std::uint8_t>(type));
    switch (type) {
      case idx_type::u8:
        return static_cast<T>(*p);
      case idx_type::i8:
        return static_cast<T>(static_cast<std::int8_t>(*p));
      case idx_type::i16:
        return static_cast<T>(load<std::int16_t>(p));
      case idx_type::i32:
        return static_cast<T>(load<std::int32_t>(p));
      case idx_type::f32:
        return static_cast<T>(load<float>(p));
      case idx_type::f64:
        return static_cast<T>(load<double>(p));
    }
    return T{};
  }

  /// The elements as a tensor<T, E...>. The file's first extent counts its items (images, labels) and
  /// stays the tensor's first; each item's elements must fill the other extents, which may add axes
  /// of 1 (a (N, 28, 28) file reads as tensor<float, dyn, 1, 28, 28>). The one `dyn` extent (if any)
  /// takes what is left. Throws io_error otherwise: an image file read as labels is an error, not
  /// millions of labels.
  template <dtype T, std::size_t... E>
  tensor<T, E...> to_tensor() const {
    constexpr std::size_t dyn_count = ((E == dyn ? 1 : 0) + ... + 0);
    static_assert(dyn_count <= 1, "statix: io::idx_array::to_tensor infers at most one dyn extent");
    static_assert(sizeof...(E) >= 1, "statix: io::idx_array::to_tensor needs an extent for the items");
    constexpr std::array<std::size_t, sizeof...(E)> wanted{E...};
    std::size_t known = 1;
    for (std::size_t k = 1; k < wanted.size(); ++k) known *= wanted[k] == dyn ? 1 : wanted[k];
    const std::size_t items = shape.empty() ? 1 : shape[0];
    std::size_t per_item = 1;
    for (std::size_t k = 1; k < shape.size(); ++k) per_item *= shape[k];
    const bool fits = (wanted[0] == dyn || wanted[0] == items) &&
                      (wanted[0] != dyn ? (known == 0 ? per_item == 0
                                                      : per_item % known == 0 && (dyn_count == 1 || per_item == known))
                                        : per_item == known);
    if (!fits) {
      std::string file = "(", want = "(";
      for (std::size_t k = 0; k < shape.size(); ++k) file += (k ? ", " : "") + std::to_string(shape[k]);
      for (std::size_t k = 0; k < wanted.size(); ++k)
        want += (k ? ", " : "") + (wanted[k] == dyn ? std::string("dyn") : std::to_string(wanted[k]));
      throw io_error("statix: IDX data of shape " + file + ") does not fit a tensor of extents " + want +
                     "): the first extent counts the items and each item's elements must fill the rest");
    }
    const std::size_t n = size();
    tensor<T, E...> t = [&] {
      if constexpr (dyn_count == 1)
        return tensor<T, E...>(wanted[0] == dyn ? items : known == 0 ? 0 : per_item / known);
      else
        return tensor<T, E...>();
    }();
    for (std::size_t i = 0; i < n; ++i) t.data()[i] = at<T>(i);
    return t;
  }

 private:
  template <class U>
  static U load(const unsigned char* p) {
    U u;
    std::memcpy(&u, p, sizeof u);
    return u;
  }
};

/// Reads an IDX file, gzip-compressed or plain. Throws io_error naming the file and the problem.
inline idx_array read_idx(const std::string& path) {
  auto fail = [&path](const std::string& why) -> io_error { return io_error("statix: IDX file " + path + ": " + why); };
  std::unique_ptr<gzFile_s, int (*)(gzFile)> file(gzopen(path.c_str(), "rb"), &gzclose);
  if (!file) throw fail("cannot open");
  auto read = [&](void* out, std::size_t n) -> std::size_t {
    std::size_t done = 0;
    while (done < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - done, 1u << 30));
      const int got = gzread(file.get(), static_cast<unsigned char*>(out) + done, chunk);
      if (got < 0) throw fail("corrupt compressed data");
      if (got == 0) break;
      done += static_cast<std::size_t>(got);
    }
    return done;
  };

  std::array<unsigned char, 4> magic{};
  if (read(magic.data(), 4) != 4) throw fail("truncated header");
  if (magic[0] != 0 || magic[1] != 0) throw fail("bad magic (not an IDX file)");
  const std::size_t element = idx_element_size(magic[2]);
  if (element == 0) throw fail("unknown element type 0x" + std::to_string(magic[2]));
  const std::size_t rank = magic[3];
  if (rank == 0) throw fail("rank 0");

  idx_array out{static_cast<idx_type>(magic[2]), std::vector<std::size_t>(rank), {}};
  constexpr std::size_t max_bytes = std::size_t{1} << 34;  // 16 GiB: larger is not a real dataset
  std::size_t count = 1;
  for (std::size_t d = 0; d < rank; ++d) {
    std::array<unsigned char, 4> be{};
    if (read(be.data(), 4) != 4) throw fail("truncated header");
    out.shape[d] = (std::size_t{be[0]} << 24) | (std::size_t{be[1]} << 16) | (std::size_t{be[2]} << 8) | be[3];
    if (out.shape[d] != 0 && count > max_bytes / out.shape[d]) throw fail("extents too large");
    count *= out.shape[d];
  }
  if (count > max_bytes / element) throw fail("extents too large");

  // Grown as the data arrives, so a header that claims gigabytes costs memory only if they are there.
  const std::size_t expected = count * element;
  constexpr std::size_t chunk = std::size_t{1} << 24;
  while (out.bytes.size() < expected) {
    const std::size_t have = out.bytes.size(), want = std::min(chunk, expected - have);
    out.bytes.resize(have + want);
    if (read(out.bytes.data() + have, want) != want)
      throw fail("truncated data: the extents need " + std::to_string(expected) + " bytes");
  }
  unsigned char extra;
  if (read(&extra, 1) != 0) throw fail("trailing data after " + std::to_string(out.bytes.size()) + " bytes");
  if constexpr (std::endian::native == std::endian::little) {
    if (element > 1)
      for (std::size_t i = 0; i < count; ++i)
        std::reverse(out.bytes.begin() + i * element, out.bytes.begin() + (i + 1) * element);
  }
  return out;
}

}  // namespace statix::io
