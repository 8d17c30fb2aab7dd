#include "ddpm/student_transfer.h"

#include "ddpm/io/error.h"

namespace ddpm {

namespace {

std::string names_text(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

Model transfer_student(const Model& base, const Model& tuned, const Model& student) {
  if (!student.info.unet.guidance_input) {
    throw Error("the student is not guidance-distilled (its guidance scale is not an input)");
  }
  if (student.info.class_names != base.info.class_names) {
    throw Error("the student's classes (" + names_text(student.info.class_names) + ") are not its base's (" +
                names_text(base.info.class_names) + ")");
  }
  const auto& known = base.info.class_names;
  const auto& now = tuned.info.class_names;
  if (now.size() < known.size() || !std::equal(known.begin(), known.end(), now.begin())) {
    throw Error("the fine-tune's classes (" + names_text(now) + ") do not start with its base's (" +
                names_text(known) + ")");
  }
  io::ModelInfo info = student.info;
  info.class_names = now;
  info.unet.num_classes = static_cast<int>(now.size());
  info.training_step = tuned.info.training_step;
  Model out = make_model(info, student.unet->parameters().front().device());
  torch::NoGradGuard no_grad;
  const auto b = state_dict(*base.unet), t = state_dict(*tuned.unet), s = state_dict(*student.unet);
  for (auto& [name, w] : state_dict(*out.unet)) {
    const auto ib = b.find(name), it = t.find(name), is = s.find(name);
    if (is == s.end()) throw Error("the student has no tensor '" + name + "'");
    if (ib == b.end()) {  // the student's own (its guidance embedding)
      w.copy_(is->second);
      continue;
    }
    if (it == t.end()) throw Error("the fine-tune has no tensor '" + name + "'");
    const torch::Tensor& bw = ib->second;
    const torch::Tensor& tw = it->second;
    const torch::Tensor& sw = is->second;
    const bool rows_added = name == "label_emb.weight" && tw.size(0) >= bw.size(0) && w.size(0) == tw.size(0);
    if (!(bw.sizes() == sw.sizes() && (tw.sizes() == bw.sizes() || rows_added))) {
      throw Error("tensor '" + name + "' has shape " + c10::str(bw.sizes()) + " in the base, " + c10::str(tw.sizes()) +
                  " in the fine-tune and " + c10::str(sw.sizes()) + " in the student: not one architecture");
    }
    if (rows_added) {  // the known classes' rows move with the fine-tune; new ones are its own
      const int64_t n = bw.size(0);
      w.narrow(0, 0, n).copy_(sw + (tw.narrow(0, 0, n) - bw));
      w.narrow(0, n, w.size(0) - n).copy_(tw.narrow(0, n, tw.size(0) - n));
    } else {
      w.copy_(sw + (tw - bw));
    }
  }
  return out;
}

}  // namespace ddpm
