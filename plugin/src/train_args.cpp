#include "train_args.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <type_traits>

namespace ddpm_plugin {
namespace {

// Every field a worker needs, by its command-line name. One list for both directions.
template <class Visitor>
void visit_fields(ddpm_train_params& p, Visitor&& v) {
  v("assets", p.assets);
  v("preset", p.preset);
  v("image-size", p.image_size);
  v("init-model", p.init_model);
  v("steps", p.steps);
  v("batch", p.batch);
  v("lr", p.lr);
  v("seed", p.seed);
  v("checkpoint", p.checkpoint);
  v("out-model", p.out_model);
  v("sample-dir", p.sample_dir);
  v("sample-every", p.sample_every);
  v("warmup", p.warmup);
  v("decay-from", p.decay_from);
  v("grad-clip", p.grad_clip);
  v("label-drop", p.label_drop);
  v("ema-decay", p.ema_decay);
  v("ema-start", p.ema_start);
  v("checkpoint-every", p.checkpoint_every);
  v("flip", p.flip);
  v("pixel-art", p.pixel_art);
  v("freeze", p.freeze);
  v("world-size", p.world_size);
  v("rank", p.rank);
  v("master-addr", p.master_addr);
  v("master-port", p.master_port);
  v("dist-timeout", p.dist_timeout);
  v("snr-gamma", p.snr_gamma);
  v("ema-warmup", p.ema_warmup);
  v("minutes", p.minutes);
  v("device", p.device);
  v("distill", p.distill);
  v("distill-steps", p.distill_steps);
  v("distill-substeps", p.distill_substeps);
  v("distill-guidance-min", p.distill_guidance_min);
  v("distill-guidance-max", p.distill_guidance_max);
  v("distill-stochastic", p.distill_stochastic);
  v("lora-rank", p.lora_rank);
  v("random-crop", p.random_crop);
  v("bf16", p.bf16);
  v("live-student", p.live_student);
  v("strength", p.strength);
}

// %.17g: a double survives the round trip bit for bit.
std::string text(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}
template <class T>
std::string text(T v) { return std::to_string(v); }

template <class T>
T parse_number(const std::string& name, const std::string& value) {
  errno = 0;
  char* end = nullptr;
  T out{};
  if constexpr (std::is_floating_point_v<T>) {
    out = std::strtod(value.c_str(), &end);
  } else if constexpr (std::is_unsigned_v<T>) {
    out = static_cast<T>(std::strtoull(value.c_str(), &end, 10));
  } else {
    const long long v = std::strtoll(value.c_str(), &end, 10);
    out = static_cast<T>(v);
    if (static_cast<long long>(out) != v) errno = ERANGE;
  }
  if (value.empty() || *end != '\0' || errno == ERANGE) {
    throw std::invalid_argument("--" + name + ": '" + value + "' is not a valid number");
  }
  return out;
}

}  // namespace

std::vector<std::string> train_params_to_args(const ddpm_train_params& params) {
  std::vector<std::string> args;
  ddpm_train_params p = params;
  visit_fields(p, [&](const char* name, auto& field) {
    using T = std::decay_t<decltype(field)>;
    if constexpr (std::is_same_v<T, const char*>) {
      if (field) args.push_back(std::string("--") + name + "=" + field);
    } else {
      args.push_back(std::string("--") + name + "=" + text(field));
    }
  });
  return args;
}

ParsedTrainParams train_params_from_args(const std::vector<std::string>& args) {
  ParsedTrainParams out;
  ddpm_train_params_init(&out.params, sizeof out.params);
  std::map<std::string, std::string> given;
  for (const auto& a : args) {
    const auto eq = a.find('=');
    if (a.rfind("--", 0) != 0 || eq == std::string::npos) {
      throw std::invalid_argument("'" + a + "' is not of the form --name=value");
    }
    given[a.substr(2, eq - 2)] = a.substr(eq + 1);
  }
  visit_fields(out.params, [&](const char* name, auto& field) {
    const auto it = given.find(name);
    if (it == given.end()) return;
    using T = std::decay_t<decltype(field)>;
    if constexpr (std::is_same_v<T, const char*>) {
      out.strings.push_back(std::make_unique<std::string>(it->second));
      field = out.strings.back()->c_str();
    } else {
      field = parse_number<T>(name, it->second);
    }
    given.erase(it);
  });
  if (!given.empty()) throw std::invalid_argument("unknown option --" + given.begin()->first);
  return out;
}

}  // namespace ddpm_plugin
