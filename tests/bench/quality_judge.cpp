#include "quality_judge.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ddpm/io/atomic_file.h"
#include "ddpm/io/error.h"

namespace F = torch::nn::functional;

namespace quality {

torch::Tensor classifier_input(const torch::Tensor& images) {
  const torch::Tensor c = images.clamp(-1, 1);
  if (c.size(1) != 4) return c;
  const torch::Tensor alpha = c.narrow(1, 3, 1);
  const torch::Tensor a = (alpha + 1) / 2;
  return torch::cat({c.narrow(1, 0, 3) * a /* + 0 (gray) * (1 - a) */, alpha}, 1);
}

torch::Tensor degrade(const torch::Tensor& images, int factor) {
  const torch::Tensor small = F::avg_pool2d(images, F::AvgPool2dFuncOptions(factor));
  return F::interpolate(small, F::InterpolateFuncOptions()
                                   .size(std::vector<int64_t>{images.size(2), images.size(3)})
                                   .mode(torch::kBilinear)
                                   .align_corners(false));
}

std::vector<int64_t> Split::all(bool heldout_images) const {
  std::vector<int64_t> out;
  for (const auto& c : heldout_images ? heldout : train) out.insert(out.end(), c.begin(), c.end());
  return out;
}

Split split_by_class(const torch::Tensor& labels, int classes) {
  Split s;
  s.train.resize(classes);
  s.heldout.resize(classes);
  std::vector<int64_t> seen(classes, 0);
  const auto lab = labels.accessor<int64_t, 1>();
  for (int64_t i = 0; i < labels.size(0); ++i) {
    const int64_t c = lab[i];
    if (c < 0 || c >= classes) throw ddpm::Error("label " + std::to_string(c) + " out of range");
    ((seen[c]++ * 3) % 20 < 3 ? s.heldout : s.train)[c].push_back(i);
  }
  for (int c = 0; c < classes; ++c) {
    if (s.train[c].empty() || s.heldout[c].empty()) {
      throw ddpm::Error("class " + std::to_string(c) + " has too few images for a held-out split (at least 2)");
    }
  }
  return s;
}

// Three stages of two 3x3 convolutions (BatchNorm, ReLU) at S, S/2 and S/4 px, global average
// pooling to 4 * width features, dropout, a linear layer. Measured on the 1906 Noto emoji at
// 32 px (NOTES.md): the diffusion trainer's random resized crops (their aspect changes distort
// shapes) held it at 0.69 held-out; flips and shifts alone give 0.71-0.74, and the ensemble
// more.
struct Judge::Net : torch::nn::Module {
  torch::nn::Sequential body;
  torch::nn::Dropout drop{nullptr};
  torch::nn::Linear head{nullptr};

  Net(int channels, int classes, int width) {
    int in = channels;
    for (int stage = 0; stage < 3; ++stage) {
      const int w = width << stage;
      for (int k = 0; k < 2; ++k) {
        body->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, w, 3).padding(1).bias(false)));
        body->push_back(torch::nn::BatchNorm2d(w));
        body->push_back(torch::nn::ReLU());
        in = w;
      }
      if (stage < 2) body->push_back(torch::nn::MaxPool2d(2));
    }
    register_module("body", body);
    drop = register_module("drop", torch::nn::Dropout(0.3));
    head = register_module("head", torch::nn::Linear(in, classes));
  }
  torch::Tensor features(const torch::Tensor& x) { return body->forward(x).mean({2, 3}); }
  torch::Tensor forward(const torch::Tensor& x) { return head(drop(features(x))); }
};

namespace {

// A horizontal flip and a shift of up to `shift` pixels each way, filled with -1 (transparent,
// or black without alpha). Works on raw images, before classifier_input.
torch::Tensor augment(const torch::Tensor& x, int shift, at::Generator& gen) {
  const int64_t n = x.size(0), S = x.size(-1);
  const torch::Tensor u = torch::rand({n, 3}, gen, torch::kFloat64);
  const auto ua = u.accessor<double, 2>();
  const torch::Tensor padded =
      F::pad(x, F::PadFuncOptions({shift, shift, shift, shift}).mode(torch::kConstant).value(-1));
  torch::Tensor out = torch::empty_like(x);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t dx = static_cast<int64_t>(ua[i][0] * (2 * shift + 1));
    const int64_t dy = static_cast<int64_t>(ua[i][1] * (2 * shift + 1));
    torch::Tensor im = padded[i].narrow(1, dy, S).narrow(2, dx, S);
    out[i].copy_(ua[i][2] < 0.5 ? im.flip({2}) : im);
  }
  return out;
}

// FNV-1a over bytes: the cache key must be stable across runs and builds (std::hash is not).
uint64_t fnv1a(const void* data, std::size_t n, uint64_t h = 1469598103934665603ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

// Runs `f` over `x` in batches without autograd and concatenates the results on the CPU.
torch::Tensor batched(const torch::Tensor& x, torch::Device dev,
                      const std::function<torch::Tensor(const torch::Tensor&)>& f) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (int64_t i = 0; i < x.size(0); i += 256) {
    const torch::Tensor part = x.narrow(0, i, std::min<int64_t>(256, x.size(0) - i)).to(dev);
    parts.push_back(f(classifier_input(part)).cpu());
  }
  return torch::cat(parts);
}

}  // namespace

namespace {

// One member: class-balanced batches (a class first, then an image of it: the benchmarks ask
// for every class equally often, and the largest class can have several times the images of
// the smallest), label smoothing against overconfidence on a small set, cosine decay to zero
// (the last steps settle the weights and BatchNorm's running statistics).
void train_member(Judge::Net& net, const torch::Tensor& im, const Split& split, int classes, const JudgeOptions& o,
                  uint64_t seed, torch::Device device, const std::string& tag) {
  auto gen = at::detail::createCPUGenerator(seed);
  torch::optim::AdamW opt(net.parameters(), torch::optim::AdamWOptions(o.lr).weight_decay(5e-4));
  const int64_t train_count = static_cast<int64_t>(split.all(false).size());
  const int64_t steps = std::max<int64_t>(1, o.epochs * train_count / o.batch);
  const auto start = std::chrono::steady_clock::now();
  net.train();
  for (int64_t step = 0; step < steps; ++step) {
    const double lr = o.lr * 0.5 * (1 + std::cos(M_PI * step / steps));
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    const torch::Tensor u = torch::rand({o.batch, 2}, gen, torch::kFloat64);
    const auto uu = u.accessor<double, 2>();
    std::vector<int64_t> pick(o.batch), y(o.batch);
    for (int i = 0; i < o.batch; ++i) {
      y[i] = std::min<int64_t>(classes - 1, static_cast<int64_t>(uu[i][0] * classes));
      const auto& pool = split.train[y[i]];
      pick[i] = pool[std::min<size_t>(pool.size() - 1, static_cast<size_t>(uu[i][1] * pool.size()))];
    }
    const torch::Tensor x = classifier_input(augment(im.index_select(0, torch::tensor(pick)), o.shift, gen));
    const torch::Tensor loss = F::cross_entropy(net.forward(x.to(device)), torch::tensor(y).to(device),
                                                F::CrossEntropyFuncOptions().label_smoothing(0.1));
    opt.zero_grad();
    loss.backward();
    opt.step();
    if ((step + 1) % 200 == 0 || step + 1 == steps) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("judge %s: step %lld/%lld loss %.3f (%.0f s)\n", tag.c_str(), static_cast<long long>(step + 1),
                  static_cast<long long>(steps), loss.item<double>(), s);
      std::fflush(stdout);
    }
  }
  net.eval();
}

}  // namespace

Judge::Judge(const torch::Tensor& images, const torch::Tensor& labels, const Split& split, int classes,
             const JudgeOptions& o, torch::Device device)
    : device_(device) {
  if (o.members < 1) throw ddpm::Error("the judge needs at least one member");
  for (int m = 0; m < o.members; ++m) {
    torch::manual_seed(o.seed + m);
    nets_.push_back(std::make_shared<Net>(static_cast<int>(images.size(1)), classes, o.width));
    nets_.back()->to(device_);
  }

  // The key: the images and labels themselves and every option that changes a member's
  // weights (not the member count: each member is kept in its own file, so a larger ensemble
  // trains only the members it adds).
  const torch::Tensor im = images.contiguous().to(torch::kFloat32).cpu();
  const torch::Tensor lab = labels.contiguous().cpu();
  uint64_t key = fnv1a(im.data_ptr(), im.numel() * sizeof(float));
  key = fnv1a(lab.data_ptr(), lab.numel() * sizeof(int64_t), key);
  std::ostringstream opts;
  opts << "judge-v2 " << o.width << ' ' << o.epochs << ' ' << o.batch << ' ' << o.lr << ' ' << o.shift << ' '
       << classes;
  const std::string os = opts.str();
  key = fnv1a(os.data(), os.size(), key);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(key));
  const auto member_file = [&](int m) {
    return o.cache_dir + "/judge-" + hex + "-seed" + std::to_string(o.seed + m) + ".pt";
  };
  if (!o.cache_dir.empty()) cache_file = o.cache_dir + "/judge-" + hex + "-seed*.pt";
  const auto start = std::chrono::steady_clock::now();
  int trained = 0;
  for (int m = 0; m < o.members; ++m) {
    Net& net = *nets_[m];
    if (!o.cache_dir.empty() && std::filesystem::exists(member_file(m))) {
      torch::serialize::InputArchive archive;
      archive.load_from(member_file(m), device_);
      net.load(archive);
      net.eval();
      continue;
    }
    train_member(net, im, split, classes, o, o.seed + m, device_,
                 std::to_string(m + 1) + "/" + std::to_string(o.members));
    ++trained;
    if (o.cache_dir.empty()) continue;
    std::filesystem::create_directories(o.cache_dir);
    torch::serialize::OutputArchive archive;
    net.save(archive);
    std::ostringstream bytes;
    archive.save_to(bytes);
    const std::string b = bytes.str();
    ddpm::io::write_file_atomic(member_file(m), b.data(), b.size());
  }
  loaded = trained == 0;
  training_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Judge::~Judge() = default;

// The mean of the members' class probabilities.
torch::Tensor Judge::predict(const torch::Tensor& images) const {
  return batched(images, device_, [&](const torch::Tensor& x) {
    torch::Tensor p = torch::zeros({x.size(0), nets_.front()->head->options.out_features()}, x.options());
    for (const auto& net : nets_) p += net->forward(x).softmax(1);
    return p.argmax(1);
  });
}

torch::Tensor Judge::features(const torch::Tensor& images, int member) const {
  return batched(images, device_, [&](const torch::Tensor& x) { return nets_.at(member)->features(x); });
}

}  // namespace quality
