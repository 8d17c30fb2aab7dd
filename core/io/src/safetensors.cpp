#include "ddpm/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "ddpm/io/error.h"

namespace ddpm::io {
namespace {

using json = nlohmann::json;

std::string in_quotes(const std::string& s) { return "'" + s + "'"; }

// Checked product of the shape and the element size: a hostile shape must not wrap around
// into a small byte count that happens to match its offsets.
bool byte_count(const std::vector<std::int64_t>& shape, DType dtype, std::size_t& out) {
  std::size_t n = dtype_size(dtype);
  for (const auto d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, static_cast<std::size_t>(d), &n)) return false;
  }
  out = n;
  return true;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Streams the header through a SAX handler instead of building a JSON tree: the structure is
// fixed and shallow, so anything else can be refused at the first unexpected token, and
// memory stays proportional to what is kept (names, shapes, offsets), never to nesting.
class HeaderReader {
 public:
  explicit HeaderReader(const std::string& file) : file_(file) {}

  std::map<std::string, std::string> metadata;
  std::vector<TensorInfo> tensors;

  // nlohmann's SAX interface.
  bool null() { return scalar(Scalar::Other); }
  bool boolean(bool) { return scalar(Scalar::Other); }
  bool number_integer(json::number_integer_t v) {
    return v < 0 ? scalar(Scalar::Negative, 0, v) : scalar(Scalar::Unsigned, std::uint64_t(v));
  }
  bool number_unsigned(json::number_unsigned_t v) { return scalar(Scalar::Unsigned, v); }
  bool number_float(json::number_float_t, const json::string_t& text) {
    text_ = text;
    return scalar(Scalar::Float);
  }
  bool string(json::string_t& s) {
    text_ = s;
    return scalar(Scalar::String);
  }
  bool binary(json::binary_t&) { return scalar(Scalar::Other); }
  bool start_object(std::size_t) { return open(true); }
  bool start_array(std::size_t) { return open(false); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(json::string_t& k) {
    if (state_ == State::Root) {
      if (!top_keys_.insert(k).second) fail("key " + in_quotes(k) + " appears twice");
      top_key_ = k;
    } else if (state_ == State::Metadata) {
      if (metadata.count(k)) fail("metadata key " + in_quotes(k) + " appears twice");
      meta_key_ = k;
    } else {  // State::Entry
      if (k != "dtype" && k != "shape" && k != "data_offsets") {
        fail(tensor() + "has an unknown field " + in_quotes(k));
      }
      if (!fields_.insert(k).second) fail(tensor() + "field " + in_quotes(k) + " appears twice");
      field_ = k;
    }
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    fail("header is not valid JSON (at byte " + std::to_string(position) + "): " + e.what());
  }

 private:
  enum class State { Start, Root, Metadata, Entry, Shape, Offsets, Done };
  enum class Scalar { Unsigned, Negative, Float, String, Other };

  [[noreturn]] void fail(const std::string& what) const {
    throw Error("safetensors " + in_quotes(file_) + ": " + what);
  }
  std::string tensor() const { return "tensor " + in_quotes(top_key_) + " "; }

  // Names the expectation that a value in the current position broke.
  [[noreturn]] void unexpected() const {
    switch (state_) {
      case State::Start: fail("header is not a JSON object");
      case State::Root:
        if (top_key_ == "__metadata__") fail("__metadata__ is not an object of strings");
        fail(tensor() + "entry is not an object");
      case State::Metadata: fail("metadata value for " + in_quotes(meta_key_) + " is not a string");
      case State::Entry:
        if (field_ == "dtype") fail(tensor() + "dtype is not a string");
        if (field_ == "shape") fail(tensor() + "shape is not an array of integers");
        fail(tensor() + "data_offsets is not an array of two integers");
      case State::Shape: fail(tensor() + "shape holds something other than an integer");
      case State::Offsets: fail(tensor() + "data_offsets holds something other than an integer");
      case State::Done: break;
    }
    fail("header has content after its object");
  }

  bool scalar(Scalar kind, std::uint64_t u = 0, std::int64_t negative = 0) {
    if (state_ == State::Metadata && kind == Scalar::String) {
      metadata[meta_key_] = text_;
    } else if (state_ == State::Entry && field_ == "dtype" && kind == Scalar::String) {
      if (!dtype_from_string(text_, current_.dtype)) {
        fail(tensor() + "has an unknown or unsupported dtype " + in_quotes(text_));
      }
    } else if (state_ == State::Shape || state_ == State::Offsets) {
      const std::string what = state_ == State::Shape ? "shape" : "data_offsets";
      if (kind == Scalar::Negative) {
        fail(tensor() + what + " has a negative entry " + std::to_string(negative));
      }
      if (kind == Scalar::Float) fail(tensor() + what + " has a non-integer entry " + text_);
      if (kind != Scalar::Unsigned) unexpected();
      if (state_ == State::Shape) {
        if (u > std::uint64_t(std::numeric_limits<std::int64_t>::max())) {
          fail(tensor() + "shape has an entry too large: " + std::to_string(u));
        }
        if (current_.shape.size() == kMaxTensorRank) {
          fail(tensor() + "shape has more than " + std::to_string(kMaxTensorRank) + " dimensions");
        }
        current_.shape.push_back(static_cast<std::int64_t>(u));
      } else {
        if (offsets_ == 2) fail(tensor() + "data_offsets has more than two entries");
        (offsets_++ == 0 ? current_.begin : current_.end) = static_cast<std::size_t>(u);
      }
    } else {
      unexpected();
    }
    return true;
  }

  bool open(bool object) {
    if (state_ == State::Start && object) {
      state_ = State::Root;
    } else if (state_ == State::Root && object) {
      if (top_key_ == "__metadata__") {
        state_ = State::Metadata;
      } else {
        current_ = TensorInfo{};
        current_.name = top_key_;
        fields_.clear();
        offsets_ = 0;
        state_ = State::Entry;
      }
    } else if (state_ == State::Entry && !object && field_ == "shape") {
      state_ = State::Shape;
    } else if (state_ == State::Entry && !object && field_ == "data_offsets") {
      state_ = State::Offsets;
    } else {
      unexpected();
    }
    return true;
  }

  bool close() {
    switch (state_) {
      case State::Shape: state_ = State::Entry; break;
      case State::Offsets:
        if (offsets_ != 2) fail(tensor() + "data_offsets must hold exactly two integers");
        state_ = State::Entry;
        break;
      case State::Entry:
        for (const char* f : {"dtype", "shape", "data_offsets"}) {
          if (!fields_.count(f)) fail(tensor() + "has no " + f);
        }
        tensors.push_back(std::move(current_));
        state_ = State::Root;
        break;
      case State::Metadata: state_ = State::Root; break;
      case State::Root: state_ = State::Done; break;
      default: unexpected();
    }
    return true;
  }

  const std::string& file_;
  State state_ = State::Start;
  std::set<std::string> top_keys_, fields_;
  std::string top_key_, meta_key_, field_, text_;
  TensorInfo current_;
  int offsets_ = 0;
};

std::uint64_t read_u64_le(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

const TensorInfo* SafetensorsView::find(const std::string& name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

SafetensorsView parse_safetensors(const std::uint8_t* bytes, std::size_t size,
                                  const std::string& name) {
  const std::string where = "safetensors " + in_quotes(name) + ": ";
  if (size < 8) {
    throw Error(where + "file is " + std::to_string(size) +
                " bytes, too short for the 8-byte header length");
  }
  const std::uint64_t n = read_u64_le(bytes);
  if (n > kMaxSafetensorsHeader) {
    throw Error(where + "header length " + std::to_string(n) + " is above the limit of " +
                std::to_string(kMaxSafetensorsHeader) + " bytes");
  }
  if (n > size - 8) {
    throw Error(where + "header length " + std::to_string(n) + " runs past the end of the file (" +
                std::to_string(size) + " bytes)");
  }
  if (n < 2) throw Error(where + "header length " + std::to_string(n) + " is too small for JSON");

  HeaderReader reader(name);
  const char* header = reinterpret_cast<const char*>(bytes + 8);
  json::sax_parse(header, header + n, &reader);

  SafetensorsView view;
  view.metadata = std::move(reader.metadata);
  view.tensors = std::move(reader.tensors);
  view.data = bytes + 8 + n;
  view.data_size = size - 8 - n;

  for (const auto& t : view.tensors) {
    const std::string tensor = where + "tensor " + in_quotes(t.name) + " ";
    std::size_t need = 0;
    if (!byte_count(t.shape, t.dtype, need)) {
      throw Error(tensor + "shape " + shape_text(t.shape) + " overflows the byte count");
    }
    if (t.begin > t.end || t.end > view.data_size) {
      throw Error(tensor + "data_offsets [" + std::to_string(t.begin) + ", " +
                  std::to_string(t.end) + "] are outside the data section of " +
                  std::to_string(view.data_size) + " bytes");
    }
    if (t.end - t.begin != need) {
      throw Error(tensor + "data_offsets [" + std::to_string(t.begin) + ", " +
                  std::to_string(t.end) + "] hold " + std::to_string(t.end - t.begin) +
                  " bytes but " + to_string(t.dtype) + " " + shape_text(t.shape) + " needs " +
                  std::to_string(need));
    }
  }
  std::stable_sort(view.tensors.begin(), view.tensors.end(), [](const auto& a, const auto& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  // The spec wants the data section tiled exactly: no overlap (two tensors aliasing bytes)
  // and no hole (bytes that nothing accounts for).
  std::size_t expected = 0;
  const TensorInfo* previous = nullptr;
  for (const auto& t : view.tensors) {
    if (t.begin < expected) {
      throw Error(where + "tensor " + in_quotes(t.name) + " overlaps tensor " +
                  in_quotes(previous->name) + " (bytes " + std::to_string(t.begin) + " to " +
                  std::to_string(expected) + ")");
    }
    if (t.begin > expected) {
      throw Error(where + "data bytes " + std::to_string(expected) + " to " +
                  std::to_string(t.begin) + " belong to no tensor (a gap before " +
                  in_quotes(t.name) + ")");
    }
    expected = t.end;
    previous = &t;
  }
  if (expected != view.data_size) {
    throw Error(where + "data section is " + std::to_string(view.data_size) +
                " bytes but the tensors cover " + std::to_string(expected));
  }
  return view;
}

std::vector<std::uint8_t> encode_safetensors(const std::vector<TensorToWrite>& tensors,
                                             const std::map<std::string, std::string>& metadata) {
  // Insertion order keeps the header in the order the caller gave, metadata first.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  std::size_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__") {
      throw Error("cannot write a tensor named " + in_quotes(t.name) + " to safetensors");
    }
    if (!names.insert(t.name).second) {
      throw Error("cannot write tensor " + in_quotes(t.name) + " twice to safetensors");
    }
    std::size_t need = 0;
    if (!byte_count(t.shape, t.dtype, need)) {
      throw Error("tensor " + in_quotes(t.name) + " has an invalid shape " + shape_text(t.shape));
    }
    if (need != t.size || (need > 0 && !t.data)) {
      throw Error("tensor " + in_quotes(t.name) + " has " + std::to_string(t.data ? t.size : 0) +
                  " bytes, but " + to_string(t.dtype) + " " + shape_text(t.shape) + " needs " +
                  std::to_string(need));
    }
    header[t.name] = {{"dtype", to_string(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.size}}};
    offset += t.size;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  std::vector<std::uint8_t> out(8 + text.size() + offset);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(std::uint64_t(text.size()) >> (8 * i));
  std::memcpy(out.data() + 8, text.data(), text.size());
  std::uint8_t* p = out.data() + 8 + text.size();
  for (const auto& t : tensors) {
    if (t.size > 0) std::memcpy(p, t.data, t.size);
    p += t.size;
  }
  return out;
}

}  // namespace ddpm::io
