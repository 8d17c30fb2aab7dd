#include "ddpm/unet_config.h"

#include <algorithm>

#include "ddpm/io/error.h"

namespace ddpm {
namespace {

void require(bool ok, const std::string& field, long long value, const std::string& allowed) {
  if (!ok) {
    throw Error("model field '" + field + "' = " + std::to_string(value) + " is invalid: " +
                allowed);
  }
}

}  // namespace

bool UNetConfig::attention_at(int resolution) const {
  return std::find(attention_resolutions.begin(), attention_resolutions.end(), resolution) !=
         attention_resolutions.end();
}

void UNetConfig::validate() const {
  require(in_channels == 1 || in_channels == 3 || in_channels == 4, "in_channels", in_channels,
          "allowed 1 (gray), 3 (RGB) or 4 (RGBA)");
  require(out_channels == 1 || out_channels == 3 || out_channels == 4, "out_channels",
          out_channels, "allowed 1 (gray), 3 (RGB) or 4 (RGBA)");
  require(levels() >= 1 && levels() <= 6, "channel_mult.size", levels() + 1,
          "allowed 2 to 7 entries (1 to 6 downsampling levels)");
  for (int m : channel_mult) require(m >= 1 && m <= 64, "channel_mult", m, "allowed 1 to 64");
  require(base_channels >= 4 && base_channels <= 1024, "base_channels", base_channels,
          "allowed 4 to 1024");
  require(attention_heads >= 1 && attention_heads <= 64, "attention_heads", attention_heads,
          "allowed 1 to 64");
  for (int r : attention_resolutions) {
    require(r >= 1 && r <= 4096, "attention_resolutions", r, "allowed 1 to 4096");
  }
  for (int l = 0; l <= levels(); ++l) {
    if (channels_at(l) % attention_heads != 0) {
      require(false, "attention_heads", attention_heads,
              "must divide every level's width (level " + std::to_string(l) + " has " +
                  std::to_string(channels_at(l)) + ")");
    }
  }
  // GroupNorm(1, C) inside the Up block's second convolution needs C/2 >= 1.
  require(time_dim >= 2 && time_dim % 2 == 0 && time_dim <= 4096, "time_dim", time_dim,
          "must be even, 2 to 4096");
  require(norm_groups >= 1 && norm_groups <= 1024, "norm_groups", norm_groups, "allowed 1 to 1024");
  require(num_classes >= 0 && num_classes <= 100000, "num_classes", num_classes,
          "allowed 0 (unconditional) to 100000");
  const int factor = 1 << levels();
  require(image_size >= factor && image_size <= 4096 && image_size % factor == 0, "image_size",
          image_size,
          "must be a multiple of " + std::to_string(factor) + " (2^" + std::to_string(levels()) +
              " for " + std::to_string(levels()) + " downsampling levels), at most 4096");
}

double UNetConfig::forward_flops(int batch) const {
  const auto dconv = [](double in, double out, double mid, double px) {
    return 2 * 9 * (in * mid + mid * out) * px;
  };
  const auto attention = [](double c, double n) {
    return 2 * n * c * c * 6 + 4 * n * n * c;  // in/out/ff projections, scores and values
  };
  const double S = image_size;
  const int L = levels();
  double f = dconv(in_channels, channels_at(0), channels_at(0), S * S);
  for (int i = 1; i <= L; ++i) {
    const double r = S / (1 << i), a = channels_at(i - 1), b = channels_at(i);
    f += dconv(a, a, a, r * r) + dconv(a, b, b, r * r);
    if (attention_at(static_cast<int>(r))) f += attention(b, r * r);
  }
  const double deep = channels_at(L), rd = S / (1 << L);
  f += dconv(deep, 2 * deep, 2 * deep, rd * rd) + dconv(2 * deep, 2 * deep, 2 * deep, rd * rd) +
       dconv(2 * deep, deep, deep, rd * rd);
  double prev = deep;
  for (int level = L - 1; level >= 0; --level) {
    const double r = S / (1 << level), in = prev + channels_at(level);
    const double out = level >= 1 ? channels_at(level - 1) : channels_at(0);
    f += dconv(in, in, in, r * r) + dconv(in, out, in / 2, r * r);
    if (attention_at(static_cast<int>(r))) f += attention(out, r * r);
    prev = out;
  }
  f += 2 * channels_at(0) * out_channels * S * S;
  return f * batch;
}

UNetConfig preset_seed64(int num_classes) {
  UNetConfig c;
  c.preset = "seed64";
  c.num_classes = num_classes;
  return c;  // the defaults are the reference's numbers
}

UNetConfig preset_sprite32(int num_classes) {
  UNetConfig c;
  c.preset = "sprite32";
  c.in_channels = c.out_channels = 4;
  c.image_size = 32;
  c.base_channels = 32;
  c.channel_mult = {1, 2, 2, 2};  // 32x32 -> 16 -> 8 -> 4
  c.attention_resolutions = {8};
  c.time_dim = 128;
  c.num_classes = num_classes;
  return c;
}

UNetConfig preset_sprite32v2(int num_classes) {
  UNetConfig c = preset_sprite32(num_classes);
  c.preset = "sprite32v2";
  c.norm_groups = 8;
  c.scale_shift = true;
  return c;
}

std::vector<std::string> preset_names() { return {"seed64", "sprite32", "sprite32v2"}; }

UNetConfig preset_by_name(const std::string& name, int num_classes) {
  if (name == "seed64") return preset_seed64(num_classes);
  if (name == "sprite32") return preset_sprite32(num_classes);
  if (name == "sprite32v2") return preset_sprite32v2(num_classes);
  std::string known;
  for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error("unknown model preset '" + name + "': known presets are " + known);
}

}  // namespace ddpm
