#pragma once
// A restricted unpickler that builds a plain object graph and never executes anything.
// Calls (REDUCE) on allowed globals become Call nodes for the caller to interpret, persistent
// ids become PersistentId nodes, and any global outside the allowed set, or any opcode beyond
// the data-only subset PyTorch's state_dict pickles use, is refused by name.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace ddpm::io {

enum class PyKind { None, Bool, Int, BigInt, Float, Str, Bytes, Tuple, List, Dict, Global, Call, PersistentId };

std::string to_string(PyKind kind);  // "None", "int", "tuple", ...

constexpr std::size_t kNoObject = static_cast<std::size_t>(-1);

// Objects refer to one another by index into Pickle::objects, so shared references and even
// cycles (a list appended to itself) need no ownership tricks.
struct PyObject {
  PyKind kind = PyKind::None;
  std::int64_t integer = 0;  // Int; Bool as 0 or 1
  double real = 0;           // Float
  // Str and Bytes: the bytes; BigInt: little-endian two's complement; Global and Call:
  // the qualified name "module.name".
  std::string text;
  // Tuple and List: the elements. Call and PersistentId: one index, of the argument tuple or
  // of the id (a reference, not a copy: one tuple called a million times costs nothing).
  std::vector<std::size_t> items;
  // Dict, in insertion order; a repeated key is kept twice, for the caller to refuse.
  std::vector<std::pair<std::size_t, std::size_t>> entries;
  std::size_t attributes = kNoObject;  // a Dict given to BUILD (OrderedDict._metadata)
};

struct Pickle {
  std::vector<PyObject> objects;
  std::size_t root = kNoObject;
  std::size_t end = 0;  // bytes read, through STOP: the next pickle of a stream starts there

  const PyObject& operator[](std::size_t index) const { return objects.at(index); }
};

// Bounds on what one pickle may build, far above what any state_dict needs.
constexpr std::size_t kMaxPickleObjects = std::size_t(1) << 20;
constexpr std::size_t kMaxPickleStack = std::size_t(1) << 20;
constexpr std::size_t kMaxPickleMarks = 1024;
constexpr std::size_t kMaxPickleMemo = std::size_t(1) << 20;

// Reads one pickle from the start of `bytes`. `allowed_globals` holds qualified names
// ("collections.OrderedDict"); REDUCE on "collections.OrderedDict" with no arguments yields
// an empty Dict, on any other allowed global a Call. Throws ddpm::Error naming `name`, the
// byte offset and the problem.
Pickle read_pickle(const std::uint8_t* bytes, std::size_t size,
                   const std::set<std::string>& allowed_globals, const std::string& name);

}  // namespace ddpm::io
