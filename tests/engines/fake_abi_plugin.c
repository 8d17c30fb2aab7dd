/* A library that answers ddpm_abi_version with a version no header has had: the LOVE demo must
 * refuse it on screen instead of calling into it. */
__attribute__((visibility("default"))) int ddpm_abi_version(void) { return 999; }
