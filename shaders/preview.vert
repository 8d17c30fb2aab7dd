#version 330 core
// A full-target triangle pair from gl_VertexID alone: no vertex buffer to manage.
// v_uv runs 0..1 across the target, (0, 0) at its first row, which the fragment shader maps
// to the image's top row (textures are uploaded top row first and ImGui shows row 0 on top).
out vec2 v_uv;

void main() {
  const vec2 corners[6] = vec2[6](vec2(0, 0), vec2(1, 0), vec2(0, 1),
                                  vec2(0, 1), vec2(1, 0), vec2(1, 1));
  v_uv = corners[gl_VertexID];
  gl_Position = vec4(v_uv * 2.0 - 1.0, 0.0, 1.0);
}
