/* Links the installed libddpm_plugin and checks that the header and library agree. */
#include <stdio.h>

#include "ddpm_plugin.h"

int main(void) {
  if (ddpm_abi_version() != DDPM_ABI_VERSION) {
    fprintf(stderr, "ABI %d, header %d\n", ddpm_abi_version(), DDPM_ABI_VERSION);
    return 1;
  }
  printf("ddpm_plugin %s, ABI %d\n", ddpm_version_string(), ddpm_abi_version());
  return 0;
}
