// The options of a data-parallel run, kept apart from the c10d code so that a build without
// Gloo (DDPM_WITH_DISTRIBUTED=OFF) still validates and reads them.
#include <cstdlib>

#include "ddpm/distributed.h"
#include "ddpm/io/error.h"

namespace ddpm {
namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < 0 || x > 1 << 30) {
    throw Error(std::string("environment variable ") + name + "='" + v + "' is not a valid number");
  }
  return static_cast<int>(x);
}

}  // namespace

void DistributedOptions::validate() const {
  if (world_size < 1 || world_size > 4096) {
    throw Error("world size " + std::to_string(world_size) + " is invalid: allowed 1 to 4096");
  }
  if (rank < 0 || rank >= world_size) {
    throw Error("rank " + std::to_string(rank) + " is invalid: allowed 0 to " + std::to_string(world_size - 1));
  }
  if (master_port < 1 || master_port > 65535) {
    throw Error("master port " + std::to_string(master_port) + " is invalid: allowed 1 to 65535");
  }
  if (master_addr.empty()) throw Error("the master address is empty");
  if (timeout_seconds < 1) throw Error("distributed timeout " + std::to_string(timeout_seconds) + " s is invalid: at least 1");
}

DistributedOptions distributed_from_env(DistributedOptions o) {
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) o.master_addr = a;
  o.master_port = env_int("MASTER_PORT", o.master_port);
  o.rank = env_int("RANK", o.rank);
  o.world_size = env_int("WORLD_SIZE", o.world_size);
  return o;
}

}  // namespace ddpm
