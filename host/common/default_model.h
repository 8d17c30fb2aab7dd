#pragma once
// Where the bundled default model lives, for the hosts that open it when no other is given.
#include <string>

namespace ddpm_host {

// $DDPM_MODEL when set; else <exe>/../share/ddpm/assets/emoji32/model.safetensors when
// installed; else the source tree's assets/emoji32/model.safetensors (relative to the working
// folder when it is inside it).
std::string default_model_path();

}  // namespace ddpm_host
