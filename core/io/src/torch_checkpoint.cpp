#include "ddpm/io/torch_checkpoint.h"

#include <cstring>
#include <set>
#include <unordered_map>

#include "ddpm/io/error.h"
#include "ddpm/io/file_bytes.h"
#include "ddpm/io/pickle_reader.h"
#include "ddpm/io/zip_reader.h"

namespace ddpm::io {
namespace {

constexpr const char* kRebuildTensor = "torch._utils._rebuild_tensor_v2";
constexpr const char* kRebuildParameter = "torch._utils._rebuild_parameter";

struct StorageType {
  const char* global;
  DType dtype;
};
constexpr StorageType kStorageTypes[] = {
    {"torch.FloatStorage", DType::F32},  {"torch.DoubleStorage", DType::F64},
    {"torch.HalfStorage", DType::F16},   {"torch.BFloat16Storage", DType::BF16},
    {"torch.LongStorage", DType::I64},   {"torch.IntStorage", DType::I32},
    {"torch.ShortStorage", DType::I16},  {"torch.CharStorage", DType::I8},
    {"torch.ByteStorage", DType::U8},    {"torch.BoolStorage", DType::Bool},
};

// Everything a state_dict pickle names; anything else (os.system, builtins.eval, ...) is
// refused by the pickle reader before it can be referred to.
const std::set<std::string>& allowed_globals() {
  static const std::set<std::string> allowed = [] {
    std::set<std::string> s = {"collections.OrderedDict", kRebuildTensor, kRebuildParameter};
    for (const auto& t : kStorageTypes) s.insert(t.global);
    return s;
  }();
  return allowed;
}

// A tensor as the pickle describes it, before its storage is located.
struct Pending {
  CheckpointTensor tensor;
  std::int64_t storage_numel = 0;  // as the persistent id declares it
};

std::string dims_text(const std::vector<std::int64_t>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

bool checked_bytes(std::int64_t numel, DType dtype, std::size_t& out) {
  return numel >= 0 &&
         !__builtin_mul_overflow(static_cast<std::size_t>(numel), dtype_size(dtype), &out);
}

// Turns the object graph of a state_dict pickle into tensor descriptions, checking the shape
// of every node on the way: nothing here trusts the pickle to be what torch.save writes.
class StateDict {
 public:
  StateDict(const Pickle& pickle, const std::string& where) : pk_(pickle), where_(where) {}

  std::vector<Pending> tensors() {
    const PyObject& root = pk_[pk_.root];
    if (root.kind != PyKind::Dict) {
      fail("holds a " + to_string(root.kind) + ", not a state_dict (a dict of tensors)");
    }
    if (root.entries.size() > kMaxCheckpointTensors) {
      fail("holds " + std::to_string(root.entries.size()) + " entries, more than " +
           std::to_string(kMaxCheckpointTensors));
    }
    std::set<std::string> names;
    std::vector<Pending> out;
    for (const auto& [k, v] : root.entries) {
      const PyObject& key = pk_[k];
      if (key.kind != PyKind::Str) fail("has a " + to_string(key.kind) + " key, not a tensor name");
      if (!names.insert(key.text).second) fail("holds tensor '" + key.text + "' twice");
      out.push_back(tensor(v, key.text));
    }
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("PyTorch checkpoint '" + where_ + "' " + what);
  }

  const PyObject& get(std::size_t index, PyKind kind, const std::string& what) const {
    const PyObject& o = pk_[index];
    if (o.kind != kind) fail(what + " is a " + to_string(o.kind) + ", not a " + to_string(kind));
    return o;
  }
  std::int64_t count(std::size_t index, const std::string& what) const {
    const auto v = get(index, PyKind::Int, what).integer;
    if (v < 0) fail(what + " is negative (" + std::to_string(v) + ")");
    return v;
  }
  std::vector<std::int64_t> counts(std::size_t index, const std::string& what) const {
    const auto& t = get(index, PyKind::Tuple, what);
    if (t.items.size() > kMaxCheckpointRank) {
      fail(what + " has " + std::to_string(t.items.size()) + " dimensions, more than " +
           std::to_string(kMaxCheckpointRank));
    }
    std::vector<std::int64_t> out;
    for (const auto i : t.items) out.push_back(count(i, what + " entry"));
    return out;
  }

  Pending tensor(std::size_t index, const std::string& name) const {
    const std::string what = "tensor '" + name + "'";
    const PyObject* o = &pk_[index];
    if (o->kind == PyKind::Call && o->text == kRebuildParameter) {
      const auto& args = pk_[o->items[0]].items;
      if (args.size() != 3) fail(what + ": _rebuild_parameter takes 3 arguments");
      o = &pk_[args[0]];
    }
    if (o->kind != PyKind::Call || o->text != kRebuildTensor) {
      fail("entry '" + name + "' is a " + to_string(o->kind) +
           (o->kind == PyKind::Call ? " of " + o->text : std::string()) + ", not a tensor");
    }
    const auto& args = pk_[o->items[0]].items;
    if (args.size() != 6 && args.size() != 7) {
      fail(what + ": _rebuild_tensor_v2 has " + std::to_string(args.size()) +
           " arguments instead of 6 or 7");
    }
    Pending p;
    CheckpointTensor& t = p.tensor;
    t.name = name;
    const auto& pid = get(args[0], PyKind::PersistentId, what + " storage");
    const auto& id = get(pid.items[0], PyKind::Tuple, what + " storage id");
    // Zip files write ('storage', type, key, location, numel); legacy files add a view
    // description that is None for every storage saved by PyTorch >= 0.4.
    const auto& f = id.items;
    if (f.size() != 5 && !(f.size() == 6 && pk_[f[5]].kind == PyKind::None)) {
      fail(what + ": storage id is not ('storage', type, key, location, numel)");
    }
    if (get(f[0], PyKind::Str, what + " storage id tag").text != "storage") {
      fail(what + ": persistent id is not a storage");
    }
    const std::string& type = get(f[1], PyKind::Global, what + " storage type").text;
    bool known = false;
    for (const auto& s : kStorageTypes) {
      if (type == s.global) {
        t.dtype = s.dtype;
        known = true;
      }
    }
    if (!known) fail(what + ": '" + type + "' is not a storage type");
    t.storage_key = get(f[2], PyKind::Str, what + " storage key").text;
    get(f[3], PyKind::Str, what + " storage location");
    p.storage_numel = count(f[4], what + " storage size");

    t.storage_offset = count(args[1], what + " storage offset");
    t.shape = counts(args[2], what + " shape");
    t.stride = counts(args[3], what + " stride");
    if (t.shape.size() != t.stride.size()) {
      fail(what + ": shape " + dims_text(t.shape) + " and stride " + dims_text(t.stride) +
           " differ in length");
    }
    return p;
  }

  const Pickle& pk_;
  const std::string& where_;
};

// The tensor must only reach elements its storage holds: the largest index is the offset plus,
// along every dimension, (size - 1) * stride.
void check_extent(const CheckpointTensor& t, std::size_t storage_bytes, const std::string& where) {
  std::uint64_t last = static_cast<std::uint64_t>(t.storage_offset);
  bool empty = false, overflow = false;
  for (std::size_t i = 0; i < t.shape.size(); ++i) {
    if (t.shape[i] == 0) empty = true;
    std::uint64_t reach = 0;
    overflow |= __builtin_mul_overflow(static_cast<std::uint64_t>(t.shape[i] > 0 ? t.shape[i] - 1 : 0),
                                       static_cast<std::uint64_t>(t.stride[i]), &reach);
    overflow |= __builtin_add_overflow(last, reach, &last);
  }
  const std::uint64_t elements = storage_bytes / dtype_size(t.dtype);
  const std::uint64_t needed = empty ? static_cast<std::uint64_t>(t.storage_offset) : last + 1;
  if (overflow || needed > elements) {
    throw Error("PyTorch checkpoint '" + where + "' tensor '" + t.name + "' (" + to_string(t.dtype) +
                " shape " + dims_text(t.shape) + ", stride " + dims_text(t.stride) + ", offset " +
                std::to_string(t.storage_offset) + ") reaches past its storage '" + t.storage_key +
                "' of " + std::to_string(elements) + " elements");
  }
}

TorchCheckpoint read_zip(const std::uint8_t* bytes, std::size_t size, const std::string& name) {
  const ZipArchive zip = parse_zip(bytes, size, name);
  const auto fail = [&](const std::string& what) {
    throw Error("PyTorch checkpoint '" + name + "' " + what);
  };
  // The records live under one folder named after the file when it was saved; find it from
  // data.pkl rather than assuming a name.
  const ZipEntry* pkl = nullptr;
  for (const auto& e : zip.entries) {
    const auto slash = e.name.find('/');
    if (slash != std::string::npos && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
      if (pkl) fail("has two data.pkl records ('" + pkl->name + "' and '" + e.name + "')");
      pkl = &e;
    }
  }
  if (!pkl) fail("has no <archive>/data.pkl record: not a torch.save file");
  const std::string prefix = pkl->name.substr(0, pkl->name.size() - 8);  // keeps the '/'
  if (const ZipEntry* order = zip.find(prefix + "byteorder")) {
    const std::string text(reinterpret_cast<const char*>(zip.data(*order)), order->size);
    if (text != "little") fail("has byte order '" + text + "'; only little-endian is supported");
  }

  const Pickle pickle =
      read_pickle(zip.data(*pkl), pkl->size, allowed_globals(), name + ":" + pkl->name);
  // Indexed once: up to 65535 entries and 65536 tensors must not cost a scan each.
  std::unordered_map<std::string, const ZipEntry*> records;
  for (const auto& e : zip.entries) records.emplace(e.name, &e);
  TorchCheckpoint out;
  for (auto& p : StateDict(pickle, name).tensors()) {
    const CheckpointTensor& t = p.tensor;
    const std::string record = prefix + "data/" + t.storage_key;
    const auto found = records.find(record);
    const ZipEntry* e = found == records.end() ? nullptr : found->second;
    if (!e) fail("tensor '" + t.name + "' needs record '" + record + "', which is missing");
    std::size_t declared = 0;
    if (!checked_bytes(p.storage_numel, t.dtype, declared) || declared != e->size) {
      fail("record '" + record + "' holds " + std::to_string(e->size) + " bytes, but tensor '" +
           t.name + "' declares its storage as " + std::to_string(p.storage_numel) + " " +
           to_string(t.dtype) + " elements (truncated or damaged)");
    }
    if (!out.storages.count(t.storage_key)) {
      out.storages.emplace(t.storage_key,
                           std::vector<std::uint8_t>(zip.data(*e), zip.data(*e) + e->size));
    }
    check_extent(t, e->size, name);
    out.tensors.push_back(std::move(p.tensor));
  }
  return out;
}

TorchCheckpoint read_legacy(const std::uint8_t* bytes, std::size_t size, const std::string& name) {
  const auto fail = [&](const std::string& what) {
    throw Error("PyTorch checkpoint '" + name + "' " + what);
  };
  std::size_t pos = 0;
  const auto next = [&](const std::set<std::string>& allowed, const char* part) {
    Pickle p = read_pickle(bytes + pos, size - pos, allowed, name + " (" + part + ")");
    pos += p.end;
    return p;
  };
  // 0x1950a86a20f9469cfc6c, PyTorch's magic number, as pickle's little-endian LONG1 bytes.
  static const std::string kMagic("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);
  const Pickle magic = next({}, "magic number");
  if (magic[magic.root].kind != PyKind::BigInt || magic[magic.root].text != kMagic) {
    fail("is a pickle but not a PyTorch checkpoint (wrong magic number)");
  }
  const Pickle version = next({}, "protocol version");
  if (version[version.root].kind != PyKind::Int || version[version.root].integer != 1001) {
    fail("uses a legacy protocol version other than 1001");
  }
  const Pickle info = next({}, "system info");
  bool little = false;
  if (info[info.root].kind == PyKind::Dict) {
    for (const auto& [k, v] : info[info.root].entries) {
      if (info[k].kind == PyKind::Str && info[k].text == "little_endian") {
        little = info[v].kind == PyKind::Bool && info[v].integer == 1;
      }
    }
  }
  if (!little) fail("was not saved on a little-endian machine; only little-endian is supported");

  const Pickle main = next(allowed_globals(), "state_dict");
  std::vector<Pending> pending = StateDict(main, name).tensors();
  const Pickle keys = next({}, "storage keys");
  if (keys[keys.root].kind != PyKind::List) fail("has no list of storage keys");

  // The raw storages follow in the order of that list, each as an element count and the
  // elements; their element size comes from the tensors that use them.
  // The last tensor using each storage, found once rather than by a scan per key.
  std::unordered_map<std::string, const Pending*> users;
  for (const auto& p : pending) {
    const auto [it, fresh] = users.emplace(p.tensor.storage_key, &p);
    if (!fresh) {
      if (dtype_size(it->second->tensor.dtype) != dtype_size(p.tensor.dtype)) {
        fail("uses storage '" + p.tensor.storage_key + "' with two element sizes");
      }
      it->second = &p;
    }
  }
  TorchCheckpoint out;
  for (const auto k : keys[keys.root].items) {
    if (keys[k].kind != PyKind::Str) fail("has a storage key that is not a string");
    const std::string& key = keys[k].text;
    const auto used = users.find(key);
    if (used == users.end()) fail("lists storage '" + key + "', which no tensor uses");
    const Pending* user = used->second;
    if (out.storages.count(key)) fail("lists storage '" + key + "' twice");
    if (size - pos < 8) fail("ends before storage '" + key + "'");
    std::uint64_t numel = 0;
    for (int i = 7; i >= 0; --i) numel = (numel << 8) | bytes[pos + std::size_t(i)];
    pos += 8;
    std::size_t n = 0;
    if (numel != std::uint64_t(user->storage_numel) ||
        !checked_bytes(user->storage_numel, user->tensor.dtype, n)) {
      fail("storage '" + key + "' holds " + std::to_string(numel) + " elements but its tensors declare " +
           std::to_string(user->storage_numel));
    }
    if (n > size - pos) {
      fail("storage '" + key + "' needs " + std::to_string(n) + " bytes but only " +
           std::to_string(size - pos) + " remain (truncated)");
    }
    out.storages.emplace(key, std::vector<std::uint8_t>(bytes + pos, bytes + pos + n));
    pos += n;
  }
  for (auto& p : pending) {
    const auto it = out.storages.find(p.tensor.storage_key);
    if (it == out.storages.end()) {
      fail("tensor '" + p.tensor.name + "' uses storage '" + p.tensor.storage_key +
           "', which the file does not hold");
    }
    check_extent(p.tensor, it->second.size(), name);
    out.tensors.push_back(std::move(p.tensor));
  }
  return out;
}

}  // namespace

TorchCheckpoint parse_torch_checkpoint(const std::uint8_t* bytes, std::size_t size,
                                       const std::string& name) {
  if (looks_like_zip(bytes, size)) return read_zip(bytes, size, name);
  // Legacy files open with a protocol-2 pickle of a 10-byte LONG1, the magic number.
  if (size >= 4 && bytes[0] == 0x80 && bytes[1] == 2 && bytes[2] == 0x8a) {
    return read_legacy(bytes, size, name);
  }
  if (size >= 262 && std::memcmp(bytes + 257, "ustar", 5) == 0) {
    throw Error("PyTorch checkpoint '" + name +
                "' uses the tar format of PyTorch < 0.4, which is not supported");
  }
  throw Error("'" + name + "' is not a PyTorch checkpoint (neither a zip archive nor a pickle)");
}

TorchCheckpoint read_torch_checkpoint(const std::string& path) {
  const auto bytes = read_file(path, kMaxCheckpointBytes);
  return parse_torch_checkpoint(bytes.data(), bytes.size(), path);
}

}  // namespace ddpm::io
