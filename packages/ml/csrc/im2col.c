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
