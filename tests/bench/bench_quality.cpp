// Quality benchmark: how good are a model's images, on a yardstick that can fail?
//
// A judge (tests/bench/quality_judge.h: a BatchNorm CNN trained on the real images of the asset
// folder, kept in out/quality-judge/) scores, in one run and one feature space:
//   - the real held-out images the judge never saw (the floor: what real data scores),
//   - degraded copies of them (2x and 4x down-and-up blur: what visibly worse images score),
//   - each model's guided samples with each sampler,
// by class accuracy (class-balanced: the mean of per-class accuracies, and each class's own) and
// the Frechet distance of the judge's pooled features to those of the judge's training images
// (the mean over the judge's members, each in its own feature space), each with its standard
// error. The distance is biased by the sample count, so every distance in a run uses the same
// count and class mix: the held-out split's (samples beyond it count for accuracy only).
//
//   ddpm_bench_quality OPTIONS (kUsage below; --help prints it)
// Defaults: the default model, the CLI's default sampler (dpmpp2m_sde:10:logsnr), each sampler's
// guidance interval and alpha cutoff as the plugin applies them (--guidance-sigmas 0:0 guides
// every step, --alpha-cutoff 0 keeps every sample's alpha as drawn), 32 images
// a class (or the held-out count, when larger), image i seeded S + i (S = 1000). A sampler's
// third field is a spacing or the visited timesteps, highest first (a tuned few-step schedule).
// --judge-cache none trains a fresh judge and keeps nothing. A model of finer classes
// (CLASS.GROUP, from make-sample-assets.py --subcategories) draws each judge class as its
// subclasses in proportion to their images in --fine-assets DIR (subclasses.h). DDPM_DEVICE=cuda runs the judge and the samplers on a GPU.
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "bench_common.h"
#include "ddpm/dataset.h"
#include "ddpm/io/error.h"
#include "ddpm/model_file.h"
#include "ddpm/model_sampling.h"
#include "ddpm/precision.h"
#include "ddpm/sampler.h"
#include "ddpm/tensor_image.h"
#include "frechet.h"
#include "quality_judge.h"
#include "subclasses.h"

using bench::Row;

namespace {

struct SamplerChoice {
  ddpm::SamplerKind kind;
  int steps;
  ddpm::Spacing spacing = ddpm::Spacing::Trailing;
  std::vector<int64_t> timesteps;  // explicit, increasing (replaces the spacing)
  std::string tag() const {
    const std::string base = ddpm::to_string(kind) + "-" + std::to_string(steps);
    if (!timesteps.empty()) {
      std::string t = base + "-t";
      for (int64_t v : timesteps) t += "_" + std::to_string(v);
      return t;
    }
    return spacing == ddpm::Spacing::Trailing ? base : base + "-" + ddpm::to_string(spacing);
  }
};

struct Args {
  std::vector<std::string> models;
  std::vector<SamplerChoice> samplers;
  std::string assets = "out/default-model/emoji32";
  std::string json = "out/bench_quality.json";
  std::string grids;     // empty: no grids
  std::string fine_assets;  // subclass folders (CLASS.GROUP) of models with finer classes
  int per_class = 32;    // guided samples per class at least
  float guidance = -1;   // < 0: each model's own default
  // Guidance only at noise levels in [min, max] (max 0: no bound); negative: each sampler's
  // default, as the plugin uses it.
  float guidance_sigmas[2] = {-1, -1};
  int threads = 0;       // 0: all cores
  int chunk = 16;        // images per sample() call, bounds the memory of a run
  uint64_t seed = 1000;  // image i's seed is seed + i (another draw: tune on one, report on this)
  bool clip_x0 = true;   // as the plugin samples by default
  float alpha_cutoff = -1;  // negative: each model's own, as the plugin uses it
  quality::JudgeOptions judge;
};

const char kUsage[] =
    "usage: ddpm_bench_quality [--model M]... [--sampler NAME:STEPS[:SPACING|T,T,...]]... [--assets DIR]\n"
    "         [--per-class N] [--seed S] [--guidance G] [--guidance-sigmas MIN:MAX] [--json OUT] [--grids DIR]\n"
    "         [--threads N] [--chunk N] [--no-clip-x0] [--alpha-cutoff C] [--judge-members N] [--judge-width W] [--judge-epochs E]\n"
    "         [--judge-cache DIR] [--precision float32|bf16] [--fine-assets DIR]\n"
    "(the comment at the top of tests/bench/bench_quality.cpp says what each does)\n";

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--help" || k == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw ddpm::Error(k + " needs a value");
      return argv[++i];
    };
    const auto number = [&](const std::string& v, int lo) {
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || n < lo || n > 1000000) {
        throw ddpm::Error(k + " " + v + " is invalid: allowed " + std::to_string(lo) + " or more");
      }
      return static_cast<int>(n);
    };
    if (k == "--model") a.models.push_back(value());
    else if (k == "--sampler") {
      const std::string v = value();
      const auto colon = v.find(':'), second = v.find(':', colon + 1);
      if (colon == std::string::npos) {
        throw ddpm::Error("--sampler " + v + ": give NAME:STEPS[:SPACING or TIMESTEPS], e.g. dpmpp2m_sde:20, "
                          "dpmpp2m_sde:4:logsnr or dpmpp2m_sde:4:999,700,400,150");
      }
      const std::string steps = v.substr(colon + 1, second == std::string::npos ? std::string::npos : second - colon - 1);
      SamplerChoice c{ddpm::sampler_from_string(v.substr(0, colon)), number(steps, 1)};
      const std::string last = second == std::string::npos ? "" : v.substr(second + 1);
      if (!last.empty() && std::isdigit(static_cast<unsigned char>(last[0]))) {
        // Highest first, as people write a schedule; the sampler wants them increasing.
        for (std::size_t at = 0; at <= last.size();) {
          const std::size_t comma = std::min(last.find(',', at), last.size());
          c.timesteps.insert(c.timesteps.begin(), number(last.substr(at, comma - at), 0));
          at = comma + 1;
        }
      } else if (!last.empty()) {
        c.spacing = ddpm::spacing_from_string(last);
      }
      a.samplers.push_back(c);
    } else if (k == "--assets") a.assets = value();
    else if (k == "--json") a.json = value();
    else if (k == "--grids") a.grids = value();
    else if (k == "--fine-assets") a.fine_assets = value();
    else if (k == "--per-class") a.per_class = number(value(), 1);
    else if (k == "--seed") a.seed = static_cast<uint64_t>(number(value(), 0));
    else if (k == "--guidance") {
      const std::string v = value();
      char* end = nullptr;
      a.guidance = std::strtof(v.c_str(), &end);
      if (v.empty() || *end || !(a.guidance >= 0)) throw ddpm::Error("--guidance " + v + " is invalid: allowed >= 0");
    } else if (k == "--guidance-sigmas") {
      // MIN:MAX, guidance only at noise levels in between (MAX 0: no upper bound).
      const std::string v = value();
      char* end = nullptr;
      a.guidance_sigmas[0] = std::strtof(v.c_str(), &end);
      const bool colon = *end == ':';
      if (colon) a.guidance_sigmas[1] = std::strtof(end + 1, &end);
      if (!colon || *end || !(a.guidance_sigmas[0] >= 0) || !(a.guidance_sigmas[1] >= 0)) {
        throw ddpm::Error("--guidance-sigmas " + v + " is invalid: give MIN:MAX, both >= 0 (MAX 0: no bound)");
      }
    } else if (k == "--threads") {
      a.threads = number(value(), 0);
    } else if (k == "--precision") {
      // The models' convolutions; the judge's are LibTorch's own, the same in every run.
      ddpm::set_inference_precision(ddpm::precision_from_string(value()));
    } else if (k == "--chunk") a.chunk = number(value(), 1);
    else if (k == "--no-clip-x0") a.clip_x0 = false;
    else if (k == "--alpha-cutoff") {
      const std::string v = value();
      char* end = nullptr;
      a.alpha_cutoff = std::strtof(v.c_str(), &end);
      if (v.empty() || *end || !(a.alpha_cutoff < 1)) throw ddpm::Error("--alpha-cutoff " + v + " is invalid: allowed 0 to below 1");
    }
    else if (k == "--judge-members") a.judge.members = number(value(), 1);
    else if (k == "--judge-width") a.judge.width = number(value(), 4);
    else if (k == "--judge-epochs") a.judge.epochs = number(value(), 1);
    else if (k == "--judge-cache") {
      a.judge.cache_dir = value();
      if (a.judge.cache_dir == "none") a.judge.cache_dir.clear();
    } else throw ddpm::Error("unknown option " + k + "\n" + kUsage);
  }
  if (a.models.empty()) a.models.push_back("assets/emoji32/model.safetensors");
  if (a.samplers.empty()) a.samplers.push_back({ddpm::SamplerKind::DPMSolverPP2MSDE, 10, ddpm::Spacing::LogSnr});
  return a;
}

// One scored set of images: accuracy per class over all of them, the distance over the
// first heldout[c] of each class c, and how far each number would move by chance.
struct Score {
  std::string name;
  std::vector<double> class_accuracy;
  double balanced = 0, plain = 0, seconds = 0;
  double balanced_se = 0;  // binomial standard error of the balanced accuracy
  double fd = 0;           // the mean of the judge's members' distances (one member's alone
                           // moved between judges as much as whole recipes differ)
  double fd_low = 0, fd_high = 0;  // the members' smallest and largest distance
  double fd_se = 0;        // standard error of fd over draws of the images (a bootstrap)
};

class Scorer {
 public:
  // The distances are measured to each member's Gaussian of `train` (the judge's training images).
  Scorer(const quality::Judge& judge, const quality::Split& split, const torch::Tensor& train,
         std::vector<std::string> class_names)
      : judge_(judge), split_(split), names_(std::move(class_names)) {
    for (int m = 0; m < judge.members(); ++m) references_.push_back(quality::fit(judge.features(train, m)));
  }

  // images[i] was asked to be of class wanted[i] (folder labels); classes appear in blocks.
  Score score(const std::string& name, const torch::Tensor& images, const std::vector<int64_t>& wanted) const {
    Score s;
    s.name = name;
    const torch::Tensor pred = judge_.predict(images);
    const auto p = pred.accessor<int64_t, 1>();
    const int classes = static_cast<int>(names_.size());
    std::vector<int64_t> hits(classes, 0), count(classes, 0), for_fd;
    for (int64_t i = 0; i < images.size(0); ++i) {
      const int64_t c = wanted[i];
      hits[c] += p[i] == c;
      if (count[c]++ < static_cast<int64_t>(split_.heldout[c].size())) for_fd.push_back(i);
    }
    int64_t all_hits = 0;
    double variance = 0;
    for (int c = 0; c < classes; ++c) {
      all_hits += hits[c];
      if (count[c] < static_cast<int64_t>(split_.heldout[c].size())) {
        throw ddpm::Error(name + ": fewer images of class " + names_[c] + " than the held-out split has");
      }
      const double a = static_cast<double>(hits[c]) / count[c];
      s.class_accuracy.push_back(a);
      s.balanced += a / classes;
      variance += a * (1 - a) / count[c] / (static_cast<double>(classes) * classes);
    }
    s.balanced_se = std::sqrt(variance);
    s.plain = static_cast<double>(all_hits) / images.size(0);
    std::vector<int64_t> fd_classes;
    for (int64_t i : for_fd) fd_classes.push_back(wanted[i]);
    distances(s, images.index_select(0, torch::tensor(for_fd)), fd_classes);
    return s;
  }

 private:
  // fd, its members' range, and a stratified bootstrap of the images (each class's rows drawn
  // again with replacement from that class, a fixed seed): the spread a second draw of seeds
  // would give, within the judge. The judge's own uncertainty is what the members' range shows.
  void distances(Score& s, const torch::Tensor& images, const std::vector<int64_t>& classes) const {
    std::vector<std::vector<int64_t>> rows(names_.size());  // each class's rows of `images`
    for (std::size_t i = 0; i < classes.size(); ++i) rows[classes[i]].push_back(static_cast<int64_t>(i));
    std::vector<torch::Tensor> features;
    s.fd_low = 1e300;
    for (int m = 0; m < judge_.members(); ++m) {
      features.push_back(judge_.features(images, m));
      const double d = quality::frechet(quality::fit(features.back()), references_[m]);
      s.fd += d / judge_.members();
      s.fd_low = std::min(s.fd_low, d);
      s.fd_high = std::max(s.fd_high, d);
    }
    std::mt19937_64 rng(1);
    std::vector<double> draws;
    for (int b = 0; b < kBootstrap; ++b) {
      std::vector<int64_t> pick;
      for (const auto& r : rows) {
        if (r.empty()) continue;
        std::uniform_int_distribution<std::size_t> any(0, r.size() - 1);
        for (std::size_t k = 0; k < r.size(); ++k) pick.push_back(r[any(rng)]);
      }
      const torch::Tensor idx = torch::tensor(pick);
      double d = 0;
      for (int m = 0; m < judge_.members(); ++m) {
        d += quality::frechet(quality::fit(features[m].index_select(0, idx)), references_[m]) / judge_.members();
      }
      draws.push_back(d);
    }
    double mean = 0, var = 0;
    for (double d : draws) mean += d / kBootstrap;
    for (double d : draws) var += (d - mean) * (d - mean) / (kBootstrap - 1);
    s.fd_se = std::sqrt(var);
  }

  static constexpr int kBootstrap = 50;
  const quality::Judge& judge_;
  const quality::Split& split_;
  std::vector<quality::Gaussian> references_;
  std::vector<std::string> names_;
};

}  // namespace

int main(int argc, char** argv) try {
  std::string unused_json;
  bench::init(1, argv, unused_json, "");  // the runtime and DDPM_DEVICE; options are parsed here
  const Args args = parse(argc, argv);
  if (args.threads > 0) ddpm::init_runtime(args.threads);
  const torch::Device dev = bench::device();
  quality::check_frechet();
  std::vector<Row> rows;

  // --- The real images, at the first model's size and channels (all models must agree).
  std::vector<ddpm::Model> models;
  for (const auto& path : args.models) {
    models.push_back(ddpm::load_model(path, dev));
    models.back().unet->eval();
    const auto& c = models.back().info.unet;
    if (!c.conditional()) throw ddpm::Error(path + " is unconditional: the quality bench needs classes");
    const auto& c0 = models.front().info.unet;
    if (c.image_size != c0.image_size || c.in_channels != c0.in_channels) {
      throw ddpm::Error(path + " makes " + std::to_string(c.image_size) + " px images of " +
                        std::to_string(c.in_channels) + " channels, unlike " + args.models.front());
    }
  }
  ddpm::DatasetOptions dopts;
  dopts.image_size = models.front().info.unet.image_size;
  dopts.channels = models.front().info.unet.in_channels;
  dopts.random_crop = false;  // the real images as they are, not resampled to 1.25x and back
  const ddpm::AssetDataset data(args.assets, dopts);
  const auto& names = data.class_names();
  const int classes = static_cast<int>(names.size());
  const torch::Tensor real = data.plain_images();
  const quality::Split split = quality::split_by_class(data.labels(), classes);
  std::printf("%lld images in %d classes from %s; %zu held out\n", static_cast<long long>(data.size()), classes,
              args.assets.c_str(), split.all(true).size());

  // --- The judge, and the statistics every distance is measured to: its training images.
  const quality::Judge judge(real, data.labels(), split, classes, args.judge, dev);
  if (judge.loaded) std::printf("judge: loaded %s\n", judge.cache_file.c_str());
  else std::printf("judge: trained in %.0f s%s%s\n", judge.training_seconds, judge.cache_file.empty() ? "" : ", kept in ",
                   judge.cache_file.c_str());
  const std::vector<int64_t> train_idx = split.all(false), held_idx = split.all(true);
  const Scorer scorer(judge, split, real.index_select(0, torch::tensor(train_idx)), names);

  // --- The anchors: real held-out images, and degraded copies of the same images.
  std::vector<int64_t> held_labels;
  for (int c = 0; c < classes; ++c) held_labels.insert(held_labels.end(), split.heldout[c].size(), c);
  const torch::Tensor held = real.index_select(0, torch::tensor(held_idx));
  std::vector<Score> scores;
  scores.push_back(scorer.score("real held-out images", held, held_labels));
  scores.push_back(scorer.score("held-out, blurred 2x", quality::degrade(held, 2), held_labels));
  scores.push_back(scorer.score("held-out, blurred 4x", quality::degrade(held, 4), held_labels));
  const Score floor = scores[0], blurred = scores[1];  // copies: scores grows below

  // --- Each model with each sampler: the same classes and seeds everywhere.
  std::vector<int64_t> wanted, per_class_count;  // folder labels, in class blocks; each block's size
  for (int c = 0; c < classes; ++c) {
    per_class_count.push_back(static_cast<int64_t>(std::max<size_t>(args.per_class, split.heldout[c].size())));
    wanted.insert(wanted.end(), per_class_count.back(), c);
  }
  const int n = static_cast<int>(wanted.size());
  for (std::size_t m = 0; m < models.size(); ++m) {
    ddpm::Model& model = models[m];
    // Image i's model label: its folder class's, by name, or one of its subclasses'. The first
    // heldout[c] images of a class (those the distance sees) and the rest each get the
    // subclasses' mix.
    std::vector<int64_t> model_class(n);
    try {
      const quality::SubclassMix mix(model.info.class_names, names, args.fine_assets);
      if (args.fine_assets.empty() && mix.has_subclasses()) {
        std::printf("note: %s has CLASS.GROUP classes; without --fine-assets its classes are scored by name\n",
                    args.models[m].c_str());
      }
      for (int i = 0, k = 0; i < n; ++i) {
        k = i > 0 && wanted[i] == wanted[i - 1] ? k + 1 : 0;
        const int64_t count = per_class_count[wanted[i]];
        const int64_t held = static_cast<int64_t>(split.heldout[wanted[i]].size());
        model_class[i] = k < held ? mix.model_class(wanted[i], k, held) : mix.model_class(wanted[i], k - held, count - held);
      }
    } catch (const ddpm::Error& e) {
      throw ddpm::Error(args.models[m] + ": " + e.what());
    }
    const float guidance = args.guidance >= 0 ? args.guidance : model.info.guidance;
    std::printf("model %s: step %lld, guidance %.2f\n", args.models[m].c_str(),
                static_cast<long long>(model.info.training_step), guidance);
    for (const auto& choice : args.samplers) {
      std::vector<torch::Tensor> images;
      const auto start = std::chrono::steady_clock::now();
      for (int first = 0; first < n; first += args.chunk) {
        ddpm::SampleOptions o;
        o.sampler = choice.kind;
        o.steps = choice.steps;
        o.spacing = choice.spacing;
        o.timesteps = choice.timesteps;
        o.guidance = guidance;
        o.guidance_interval = args.guidance_sigmas[0] < 0 ? ddpm::default_guidance_interval(choice.kind)
                                                          : ddpm::GuidanceInterval{args.guidance_sigmas[0], args.guidance_sigmas[1]};
        o.variance = model.info.variance;
        o.clip_x0 = args.clip_x0;
        o.alpha_cutoff = args.alpha_cutoff;
        o.batch = std::min(args.chunk, n - first);
        for (int i = first; i < first + o.batch; ++i) {
          o.classes.push_back(model_class[i]);
          o.seeds.push_back(args.seed + i);  // image i has the same seed under every sampler and model
        }
        ddpm::fit_to_model(o, model.info);  // a distilled model's sampler and steps
        c10::InferenceMode inference;
        images.push_back(ddpm::sample(model.unet, model.schedule, o).images.cpu());
      }
      bench::sync();
      const torch::Tensor all = torch::cat(images);
      const std::string name = args.models[m] + " " + choice.tag();
      Score s = scorer.score(name, all, wanted);
      s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (!args.grids.empty()) {
        // The first per_class images of each class, a row per class.
        std::vector<int64_t> pick;
        for (int64_t i = 0, c = -1, k = 0; i < n; ++i) {
          k = wanted[i] == c ? k + 1 : 0;
          c = wanted[i];
          if (k < args.per_class) pick.push_back(i);
        }
        std::filesystem::create_directories(args.grids);
        std::string file = args.models[m] + "-" + choice.tag();
        for (char& ch : file) if (ch == '/' || ch == '.') ch = '_';
        ddpm::save_grid_png(args.grids + "/" + file + ".png", all.index_select(0, torch::tensor(pick)), args.per_class);
      }
      std::printf("%s: accuracy %.3f, Frechet distance %.3f (+- %.3f), %.0f s\n", name.c_str(), s.balanced, s.fd,
                  s.fd_se, s.seconds);
      std::fflush(stdout);
      scores.push_back(s);
    }
  }

  // --- The table: every score beside its anchors, per class too.
  std::printf("\njudge on the real held-out images: %.3f plain accuracy, %.3f class-balanced\n", floor.plain,
              floor.balanced);
  // +-: one standard error (accuracy: binomial per class; FD: a bootstrap of the images);
  // members: the range of the judge's members' own distances, whose mean FD is.
  std::printf("\n%-48s %8s %6s %8s %8s %6s %15s %8s", "images", "accuracy", "+-", "/ real", "FD", "+-", "members", "/ real");
  for (const auto& c : names) std::printf(" %8.8s", c.c_str());
  std::printf("\n");
  for (const auto& s : scores) {
    std::printf("%-48.48s %8.3f %6.3f %8.3f %8.3f %6.3f %7.3f-%-7.3f %8.2f", s.name.c_str(), s.balanced, s.balanced_se,
                s.balanced / floor.balanced, s.fd, s.fd_se, s.fd_low, s.fd_high, s.fd / floor.fd);
    for (double a : s.class_accuracy) std::printf(" %8.2f", a);
    std::printf("\n");
    rows.push_back({s.name + ": balanced class accuracy", s.balanced, ""});
    rows.push_back({s.name + ": plain class accuracy", s.plain, ""});
    rows.push_back({s.name + ": balanced class accuracy, standard error", s.balanced_se, ""});
    rows.push_back({s.name + ": Frechet distance", s.fd, "n=" + std::to_string(held_idx.size())});
    rows.push_back({s.name + ": Frechet distance, standard error", s.fd_se, "bootstrap"});
    rows.push_back({s.name + ": Frechet distance, members' lowest", s.fd_low, ""});
    rows.push_back({s.name + ": Frechet distance, members' highest", s.fd_high, ""});
    for (int c = 0; c < classes; ++c) rows.push_back({s.name + ": accuracy " + names[c], s.class_accuracy[c], ""});
    if (s.seconds > 0) rows.push_back({s.name + ": wall time, " + std::to_string(n) + " images", s.seconds, "s"});
  }
  // Issue 19's targets for a model: accuracy at least 0.9 of the real held-out images', the
  // distance at most twice theirs and below the 2x-blurred copy's.
  std::printf("\ntargets (accuracy >= 0.9 x real %.3f, FD <= 2 x real %.3f and < blurred 2x %.3f):\n", floor.balanced,
              floor.fd, blurred.fd);
  for (std::size_t i = 3; i < scores.size(); ++i) {
    const Score& s = scores[i];
    const bool acc = s.balanced >= 0.9 * floor.balanced, fd = s.fd <= 2 * floor.fd && s.fd < blurred.fd;
    int never = 0;
    for (double a : s.class_accuracy) never += a < 0.5 * floor.balanced;
    std::printf("  %s: accuracy %s, FD %s; %d class(es) below half the real accuracy\n", s.name.c_str(),
                acc ? "met" : "NOT met", fd ? "met" : "NOT met", never);
  }
  bench::report(rows, args.json);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "ddpm_bench_quality: %s\n", e.what());
  return 1;
}
