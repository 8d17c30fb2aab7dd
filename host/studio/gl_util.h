#pragma once
// Small OpenGL helpers: shader programs loaded from files, textures allocated once and
// updated in place, and reading the window back for screenshots.
#include <glad/gl.h>

#include <cstdint>
#include <string>
#include <vector>

namespace studio {

// The folder holding the GLSL files: $DDPM_SHADERS, else <exe>/../share/ddpm/shaders when
// installed, else the source tree's shaders/. Empty when none exists.
std::string find_shader_dir();

// Compiles and links `<dir>/<name>.vert` and `<dir>/<name>.frag`. Returns 0 and fills `error`
// (naming the file, and the GLSL log) when a file is missing or fails to compile or link.
GLuint load_program(const std::string& dir, const std::string& name, std::string& error);

// Every program the studio uses, for the test that builds them all.
const std::vector<std::string>& program_names();

// A texture that keeps its storage: (re)allocated only when the size changes, then updated
// with glTexSubImage2D.
class Texture {
 public:
  Texture() = default;
  Texture(const Texture&) = delete;
  Texture& operator=(const Texture&) = delete;
  ~Texture();
  // RGBA float data, width x height, rows top to bottom.
  void upload_rgba32f(const float* data, int width, int height);
  void upload_rgba8(const uint8_t* data, int width, int height);
  void upload_r8(const uint8_t* data, int width, int height);
  GLuint id() const { return id_; }
  int width() const { return width_; }
  int height() const { return height_; }

 private:
  void ensure(GLint internal_format, int width, int height);
  GLuint id_ = 0;
  GLint format_ = 0;
  int width_ = 0, height_ = 0;
};

// The default framebuffer's pixels, RGBA, rows top to bottom.
std::vector<uint8_t> read_framebuffer(int width, int height);

}  // namespace studio
