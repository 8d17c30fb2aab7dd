#include "ddpm/fine_tune_blend.h"

#include "fine_tune_change.h"

namespace ddpm {

Model blend_fine_tune(const Model& base, const Model& tuned, double strength) {
  check_fine_tune_classes(base, tuned);
  Model out = make_model(tuned.info, tuned.unet->parameters().front().device());
  add_fine_tune_change(out.unet, base, base, tuned, strength, "base");
  return out;
}

}  // namespace ddpm
