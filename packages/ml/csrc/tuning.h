/* Block sizes, settable from JS (fl_tune) so the bench can explore them without a rebuild. */
#ifndef FL_TUNING_H
#define FL_TUNING_H
enum { TUNE_CONV_COL_FLOATS, TUNE_DW_COL_FLOATS, TUNE_MATMUL_A_FLOATS, TUNE_ELEMWISE_CHUNK, TUNE_MATMUL_KC, TUNE_MIN_PARALLEL_WORK, TUNE_COUNT };
extern int fl_tuning[TUNE_COUNT];
/* Rows of an im2col chunk holding about `floats` floats, a multiple of 4 in [4, 1024]. */
static inline int fl_chunk_rows(int floats, int rowlen) {
  int r = floats / (rowlen > 0 ? rowlen : 1);
  r &= ~3;
  return r < 4 ? 4 : (r > 1024 ? 1024 : r);
}
#endif
