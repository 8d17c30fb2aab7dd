#include "training.h"

namespace studio {

namespace {
constexpr const char* kSampleGridPrefix = "sample grid: ";  // see ddpm_train_callback
constexpr size_t kMaxMessages = 200;
}  // namespace

TrainingController::~TrainingController() {
  if (job_) plugin_.ddpm_train_free(job_);  // cancels; the job writes its checkpoint first
}

bool TrainingController::start(const TrainRequest& r, std::string& error) {
  if (job_) {
    error = "a training job is already running";
    return false;
  }
  ddpm_train_params p;
  plugin_.ddpm_train_params_init(&p, sizeof p);
  p.assets = r.assets.c_str();
  p.out_model = r.out_model.c_str();
  p.init_model = r.init_model.empty() ? nullptr : r.init_model.c_str();
  p.preset = r.preset.c_str();
  p.steps = r.steps;
  p.minutes = r.minutes;
  p.batch = r.batch;
  p.lr = r.lr;
  p.checkpoint = r.checkpoint.empty() ? nullptr : r.checkpoint.c_str();
  p.sample_dir = r.sample_dir.empty() ? nullptr : r.sample_dir.c_str();
  p.sample_every = r.sample_dir.empty() ? 0 : r.sample_every;
  p.flip = r.flip;
  p.pixel_art = r.pixel_art;
  p.freeze = r.freeze;
  p.lora_rank = r.lora_rank;
  p.strength = r.strength;
  p.random_crop = r.random_crop;
  p.bf16 = r.bf16;
  p.local_processes = r.processes;
  p.distill = r.distill;
  // A short new model: let the EMA average anything (fine-tunes and budgets: the plugin's
  // automatic EMA start, which averages from the first step with a warm-up).
  if (r.minutes <= 0 && r.init_model.empty() && r.steps < 2000) p.ema_start = r.steps / 4;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    shared_ = TrainSnapshot{};
    shared_.running = true;
    shared_.total = r.minutes > 0 ? 0 : r.steps;  // a budget's steps are planned as it runs
  }
  request_ = r;
  if (plugin_.ddpm_train_start(&p, &TrainingController::on_progress, this, &job_) != DDPM_OK) {
    error = plugin_.ddpm_last_error();
    job_ = nullptr;
    std::lock_guard<std::mutex> lock(mutex_);
    shared_.running = false;
    shared_.status = error;
    return false;
  }
  return true;
}

void TrainingController::on_progress(ddpm_train_job* job, int64_t step, int64_t total, double loss,
                                     double ips, double eta, const char* message, void* user) {
  auto* self = static_cast<TrainingController*>(user);
  std::lock_guard<std::mutex> lock(self->mutex_);
  TrainSnapshot& s = self->shared_;
  if (message) {
    const std::string m = message;
    if (m.rfind(kSampleGridPrefix, 0) == 0) s.sample_grid = m.substr(std::string(kSampleGridPrefix).size());
    if (s.messages.size() >= kMaxMessages) s.messages.erase(s.messages.begin());
    s.messages.push_back(m);
    return;
  }
  if (step <= s.step && !s.loss_history.empty()) return;
  s.step = step;
  s.total = total;
  s.loss = loss;
  s.images_per_second = ips;
  s.eta_seconds = eta;
  // The trainer's moving average: single-step diffusion losses are far too noisy to read.
  ddpm_train_status status{};
  const bool polled = self->plugin_.ddpm_train_poll(job, &status) == DDPM_OK;
  s.loss_history.push_back(static_cast<float>(polled ? status.loss_smoothed : loss));
}

void TrainingController::stop() {
  if (job_) plugin_.ddpm_train_cancel(job_);
}

const TrainSnapshot& TrainingController::poll() {
  if (job_) {
    const ddpm_status s = plugin_.ddpm_train_wait(job_, 0);
    if (s != DDPM_ERR_TIMEOUT) {
      std::string status = s == DDPM_OK ? "done" : s == DDPM_ERR_CANCELLED ? "stopped" : plugin_.ddpm_last_error();
      plugin_.ddpm_train_free(job_);
      job_ = nullptr;
      std::lock_guard<std::mutex> lock(mutex_);
      shared_.running = false;
      shared_.status = status;
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  view_ = shared_;
  return view_;
}

}  // namespace studio
