#include "generation.h"

namespace studio {

namespace {
// The timeline keeps at most this much; past it every other frame is dropped.
constexpr size_t kHistoryBytes = size_t(256) << 20;
}  // namespace

GenerationController::~GenerationController() {
  if (job_) plugin_.ddpm_job_free(job_);  // cancels and joins the worker
}

bool GenerationController::start(ddpm_model* model, const GenerateRequest& r, std::string& error) {
  if (job_) {
    plugin_.ddpm_job_free(job_);
    job_ = nullptr;
  }
  ddpm_generate_params p;
  plugin_.ddpm_generate_params_init(&p, sizeof p);
  p.batch = r.batch;
  p.classes = r.classes.data();
  p.class_count = r.classes.size();
  p.guidance = r.guidance;
  if (!r.guidance_interval) p.guidance_min_sigma = p.guidance_max_sigma = 0.0f;  // else the sampler's
  p.sampler_name = r.sampler.c_str();
  p.steps = r.steps;
  p.eta = r.eta;
  p.seed = r.seed;
  p.preview_every = r.preview_every;
  p.preview_x0 = r.preview_x0 ? 1 : 0;
  p.tiling = r.tiling ? 1 : 0;
  p.clip_x0 = r.clip_x0 ? 1 : 0;
  p.variation_seed = r.variation_seed;
  p.variation_strength = r.variation_strength;
  if (!r.init_rgba.empty()) {
    p.init_image_rgba8 = r.init_rgba.data();
    p.init_width = r.init_w;
    p.init_height = r.init_h;
    p.strength = r.strength;
    if (!r.mask.empty()) p.mask = r.mask.data();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    arrived_.clear();
    worker_step_ = 0;
    worker_total_ = r.steps;
  }
  history_.clear();
  history_bytes_ = 0;
  stride_ = 1;
  since_recorded_ = 0;
  step_ = 0;
  total_ = r.steps;
  steps_per_second_ = 0;
  finished_ok_ = false;
  request_ = r;
  started_ = std::chrono::steady_clock::now();
  const ddpm_status s = plugin_.ddpm_generate_start(model, &p, &GenerationController::on_step, this, &job_);
  if (s != DDPM_OK) {
    error = plugin_.ddpm_last_error();
    status_ = error;
    job_ = nullptr;
    return false;
  }
  status_ = "running";
  return true;
}

void GenerationController::on_step(ddpm_job*, int step, int total, const float* frame, int w, int h,
                                   int c, int b, void* user) {
  auto* self = static_cast<GenerationController*>(user);
  std::lock_guard<std::mutex> lock(self->mutex_);
  self->worker_step_ = step;
  self->worker_total_ = total;
  if (!frame) return;
  Frame f;
  f.step = step;
  f.total = total;
  f.width = w;
  f.height = h;
  f.channels = c;
  f.batch = b;
  f.data.assign(frame, frame + static_cast<size_t>(w) * h * c * b);
  self->arrived_.push_back(std::move(f));
}

bool GenerationController::poll() {
  std::vector<Frame> arrived;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    step_ = worker_step_;
    total_ = worker_total_;
    arrived.swap(arrived_);
  }
  const bool fresh = !arrived.empty();
  if (fresh) latest_ = arrived.back();
  for (auto& f : arrived) {
    if (++since_recorded_ < stride_) continue;
    since_recorded_ = 0;
    history_bytes_ += f.data.size() * sizeof(float);
    history_.push_back(std::move(f));
    if (history_bytes_ > kHistoryBytes) {  // keep every other frame, record half as often
      std::vector<Frame> kept;
      history_bytes_ = 0;
      for (size_t i = 0; i < history_.size(); i += 2) {
        history_bytes_ += history_[i].data.size() * sizeof(float);
        kept.push_back(std::move(history_[i]));
      }
      history_.swap(kept);
      stride_ *= 2;
    }
  }
  if (step_ > 0) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    if (s > 0) steps_per_second_ = step_ / s;
  }
  if (job_ && plugin_.ddpm_job_wait(job_, 0) != DDPM_ERR_TIMEOUT) {
    finish();
    return true;  // latest() is now the job's result (or its last frame)
  }
  return fresh;
}

void GenerationController::finish() {
  const ddpm_status s = plugin_.ddpm_job_wait(job_, 0);
  if (s == DDPM_OK) {
    status_ = "done";
    finished_ok_ = true;
  } else if (s == DDPM_ERR_CANCELLED) {
    status_ = "cancelled";
  } else {
    status_ = std::string(plugin_.ddpm_last_error());
  }
  if (s == DDPM_OK) {
    // The result is the authoritative last frame (a run with preview_every > 1 or x0 previews
    // ends on it too).
    int w = 0, h = 0, c = 0, b = 0;
    plugin_.ddpm_job_get_shape(job_, &w, &h, &c, &b);
    Frame f;
    f.step = f.total = total_;
    f.width = w;
    f.height = h;
    f.channels = c;
    f.batch = b;
    f.data.resize(static_cast<size_t>(w) * h * c * b);
    if (plugin_.ddpm_job_result_f32(job_, f.data.data(), f.data.size()) == DDPM_OK) {
      latest_ = f;
      if (history_.empty() || history_.back().step != f.step || request_.preview_x0) history_.push_back(std::move(f));
    }
  }
  plugin_.ddpm_job_free(job_);
  job_ = nullptr;
}

void GenerationController::cancel() {
  if (job_) plugin_.ddpm_job_cancel(job_);
}

}  // namespace studio
