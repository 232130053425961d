/*
 * im2col: gathers, for each output pixel, the receptive field it reads into one row of a
 * row-major matrix (K = KH * KW * C columns, ordered ky, kx, c like a tfjs HWIO filter).
 *
 * The source may be "dilated" (zeros between its pixels): that turns the input gradient
 * of a strided convolution into a plain stride-1 correlation of the output gradient, so
 * one gather serves forward and backward kernels.
 */
#ifndef FL_IM2COL_H
#define FL_IM2COL_H
#include "fl_common.h"

typedef struct {
  const float *src; /* NHWC */
  int SH, SW, C;    /* source image size and channels */
  int OH, OW;       /* output grid (rows of the matrix = batch * OH * OW) */
  int KH, KW;
  int step_h, step_w; /* output stride over the (dilated) source */
  int dil_h, dil_w;   /* filter dilation */
  int sdil_h, sdil_w; /* source dilation: 1 = none */
  int pad_t, pad_l;
} Im2col;

/* Writes rows [m0, m0 + rows) into dst (rows x KH*KW*C). */
void im2col_rows(const Im2col *p, int m0, int rows, float *dst);

/* The same values transposed into groups of 4 columns: dst[k / 4][row][k % 4], with the
 * columns past K in the last group zeroed. This is the filter gradient's packed A: its
 * GEMM then reads each group of 4 taps sequentially along the pixels it sums over. */
void im2col_rows_tap4(const Im2col *p, int m0, int rows, float *dst);
#endif
