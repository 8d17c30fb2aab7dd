#include "ddpm/stream.h"

#include <cmath>

#include "ddpm/guidance.h"
#include "ddpm/io/error.h"

namespace ddpm {

Stream::Stream(UNet model, NoiseSchedule schedule, StreamOptions o)
    : model_(std::move(model)),
      schedule_(std::move(schedule)),
      options_(o),
      device_(model_->parameters().front().device()) {
  const int T = schedule_.timesteps();
  if (o.steps < 1 || o.steps > T) {
    throw Error("stream steps " + std::to_string(o.steps) + " is invalid: allowed 1 to " +
                std::to_string(T) + " (the schedule's T)");
  }
  if (!(o.eta >= 0 && o.eta <= 1)) throw Error("eta " + number_text(o.eta) + " is invalid: allowed 0 to 1");
  if (!(o.guidance_rescale >= 0 && o.guidance_rescale <= 1)) {
    throw Error("guidance rescale " + number_text(o.guidance_rescale) + " is invalid: allowed 0 to 1");
  }
  check_guidance_interval(o.guidance_interval);
  if (o.image_input && !(o.strength > 0 && o.strength <= 1)) {
    throw Error("stream strength " + number_text(o.strength) +
                " is invalid: allowed above 0 up to 1 (the fraction of the stages an input image runs)");
  }
  set_blend(o.blend);
  const UNetConfig& cfg = model_->config();
  shape_ = {cfg.in_channels, cfg.image_size, cfg.image_size};
  ts_ = visited_timesteps(schedule_, o.steps, o.spacing);
  const torch::Tensor table = schedule_.alpha_bars.to(torch::kCPU, torch::kFloat64).contiguous();
  for (int64_t t : ts_) ab_.push_back(table[t].item<double>());
  // The batch sampler's image-to-image start: index lround(strength * steps) - 1.
  stages_ = o.image_input ? std::max(1, static_cast<int>(std::lround(o.strength * o.steps))) : o.steps;
  first_ = stages_ - 1;
  rule_ = steps::Rule{o.sampler, o.eta, o.variance, o.clip_x0, o.first_order};
  slots_.reserve(static_cast<size_t>(stages_));
  model_->eval();
}

void Stream::check_entry(const StreamEntry& e) const {
  check_class(e.class_index, model_->config());
  check_guidance(e.guidance);
  if (!(e.variation_strength >= 0 && e.variation_strength <= 1)) {
    throw Error("variation strength " + number_text(e.variation_strength) + " is invalid: allowed 0 to 1");
  }
  if (options_.image_input) {
    if (!e.init_image.defined()) throw Error("this image-to-image stream has no input image yet");
    const auto& s = e.init_image.sizes();
    const bool ok = (e.init_image.dim() == 3 || (e.init_image.dim() == 4 && s[0] == 1)) &&
                    e.init_image.size(-3) == shape_[0] && e.init_image.size(-2) == shape_[1] &&
                    e.init_image.size(-1) == shape_[2];
    if (!ok) {
      throw Error("stream input image has shape " + c10::str(s) + ": expected [" +
                  std::to_string(shape_[0]) + ", " + std::to_string(shape_[1]) + ", " +
                  std::to_string(shape_[2]) + "]");
    }
  }
}

void Stream::set_in_flight_class(int64_t class_index) {
  check_class(class_index, model_->config());
  for (Slot& s : slots_) s.entry.class_index = class_index;
}

void Stream::set_in_flight_guidance(float guidance) {
  check_guidance(guidance);
  for (Slot& s : slots_) s.entry.guidance = guidance;
}

void Stream::set_blend(float blend) {
  if (!(blend >= 0 && blend <= 1)) throw Error("blend " + number_text(blend) + " is invalid: allowed 0 to 1");
  options_.blend = blend;
}

std::optional<StreamFrame> Stream::advance(const StreamEntry& entry) {
  check_entry(entry);
  c10::InferenceMode inference;
  ++calls_;
  // The entering image draws its starting noise exactly as sample() does for a batch of one.
  Slot in{0, entry, NoiseSource({entry.seed}, shape_, device_), {}, {}, {}, calls_};
  in.noise.vary({entry.variation_seed}, entry.variation_strength);
  in.x = in.noise.draw();
  if (options_.image_input) {
    const torch::Tensor init = entry.init_image.to(device_, torch::kFloat32).reshape({1, shape_[0], shape_[1], shape_[2]});
    const double ab = ab_at(first_);
    in.x = std::sqrt(ab) * init + std::sqrt(1 - ab) * in.x;
    in.entry.init_image = torch::Tensor();  // not needed past entry
  }
  slots_.push_back(std::move(in));

  // One forward for every slot, each at its own timestep, class and guidance.
  const UNetConfig& cfg = model_->config();
  const size_t n = slots_.size();
  std::vector<torch::Tensor> xs;
  std::vector<int64_t> t(n), classes(n);
  std::vector<float> guidance(n);
  xs.reserve(n);
  for (size_t j = 0; j < n; ++j) {
    const Slot& s = slots_[j];
    xs.push_back(s.x);
    t[j] = ts_[static_cast<size_t>(first_ - s.stage)];
    classes[j] = s.entry.class_index;
    guidance[j] = guidance_at(s.entry.guidance, ab_at(first_ - s.stage), options_.guidance_interval, cfg);
  }
  const torch::Tensor eps =
      predict_noise(model_, torch::cat(xs), torch::tensor(t, torch::kLong).to(device_), classes,
                    guidance, options_.guidance_rescale, options_.tiling);
  for (size_t j = 0; j < n; ++j) {
    Slot& s = slots_[j];
    const int i = first_ - s.stage;
    const double ab = ab_at(i), ab_prev = ab_at(i - 1);
    const torch::Tensor z = ab_prev < 1.0 ? s.noise.draw() : torch::zeros_like(s.x);
    s.x = steps::denoise(rule_, s.x, eps.narrow(0, static_cast<int64_t>(j), 1), ab, ab_prev, z, s.dpm, s.x0);
    ++s.stage;
  }
  if (slots_.front().stage < stages_) return std::nullopt;

  Slot done = std::move(slots_.front());
  slots_.erase(slots_.begin());
  StreamFrame f;
  done.x = clear_faint_alpha(done.x, options_.alpha_cutoff);  // as a job's image of the same seed
  f.image = done.x;
  f.output = previous_output_.defined() && options_.blend > 0
                 ? options_.blend * previous_output_ + (1 - options_.blend) * done.x
                 : done.x;
  previous_output_ = f.output;
  f.number = ++frames_;
  f.call = calls_;
  f.entered_call = done.entered_call;
  f.entry = std::move(done.entry);
  return f;
}

std::vector<StreamSlot> Stream::slots() const {
  std::vector<StreamSlot> out;
  for (const Slot& s : slots_) {
    out.push_back(StreamSlot{s.stage, ts_[static_cast<size_t>(std::max(0, first_ - s.stage))],
                             s.entry.class_index, s.x0});
  }
  return out;
}

}  // namespace ddpm
