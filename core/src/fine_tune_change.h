#pragma once
// A fine-tune's change, tuned - base, added with a scale onto a model that shares the base's
// weights: the base itself (ddpm/fine_tune_blend.h) or its Live student
// (ddpm/student_transfer.h).
#include <string>
#include <vector>

#include "ddpm/model_file.h"

namespace ddpm {

// Throws ddpm::Error unless the fine-tune's classes start with the base's ("the fine-tune's
// classes (...) do not start with its base's (...)").
void check_fine_tune_classes(const Model& base, const Model& tuned);

// out = onto + scale * (tuned - base) for every tensor that base has; rows of classes the
// fine-tune added (tuned has more class rows than base) are tuned's; a tensor only `onto` has
// is onto's. `out` has tuned's class rows and onto's other tensors. `onto_name` names `onto` in
// messages ("student", "base"); throws ddpm::Error naming the tensor when the models are not
// one architecture.
void add_fine_tune_change(UNet& out, const Model& onto, const Model& base, const Model& tuned, double scale,
                          const std::string& onto_name);

// "a, b, c": class names in messages.
std::string names_text(const std::vector<std::string>& names);

}  // namespace ddpm
