#include "ddpm/io/pickle_reader.h"

#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "ddpm/io/error.h"

namespace ddpm::io {
namespace {

// Every opcode of protocols 0 to 5, so that a refusal can say what the file asked for.
const char* opcode_name(std::uint8_t op) {
  switch (op) {
    case '(': return "MARK";
    case '.': return "STOP";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'F': return "FLOAT";
    case 'I': return "INT";
    case 'J': return "BININT";
    case 'K': return "BININT1";
    case 'L': return "LONG";
    case 'M': return "BININT2";
    case 'N': return "NONE";
    case 'P': return "PERSID";
    case 'Q': return "BINPERSID";
    case 'R': return "REDUCE";
    case 'S': return "STRING";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";
    case 'X': return "BINUNICODE";
    case 'a': return "APPEND";
    case 'b': return "BUILD";
    case 'c': return "GLOBAL";
    case 'd': return "DICT";
    case '}': return "EMPTY_DICT";
    case 'e': return "APPENDS";
    case 'g': return "GET";
    case 'h': return "BINGET";
    case 'i': return "INST";
    case 'j': return "LONG_BINGET";
    case 'l': return "LIST";
    case ']': return "EMPTY_LIST";
    case 'o': return "OBJ";
    case 'p': return "PUT";
    case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";
    case 't': return "TUPLE";
    case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS";
    case 'G': return "BINFLOAT";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x80: return "PROTO";
    case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return nullptr;
  }
}

bool valid_utf8(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || n > s.size() - i) return false;
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

class Reader {
 public:
  Reader(const std::uint8_t* bytes, std::size_t size, const std::set<std::string>& allowed,
         const std::string& name)
      : p_(bytes), size_(size), allowed_(allowed), name_(name) {}

  Pickle run() {
    for (;;) {
      op_at_ = pos_;
      const std::uint8_t op = take(1)[0];
      if (op == '.') break;
      step(op);
    }
    if (stack_.size() != 1 || !marks_.empty()) {
      fail("STOP leaves " + std::to_string(stack_.size()) + " objects and " +
           std::to_string(marks_.size()) + " marks instead of one object");
    }
    out_.root = stack_.back();
    out_.end = pos_;
    return std::move(out_);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("pickle '" + name_ + "' at byte " + std::to_string(op_at_) + ": " + what);
  }

  const std::uint8_t* take(std::size_t n) {
    if (n > size_ - pos_) fail("truncated: needs " + std::to_string(n) + " more bytes");
    const std::uint8_t* q = p_ + pos_;
    pos_ += n;
    return q;
  }
  std::uint64_t take_le(std::size_t n) {
    const std::uint8_t* q = take(n);
    std::uint64_t v = 0;
    for (std::size_t i = n; i-- > 0;) v = (v << 8) | q[i];
    return v;
  }
  std::string take_string(std::uint64_t n) {
    if (n > size_ - pos_) fail("truncated: a string of " + std::to_string(n) + " bytes");
    const char* q = reinterpret_cast<const char*>(take(static_cast<std::size_t>(n)));
    return std::string(q, static_cast<std::size_t>(n));
  }
  std::string take_line() {
    const auto* start = p_ + pos_;
    const auto* nl = static_cast<const std::uint8_t*>(std::memchr(start, '\n', size_ - pos_));
    if (!nl) fail("truncated: GLOBAL without an end of line");
    pos_ += std::size_t(nl - start) + 1;
    return std::string(reinterpret_cast<const char*>(start), std::size_t(nl - start));
  }

  std::size_t make(PyObject o) {
    if (out_.objects.size() == kMaxPickleObjects) {
      fail("more than " + std::to_string(kMaxPickleObjects) + " objects");
    }
    out_.objects.push_back(std::move(o));
    return out_.objects.size() - 1;
  }
  std::size_t make(PyKind kind) {
    PyObject o;
    o.kind = kind;
    return make(std::move(o));
  }
  void push(std::size_t index) {
    if (stack_.size() == kMaxPickleStack) {
      fail("stack deeper than " + std::to_string(kMaxPickleStack));
    }
    stack_.push_back(index);
  }
  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::size_t pop() {
    if (stack_.size() <= floor()) fail(std::string(opcode_name(p_[op_at_])) + " on an empty stack");
    const std::size_t top = stack_.back();
    stack_.pop_back();
    return top;
  }
  std::size_t top() {
    if (stack_.size() <= floor()) fail(std::string(opcode_name(p_[op_at_])) + " on an empty stack");
    return stack_.back();
  }
  // Pops everything above the innermost MARK and the MARK itself.
  std::vector<std::size_t> pop_mark() {
    if (marks_.empty()) fail(std::string(opcode_name(p_[op_at_])) + " without a MARK");
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<std::size_t> items(stack_.begin() + std::ptrdiff_t(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  PyObject& at(std::size_t index) { return out_.objects[index]; }
  PyObject& expect(std::size_t index, PyKind kind, const char* role) {
    PyObject& o = at(index);
    if (o.kind != kind) {
      fail(std::string(opcode_name(p_[op_at_])) + " needs " + role + " to be a " +
           to_string(kind) + ", not a " + to_string(o.kind));
    }
    return o;
  }

  void push_int(std::int64_t v) {
    PyObject o;
    o.kind = PyKind::Int;
    o.integer = v;
    push(make(std::move(o)));
  }
  void push_long(std::uint64_t n) {
    std::string raw = take_string(n);
    PyObject o;
    if (n <= 8) {
      std::uint64_t v = 0;
      for (std::size_t i = raw.size(); i-- > 0;) v = (v << 8) | std::uint8_t(raw[i]);
      if (n > 0 && n < 8 && (std::uint8_t(raw.back()) & 0x80)) v |= ~std::uint64_t(0) << (8 * n);
      o.kind = PyKind::Int;
      o.integer = static_cast<std::int64_t>(v);
    } else {
      o.kind = PyKind::BigInt;
      o.text = std::move(raw);
    }
    push(make(std::move(o)));
  }
  void push_text(PyKind kind, std::uint64_t n) {
    PyObject o;
    o.kind = kind;
    o.text = take_string(n);
    if (kind == PyKind::Str && !valid_utf8(o.text)) fail("a string is not valid UTF-8");
    push(make(std::move(o)));
  }
  void push_tuple(std::vector<std::size_t> items) {
    PyObject o;
    o.kind = PyKind::Tuple;
    o.items = std::move(items);
    push(make(std::move(o)));
  }
  void push_global(const std::string& module, const std::string& attr) {
    const std::string qualified = module + "." + attr;
    if (!allowed_.count(qualified)) {
      fail("global '" + qualified + "' is not allowed: this reader only loads tensors");
    }
    PyObject o;
    o.kind = PyKind::Global;
    o.text = qualified;
    push(make(std::move(o)));
  }
  void memo_put(std::uint64_t key) {
    if (memo_.size() == kMaxPickleMemo && !memo_.count(key)) {
      fail("memo larger than " + std::to_string(kMaxPickleMemo) + " entries");
    }
    memo_[key] = top();
  }
  void memo_get(std::uint64_t key) {
    const auto it = memo_.find(key);
    if (it == memo_.end()) fail("memo key " + std::to_string(key) + " was never stored");
    push(it->second);
  }
  void set_items(std::size_t dict, const std::vector<std::size_t>& kv) {
    if (kv.size() % 2) fail("SETITEMS with an odd number of objects");
    auto& d = expect(dict, PyKind::Dict, "its target");
    for (std::size_t i = 0; i < kv.size(); i += 2) d.entries.emplace_back(kv[i], kv[i + 1]);
  }

  void step(std::uint8_t op) {
    switch (op) {
      case 0x80: {  // PROTO
        const std::uint8_t v = take(1)[0];
        if (v < 2 || v > 5) fail("pickle protocol " + std::to_string(v) + " is not supported");
        break;
      }
      case 0x95: take(8); break;  // FRAME: only a buffering hint
      case '(':
        if (marks_.size() == kMaxPickleMarks) fail("MARKs nested deeper than " + std::to_string(kMaxPickleMarks));
        marks_.push_back(stack_.size());
        break;
      case '0': pop(); break;
      case '1': pop_mark(); break;
      case '2': push(top()); break;
      case 'N': push(make(PyKind::None)); break;
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        PyObject o;
        o.kind = PyKind::Bool;
        o.integer = op == 0x88;
        push(make(std::move(o)));
        break;
      }
      case 'J': push_int(static_cast<std::int32_t>(take_le(4))); break;
      case 'K': push_int(static_cast<std::int64_t>(take_le(1))); break;
      case 'M': push_int(static_cast<std::int64_t>(take_le(2))); break;
      case 0x8a: push_long(take_le(1)); break;
      case 0x8b: push_long(take_le(4)); break;
      case 'G': {  // BINFLOAT: big-endian IEEE double
        const std::uint8_t* q = take(8);
        std::uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | q[i];
        PyObject o;
        o.kind = PyKind::Float;
        std::memcpy(&o.real, &bits, 8);
        push(make(std::move(o)));
        break;
      }
      case 'X': push_text(PyKind::Str, take_le(4)); break;
      case 0x8c: push_text(PyKind::Str, take_le(1)); break;
      case 0x8d: push_text(PyKind::Str, take_le(8)); break;
      case 'T': {  // BINSTRING: Python 2 str, a signed length
        const auto n = static_cast<std::int32_t>(take_le(4));
        if (n < 0) fail("BINSTRING with a negative length");
        push_text(PyKind::Bytes, std::uint64_t(n));
        break;
      }
      case 'U': push_text(PyKind::Bytes, take_le(1)); break;
      case 'B': push_text(PyKind::Bytes, take_le(4)); break;
      case 'C': push_text(PyKind::Bytes, take_le(1)); break;
      case 0x8e: push_text(PyKind::Bytes, take_le(8)); break;
      case ')': push_tuple({}); break;
      case 't': push_tuple(pop_mark()); break;
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        std::vector<std::size_t> items(op - 0x84);
        for (std::size_t i = items.size(); i-- > 0;) items[i] = pop();
        push_tuple(std::move(items));
        break;
      }
      case ']': push(make(PyKind::List)); break;
      case 'l': {
        auto items = pop_mark();
        const std::size_t list = make(PyKind::List);
        at(list).items = std::move(items);
        push(list);
        break;
      }
      case 'a': {
        const std::size_t item = pop();
        expect(top(), PyKind::List, "its target").items.push_back(item);
        break;
      }
      case 'e': {
        auto items = pop_mark();
        auto& list = expect(top(), PyKind::List, "its target").items;
        list.insert(list.end(), items.begin(), items.end());
        break;
      }
      case '}': push(make(PyKind::Dict)); break;
      case 'd': {
        auto kv = pop_mark();
        const std::size_t dict = make(PyKind::Dict);
        push(dict);
        set_items(dict, kv);
        break;
      }
      case 's': {
        const std::size_t value = pop(), key = pop();
        set_items(top(), {key, value});
        break;
      }
      case 'u': {
        auto kv = pop_mark();
        set_items(top(), kv);
        break;
      }
      case 'q': memo_put(take_le(1)); break;
      case 'r': memo_put(take_le(4)); break;
      case 0x94: memo_put(memo_.size()); break;
      case 'h': memo_get(take_le(1)); break;
      case 'j': memo_get(take_le(4)); break;
      case 'c': {
        const std::string module = take_line();
        const std::string attr = take_line();
        push_global(module, attr);
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        const std::size_t attr = pop(), module = pop();
        // Copies: push_global grows the object table, which may move the strings.
        const std::string m = expect(module, PyKind::Str, "the module").text;
        const std::string a = expect(attr, PyKind::Str, "the name").text;
        push_global(m, a);
        break;
      }
      case 'R': reduce(); break;
      case 'b': {  // BUILD: only the attribute dict that state_dict OrderedDicts carry
        const std::size_t state = pop();
        expect(state, PyKind::Dict, "the state");
        expect(top(), PyKind::Dict, "its target").attributes = state;
        break;
      }
      case 'Q': {  // BINPERSID: the caller resolves it
        const std::size_t id = pop();
        const std::size_t ref = make(PyKind::PersistentId);
        at(ref).items = {id};
        push(ref);
        break;
      }
      default: {
        const char* known = opcode_name(op);
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        fail(known ? std::string("opcode ") + known + " (" + hex + ") is not supported"
                   : std::string("unknown opcode ") + hex);
      }
    }
  }

  void reduce() {
    const std::size_t args = pop();
    const std::size_t callable = pop();
    const auto& f = expect(callable, PyKind::Global, "the callable");
    const auto& a = expect(args, PyKind::Tuple, "the arguments");
    if (f.text == "collections.OrderedDict") {
      if (!a.items.empty()) fail("OrderedDict built from arguments is not supported");
      push(make(PyKind::Dict));
      return;
    }
    PyObject call;
    call.kind = PyKind::Call;
    call.text = f.text;
    call.items = {args};
    push(make(std::move(call)));
  }

  const std::uint8_t* p_;
  std::size_t size_, pos_ = 0, op_at_ = 0;
  const std::set<std::string>& allowed_;
  const std::string& name_;
  Pickle out_;
  std::vector<std::size_t> stack_, marks_;
  std::unordered_map<std::uint64_t, std::size_t> memo_;
};

}  // namespace

std::string to_string(PyKind kind) {
  switch (kind) {
    case PyKind::None: return "None";
    case PyKind::Bool: return "bool";
    case PyKind::Int: return "int";
    case PyKind::BigInt: return "large int";
    case PyKind::Float: return "float";
    case PyKind::Str: return "str";
    case PyKind::Bytes: return "bytes";
    case PyKind::Tuple: return "tuple";
    case PyKind::List: return "list";
    case PyKind::Dict: return "dict";
    case PyKind::Global: return "global";
    case PyKind::Call: return "call";
    case PyKind::PersistentId: return "persistent id";
  }
  return "object";
}

Pickle read_pickle(const std::uint8_t* bytes, std::size_t size,
                   const std::set<std::string>& allowed_globals, const std::string& name) {
  return Reader(bytes, size, allowed_globals, name).run();
}

}  // namespace ddpm::io
