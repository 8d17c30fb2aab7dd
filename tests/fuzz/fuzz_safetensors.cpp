// Model files: the safetensors container and the model description in its metadata, which is
// everything load_model reads before LibTorch gets the tensor bytes.
#include <cstdint>

#include "ddpm/io/error.h"
#include "ddpm/io/model_info.h"
#include "ddpm/io/safetensors.h"
#include "fuzz_common.h"

using namespace ddpm::io;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  SafetensorsView view;
  try {
    view = parse_safetensors(data, size, "fuzz.safetensors");
  } catch (const ddpm::Error&) {
    return 0;
  }
  // The tensors tile the data section, which lies inside the input.
  FUZZ_CHECK(view.data >= data && view.data + view.data_size == data + size);
  std::size_t covered = 0;
  for (const auto& t : view.tensors) {
    FUZZ_CHECK(t.begin == covered && t.end >= t.begin && t.end <= view.data_size);
    FUZZ_CHECK(view.find(t.name) != nullptr);
    touch(view.bytes_of(t), t.end - t.begin);
    covered = t.end;
  }
  FUZZ_CHECK(covered == view.data_size);

  // Whatever was accepted can be written back and reads the same.
  // (The writer refuses an empty tensor name, which the format itself allows.)
  std::vector<TensorToWrite> out;
  for (const auto& t : view.tensors) {
    if (t.name.empty()) return 0;
    out.push_back({t.name, t.dtype, t.shape, view.bytes_of(t), t.end - t.begin});
  }
  const auto again_bytes = encode_safetensors(out, view.metadata);
  const auto again = parse_safetensors(again_bytes.data(), again_bytes.size(), "round trip");
  FUZZ_CHECK(again.metadata == view.metadata);
  FUZZ_CHECK(again.tensors.size() == view.tensors.size());

  try {
    const ModelInfo info = model_info_from_metadata(view.metadata, "fuzz.safetensors");
    const ModelInfo back = model_info_from_json(to_json(info), "round trip");
    FUZZ_CHECK(to_json(back) == to_json(info));
  } catch (const ddpm::Error&) {
  }
  return 0;
}
