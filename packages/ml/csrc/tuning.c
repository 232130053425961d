#include "fl_common.h"
#include "tuning.h"

int fl_tuning[TUNE_COUNT] = {
    16384, /* conv forward / input-gradient im2col chunk: 64 KB, stays in L2 with the filter */
    65536, /* filter-gradient im2col chunk: long reductions per tile */
    65536, /* matmul A block: 256 KB of rows x kc, in L2 */
    32768, /* elementwise floats per task */
    256,   /* matmul reduction block */
    262144, /* least work worth a fork-join (~20-50 us of one thread's compute) */
};

EXPORT(fl_tune) int fl_tune(int which, int value) {
  if (which < 0 || which >= TUNE_COUNT) return -1;
  int old = fl_tuning[which];
  if (value > 0) fl_tuning[which] = value;
  return old;
}
