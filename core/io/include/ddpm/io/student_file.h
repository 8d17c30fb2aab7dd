#pragma once
// Where a model's Live student (a guidance-distilled copy that streams at one forward a stage)
// lives beside it: one rule for the trainer that writes it and every host that looks for it.
#include <string>

namespace ddpm::io {

// Where a fine-tune's Live student is written: "<folder>/<stem>.student.safetensors" for the
// model file "<folder>/<stem>.safetensors".
std::string student_path_for(const std::string& model_path);

// A model's Live student: student_path_for(model) when that file exists, else
// "<folder>/student.safetensors" (the default model's) when it exists and is not the model
// itself; else "". Whether the file is a student of this model is for the caller to check.
std::string find_student(const std::string& model_path);

}  // namespace ddpm::io
