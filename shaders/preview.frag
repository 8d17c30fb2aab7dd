#version 330 core
// The live preview of a denoising run: maps the frame's values (the model's [-1, 1] mapped to
// [0, 1] by the plugin; a noisy latent goes beyond and is clamped here) to colour, composites
// them over a checkerboard (or a flat colour) by their alpha, and zooms with nearest or linear
// filtering. Sampling is done by hand with texelFetch inside one rectangle of the texture so
// that a 3x3 tiling preview wraps around exactly one image (showing its seams) and linear
// filtering never bleeds in a neighbouring cell of the grid.
in vec2 v_uv;
out vec4 o_color;

uniform sampler2D u_image;   // RGBA32F grid of the batch
uniform vec4 u_rect;         // x, y, width, height (texels) of the region shown
uniform float u_repeat;      // 1, or 3 for the tiling preview
uniform int u_linear;        // 0 nearest (pixel art), 1 linear (textures)
uniform int u_wrap;          // 1: samples wrap around inside u_rect (tiling)
uniform int u_checker;       // 1: checkerboard under transparent pixels, 0: u_background
uniform vec3 u_background;
uniform float u_checker_px;  // checker square size in target pixels

uniform sampler2D u_mask;    // R8 inpainting mask, 255 = keep, 0 = generate
uniform int u_show_mask;     // 1: tint the pixels to be generated

vec4 fetch(ivec2 p) {
  ivec2 size = ivec2(u_rect.zw);
  if (u_wrap == 1) {
    p = ((p % size) + size) % size;
  } else {
    p = clamp(p, ivec2(0), size - 1);
  }
  vec4 c = clamp(texelFetch(u_image, ivec2(u_rect.xy) + p, 0), 0.0, 1.0);
  if (u_show_mask == 1) {
    float keep = texelFetch(u_mask, p, 0).r;
    c.rgb = mix(mix(c.rgb, vec3(1.0, 0.1, 0.4), 0.55), c.rgb, keep);
    c.a = mix(max(c.a, 0.6), c.a, keep);
  }
  return vec4(c.rgb * c.a, c.a);  // premultiplied, so linear filtering does not bleed colour
}

void main() {
  vec2 q = v_uv * u_repeat;
  vec2 local = (u_wrap == 1 ? fract(q) : clamp(q, 0.0, 1.0)) * u_rect.zw;
  vec4 c;
  if (u_linear == 1) {
    vec2 f = local - 0.5;
    ivec2 i = ivec2(floor(f));
    vec2 t = f - floor(f);
    c = mix(mix(fetch(i), fetch(i + ivec2(1, 0)), t.x),
            mix(fetch(i + ivec2(0, 1)), fetch(i + ivec2(1, 1)), t.x), t.y);
  } else {
    c = fetch(ivec2(floor(local)));
  }
  vec3 bg = u_background;
  if (u_checker == 1) {
    float k = mod(floor(gl_FragCoord.x / u_checker_px) + floor(gl_FragCoord.y / u_checker_px), 2.0);
    bg = mix(vec3(0.82), vec3(0.64), k);
  }
  o_color = vec4(c.rgb + bg * (1.0 - c.a), 1.0);
}
