#include "gl_util.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace studio {
namespace fs = std::filesystem;

std::string find_shader_dir() {
  // An explicit folder is used as given, so that a wrong one is reported, not bypassed.
  if (const char* env = std::getenv("DDPM_SHADERS"); env && *env) return env;
  std::vector<fs::path> candidates;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path().parent_path() / DDPM_INSTALL_DATADIR / "shaders");
  candidates.emplace_back(DDPM_SOURCE_SHADERS);
  for (const auto& c : candidates) {
    if (fs::is_directory(c, ec)) return c.string();
  }
  return {};
}

const std::vector<std::string>& program_names() {
  static const std::vector<std::string> names = {"preview"};
  return names;
}

namespace {

bool read_text(const fs::path& path, std::string& out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream s;
  s << f.rdbuf();
  out = s.str();
  return static_cast<bool>(f) || f.eof();
}

GLuint compile(GLenum type, const fs::path& path, std::string& error) {
  std::string source;
  if (!read_text(path, source)) {
    error = "cannot read the shader '" + path.string() + "' (set DDPM_SHADERS to the shaders/ folder)";
    return 0;
  }
  const GLuint shader = glCreateShader(type);
  const char* text = source.c_str();
  glShaderSource(shader, 1, &text, nullptr);
  glCompileShader(shader);
  GLint ok = 0;
  glGetShaderiv(shader, GL_COMPILE_STATUS, &ok);
  if (!ok) {
    char log[4096] = {};
    glGetShaderInfoLog(shader, sizeof log, nullptr, log);
    error = "shader '" + path.string() + "' does not compile:\n" + log;
    glDeleteShader(shader);
    return 0;
  }
  return shader;
}

}  // namespace

GLuint load_program(const std::string& dir, const std::string& name, std::string& error) {
  const fs::path base = fs::path(dir) / name;
  const GLuint vs = compile(GL_VERTEX_SHADER, base.string() + ".vert", error);
  if (!vs) return 0;
  const GLuint fsh = compile(GL_FRAGMENT_SHADER, base.string() + ".frag", error);
  if (!fsh) {
    glDeleteShader(vs);
    return 0;
  }
  const GLuint program = glCreateProgram();
  glAttachShader(program, vs);
  glAttachShader(program, fsh);
  glLinkProgram(program);
  glDeleteShader(vs);
  glDeleteShader(fsh);
  GLint ok = 0;
  glGetProgramiv(program, GL_LINK_STATUS, &ok);
  if (!ok) {
    char log[4096] = {};
    glGetProgramInfoLog(program, sizeof log, nullptr, log);
    error = "shader program '" + base.string() + "' does not link:\n" + log;
    glDeleteProgram(program);
    return 0;
  }
  return program;
}

Texture::~Texture() {
  if (id_) glDeleteTextures(1, &id_);
}

void Texture::ensure(GLint internal_format, int width, int height) {
  if (!id_) {
    glGenTextures(1, &id_);
    glBindTexture(GL_TEXTURE_2D, id_);
    // The preview shader samples with texelFetch; ImGui draws the others scaled up, nearest.
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
  }
  glBindTexture(GL_TEXTURE_2D, id_);
  if (width != width_ || height != height_ || internal_format != format_) {
    const GLenum fmt = internal_format == GL_R8 ? GL_RED : GL_RGBA;
    const GLenum type = internal_format == GL_RGBA32F ? GL_FLOAT : GL_UNSIGNED_BYTE;
    glTexImage2D(GL_TEXTURE_2D, 0, internal_format, width, height, 0, fmt, type, nullptr);
    width_ = width;
    height_ = height;
    format_ = internal_format;
  }
  glPixelStorei(GL_UNPACK_ALIGNMENT, 1);
}

void Texture::upload_rgba32f(const float* data, int width, int height) {
  ensure(GL_RGBA32F, width, height);
  glTexSubImage2D(GL_TEXTURE_2D, 0, 0, 0, width, height, GL_RGBA, GL_FLOAT, data);
}

void Texture::upload_rgba8(const uint8_t* data, int width, int height) {
  ensure(GL_RGBA8, width, height);
  glTexSubImage2D(GL_TEXTURE_2D, 0, 0, 0, width, height, GL_RGBA, GL_UNSIGNED_BYTE, data);
}

void Texture::upload_r8(const uint8_t* data, int width, int height) {
  ensure(GL_R8, width, height);
  glTexSubImage2D(GL_TEXTURE_2D, 0, 0, 0, width, height, GL_RED, GL_UNSIGNED_BYTE, data);
}

std::vector<uint8_t> read_framebuffer(int width, int height) {
  std::vector<uint8_t> px(static_cast<size_t>(width) * height * 4);
  glPixelStorei(GL_PACK_ALIGNMENT, 1);
  glReadBuffer(GL_BACK);
  glReadPixels(0, 0, width, height, GL_RGBA, GL_UNSIGNED_BYTE, px.data());
  // OpenGL's rows run bottom to top.
  const size_t row = static_cast<size_t>(width) * 4;
  std::vector<uint8_t> tmp(row);
  for (int y = 0; y < height / 2; ++y) {
    uint8_t* a = px.data() + y * row;
    uint8_t* b = px.data() + (height - 1 - y) * row;
    std::copy(a, a + row, tmp.data());
    std::copy(b, b + row, a);
    std::copy(tmp.data(), tmp.data() + row, b);
  }
  for (size_t i = 3; i < px.size(); i += 4) px[i] = 255;
  return px;
}

}  // namespace studio
