// Quality benchmark: do the fast samplers make images as good as the 1000-step DDPM chain?
//
// Timing benchmarks cannot say whether DPM-Solver++ 2M at 20 steps is a fair replacement for
// DDPM at 1000, so this one measures the images themselves, with nothing from outside the
// project: it trains a small CNN classifier on the real asset folder (held-out accuracy
// printed, so the reader can judge it), generates the same guided images (same classes, same
// seeds) with each sampler, and scores them by
//   - class accuracy: the classifier's prediction equals the requested class, and
//   - a Frechet distance between the classifier's penultimate-layer features of the samples
//     and of the real images (FID's formula on a feature space fitted to this data set),
// plus the ratios DPM-Solver++ 20 / DDPM 1000 (the target: within 10% on both) and the wall
// time per sampler. A real-image Frechet distance at the same sample count is printed as the
// floor that the small-sample bias alone produces.
//
//   ddpm_bench_quality [--model M] [--assets DIR] [--per-class N] [--json OUT]
//                      [--classifier-steps S] [--ddpm-steps S] [--threads N] [--no-clip-x0]
//                      [--grids DIR]  (one PNG grid per sampler, a row per class, to look at)
// DDPM_DEVICE=cuda runs the classifier and the samplers on a GPU.
#include <cmath>
#include <cstdlib>
#include <map>

#include "bench_common.h"
#include "ddpm/dataset.h"
#include "ddpm/io/error.h"
#include "ddpm/model_file.h"
#include "ddpm/sampler.h"
#include "ddpm/tensor_image.h"

namespace F = torch::nn::functional;
using bench::Row;

namespace {

struct Args {
  std::string model = "assets/emoji32/model.safetensors";
  std::string assets = "out/default-model/emoji32";
  std::string json = "out/bench_quality.json";
  std::string grids;  // empty: no grids
  int per_class = 8;           // guided samples per class and sampler
  int classifier_steps = 600;  // optimiser steps of the classifier (batch 64)
  int ddpm_steps = 1000;       // fewer only for smoke runs: the reference is the full chain
  int threads = 0;             // 0: all cores
  int chunk = 16;              // images per sample() call, bounds the memory of a run
  bool clip_x0 = true;         // as the plugin samples by default
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw ddpm::Error(k + " needs a value");
      return argv[++i];
    };
    const auto number = [&](int lo) {
      const std::string v = value();
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || n < lo || n > 1000000) {
        throw ddpm::Error(k + " " + v + " is invalid: allowed " + std::to_string(lo) + " or more");
      }
      return static_cast<int>(n);
    };
    if (k == "--model") a.model = value();
    else if (k == "--assets") a.assets = value();
    else if (k == "--json") a.json = value();
    else if (k == "--grids") a.grids = value();
    else if (k == "--per-class") a.per_class = number(1);
    else if (k == "--classifier-steps") a.classifier_steps = number(1);
    else if (k == "--ddpm-steps") a.ddpm_steps = number(1);
    else if (k == "--threads") a.threads = number(0);
    else if (k == "--chunk") a.chunk = number(1);
    else if (k == "--no-clip-x0") a.clip_x0 = false;
    else throw ddpm::Error("unknown option " + k + " (see the comment at the top of bench_quality.cpp)");
  }
  return a;
}

// What the classifier sees: RGB composited over mid-gray by alpha, plus alpha itself. The
// colour under fully transparent pixels is arbitrary (in the PNGs and in the samples), and
// compositing makes it irrelevant, while a wrong alpha (a halo, a hole) changes the RGB and
// stays visible in the alpha channel. Models with 1 or 3 channels are taken as they are.
torch::Tensor classifier_input(const torch::Tensor& x) {
  const torch::Tensor c = x.clamp(-1, 1);
  if (c.size(1) != 4) return c;
  const torch::Tensor alpha = c.narrow(1, 3, 1);
  const torch::Tensor a = (alpha + 1) / 2;
  return torch::cat({c.narrow(1, 0, 3) * a /* + 0 (gray) * (1 - a) */, alpha}, 1);
}

// A small CNN: three stages of two 3x3 convolutions (BatchNorm, ReLU) at 32, 16 and 8 px,
// global average pooling to 64 features, then a linear layer. Kept small (about 10 MMAC per
// image) so that training fits in a minute or two on two shared cores; 64 features also keep
// the covariance of a few dozen samples from being hopelessly rank-deficient.
struct ClassifierImpl : torch::nn::Module {
  torch::nn::Sequential body;
  torch::nn::Dropout drop{nullptr};
  torch::nn::Linear head{nullptr};

  ClassifierImpl(int channels, int classes) {
    int in = channels;
    for (int width : {16, 32, 64}) {
      for (int k = 0; k < 2; ++k) {
        body->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, width, 3).padding(1).bias(false)));
        body->push_back(torch::nn::BatchNorm2d(width));
        body->push_back(torch::nn::ReLU());
        in = width;
      }
      if (width != 64) body->push_back(torch::nn::MaxPool2d(2));
    }
    register_module("body", body);
    drop = register_module("drop", torch::nn::Dropout(0.2));
    head = register_module("head", torch::nn::Linear(in, classes));
  }
  torch::Tensor features(const torch::Tensor& x) { return body->forward(x).mean({2, 3}); }
  torch::Tensor forward(const torch::Tensor& x) { return head(drop(features(x))); }
};
TORCH_MODULE(Classifier);

// The diffusion trainer's own augmentation, applied at 32 px: a random resized crop (area
// 0.8-1, aspect 3/4-4/3) and a horizontal flip. The diffusion model learnt exactly these
// zooms and flips, so its samples are in the classifier's training distribution.
torch::Tensor augment(const torch::Tensor& x, at::Generator& gen) {
  const int64_t n = x.size(0), S = x.size(-1);
  const torch::Tensor u = torch::rand({n, 5}, gen, torch::kFloat64);
  const auto ua = u.accessor<double, 2>();
  torch::Tensor out = torch::empty_like(x);
  for (int64_t i = 0; i < n; ++i) {
    const double area = (0.8 + 0.2 * ua[i][0]) * S * S;
    const double aspect = std::exp(std::log(0.75) + std::log(16.0 / 9) * ua[i][1]);
    const int64_t w = std::clamp<int64_t>(std::llround(std::sqrt(area * aspect)), 1, S);
    const int64_t h = std::clamp<int64_t>(std::llround(std::sqrt(area / aspect)), 1, S);
    const int64_t x0 = static_cast<int64_t>(ua[i][2] * (S - w + 1));
    const int64_t y0 = static_cast<int64_t>(ua[i][3] * (S - h + 1));
    torch::Tensor im = F::interpolate(x[i].narrow(1, y0, h).narrow(2, x0, w).unsqueeze(0),
                                      F::InterpolateFuncOptions()
                                          .size(std::vector<int64_t>{S, S})
                                          .mode(torch::kBilinear)
                                          .align_corners(false));
    if (ua[i][4] < 0.5) im = im.flip({3});
    out[i].copy_(im[0]);
  }
  return out;
}

// Runs `f` over `x` in batches without autograd and concatenates the results.
torch::Tensor batched(const torch::Tensor& x, const std::function<torch::Tensor(const torch::Tensor&)>& f) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (int64_t i = 0; i < x.size(0); i += 256) {
    parts.push_back(f(x.narrow(0, i, std::min<int64_t>(256, x.size(0) - i)).to(bench::device())).cpu());
  }
  return torch::cat(parts);
}

// Mean and covariance (unbiased) of feature rows, in float64.
struct Gaussian {
  torch::Tensor mean, cov;
};
Gaussian fit(const torch::Tensor& features) {
  const torch::Tensor f = features.to(torch::kFloat64);
  const torch::Tensor mu = f.mean(0);
  const torch::Tensor d = f - mu;
  return {mu, d.t().mm(d) / std::max<int64_t>(1, f.size(0) - 1)};
}

// Square root of a symmetric positive semi-definite matrix by eigen-decomposition; round-off
// can make tiny eigenvalues negative, which are clamped to zero.
torch::Tensor sqrt_psd(const torch::Tensor& s) {
  const auto [w, v] = torch::linalg::eigh((s + s.t()) / 2, "L");
  return v.mm(torch::diag(w.clamp_min(0).sqrt())).mm(v.t());
}

// Frechet distance between N(m1, S1) and N(m2, S2):
//   |m1 - m2|^2 + tr S1 + tr S2 - 2 tr (S1^1/2 S2 S1^1/2)^1/2.
// tr sqrt(S1 S2) equals the last trace, but S1 S2 is not symmetric; S1^1/2 S2 S1^1/2 is
// (and positive semi-definite), so its square root comes from a symmetric eigen-decomposition
// with real eigenvalues instead of a general matrix square root.
double frechet(const Gaussian& a, const Gaussian& b) {
  const torch::Tensor r = sqrt_psd(a.cov);
  torch::Tensor m = r.mm(b.cov).mm(r);
  const torch::Tensor ev = torch::linalg::eigvalsh((m + m.t()) / 2, "L");
  const double cross = ev.clamp_min(0).sqrt().sum().item<double>();
  return (a.mean - b.mean).pow(2).sum().item<double>() + a.cov.trace().item<double>() +
         b.cov.trace().item<double>() - 2 * cross;
}

// Checks the distance against cases with a known answer before it is trusted: commuting
// covariances (same eigenvectors) give sum (sqrt a_i - sqrt b_i)^2 + |m1 - m2|^2, and the
// distance is symmetric for covariances that do not commute.
void check_frechet() {
  torch::manual_seed(0);
  const int d = 6;
  const torch::Tensor q = std::get<0>(torch::linalg::qr(torch::randn({d, d}, torch::kFloat64)));
  const torch::Tensor ea = torch::rand({d}, torch::kFloat64) + 0.1, eb = torch::rand({d}, torch::kFloat64) + 0.1;
  const torch::Tensor m1 = torch::randn({d}, torch::kFloat64), m2 = torch::randn({d}, torch::kFloat64);
  const Gaussian a{m1, q.mm(torch::diag(ea)).mm(q.t())}, b{m2, q.mm(torch::diag(eb)).mm(q.t())};
  const double want = ((ea.sqrt() - eb.sqrt()).pow(2).sum() + (m1 - m2).pow(2).sum()).item<double>();
  const torch::Tensor xa = torch::randn({d, d}, torch::kFloat64), xb = torch::randn({d, d}, torch::kFloat64);
  const Gaussian c{m1, xa.mm(xa.t())}, e{m2, xb.mm(xb.t())};
  if (std::abs(frechet(a, b) - want) > 1e-9 || std::abs(frechet(c, e) - frechet(e, c)) > 1e-9 ||
      std::abs(frechet(c, c)) > 1e-9) {
    throw ddpm::Error("the Frechet distance fails its self-check");
  }
}

}  // namespace

int main(int argc, char** argv) try {
  std::string unused_json;
  bench::init(1, argv, unused_json, "");  // the runtime and DDPM_DEVICE; options are parsed here
  const Args args = parse(argc, argv);
  if (args.threads > 0) ddpm::init_runtime(args.threads);
  const torch::Device dev = bench::device();
  check_frechet();
  std::vector<Row> rows;

  // --- The model and the real images, at the model's size and channels.
  ddpm::Model model = ddpm::load_model(args.model, dev);
  model.unet->eval();
  const auto& cfg = model.info.unet;
  if (!cfg.conditional()) throw ddpm::Error(args.model + " is unconditional: the quality bench needs classes");
  ddpm::DatasetOptions dopts;
  dopts.image_size = cfg.image_size;
  dopts.channels = cfg.in_channels;
  const ddpm::AssetDataset data(args.assets, dopts);
  // Model label -> folder label, by name: the classifier learns the folder's labels.
  std::vector<int64_t> to_folder;
  for (const auto& name : model.info.class_names) {
    const auto& names = data.class_names();
    const auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) throw ddpm::Error("class '" + name + "' of " + args.model + " has no folder in " + args.assets);
    to_folder.push_back(it - names.begin());
  }
  const int classes = static_cast<int>(data.class_names().size());
  // The whole image at model size (the trainer's crops are zooms of this), then as the
  // classifier sees it.
  const torch::Tensor real = classifier_input(data.plain_images());
  const torch::Tensor labels = data.labels();
  std::printf("model %s (step %lld, guidance %.2f); %lld images in %d classes from %s\n", args.model.c_str(),
              static_cast<long long>(model.info.training_step), model.info.guidance,
              static_cast<long long>(data.size()), classes, args.assets.c_str());

  // --- Deterministic, stratified 15% validation split: 3 of every 20 images of each class,
  // spread through the class (folder order is sorted, so runs agree).
  std::vector<int64_t> val_idx;
  std::vector<std::vector<int64_t>> train_by_class(classes), all_by_class(classes);
  const auto lab = labels.accessor<int64_t, 1>();
  for (int64_t i = 0; i < data.size(); ++i) {
    const int64_t c = lab[i];
    const int64_t k = static_cast<int64_t>(all_by_class[c].size());
    all_by_class[c].push_back(i);
    if ((k * 3) % 20 < 3) val_idx.push_back(i);
    else train_by_class[c].push_back(i);
  }

  // --- Train the classifier. Batches are class-balanced (class first, then an image of it):
  // the evaluation asks for every class equally often, and "people" has 4.5x the images of
  // "activities".
  torch::manual_seed(1);
  auto gen = at::detail::createCPUGenerator(1);
  Classifier net(real.size(1), classes);
  net->to(dev);
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(2e-3).weight_decay(1e-4));
  const auto train_start = std::chrono::steady_clock::now();
  const int batch = 64;
  for (int step = 0; step < args.classifier_steps; ++step) {
    // Cosine decay to zero: the last steps settle the weights and BatchNorm's running stats.
    const double lr = 2e-3 * 0.5 * (1 + std::cos(M_PI * step / args.classifier_steps));
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    const torch::Tensor u = torch::rand({batch, 2}, gen, torch::kFloat64);
    const auto uu = u.accessor<double, 2>();
    std::vector<int64_t> pick(batch), y(batch);
    for (int i = 0; i < batch; ++i) {
      y[i] = std::min<int64_t>(classes - 1, static_cast<int64_t>(uu[i][0] * classes));
      const auto& pool = train_by_class[y[i]];
      pick[i] = pool[std::min<size_t>(pool.size() - 1, static_cast<size_t>(uu[i][1] * pool.size()))];
    }
    const torch::Tensor x = augment(real.index_select(0, torch::tensor(pick)), gen).to(dev);
    const torch::Tensor loss = F::cross_entropy(net->forward(x), torch::tensor(y).to(dev));
    opt.zero_grad();
    loss.backward();
    opt.step();
    if ((step + 1) % 100 == 0 || step + 1 == args.classifier_steps) {
      std::printf("classifier step %d/%d loss %.3f\n", step + 1, args.classifier_steps, loss.item<double>());
      std::fflush(stdout);
    }
  }
  net->eval();
  const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - train_start).count();
  const auto logits = [&](const torch::Tensor& x) { return net->forward(x); };
  const auto features = [&](const torch::Tensor& x) { return net->features(x); };

  // Held-out accuracy, plain and class-balanced (mean of per-class recalls, which is what the
  // balanced sample evaluation below is compared with).
  const torch::Tensor vidx = torch::tensor(val_idx);
  const torch::Tensor vy = labels.index_select(0, vidx);
  const torch::Tensor vpred = batched(real.index_select(0, vidx), logits).argmax(1);
  const torch::Tensor vhit = (vpred == vy).to(torch::kFloat64);
  double balanced = 0;
  std::printf("classifier held-out recall per class:");
  for (int c = 0; c < classes; ++c) {
    const double recall = vhit.index({vy == c}).mean().item<double>();
    balanced += recall / classes;
    std::printf(" %s %.0f%%", data.class_names()[c].c_str(), 100 * recall);
  }
  std::printf("\n");
  rows.push_back({"classifier training time", train_s, "s"});
  rows.push_back({"classifier held-out accuracy (" + std::to_string(val_idx.size()) + " images)",
                  100 * vhit.mean().item<double>(), "%"});
  rows.push_back({"classifier held-out balanced accuracy", 100 * balanced, "%"});

  // Reference statistics: every real image (the population the model was trained on).
  const Gaussian real_stats = fit(batched(real, features));
  // The floor: the same number of real images per class as samples, spread through each class.
  // Its distance to the population is what the small sample alone costs; the samplers are
  // judged against each other, and against this.
  {
    std::vector<int64_t> pick;
    for (const auto& pool : all_by_class) {
      for (int k = 0; k < args.per_class; ++k) pick.push_back(pool[(k * pool.size() / args.per_class) % pool.size()]);
    }
    rows.push_back({"real images, " + std::to_string(args.per_class) + "/class: Frechet distance (floor)",
                    frechet(fit(batched(real.index_select(0, torch::tensor(pick)), features)), real_stats), ""});
  }

  // --- Generate with each sampler: the same classes and seeds, the model's guidance.
  struct Score {
    double accuracy, fd;
  };
  std::map<ddpm::SamplerKind, Score> scores;
  const int n = classes * args.per_class;
  for (auto [kind, steps] : std::vector<std::pair<ddpm::SamplerKind, int>>{
           {ddpm::SamplerKind::DPMSolverPP2M, 20}, {ddpm::SamplerKind::DPMSolverPP2MSDE, 20},
           {ddpm::SamplerKind::DDIM, 50}, {ddpm::SamplerKind::DDPM, args.ddpm_steps}}) {
    const std::string tag = ddpm::to_string(kind) + "-" + std::to_string(steps);
    std::vector<torch::Tensor> images;
    std::vector<int64_t> wanted;  // folder labels
    const auto start = std::chrono::steady_clock::now();
    for (int first = 0; first < n; first += args.chunk) {
      ddpm::SampleOptions o;
      o.sampler = kind;
      o.steps = steps;
      o.guidance = model.info.guidance;
      o.variance = model.info.variance;
      o.clip_x0 = args.clip_x0;
      o.batch = std::min(args.chunk, n - first);
      for (int i = first; i < first + o.batch; ++i) {
        const int64_t model_class = i / args.per_class;
        o.classes.push_back(model_class);
        o.seeds.push_back(1000 + i);  // image i has the same seed under every sampler
        wanted.push_back(to_folder[model_class]);
      }
      c10::InferenceMode inference;
      images.push_back(ddpm::sample(model.unet, model.schedule, o).images.cpu());
    }
    bench::sync();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!args.grids.empty()) {
      std::filesystem::create_directories(args.grids);
      ddpm::save_grid_png(args.grids + "/" + tag + ".png", torch::cat(images), args.per_class);
    }
    const torch::Tensor x = classifier_input(torch::cat(images));
    const torch::Tensor pred = batched(x, logits).argmax(1);
    const Score s{100 * (pred == torch::tensor(wanted)).to(torch::kFloat64).mean().item<double>(),
                  frechet(fit(batched(x, features)), real_stats)};
    scores[kind] = s;
    rows.push_back({tag + " class accuracy", s.accuracy, "%"});
    rows.push_back({tag + " Frechet distance", s.fd, ""});
    rows.push_back({tag + " wall time, " + std::to_string(n) + " images", wall, "s"});
    std::printf("%s: accuracy %.1f%%, Frechet distance %.3f, %.1f s\n", tag.c_str(), s.accuracy, s.fd, wall);
    std::fflush(stdout);
  }

  // The target: DPM-Solver++ 20 within 10% of DDPM 1000 on both scores, i.e. an
  // accuracy ratio of at least 0.9 and a distance ratio of at most 1.1.
  const Score& ref = scores[ddpm::SamplerKind::DDPM];
  const std::string ref_tag = "ddpm-" + std::to_string(args.ddpm_steps);
  for (auto kind : {ddpm::SamplerKind::DPMSolverPP2M, ddpm::SamplerKind::DPMSolverPP2MSDE}) {
    const Score& fast = scores[kind];
    const std::string tag = ddpm::to_string(kind) + "-20 / " + ref_tag;
    // (A zero reference leaves its ratio out: JSON has no NaN.)
    const double acc_ratio = ref.accuracy > 0 ? fast.accuracy / ref.accuracy : NAN;
    const double fd_ratio = ref.fd > 0 ? fast.fd / ref.fd : NAN;
    if (std::isfinite(acc_ratio)) rows.push_back({tag + " accuracy ratio", acc_ratio, "(target >= 0.9)"});
    if (std::isfinite(fd_ratio)) rows.push_back({tag + " Frechet ratio", fd_ratio, "(target <= 1.1)"});
    const bool ok = acc_ratio >= 0.9 && fd_ratio <= 1.1;
    std::printf("target (%s 20 steps within 10%% of %s on both): %s\n", ddpm::to_string(kind).c_str(),
                ref_tag.c_str(), ok ? "met" : "NOT met");
  }
  bench::report(rows, args.json);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "ddpm_bench_quality: %s\n", e.what());
  return 1;
}
