/*
 * Decodes one JPEG 2000 codestream once, the way native/openjpeg/carpus_openjpeg.c does (memory
 * stream, strict mode, then the samples narrowed to 16 bits), for instruction counts under
 * valgrind (bench/j2k-callgrind.sh). A C driver of its own because the count must hold the
 * library's work and the addon's conversion only: no Node, no file output, no timing code.
 *
 *   j2k-callgrind CODESTREAM   -> prints columns, rows and an FNV-1a hash of the 16-bit samples
 */
#include <openjpeg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "j2k-memstream.h"

/* The addon's one-component 16-bit path (write_samples), kept out of line so it counts apart. */
__attribute__((noinline)) static void narrow16(uint16_t *out, const OPJ_INT32 *src, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = (uint16_t)src[i];
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  FILE *f = fopen(argv[1], "rb");
  if (!f) return 2;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *bytes = malloc((size_t)len);
  if (!bytes || fread(bytes, 1, (size_t)len, f) != (size_t)len) return 2;
  fclose(f);

  MemSource mem = {bytes, (size_t)len, 0};
  opj_dparameters_t params;
  opj_set_default_decoder_parameters(&params);
  opj_codec_t *codec = opj_create_decompress(bytes[0] == 0xff ? OPJ_CODEC_J2K : OPJ_CODEC_JP2);
  opj_stream_t *stream = opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_TRUE);
  opj_image_t *image = NULL;
  if (!codec || !stream || !opj_setup_decoder(codec, &params) || !opj_decoder_set_strict_mode(codec, OPJ_TRUE)) return 1;
  opj_stream_set_user_data(stream, &mem, NULL);
  opj_stream_set_user_data_length(stream, mem.size);
  opj_stream_set_read_function(stream, mem_read);
  opj_stream_set_skip_function(stream, mem_skip);
  opj_stream_set_seek_function(stream, mem_seek);
  if (!opj_read_header(stream, codec, &image) || !opj_decode(codec, stream, image) || !opj_end_decompress(codec, stream)) {
    fprintf(stderr, "decode failed\n");
    return 1;
  }
  size_t n = (size_t)image->comps[0].w * image->comps[0].h;
  uint16_t *out = malloc(n * 2);
  if (!out) return 1;
  narrow16(out, image->comps[0].data, n);
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ out[i]) * 1099511628211ull;
  printf("%ux%u fnv1a %016llx\n", image->comps[0].w, image->comps[0].h, (unsigned long long)h);
  free(out);
  opj_image_destroy(image);
  opj_stream_destroy(stream);
  opj_destroy_codec(codec);
  free(bytes);
  return 0;
}
