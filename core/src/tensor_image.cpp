#include "ddpm/tensor_image.h"

#include <cmath>

#include "ddpm/io/error.h"
#include "ddpm/io/png.h"

namespace ddpm {

std::vector<io::Image> to_images(const torch::Tensor& x) {
  if (x.dim() != 4 || x.size(1) < 1 || x.size(1) > 4) {
    throw Error("cannot convert a tensor of shape " + c10::str(x.sizes()) +
                " to images: expected [B, 1..4, H, W]");
  }
  const torch::Tensor bytes = ((x.detach().to(torch::kCPU, torch::kFloat32).clamp(-1, 1) + 1) * 127.5)
                                  .round()
                                  .to(torch::kUInt8)
                                  .permute({0, 2, 3, 1})
                                  .contiguous();
  const int B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  std::vector<io::Image> out;
  for (int b = 0; b < B; ++b) {
    io::Image im(W, H, C);
    std::memcpy(im.pixels.data(), bytes[b].data_ptr<uint8_t>(), im.pixels.size());
    out.push_back(std::move(im));
  }
  return out;
}

torch::Tensor from_image(const io::Image& image, int channels) {
  if (channels != 1 && channels != 3 && channels != 4) {
    throw Error("image channel count " + std::to_string(channels) + " is invalid: allowed 1, 3, 4");
  }
  const io::Image rgba = io::to_rgba(image);
  const torch::Tensor t =
      torch::from_blob(const_cast<uint8_t*>(rgba.pixels.data()), {rgba.height, rgba.width, 4},
                       torch::kUInt8)
          .to(torch::kFloat32)
          .permute({2, 0, 1});
  torch::Tensor sel;
  if (channels == 1) {
    sel = (0.299 * t[0] + 0.587 * t[1] + 0.114 * t[2]).unsqueeze(0);
  } else {
    sel = t.narrow(0, 0, channels);
  }
  return (sel / 127.5 - 1).unsqueeze(0).contiguous();
}

torch::Tensor from_images(const std::vector<io::Image>& images, int channels) {
  if (images.empty()) throw Error("cannot make a tensor from zero images");
  std::vector<torch::Tensor> parts;
  for (const io::Image& im : images) {
    if (im.width != images[0].width || im.height != images[0].height) {
      throw Error("images differ in size: " + std::to_string(im.width) + "x" +
                  std::to_string(im.height) + " vs " + std::to_string(images[0].width) + "x" +
                  std::to_string(images[0].height));
    }
    parts.push_back(from_image(im, channels));
  }
  return torch::cat(parts);
}

void save_grid_png(const std::string& path, const torch::Tensor& x, int cols) {
  const auto images = to_images(x);
  if (cols <= 0) cols = static_cast<int>(std::ceil(std::sqrt(double(images.size()))));
  io::write_png(path, io::make_grid(images, cols));
}

}  // namespace ddpm
