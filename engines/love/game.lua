-- The playfield: a basket catches pickups that fall from the top. Every pickup is drawn with
-- the stream's live sprite, so they all morph along the seed walk as the stream runs; a caught
-- one is kept as a still snapshot in the collection.
local Game = {}
Game.__index = Game

local FIELD_W, FIELD_H = 600, 600
local BASKET_W, BASKET_H, BASKET_Y = 96, 14, 560
local PICKUP_SCALE = 2

function Game.new(sprite_w, sprite_h)
  local self = setmetatable({}, Game)
  self.sprite_w, self.sprite_h = sprite_w, sprite_h
  self.basket_x = FIELD_W / 2
  self.pickups, self.collection = {}, {}
  self.caught, self.missed = 0, 0
  self.spawn_in = 0.3
  self.rng = love.math.newRandomGenerator(1)
  return self
end

Game.width = FIELD_W

local function size(self) return self.sprite_w * PICKUP_SCALE, self.sprite_h * PICKUP_SCALE end

-- move: -1, 0 or 1 (keys), or nil for the autopilot, which chases the lowest pickup.
function Game:update(dt, move, live_data)
  if move == nil then
    local lowest
    for _, p in ipairs(self.pickups) do
      if not lowest or p.y > lowest.y then lowest = p end
    end
    local target = lowest and lowest.x or FIELD_W / 2
    move = math.abs(target - self.basket_x) < 6 and 0 or (target > self.basket_x and 1 or -1)
  end
  local half = BASKET_W / 2
  self.basket_x = math.max(half, math.min(FIELD_W - half, self.basket_x + move * 420 * dt))
  self.spawn_in = self.spawn_in - dt
  local w, h = size(self)
  if self.spawn_in <= 0 then
    self.spawn_in = 0.8 + self.rng:random() * 0.6
    table.insert(self.pickups, { x = w / 2 + self.rng:random() * (FIELD_W - w), y = -h / 2,
                                 speed = 80 + self.rng:random() * 70 })
  end
  for i = #self.pickups, 1, -1 do
    local p = self.pickups[i]
    p.y = p.y + p.speed * dt
    local bottom = p.y + h / 2
    if bottom >= BASKET_Y and bottom <= BASKET_Y + BASKET_H + 8 and math.abs(p.x - self.basket_x) < half then
      table.remove(self.pickups, i)
      self.caught = self.caught + 1
      if live_data then
        table.insert(self.collection, 1, love.graphics.newImage(live_data:clone()))
        self.collection[1]:setFilter("nearest", "nearest")
        self.collection[9] = nil
      end
    elseif p.y - h / 2 > FIELD_H then
      table.remove(self.pickups, i)
      self.missed = self.missed + 1
    end
  end
end

function Game:draw(live_image)
  love.graphics.setColor(0.10, 0.12, 0.17)
  love.graphics.rectangle("fill", 0, 0, FIELD_W, FIELD_H)
  love.graphics.setColor(1, 1, 1)
  local w, h = size(self)
  if live_image then
    for _, p in ipairs(self.pickups) do
      love.graphics.draw(live_image, p.x - w / 2, p.y - h / 2, 0, PICKUP_SCALE, PICKUP_SCALE)
    end
  end
  love.graphics.setColor(0.85, 0.65, 0.25)
  love.graphics.rectangle("fill", self.basket_x - BASKET_W / 2, BASKET_Y, BASKET_W, BASKET_H, 4, 4)
  love.graphics.setColor(1, 1, 1)
  love.graphics.print(string.format("caught %d   missed %d", self.caught, self.missed), 12, FIELD_H - 26)
end

-- The caught sprites, newest first, in a row at (x, y).
function Game:draw_collection(x, y)
  for i, image in ipairs(self.collection) do
    love.graphics.draw(image, x + (i - 1) * (self.sprite_w + 6), y)
  end
end

return Game
