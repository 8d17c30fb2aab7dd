#pragma once
// A class given by a user as a name of the model's classes or an index, shared by the CLI and
// the studio so both accept and refuse the same things with the same words.
#include <string>
#include <vector>

namespace ddpm_host {

// "", "none" and "-1" mean no class (-1); a name of `names` or an index 0..n-1 gives the index.
// Anything else returns -2 and fills `error`, to be prefixed with what names the option:
// "7 is out of range: allowed 0 to 2 (0=cat, 1=dog, 2=fox)",
// "'zebra' is not a class of this model; known classes: 0=cat, 1=dog, 2=fox".
int find_class(const std::vector<std::string>& names, const std::string& arg, std::string& error);

}  // namespace ddpm_host
