#include "ddpm/fine_tune_blend.h"

#include "ddpm/io/error.h"
#include "fine_tune_change.h"

namespace ddpm {

Model blend_fine_tune(const Model& base, const Model& tuned, double strength) {
  check_fine_tune_classes(base, tuned);
  // Every base tensor must be blended: a guidance-distilled student is no base of a model.
  const auto t = state_dict(*tuned.unet);
  for (const auto& [name, w] : state_dict(*base.unet)) {
    if (!t.count(name)) throw Error("the base has a tensor '" + name + "' that the fine-tune lacks: not one architecture");
  }
  Model out = make_model(tuned.info, tuned.unet->parameters().front().device());
  add_fine_tune_change(out.unet, base, base, tuned, strength, "base");
  return out;
}

}  // namespace ddpm
