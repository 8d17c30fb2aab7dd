#include "ddpm/io/student_file.h"

#include <filesystem>
#include <system_error>

namespace ddpm::io {

std::string student_path_for(const std::string& model_path) {
  const std::filesystem::path p(model_path);
  return (p.parent_path() / (p.stem().string() + ".student.safetensors")).string();
}

std::string find_student(const std::string& model_path) {
  std::error_code ec;
  const std::string own = student_path_for(model_path);
  if (std::filesystem::is_regular_file(own, ec)) return own;
  const std::filesystem::path shared = std::filesystem::path(model_path).parent_path() / "student.safetensors";
  if (!std::filesystem::is_regular_file(shared, ec)) return std::string();
  return std::filesystem::equivalent(shared, model_path, ec) ? std::string() : shared.string();
}

}  // namespace ddpm::io
