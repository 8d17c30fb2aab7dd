#include "ddpm/import.h"

#include <cstring>

#include "ddpm/io/error.h"
#include "ddpm/io/file_bytes.h"
#include "ddpm/io/torch_checkpoint.h"
#include "ddpm/tensor_bytes.h"

namespace ddpm {

namespace {

constexpr std::size_t kMaxCheckpointSize = std::size_t(4) << 30;

torch::Tensor to_tensor(const io::CheckpointTensor& t, const io::TorchCheckpoint& ckpt) {
  const std::vector<std::uint8_t>& storage = ckpt.storages.at(t.storage_key);
  const auto type = to_scalar_type(t.dtype);
  const int64_t elem = static_cast<int64_t>(io::dtype_size(t.dtype));
  torch::Tensor flat = torch::empty({static_cast<int64_t>(storage.size()) / elem},
                                    torch::TensorOptions().dtype(type));
  std::memcpy(flat.data_ptr(), storage.data(), flat.numel() * elem);
  // The reader checked that offset + extent of shape/stride lies inside the storage.
  return flat.as_strided(t.shape, t.stride, t.storage_offset).contiguous().to(torch::kFloat32);
}

int64_t dim_of(const std::map<std::string, torch::Tensor>& sd, const std::string& name, int d,
               const std::string& file) {
  const auto it = sd.find(name);
  if (it == sd.end() || it->second.dim() <= d) {
    throw Error("'" + file + "' is not a checkpoint of the reference UNet: tensor '" + name +
                "' is missing or has the wrong rank");
  }
  return it->second.size(d);
}

}  // namespace

bool looks_like_torch_checkpoint(const std::vector<std::uint8_t>& b) {
  const bool zip = b.size() >= 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4;
  const bool pickle = b.size() >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5;  // PROTO n
  return zip || pickle;
}

Model import_reference_checkpoint(const std::vector<std::uint8_t>& bytes, const std::string& name,
                                  const ImportOptions& options, torch::Device device) {
  const io::TorchCheckpoint ckpt = io::parse_torch_checkpoint(bytes.data(), bytes.size(), name);
  std::map<std::string, torch::Tensor> sd;
  for (const auto& t : ckpt.tensors) sd[t.name] = to_tensor(t, ckpt);

  io::ModelInfo info;
  UNetConfig& u = info.unet;
  u.base_channels = static_cast<int>(dim_of(sd, "inc.double_conv.0.weight", 0, name));
  u.in_channels = static_cast<int>(dim_of(sd, "inc.double_conv.0.weight", 1, name));
  u.out_channels = static_cast<int>(dim_of(sd, "outc.weight", 0, name));
  u.time_dim = static_cast<int>(dim_of(sd, "down1.emb_layer.1.weight", 1, name));
  u.num_classes = sd.count("label_emb.weight") ? static_cast<int>(dim_of(sd, "label_emb.weight", 0, name)) : 0;
  u.image_size = options.image_size;
  const int S = options.image_size;
  u.attention_resolutions = {S / 8, S / 4, S / 2, S};  // after down1..3 and up1..3
  u.channel_mult = {1, 2, 4, 4};
  u.attention_heads = 4;
  u.preset = u.base_channels == 64 && S == 64 ? "seed64" : "seed64-w" + std::to_string(u.base_channels);
  info.class_names = options.class_names.empty() ? io::default_class_names(u.num_classes)
                                                 : options.class_names;
  if (static_cast<int>(info.class_names.size()) != u.num_classes) {
    throw Error("'" + name + "' has " + std::to_string(u.num_classes) + " classes but " +
                std::to_string(info.class_names.size()) + " class names were given");
  }
  // The reference's schedule and sampler: linear 1e-4..0.02 over 1000 steps, sigma^2 = beta.
  info.weights = name.find("ema") != std::string::npos ? "ema" : "raw";
  Model m = make_model(info, torch::kCPU);
  load_state_dict(*m.unet, sd, name);
  m.unet->to(device);
  m.schedule = m.schedule.to(device);
  return m;
}

Model import_reference_checkpoint(const std::string& path, const ImportOptions& options,
                                  torch::Device device) {
  return import_reference_checkpoint(io::read_file(path, kMaxCheckpointSize), path, options, device);
}

io::ModelInfo import_to_model_file(const std::string& pt_path, const std::string& out_path,
                                   const ImportOptions& options, WeightFormat format) {
  Model m = import_reference_checkpoint(pt_path, options);
  save_model(out_path, m.unet, m.info, format);
  return m.info;
}

}  // namespace ddpm
