/*
 * An OpenJPEG input stream over a byte buffer, shared by the bench drivers (j2k-libs.c,
 * j2k-callgrind.c): OpenJPEG reads only through callbacks, and its own file stream would add
 * file I/O to what the drivers measure.
 */
#ifndef CARPUS_J2K_MEMSTREAM_H
#define CARPUS_J2K_MEMSTREAM_H
#include <openjpeg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
  const uint8_t *data;
  size_t size, pos;
} MemSource;

static OPJ_SIZE_T mem_read(void *dst, OPJ_SIZE_T n, void *user) {
  MemSource *s = user;
  size_t left = s->size - s->pos;
  if (left == 0) return (OPJ_SIZE_T)-1;
  if (n > left) n = left;
  memcpy(dst, s->data + s->pos, n);
  s->pos += n;
  return n;
}

static OPJ_OFF_T mem_skip(OPJ_OFF_T n, void *user) {
  MemSource *s = user;
  if (n > (OPJ_OFF_T)(s->size - s->pos)) n = (OPJ_OFF_T)(s->size - s->pos);
  if (n < -(OPJ_OFF_T)s->pos) n = -(OPJ_OFF_T)s->pos;
  s->pos += n;
  return n;
}

static OPJ_BOOL mem_seek(OPJ_OFF_T to, void *user) {
  MemSource *s = user;
  if (to < 0 || (size_t)to > s->size) return OPJ_FALSE;
  s->pos = (size_t)to;
  return OPJ_TRUE;
}
#endif
