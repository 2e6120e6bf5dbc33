// placeholder, replaced by the tokenizer work
#ifndef ZF_SENTENCEPIECE_H
#define ZF_SENTENCEPIECE_H
int zf_spm_placeholder(void);
#endif
