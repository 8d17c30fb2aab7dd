#include "ddpm/student_transfer.h"

#include "ddpm/io/error.h"
#include "fine_tune_change.h"

namespace ddpm {

Model transfer_student(const Model& base, const Model& tuned, const Model& student) {
  if (!student.info.unet.guidance_input) {
    throw Error("the student is not guidance-distilled (its guidance scale is not an input)");
  }
  if (student.info.class_names != base.info.class_names) {
    throw Error("the student's classes (" + names_text(student.info.class_names) + ") are not its base's (" +
                names_text(base.info.class_names) + ")");
  }
  check_fine_tune_classes(base, tuned);
  const auto& now = tuned.info.class_names;
  io::ModelInfo info = student.info;
  info.class_names = now;
  info.unet.num_classes = static_cast<int>(now.size());
  info.training_step = tuned.info.training_step;
  info.alpha_cutoff = tuned.info.alpha_cutoff;  // the fine-tune's images decide, as for its model
  Model out = make_model(info, student.unet->parameters().front().device());
  add_fine_tune_change(out.unet, student, base, tuned, 1, "student");
  return out;
}

}  // namespace ddpm
