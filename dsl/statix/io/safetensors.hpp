// sx::io::save / sx::io::load: models (and optimizers) in the safetensors format, which PyTorch's
// `safetensors.torch.load_file` reads: an 8-byte little-endian header length N, N bytes of JSON
// ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}),
// then the tensors' little-endian bytes, offsets counted from the end of the header.
//
// What is saved is the object's state(): a tuple of tensors, named by state_names(). A file is
// untrusted: load checks every entry (names, dtypes, shapes, byte ranges) before it copies a byte, so
// on any problem it throws sx::io_error naming the tensor and the object is as it was.
#pragma once

#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <numeric>
#include <span>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <statix/statix.hpp>

#include "error.hpp"

namespace statix::io {

static_assert(std::endian::native == std::endian::little,
              "statix: safetensors I/O copies tensors as they are in memory, which needs a little-endian machine");

/// String-to-string metadata stored in the file's "__metadata__" (safetensors allows nothing else there).
using metadata = std::map<std::string, std::string>;

/// Anything with a state() tuple of tensors and as many state_names(): models, optimizers. An object
/// may also keep strings in the file's metadata: `metadata()` when saved, `restore_metadata(m)` when
/// loaded (it throws io_error, before anything changes, if they are not what it needs).
template <class M>
concept has_state = requires(M& m) {
  m.state();
  { m.state_names() } -> std::convertible_to<std::vector<std::string>>;
};

/// The file's largest accepted header (the safetensors reference reader's limit).
inline constexpr std::size_t max_header_bytes = 100'000'000;

namespace detail {

template <class T>
constexpr std::string_view safetensors_dtype() {
  if constexpr (std::is_same_v<T, float>)
    return "F32";
  else if constexpr (std::is_same_v<T, double>)
    return "F64";
  else if constexpr (std::is_same_v<T, std::int32_t>)
    return "I32";
  else
    return "BOOL";
}

inline bool known_safetensors_dtype(std::string_view d) {
  for (std::string_view k : {"BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32",
                             "F64", "I64", "U64"})
    if (d == k) return true;
  return false;
}

/// One tensor of the object's state: where its bytes live and what they must look like in a file.
struct state_entry {
  std::string name;
  std::string_view dtype;
  std::vector<std::size_t> shape;
  std::byte* data;
  std::size_t bytes;
  std::size_t element_size;
};

template <has_state M>
std::vector<state_entry> state_entries(M& m) {
  std::vector<std::string> names = m.state_names();
  std::vector<state_entry> entries;
  auto add = [&](auto& t) {
    using T = std::remove_cvref_t<decltype(*t.data())>;
    const auto shape = t.shape();
    entries.push_back({names.at(entries.size()), safetensors_dtype<T>(),
                       std::vector<std::size_t>(shape.begin(), shape.end()),
                       reinterpret_cast<std::byte*>(const_cast<T*>(t.data())), t.size() * sizeof(T), sizeof(T)});
  };
  std::apply([&](auto&... t) { (add(t), ...); }, m.state());
  if (entries.size() != names.size()) throw std::logic_error("statix: state() and state_names() differ in length");
  return entries;
}

inline std::string shape_text(const std::vector<std::size_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// Where each entry's bytes are in `file` (whole file), after checking everything; throws io_error.
inline std::vector<std::span<const std::byte>> locate(std::span<const std::byte> file,
                                                      const std::vector<state_entry>& entries, metadata& meta) {
  auto fail = [](const std::string& why) { return io_error("statix: safetensors: " + why); };
  if (file.size() < 8) throw fail("truncated file: " + std::to_string(file.size()) + " bytes, no header length");
  std::uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, file.data(), 8);
  if (header_bytes > max_header_bytes)
    throw fail("header length " + std::to_string(header_bytes) + " is over the 100 MB limit");
  if (header_bytes > file.size() - 8)
    throw fail("truncated file: header length " + std::to_string(header_bytes) + " runs past the end of the " +
               std::to_string(file.size()) + "-byte file");
  const auto* header_begin = reinterpret_cast<const char*>(file.data() + 8);
  const auto header = nlohmann::json::parse(header_begin, header_begin + header_bytes, nullptr, false);
  if (header.is_discarded()) throw fail("malformed JSON header");
  if (!header.is_object()) throw fail("the JSON header is not an object");
  const std::span<const std::byte> data = file.subspan(8 + header_bytes);

  std::unordered_map<std::string_view, const state_entry*> wanted;
  for (const state_entry& e : entries) wanted.emplace(e.name, &e);
  std::unordered_map<std::string_view, std::span<const std::byte>> found;
  std::vector<std::tuple<std::uint64_t, std::uint64_t, std::size_t>> ranges;  // begin, end, name
  std::vector<std::string> names;
  metadata file_meta;
  for (const auto& item : header.items()) {
    const std::string& name = item.key();  // not a structured binding: clang 14 cannot capture one
    const auto& info = item.value();
    if (name == "__metadata__") {
      if (!info.is_object()) throw fail("__metadata__ is not an object");
      for (const auto& [key, value] : info.items()) {
        if (!value.is_string()) throw fail("__metadata__ entry '" + key + "' is not a string");
        file_meta[key] = value.get<std::string>();
      }
      continue;
    }
    auto bad = [&](const std::string& why) { return fail("tensor '" + name + "': " + why); };
    if (!info.is_object()) throw bad("its entry is not an object");
    const auto dtype = info.find("dtype"), shape = info.find("shape"), offsets = info.find("data_offsets");
    if (dtype == info.end() || !dtype->is_string()) throw bad("no dtype string");
    if (shape == info.end() || !shape->is_array()) throw bad("no shape array");
    if (offsets == info.end() || !offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
        !(*offsets)[1].is_number_unsigned())
      throw bad("data_offsets is not a pair of non-negative integers");
    const auto& d = dtype->get_ref<const std::string&>();
    if (!known_safetensors_dtype(d)) throw bad("unknown dtype '" + d + "'");
    const auto it = wanted.find(name);
    if (it == wanted.end()) throw bad("not in the model (an extra tensor)");
    const state_entry& e = *it->second;
    if (d != e.dtype) throw bad("dtype " + d + " does not match the model's " + std::string(e.dtype));
    std::vector<std::size_t> file_shape;
    for (const auto& extent : *shape) {
      if (!extent.is_number_unsigned()) throw bad("shape holds something that is not a non-negative integer");
      file_shape.push_back(extent.get<std::size_t>());
    }
    if (file_shape != e.shape)
      throw bad("shape " + shape_text(file_shape) + " does not match the model's " + shape_text(e.shape));
    const auto begin = (*offsets)[0].get<std::uint64_t>(), end = (*offsets)[1].get<std::uint64_t>();
    if (begin > end || end > data.size())
      throw bad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] are out of the " +
                std::to_string(data.size()) + "-byte data");
    if (end - begin != e.bytes)
      throw bad("data_offsets hold " + std::to_string(end - begin) + " bytes, the shape needs " +
                std::to_string(e.bytes));
    found.emplace(it->first, data.subspan(begin, end - begin));
    ranges.emplace_back(begin, end, names.size());
    names.push_back(name);
  }
  for (const state_entry& e : entries)
    if (!found.contains(e.name)) throw fail("tensor '" + e.name + "' is missing from the file");
  std::ranges::sort(ranges);
  std::uint64_t covered = 0;  // the end of the furthest range so far, and whose it is
  std::size_t covered_by = 0;
  for (const auto& [begin, end, index] : ranges) {
    if (begin == end) continue;  // an empty tensor has no bytes to share
    if (begin < covered)
      throw fail("tensor '" + names[index] + "': its bytes overlap those of tensor '" + names[covered_by] + "'");
    covered = end;
    covered_by = index;
  }

  std::vector<std::span<const std::byte>> located;
  for (const state_entry& e : entries) located.push_back(found.at(e.name));
  meta = std::move(file_meta);
  return located;
}

}  // namespace detail

/// Loads `m`'s state from the bytes of a safetensors file; returns the file's metadata. Throws io_error
/// (and changes nothing) unless the file holds exactly m's tensors with m's dtypes and shapes.
template <has_state M>
metadata load_bytes(std::span<const std::byte> file, M& m) {
  const std::vector<detail::state_entry> entries = detail::state_entries(m);
  metadata meta;
  const auto located = detail::locate(file, entries, meta);
  if constexpr (requires { m.restore_metadata(meta); }) m.restore_metadata(meta);  // throws before any change
  for (std::size_t i = 0; i < entries.size(); ++i)
    if (entries[i].bytes) std::memcpy(entries[i].data, located[i].data(), entries[i].bytes);
  return meta;
}

/// Loads `m`'s state from the safetensors file at `path`; returns the file's metadata. Throws io_error
/// naming the file and the tensor, and changes nothing, unless the file holds exactly m's tensors.
template <has_state M>
metadata load(const std::filesystem::path& path, M& m) {
  std::vector<std::byte> bytes;
  {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!file) throw io_error("statix: cannot open " + path.string() + ": " + std::strerror(errno));
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) throw io_error("statix: cannot read " + path.string() + ": " + ec.message());
    bytes.resize(size);
    if (size && std::fread(bytes.data(), 1, size, file.get()) != size)
      throw io_error("statix: cannot read " + path.string());
  }
  try {
    return load_bytes(bytes, m);
  } catch (const io_error& e) {
    throw io_error(path.string() + ": " + e.what());
  }
}

/// Writes `m`'s state to `path` as safetensors (with `meta` in "__metadata__"), atomically: into a
/// temporary file beside it, flushed to disk, then renamed over `path`. Throws io_error on failure,
/// leaving any earlier file at `path` as it was.
template <has_state M>
void save(const std::filesystem::path& path, const M& m, const metadata& meta = {}) {
  const std::vector<detail::state_entry> entries = detail::state_entries(const_cast<M&>(m));
  metadata all = meta;
  if constexpr (requires { m.metadata(); }) all.merge(m.metadata());
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!all.empty()) header["__metadata__"] = all;
  // Widest elements first, as the reference writer orders them: the data starts 8-byte aligned, so
  // every tensor's offset is then a multiple of its element size (a reader may map the file and use
  // the tensors in place), with no gap between tensors (the reference reader rejects gaps).
  std::vector<std::size_t> order(entries.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return entries[a].element_size > entries[b].element_size; });
  std::uint64_t offset = 0;
  for (std::size_t i : order) {
    const auto& e = entries[i];
    header[e.name] = {
        {"dtype", std::string(e.dtype)}, {"shape", e.shape}, {"data_offsets", {offset, offset + e.bytes}}};
    offset += e.bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned, as the reference writer's
  const std::uint64_t header_bytes = text.size();

  const std::filesystem::path temporary = path.string() + ".partial";
  auto fail = [&](const std::string& why) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    return io_error("statix: cannot save " + path.string() + ": " + why);
  };
  std::FILE* file = std::fopen(temporary.c_str(), "wb");
  if (!file) throw fail(std::strerror(errno));
  bool ok =
      std::fwrite(&header_bytes, 8, 1, file) == 1 && std::fwrite(text.data(), 1, text.size(), file) == text.size();
  for (std::size_t i : order) {
    const auto& e = entries[i];
    ok = ok && (e.bytes == 0 || std::fwrite(e.data, 1, e.bytes, file) == e.bytes);
  }
  ok = ok && std::fflush(file) == 0 && ::fsync(::fileno(file)) == 0;
  const int saved_errno = errno;
  ok = (std::fclose(file) == 0) && ok;
  if (!ok) throw fail(std::strerror(saved_errno));
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) throw fail(ec.message());
}

}  // namespace statix::io
