extern "C" int zf_spm_placeholder(void) { return 0; }
