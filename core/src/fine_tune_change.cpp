#include "fine_tune_change.h"

#include "ddpm/io/error.h"

namespace ddpm {

std::string names_text(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

void check_fine_tune_classes(const Model& base, const Model& tuned) {
  const auto& known = base.info.class_names;
  const auto& now = tuned.info.class_names;
  if (now.size() < known.size() || !std::equal(known.begin(), known.end(), now.begin())) {
    throw Error("the fine-tune's classes (" + names_text(now) + ") do not start with its base's (" +
                names_text(known) + ")");
  }
}

void add_fine_tune_change(UNet& out, const Model& onto, const Model& base, const Model& tuned, double scale,
                          const std::string& onto_name) {
  torch::NoGradGuard no_grad;
  const auto b = state_dict(*base.unet), t = state_dict(*tuned.unet), o = state_dict(*onto.unet);
  for (auto& [name, w] : state_dict(*out)) {
    const auto ib = b.find(name), it = t.find(name), io = o.find(name);
    if (io == o.end()) throw Error("the " + onto_name + " has no tensor '" + name + "'");
    if (ib == b.end()) {  // onto's own (a student's guidance embedding)
      w.copy_(io->second);
      continue;
    }
    if (it == t.end()) throw Error("the fine-tune has no tensor '" + name + "'");
    const torch::Tensor& bw = ib->second;
    const torch::Tensor& tw = it->second;
    const torch::Tensor& ow = io->second;
    const bool rows_added = name == "label_emb.weight" && tw.size(0) >= bw.size(0) && w.size(0) == tw.size(0);
    if (!(bw.sizes() == ow.sizes() && (tw.sizes() == bw.sizes() || rows_added))) {
      throw Error("tensor '" + name + "' has shape " + c10::str(bw.sizes()) + " in the base, " + c10::str(tw.sizes()) +
                  " in the fine-tune and " + c10::str(ow.sizes()) + " in the " + onto_name + ": not one architecture");
    }
    // Scale 1 (a Live student) computes onto + (tuned - base) with no rounding of its own.
    const auto moved = [&](const torch::Tensor& on, const torch::Tensor& tu) {
      return scale == 1 ? on + (tu - bw) : on + (tu - bw) * scale;
    };
    if (rows_added) {  // the known classes' rows move with the fine-tune; new ones are its own
      const int64_t n = bw.size(0);
      w.narrow(0, 0, n).copy_(moved(ow.narrow(0, 0, n), tw.narrow(0, 0, n)));
      w.narrow(0, n, w.size(0) - n).copy_(tw.narrow(0, n, tw.size(0) - n));
    } else {
      w.copy_(moved(ow, tw));
    }
  }
}

}  // namespace ddpm
