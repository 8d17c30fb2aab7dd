-- DDPM pickups: a LOVE demo of the plugin's live stream. The stream runs on the plugin's own
-- worker thread; every game frame reads its latest finished sprite into an ImageData and, when
-- it is new, uploads it to the texture that all pickups and the preview draw with.
-- Bad setups (no library, a library of another ABI, a model that does not load) show their
-- message on screen and end with exit status 1.
local ddpm = require("ddpm")
local Game = require("game")
local Options = require("options")

local PREVIEW_X, PREVIEW_Y, PREVIEW_SCALE = 624, 56, 8
local PANEL_GREY = 51 / 255 -- behind the preview; tests/engines/love_check.py composites on it
local SEED_PERIOD = 24 -- walk entries from one seed to the next

local app = { frames = 0, waited = 0 }

local function fail(message)
  app.error = message
  io.stderr:write("ddpm-love: " .. message .. "\n")
end

local function setup(args)
  local o, message = Options.parse(args)
  if not o then
    app.options = { scripted = app.scripted, frames = 3, screenshot = app.screenshot }
    return fail(message)
  end
  if o.help then
    print(o.help)
    return love.event.quit(0)
  end
  app.options = o
  local library, searched = Options.library(o)
  local plugin
  plugin, message = ddpm.open(library)
  if not plugin then
    if #searched > 1 then message = message .. "\nsearched: " .. table.concat(searched, ", ") end
    return fail(message .. "\ngive --library PATH or set DDPM_PLUGIN_LIBRARY")
  end
  local model_path = Options.model(o)
  local model
  model, message = ddpm.load_model(plugin, model_path, o.device)
  if not model then return fail("cannot load the model " .. model_path .. ": " .. message) end
  -- Its Live student streams at one network image a stage where the model takes two.
  local student_path = Options.student(o, model_path)
  if student_path then
    local student, why = ddpm.load_model(plugin, student_path, o.device)
    if student and table.concat(student.class_names, "\n") == table.concat(model.class_names, "\n") then
      model = student
      print("ddpm-love: streaming with the student " .. student_path)
    else
      io.stderr:write("ddpm-love: streaming with the model itself: its student " .. student_path .. " "
        .. (why or "has other classes") .. "\n")
    end
  end
  local class, switch_to = 0, nil
  for _, key in ipairs({ "class", "switch-to" }) do
    if o[key] then
      local index = -1
      for i, name in ipairs(model.class_names) do
        if name == o[key] then index = i - 1 end
      end
      if index < 0 then
        return fail("the model has no class '" .. o[key] .. "'; its classes: "
          .. table.concat(model.class_names, ", "))
      end
      if key == "class" then class = index else switch_to = index end
    end
  end
  app.switch_to = switch_to
  local threads = o.threads or math.max(1, love.system.getProcessorCount() - 1)
  local stream
  stream, message = ddpm.open_stream(plugin, model, {
    steps = o.steps, guidance = o.guidance, class_index = #model.class_names > 0 and class or -1,
    seed = o.seed, seed_path = o.seed_path, seed_period = SEED_PERIOD, threads = threads })
  if not stream then return fail("cannot open the stream: " .. message) end
  local ok
  ok, message = stream:run(0)
  if not ok then return fail("cannot start the stream: " .. message) end
  app.plugin, app.model, app.stream, app.class, app.guidance = plugin, model, stream, class, o.guidance
  app.seed_path = o.seed_path
  app.live_data = love.image.newImageData(model.width, model.height, "rgba8")
  app.bytes = model.width * model.height * 4
  app.game = Game.new(model.width, model.height)
end

function love.load(args)
  -- Scripted runs must end even when their options do not parse.
  for i, a in ipairs(args) do
    if a == "--frames" then app.scripted = true end
    if a == "--screenshot" then app.screenshot = args[i + 1] end
  end
  love.graphics.setDefaultFilter("nearest", "nearest")
  app.font = love.graphics.newFont(14)
  app.big = love.graphics.newFont(22)
  love.graphics.setFont(app.font)
  setup(args)
end

local function set_class(index)
  if not app.stream or index < 0 or index >= #app.model.class_names or index == app.class then return end
  app.stream:set_class(index)
  app.class = index
  app.switch = { class = index, at = love.timer.getTime(), after = app.frame_number or 0 }
end

local function read_frame()
  local info, message = app.stream:read_rgba8(app.live_data:getFFIPointer(), app.bytes)
  if message then return fail("the stream stopped: " .. message) end
  if not info or tonumber(info.number) == app.frame_number then return end
  app.frame_number = tonumber(info.number)
  app.frame = { class = info.class_index, seed = tonumber(info.seed) }
  if app.live_image then
    app.live_image:replacePixels(app.live_data)
  else
    app.live_image = love.graphics.newImage(app.live_data)
  end
  local s = app.switch
  if s and info.class_index == s.class and app.frame_number > s.after then
    app.switch_ms = (love.timer.getTime() - s.at) * 1000
    app.switch = nil
  end
end

-- At most 60 frames a second even where vsync does nothing (Xvfb, some drivers): with a
-- software renderer every extra frame takes CPU time from the stream's worker.
local FRAME_SECONDS = 1 / 60
local function limit_frame_rate()
  local now = love.timer.getTime()
  if app.next_frame and now < app.next_frame then love.timer.sleep(app.next_frame - now) end
  app.next_frame = math.max(now, app.next_frame or now) + FRAME_SECONDS
end

function love.update(dt)
  limit_frame_rate()
  if app.error then
    app.frames = app.frames + 1
    return
  end
  read_frame()
  if app.error then return end
  if not app.live_image then
    app.waited = app.waited + dt
    if app.waited > 120 then fail("the stream gave no sprite in 120 s") end
    return
  end
  if app.switch and love.timer.getTime() - app.switch.at > 60 then
    return fail("a class switch did not reach the screen in 60 s")
  end
  if app.switch_to then
    set_class(app.switch_to)
    app.switch_to = nil
  end
  app.frames = app.frames + 1
  local move
  if not app.options.autoplay then
    move = 0
    if love.keyboard.isDown("left", "a") then move = move - 1 end
    if love.keyboard.isDown("right", "d") then move = move + 1 end
  end
  app.game:update(dt, move, app.live_data)
end

local function draw_panel()
  local x = Game.width
  love.graphics.setColor(0.14, 0.15, 0.19)
  love.graphics.rectangle("fill", x, 0, love.graphics.getWidth() - x, love.graphics.getHeight())
  love.graphics.setColor(PANEL_GREY, PANEL_GREY, PANEL_GREY)
  local w, h = app.model.width * PREVIEW_SCALE, app.model.height * PREVIEW_SCALE
  love.graphics.rectangle("fill", PREVIEW_X, PREVIEW_Y, w, h)
  love.graphics.setColor(1, 1, 1)
  if app.live_image then
    love.graphics.draw(app.live_image, PREVIEW_X, PREVIEW_Y, 0, PREVIEW_SCALE, PREVIEW_SCALE)
  else
    love.graphics.printf("warming up the stream...", PREVIEW_X, PREVIEW_Y + h / 2 - 8, w, "center")
  end
  love.graphics.setFont(app.big)
  love.graphics.print(app.model.class_names[app.class + 1] or "unconditional", PREVIEW_X, 18)
  love.graphics.setFont(app.font)
  local y = PREVIEW_Y + h + 12
  for i, name in ipairs(app.model.class_names) do
    love.graphics.setColor(i - 1 == app.class and { 1, 0.8, 0.3 } or { 0.7, 0.7, 0.75 })
    love.graphics.print(string.format("%d %s", i, name), PREVIEW_X + ((i - 1) % 3) * 110,
                        y + math.floor((i - 1) / 3) * 18)
  end
  love.graphics.setColor(0.7, 0.7, 0.75)
  love.graphics.print(string.format("guidance %.1f  seed path %s", app.guidance,
                                    Options.SEED_PATHS[app.seed_path]),
                      PREVIEW_X, y + 62)
  love.graphics.print("1-9 class  Tab next  Up/Down guidance\nS seed path  Space pause  arrows move",
                      PREVIEW_X, y + 84)
  love.graphics.setColor(1, 1, 1)
  love.graphics.print("caught:", PREVIEW_X, y + 130)
  app.game:draw_collection(PREVIEW_X, y + 150)
end

local function draw_overlay()
  local st = app.stream:stats()
  local cps = st.calls_per_second
  local latency_ms = cps > 0 and st.latency / cps * 1000 or 0
  local text = string.format("%d fps   stream %.1f sprites/s   latency %d calls = %.0f ms   call %.0f ms",
    love.timer.getFPS(), cps, st.latency, latency_ms, st.last_call_ms)
  if app.switch_ms then text = text .. string.format("\nclass switch to screen %.0f ms", app.switch_ms) end
  if app.paused then text = text .. "\nstream paused (Space)" end
  love.graphics.setColor(0, 0, 0, 0.55)
  love.graphics.rectangle("fill", 0, 0, Game.width, app.switch_ms and 44 or 26)
  love.graphics.setColor(1, 1, 1)
  love.graphics.print(text, 8, 5)
end

local function draw_error()
  love.graphics.clear(0.16, 0.05, 0.06)
  love.graphics.setFont(app.big)
  love.graphics.setColor(1, 0.75, 0.7)
  love.graphics.print("The DDPM plugin could not start", 40, 60)
  love.graphics.setFont(app.font)
  love.graphics.setColor(1, 1, 1)
  love.graphics.printf(app.error, 40, 110, love.graphics.getWidth() - 80)
  love.graphics.setColor(0.8, 0.8, 0.8)
  love.graphics.print("Esc quits", 40, love.graphics.getHeight() - 40)
end

-- Scripted mode: after --frames frames (with a sprite on screen, or of the error screen), save
-- the frame just drawn and quit; the status says whether the game ran.
local function finish_script()
  local o = app.options
  if not o or not o.scripted or app.finishing or app.frames < o.frames then return end
  if not app.error and (not app.live_image or app.switch) then return end
  app.finishing = true
  local status = app.error and 1 or 0
  if not o.screenshot then return love.event.quit(status) end
  love.graphics.captureScreenshot(function(data)
    local png = data:encode("png"):getString()
    local f = io.open(o.screenshot, "wb")
    if f then
      f:write(png)
      f:close()
    else
      io.stderr:write("ddpm-love: cannot write " .. o.screenshot .. "\n")
      status = 1
    end
    if not app.error then
      print(string.format("ddpm-love: preview x=%d y=%d scale=%d size=%dx%d frame=%d class=%d seed=%d",
        PREVIEW_X, PREVIEW_Y, PREVIEW_SCALE, app.model.width, app.model.height, app.frame_number,
        app.frame.class, app.frame.seed))
      if app.switch_ms then print(string.format("ddpm-love: class switch to screen %.0f ms", app.switch_ms)) end
    end
    love.event.quit(status)
  end)
end

function love.draw()
  if app.error then
    draw_error()
  else
    app.game:draw(app.live_image)
    draw_panel()
    draw_overlay()
  end
  finish_script()
end

function love.keypressed(key)
  if key == "escape" then return love.event.quit(app.error and 1 or 0) end
  if app.error or not app.stream then return end
  local digit = tonumber(key)
  if digit and digit >= 1 then set_class(digit - 1) end
  if key == "tab" then
    local n = #app.model.class_names
    local step = love.keyboard.isDown("lshift", "rshift") and n - 1 or 1
    set_class((app.class + step) % n)
  elseif key == "up" or key == "down" then
    app.guidance = math.max(0, math.min(10, app.guidance + (key == "up" and 0.5 or -0.5)))
    app.stream:set_guidance(app.guidance)
  elseif key == "s" then
    app.seed_path = (app.seed_path + 1) % (#Options.SEED_PATHS + 1)
    app.stream:set_seed_path(app.seed_path, app.options.seed, SEED_PERIOD)
  elseif key == "space" then
    app.paused = not app.paused
    if app.paused then app.stream:pause() else app.stream:run(0) end
  end
end

-- The plugin's worker must stop before LOVE unloads the library at exit.
local function close_stream()
  if app.stream then app.stream:close() end
  app.stream = nil
end
love.quit = close_stream

-- A Lua error: LOVE's own error screen waits for a key, which a scripted run never presses.
local default_errorhandler = love.errorhandler
function love.errorhandler(message)
  close_stream()
  if not app.scripted then return default_errorhandler(message) end
  io.stderr:write(debug.traceback("ddpm-love: error: " .. tostring(message), 2) .. "\n")
  return function() return 1 end
end
