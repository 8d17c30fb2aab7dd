// The restricted unpickler alone, with the globals a state_dict needs (and nothing else).
#include <cstdint>
#include <set>
#include <string>

#include "ddpm/io/error.h"
#include "ddpm/io/pickle_reader.h"
#include "fuzz_common.h"

using namespace ddpm::io;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::set<std::string> allowed = {
      "collections.OrderedDict", "torch._utils._rebuild_tensor_v2",
      "torch._utils._rebuild_parameter", "torch.FloatStorage", "torch.HalfStorage",
      "torch.LongStorage"};
  Pickle p;
  try {
    p = read_pickle(data, size, allowed, "fuzz.pkl");
  } catch (const ddpm::Error&) {
    return 0;
  }
  // Every reference names an object that exists, and what was read lies inside the input.
  FUZZ_CHECK(p.end <= size && p.root < p.objects.size());
  FUZZ_CHECK(p.objects.size() <= kMaxPickleObjects);
  for (const auto& o : p.objects) {
    for (const auto i : o.items) FUZZ_CHECK(i < p.objects.size());
    for (const auto& [k, v] : o.entries) FUZZ_CHECK(k < p.objects.size() && v < p.objects.size());
    FUZZ_CHECK(o.attributes == kNoObject || o.attributes < p.objects.size());
    if (o.kind == PyKind::Call || o.kind == PyKind::PersistentId) FUZZ_CHECK(o.items.size() == 1);
    if (o.kind == PyKind::Global || o.kind == PyKind::Call) FUZZ_CHECK(allowed.count(o.text));
  }
  return 0;
}
