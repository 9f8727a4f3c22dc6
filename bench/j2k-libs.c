/*
 * JPEG 2000 libraries compared on one codestream, in-process (driven by bench/j2k-libs.ts).
 *
 * Why a C driver: the question is which system library to put behind carpus's Node-API addon, so
 * it times the library calls alone, with no Node, file output or process start in the numbers
 * (the opj_decompress / grk_decompress tools spend much of their CPU writing the output file).
 *
 *   j2k-libs CODESTREAM RUNS [keep-memory] [LABEL=LIBOPENJP2.so ...]
 *
 * Decodes the codestream RUNS times with each library, interleaved (OpenJPEG, Grok, OpenJPEG,
 * ...) after one warm-up each, and prints one line per decode:
 *   <library> <wall ms> <process CPU ms> <calling thread CPU ms> <minor page faults>
 * then `identical <library> yes|no` (its samples against the first library's). Grok is built in
 * only with -DHAVE_GROK and runs with one worker thread (the addon's target is one core); its
 * process CPU includes that thread. `keep-memory` raises glibc's mmap and trim thresholds so freed
 * decode buffers are reused instead of being returned to the kernel and faulted in again.
 *
 * OpenJPEG is loaded with dlopen(RTLD_LOCAL), not linked, so that several builds of the same
 * library (same symbol names: the system one and ones compiled from source with other flags or
 * versions) can be timed side by side in one process: the system libopenjp2.so.7 first (the
 * reference), then each LABEL=PATH given.
 */
#include <dlfcn.h>
#include <malloc.h>
#include <openjpeg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "j2k-memstream.h"
#ifdef HAVE_GROK
#include <grok.h>
#endif

static long minor_faults(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

static double ms(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* Samples of one single-component decode, kept from OpenJPEG's warm-up to check the others. */
static int32_t *reference;
static size_t reference_len;

static int compare(const int32_t *data, uint32_t w, uint32_t h, uint32_t stride) {
  if ((size_t)w * h != reference_len) return 0;
  for (uint32_t y = 0; y < h; y++) {
    if (memcmp(data + (size_t)y * stride, reference + (size_t)y * w, w * sizeof(int32_t)) != 0) return 0;
  }
  return 1;
}

/* The OpenJPEG calls the decode makes, from one dlopen()ed build. */
typedef struct {
  const char *(*version)(void);
  void (*set_default_decoder_parameters)(opj_dparameters_t *);
  opj_codec_t *(*create_decompress)(OPJ_CODEC_FORMAT);
  opj_stream_t *(*stream_create)(OPJ_SIZE_T, OPJ_BOOL);
  void (*stream_set_user_data)(opj_stream_t *, void *, opj_stream_free_user_data_fn);
  void (*stream_set_user_data_length)(opj_stream_t *, OPJ_UINT64);
  void (*stream_set_read_function)(opj_stream_t *, opj_stream_read_fn);
  void (*stream_set_skip_function)(opj_stream_t *, opj_stream_skip_fn);
  void (*stream_set_seek_function)(opj_stream_t *, opj_stream_seek_fn);
  OPJ_BOOL (*setup_decoder)(opj_codec_t *, opj_dparameters_t *);
  OPJ_BOOL (*decoder_set_strict_mode)(opj_codec_t *, OPJ_BOOL);
  OPJ_BOOL (*read_header)(opj_stream_t *, opj_codec_t *, opj_image_t **);
  OPJ_BOOL (*decode)(opj_codec_t *, opj_stream_t *, opj_image_t *);
  OPJ_BOOL (*end_decompress)(opj_codec_t *, opj_stream_t *);
  void (*image_destroy)(opj_image_t *);
  void (*stream_destroy)(opj_stream_t *);
  void (*destroy_codec)(opj_codec_t *);
} OpenJpeg;

static void *symbol(void *handle, const char *path, const char *name) {
  void *f = dlsym(handle, name);
  if (!f) {
    fprintf(stderr, "%s: no %s\n", path, name);
    exit(2);
  }
  return f;
}

static void load_openjpeg(OpenJpeg *o, const char *path) {
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
    exit(2);
  }
#define OPJ_SYM(field) *(void **)&o->field = symbol(h, path, "opj_" #field)
  OPJ_SYM(version);
  OPJ_SYM(set_default_decoder_parameters);
  OPJ_SYM(create_decompress);
  OPJ_SYM(stream_create);
  OPJ_SYM(stream_set_user_data);
  OPJ_SYM(stream_set_user_data_length);
  OPJ_SYM(stream_set_read_function);
  OPJ_SYM(stream_set_skip_function);
  OPJ_SYM(stream_set_seek_function);
  OPJ_SYM(setup_decoder);
  OPJ_SYM(decoder_set_strict_mode);
  OPJ_SYM(read_header);
  OPJ_SYM(decode);
  OPJ_SYM(end_decompress);
  OPJ_SYM(image_destroy);
  OPJ_SYM(stream_destroy);
  OPJ_SYM(destroy_codec);
#undef OPJ_SYM
}

/* As native/openjpeg/carpus_openjpeg.c decodes: strict mode, whole image, one call. Returns 1 when
 * the samples equal the reference (or become it). */
static int decode_openjpeg(const OpenJpeg *o, const uint8_t *buf, size_t len) {
  MemSource src = {buf, len, 0};
  opj_dparameters_t params;
  o->set_default_decoder_parameters(&params);
  opj_codec_t *codec = o->create_decompress(OPJ_CODEC_J2K);
  opj_stream_t *stream = o->stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_TRUE);
  opj_image_t *image = NULL;
  o->stream_set_user_data(stream, &src, NULL);
  o->stream_set_user_data_length(stream, len);
  o->stream_set_read_function(stream, mem_read);
  o->stream_set_skip_function(stream, mem_skip);
  o->stream_set_seek_function(stream, mem_seek);
  if (!o->setup_decoder(codec, &params) || !o->decoder_set_strict_mode(codec, OPJ_TRUE) || !o->read_header(stream, codec, &image) ||
      !o->decode(codec, stream, image) || !o->end_decompress(codec, stream)) {
    fprintf(stderr, "OpenJPEG failed\n");
    exit(1);
  }
  const opj_image_comp_t *c = &image->comps[0];
  int same;
  if (!reference) {
    reference_len = (size_t)c->w * c->h;
    reference = malloc(reference_len * sizeof(int32_t));
    memcpy(reference, c->data, reference_len * sizeof(int32_t));
    same = 1;
  } else {
    same = compare(c->data, c->w, c->h, c->w);
  }
  o->image_destroy(image);
  o->stream_destroy(stream);
  o->destroy_codec(codec);
  return same;
}

#ifdef HAVE_GROK
static void grok_quiet(const char *msg, void *user) {
  (void)msg;
  (void)user;
}

static void grok_error(const char *msg, void *user) {
  (void)user;
  fprintf(stderr, "Grok: %s", msg);
}

static int decode_grok(const OpenJpeg *o, const uint8_t *buf, size_t len) {
  (void)o;
  grk_stream_params stream;
  memset(&stream, 0, sizeof stream);
  stream.buf = (uint8_t *)buf;
  stream.len = len;
  grk_decompress_core_params params;
  grk_decompress_set_default_params(&params);
  grk_header_info header;
  memset(&header, 0, sizeof header);
  grk_codec *codec = grk_decompress_init(&stream, &params);
  if (!codec || !grk_decompress_read_header(codec, &header) || !grk_decompress(codec, NULL)) {
    fprintf(stderr, "Grok failed\n");
    exit(1);
  }
  const grk_image *image = grk_decompress_get_composited_image(codec);
  const grk_image_comp *c = &image->comps[0];
  int same = compare(c->data, c->w, c->h, c->stride);
  grk_object_unref(codec);
  return same;
}
#endif

typedef struct {
  const char *name;
  int (*decode)(const OpenJpeg *, const uint8_t *, size_t);
  OpenJpeg openjpeg; /* for decode_openjpeg */
  int identical;
} Library;

enum { MAX_LIBRARIES = 16 };

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: j2k-libs CODESTREAM RUNS [keep-memory] [LABEL=LIBOPENJP2.so ...]\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 2;
  }
  fseek(f, 0, SEEK_END);
  size_t len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc(len);
  if (fread(buf, 1, len, f) != len) return 2;
  fclose(f);
  int runs = atoi(argv[2]);
  Library libs[MAX_LIBRARIES];
  int n = 0;
  libs[n] = (Library){"openjpeg", decode_openjpeg, {0}, 1};
  load_openjpeg(&libs[n].openjpeg, "libopenjp2.so.7");
  printf("version openjpeg %s\n", libs[n].openjpeg.version());
  n++;
  for (int a = 3; a < argc; a++) {
    char *eq = strchr(argv[a], '=');
    if (strcmp(argv[a], "keep-memory") == 0) {
      mallopt(M_MMAP_THRESHOLD, 256 << 20);
      mallopt(M_TRIM_THRESHOLD, 512 << 20);
    } else if (eq && eq != argv[a] && n < MAX_LIBRARIES - 1) {
      *eq = '\0';
      libs[n] = (Library){argv[a], decode_openjpeg, {0}, 1};
      load_openjpeg(&libs[n].openjpeg, eq + 1);
      for (int i = 0; i < n; i++) {
        if (libs[i].decode == decode_openjpeg && libs[i].openjpeg.decode == libs[n].openjpeg.decode) {
          fprintf(stderr, "%s is the same loaded library as %s (same file, or same SONAME found first)\n", eq + 1, libs[i].name);
          return 2;
        }
      }
      printf("version %s %s\n", argv[a], libs[n].openjpeg.version());
      n++;
    } else {
      fprintf(stderr, "unknown argument %s\n", argv[a]);
      return 2;
    }
  }
#ifdef HAVE_GROK
  grk_initialize(NULL, 1); /* one worker thread */
  grk_set_msg_handlers(grok_quiet, NULL, grok_quiet, NULL, grok_error, NULL);
  libs[n++] = (Library){"grok", decode_grok, {0}, 1};
  printf("version grok %s\n", grk_version());
#endif
  for (int i = 0; i < n; i++) libs[i].identical &= libs[i].decode(&libs[i].openjpeg, buf, len); /* warm-up; the system OpenJPEG's is the reference */
  for (int r = 0; r < runs; r++) {
    for (int i = 0; i < n; i++) {
      long faults = minor_faults();
      double wall = ms(CLOCK_MONOTONIC), proc = ms(CLOCK_PROCESS_CPUTIME_ID), thread = ms(CLOCK_THREAD_CPUTIME_ID);
      libs[i].identical &= libs[i].decode(&libs[i].openjpeg, buf, len);
      printf("%s %.2f %.2f %.2f %ld\n", libs[i].name, ms(CLOCK_MONOTONIC) - wall, ms(CLOCK_PROCESS_CPUTIME_ID) - proc, ms(CLOCK_THREAD_CPUTIME_ID) - thread,
             minor_faults() - faults);
    }
  }
  for (int i = 0; i < n; i++) printf("identical %s %s\n", libs[i].name, libs[i].identical ? "yes" : "no");
  return 0;
}
