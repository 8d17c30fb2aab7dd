-- The demo needs no sound: without these, LOVE opens an audio device (none in CI or on servers).
function love.conf(t)
  t.identity = "ddpm_love"
  t.version = "11.4"
  t.window.title = "DDPM pickups: sprites from the live stream"
  t.window.width = 960
  t.window.height = 600
  t.window.vsync = 1
  t.modules.audio = false
  t.modules.sound = false
  t.modules.joystick = false
  t.modules.physics = false
  t.modules.video = false
end
