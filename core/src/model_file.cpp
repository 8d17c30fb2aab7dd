#include "ddpm/model_file.h"

#include "ddpm/import.h"
#include "ddpm/io/atomic_file.h"
#include "ddpm/io/error.h"
#include "ddpm/io/safetensors.h"
#include "ddpm/tensor_bytes.h"

namespace ddpm {

namespace {

// Larger model files are refused before reading: the largest preset is ~100 MB in float32.
constexpr std::size_t kMaxModelFileSize = std::size_t(4) << 30;

}  // namespace

std::map<std::string, torch::Tensor> state_dict(const torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : module.named_parameters()) out[p.key()] = p.value();
  for (const auto& b : module.named_buffers()) out[b.key()] = b.value();
  return out;
}

void load_state_dict(torch::nn::Module& module, const std::map<std::string, torch::Tensor>& tensors,
                     const std::string& file, const std::string& prefix) {
  auto own = state_dict(module);
  std::vector<std::string> missing, unexpected;
  torch::NoGradGuard no_grad;
  for (const auto& [full_name, value] : tensors) {
    if (full_name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string name = full_name.substr(prefix.size());
    const auto it = own.find(name);
    if (it == own.end()) {
      unexpected.push_back(full_name);
      continue;
    }
    if (it->second.sizes() != value.sizes()) {
      throw Error("file '" + file + "': tensor '" + full_name + "' has shape " +
                  c10::str(value.sizes()) + " but the model expects " + c10::str(it->second.sizes()));
    }
    it->second.copy_(value);
    own.erase(it);
  }
  for (const auto& [name, _] : own) missing.push_back(prefix + name);
  const auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (std::size_t i = 0; i < v.size() && i < 5; ++i) s += (i ? ", " : "") + v[i];
    return v.size() > 5 ? s + ", ... (" + std::to_string(v.size()) + " in all)" : s;
  };
  if (!unexpected.empty()) {
    throw Error("file '" + file + "' holds tensors the model does not have: " + list(unexpected));
  }
  if (!missing.empty()) throw Error("file '" + file + "' lacks tensors: " + list(missing));
}

Model make_model(const io::ModelInfo& info, torch::Device device) {
  info.validate();
  Model m;
  m.info = info;
  m.unet = UNet(info.unet);
  m.unet->to(device);
  m.unet->eval();
  m.schedule = make_schedule(info.schedule).to(device);
  return m;
}

void save_model(const std::string& path, UNet& unet, const io::ModelInfo& info, WeightFormat format) {
  info.validate();
  if (info.unet.in_channels != unet->config().in_channels ||
      info.unet.image_size != unet->config().image_size ||
      info.unet.num_classes != unet->config().num_classes) {
    throw Error("cannot save '" + path + "': the description does not match the network");
  }
  const auto dtype = format == WeightFormat::F16 ? torch::kFloat16 : torch::kFloat32;
  std::vector<TensorBytes> tensors;
  for (const auto& [name, value] : state_dict(*unet)) tensors.emplace_back(name, value, dtype);
  io::write_file_atomic(path, encode_tensors(tensors, io::to_metadata(info)));
}

Model load_model(const std::string& path, torch::Device device) {
  const std::vector<std::uint8_t> bytes = io::read_file(path, kMaxModelFileSize);
  if (looks_like_torch_checkpoint(bytes)) {
    return import_reference_checkpoint(bytes, path, ImportOptions{}, device);
  }
  io::SafetensorsView view;
  try {
    view = io::parse_safetensors(bytes.data(), bytes.size(), path);
  } catch (const Error& e) {
    throw Error("'" + path + "' is not a model file (safetensors or PyTorch .pt): " + e.what());
  }
  Model m = make_model(io::model_info_from_metadata(view.metadata, path), torch::kCPU);
  load_state_dict(*m.unet, decode_tensors(view, path), path);
  m.unet->to(device);
  m.schedule = m.schedule.to(device);
  return m;
}

}  // namespace ddpm
