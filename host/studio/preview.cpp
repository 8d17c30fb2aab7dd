#include "preview.h"

namespace studio {

PreviewRenderer::PreviewRenderer(const std::string& shader_dir) {
  if (shader_dir.empty()) {
    error_ = "cannot find the shaders/ folder (set DDPM_SHADERS to it)";
    return;
  }
  program_ = load_program(shader_dir, "preview", error_);
  glGenVertexArrays(1, &vao_);  // core profile: a draw needs a bound VAO, even an empty one
  glGenFramebuffers(1, &fbo_);
}

PreviewRenderer::~PreviewRenderer() {
  if (program_) glDeleteProgram(program_);
  if (vao_) glDeleteVertexArrays(1, &vao_);
  if (fbo_) glDeleteFramebuffers(1, &fbo_);
  if (target_) glDeleteTextures(1, &target_);
}

GLuint PreviewRenderer::render(const Texture& image, GridRect rect, GLuint mask, int width, int height,
                               const PreviewStyle& style) {
  if (!program_ || !image.id() || width < 1 || height < 1) return 0;
  if (!target_ || width != target_w_ || height != target_h_) {
    if (!target_) glGenTextures(1, &target_);
    glBindTexture(GL_TEXTURE_2D, target_);
    glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA8, width, height, 0, GL_RGBA, GL_UNSIGNED_BYTE, nullptr);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
    glBindFramebuffer(GL_FRAMEBUFFER, fbo_);
    glFramebufferTexture2D(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_TEXTURE_2D, target_, 0);
    target_w_ = width;
    target_h_ = height;
  }
  GLint viewport[4];
  glGetIntegerv(GL_VIEWPORT, viewport);
  glBindFramebuffer(GL_FRAMEBUFFER, fbo_);
  glViewport(0, 0, width, height);
  glDisable(GL_BLEND);
  glDisable(GL_SCISSOR_TEST);
  glUseProgram(program_);
  glActiveTexture(GL_TEXTURE0);
  glBindTexture(GL_TEXTURE_2D, image.id());
  glActiveTexture(GL_TEXTURE1);
  glBindTexture(GL_TEXTURE_2D, mask);
  glActiveTexture(GL_TEXTURE0);
  glUniform1i(glGetUniformLocation(program_, "u_image"), 0);
  glUniform1i(glGetUniformLocation(program_, "u_mask"), 1);
  glUniform4f(glGetUniformLocation(program_, "u_rect"), float(rect.x), float(rect.y), float(rect.w),
              float(rect.h));
  glUniform1f(glGetUniformLocation(program_, "u_repeat"), style.tile3x3 ? 3.0f : 1.0f);
  glUniform1i(glGetUniformLocation(program_, "u_linear"), style.linear ? 1 : 0);
  glUniform1i(glGetUniformLocation(program_, "u_wrap"), style.tile3x3 ? 1 : 0);
  glUniform1i(glGetUniformLocation(program_, "u_checker"), style.checker ? 1 : 0);
  glUniform3fv(glGetUniformLocation(program_, "u_background"), 1, style.background);
  glUniform1f(glGetUniformLocation(program_, "u_checker_px"), 8.0f);
  glUniform1i(glGetUniformLocation(program_, "u_show_mask"), style.show_mask && mask ? 1 : 0);
  glBindVertexArray(vao_);
  glDrawArrays(GL_TRIANGLES, 0, 6);
  glBindVertexArray(0);
  glUseProgram(0);
  glBindFramebuffer(GL_FRAMEBUFFER, 0);
  glViewport(viewport[0], viewport[1], viewport[2], viewport[3]);
  return target_;
}

}  // namespace studio
