#include "im2col.h"

INLINE void copy_px(float *d, const float *s, int c) {
  int i = 0;
  for (; i + 4 <= c; i += 4) wasm_v128_store(d + i, wasm_v128_load(s + i));
  for (; i < c; i++) d[i] = s[i];
}

/* Maps a virtual (dilated-source) coordinate to a real source index, or -1 for padding
 * and for the zeros a dilated source has between its pixels. */
INLINE int src_index(int v, int sdil, int size) {
  if (v < 0) return -1;
  if (sdil > 1) {
    if (v % sdil) return -1;
    v /= sdil;
  }
  return v < size ? v : -1;
}

void im2col_rows(const Im2col *p, int m0, int rows, float *dst) {
  const int C = p->C, KW = p->KW, KH = p->KH, ohw = p->OH * p->OW;
  const int rowlen = KH * KW * C;
  int b = m0 / ohw, r = m0 - b * ohw, oy = r / p->OW, ox = r - oy * p->OW;
  for (int m = 0; m < rows; m++, dst += rowlen) {
    const float *img = p->src + (long)b * p->SH * p->SW * C;
    float *d = dst;
    for (int ky = 0; ky < KH; ky++) {
      int iy = src_index(oy * p->step_h + ky * p->dil_h - p->pad_t, p->sdil_h, p->SH);
      if (iy < 0) {
        fl_zero(d, KW * C);
        d += KW * C;
        continue;
      }
      const float *srow = img + (long)iy * p->SW * C;
      int ix0 = ox * p->step_w - p->pad_l;
      if (p->dil_w == 1 && p->sdil_w == 1 && ix0 >= 0 && ix0 + KW <= p->SW) {
        /* The whole filter row is in the image: one contiguous run of KW * C floats (NHWC). */
        copy_px(d, srow + (long)ix0 * C, KW * C);
        d += KW * C;
        continue;
      }
      for (int kx = 0; kx < KW; kx++, d += C) {
        int ix = src_index(ox * p->step_w + kx * p->dil_w - p->pad_l, p->sdil_w, p->SW);
        if (ix < 0) fl_zero(d, C);
        else if (C == 1) d[0] = srow[ix];
        else copy_px(d, srow + ix * C, C);
      }
    }
    if (++ox == p->OW) {
      ox = 0;
      if (++oy == p->OH) {
        oy = 0;
        b++;
      }
    }
  }
}

void im2col_rows_tap4(const Im2col *p, int m0, int rows, float *dst) {
  const int C = p->C, KW = p->KW, KH = p->KH, ohw = p->OH * p->OW;
  const int K = KH * KW * C, groups = (K + 3) >> 2;
  const long gstride = (long)rows * 4; /* floats from one group of 4 taps to the next */
  int b = m0 / ohw, r = m0 - b * ohw, oy = r / p->OW, ox = r - oy * p->OW;
  for (int m = 0; m < rows; m++) {
    const float *img = p->src + (long)b * p->SH * p->SW * C;
    float *row = dst + m * 4; /* element k of this row lives at row[(k >> 2) * gstride + (k & 3)] */
    for (int k = K; k < groups * 4; k++) row[(k >> 2) * gstride + (k & 3)] = 0.0f;
    int k = 0;
    for (int ky = 0; ky < KH; ky++) {
      int iy = src_index(oy * p->step_h + ky * p->dil_h - p->pad_t, p->sdil_h, p->SH);
      const float *srow = iy < 0 ? 0 : img + (long)iy * p->SW * C;
      for (int kx = 0; kx < KW; kx++) {
        int ix = srow ? src_index(ox * p->step_w + kx * p->dil_w - p->pad_l, p->sdil_w, p->SW) : -1;
        const float *px = ix < 0 ? 0 : srow + ix * C;
        if ((C & 3) == 0) {
          /* Whole groups: one vector per 4 channels. */
          for (int c = 0; c < C; c += 4, k += 4)
            wasm_v128_store(row + (k >> 2) * gstride, px ? wasm_v128_load(px + c) : wasm_f32x4_splat(0.0f));
        } else {
          for (int c = 0; c < C; c++, k++) row[(k >> 2) * gstride + (k & 3)] = px ? px[c] : 0.0f;
        }
      }
    }
    if (++ox == p->OW) {
      ox = 0;
      if (++oy == p->OH) {
        oy = 0;
        b++;
      }
    }
  }
}
