/*
 * carpus_openjpeg: decodes one JPEG 2000 codestream (raw J2K or JP2 file format) in-process with
 * the system OpenJPEG library (Debian libopenjp2-7-dev), for Node through Node-API.
 *
 * Hand-written because no maintained Node binding to OpenJPEG exists on the npm registry (searched
 * 2026-11-27: only WebAssembly or JavaScript ports) and sharp's libvips is built without OpenJPEG;
 * the WebAssembly OpenJPEG took up to a quarter more CPU than this on the 1760x1760 RG3 frame
 * (bench/README.md, "Pixel decode").
 *
 *   decode(codestream: Uint8Array, reduce?: number)
 *     -> { columns, rows, components, precision, signed, data: Buffer }
 *
 *   openjpegVersion: string      opj_version() of the library linked in
 *   openjpegBuild: { library, source, linkage, isa, cflags }   which build that is (see below)
 *
 * `data` holds the samples little endian, colour-by-pixel, one byte per sample at precision <= 8,
 * else two (two's complement when signed). `reduce` drops that many wavelet resolution levels.
 * Every failure (corrupt, truncated or unsupported stream) is thrown as a JavaScript Error with
 * OpenJPEG's first error message: strict mode makes a truncated stream an error rather than a
 * silently partial image, which a lossless decode must never return.
 */
#include <node_api.h>
#include <openjpeg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

/*
 * Which OpenJPEG this is. native/openjpeg/build.mjs either compiles OpenJPEG from Debian's source
 * package for an x86-64 level and force-includes carpus_openjpeg_build.h, which defines these, or
 * links the system libopenjp2 (pkg-config), for which the defaults below hold.
 */
#ifndef CARPUS_OPENJPEG_LIBRARY
#define CARPUS_OPENJPEG_LIBRARY "system"
#define CARPUS_OPENJPEG_SOURCE "libopenjp2 found by pkg-config"
#define CARPUS_OPENJPEG_LINKAGE "shared"
#define CARPUS_OPENJPEG_CFLAGS ""
#endif
/* CARPUS_OPENJPEG_ISA, when defined, is an x86-64 level checked at load (below). */
#ifndef CARPUS_OPENJPEG_ISA_NAME
#ifdef CARPUS_OPENJPEG_ISA
#define CARPUS_OPENJPEG_ISA_NAME CARPUS_OPENJPEG_ISA
#else
#define CARPUS_OPENJPEG_ISA_NAME "as the distribution built it"
#endif
#endif

/*
 * A library compiled for x86-64-v3 or v4 would die with SIGILL on a CPU without AVX2 / AVX-512
 * (a node built on one machine and copied to an older one): refuse to load there instead, so the
 * node falls back to the WASM decoder with a message. __builtin_cpu_supports also checks that the
 * OS saves the AVX registers. Nothing of the library runs before this check.
 */
static const char *cpu_mismatch(void) {
#if defined(CARPUS_OPENJPEG_ISA) && (defined(__x86_64__) || defined(__i386__))
  __builtin_cpu_init();
  if (!__builtin_cpu_supports(CARPUS_OPENJPEG_ISA)) return CARPUS_OPENJPEG_ISA;
#endif
  return NULL;
}

typedef struct {
  const uint8_t *data;
  OPJ_UINT64 size;
  OPJ_UINT64 pos;
} MemStream;

static OPJ_SIZE_T mem_read(void *dst, OPJ_SIZE_T n, void *user) {
  MemStream *s = (MemStream *)user;
  OPJ_UINT64 left = s->size - s->pos;
  if (left == 0) return (OPJ_SIZE_T)-1; /* OpenJPEG's end-of-stream value */
  if ((OPJ_UINT64)n > left) n = (OPJ_SIZE_T)left;
  memcpy(dst, s->data + s->pos, n);
  s->pos += n;
  return n;
}

static OPJ_OFF_T mem_skip(OPJ_OFF_T n, void *user) {
  MemStream *s = (MemStream *)user;
  if (n < 0) {
    if ((OPJ_UINT64)(-n) > s->pos) n = -(OPJ_OFF_T)s->pos;
  } else if ((OPJ_UINT64)n > s->size - s->pos) {
    n = (OPJ_OFF_T)(s->size - s->pos);
  }
  s->pos = (OPJ_UINT64)((OPJ_OFF_T)s->pos + n);
  return n;
}

static OPJ_BOOL mem_seek(OPJ_OFF_T to, void *user) {
  MemStream *s = (MemStream *)user;
  if (to < 0 || (OPJ_UINT64)to > s->size) return OPJ_FALSE;
  s->pos = (OPJ_UINT64)to;
  return OPJ_TRUE;
}

typedef struct {
  char message[400];
} ErrorSink;

/* Keeps the first error: later ones tend to be generic ("failed to decode the codestream"). */
static void on_error(const char *msg, void *user) {
  ErrorSink *e = (ErrorSink *)user;
  if (e->message[0] != '\0') return;
  snprintf(e->message, sizeof e->message, "%s", msg);
  size_t len = strlen(e->message);
  while (len > 0 && (e->message[len - 1] == '\n' || e->message[len - 1] == ' ')) e->message[--len] = '\0';
  for (size_t i = 0; i < len; i++) {
    if (e->message[i] == '\n') e->message[i] = ' '; /* one line for logs */
  }
}

static void on_quiet(const char *msg, void *user) {
  (void)msg;
  (void)user;
}

static napi_value throw_error(napi_env env, const char *prefix, const char *detail) {
  char text[512];
  snprintf(text, sizeof text, "%s%s%s", prefix, detail && detail[0] ? ": " : "", detail ? detail : "");
  napi_throw_error(env, NULL, text);
  return NULL;
}

static int set_number(napi_env env, napi_value obj, const char *name, double value) {
  napi_value v;
  return napi_create_double(env, value, &v) == napi_ok && napi_set_named_property(env, obj, name, v) == napi_ok;
}

/*
 * Asks Linux for transparent huge pages under the fresh output buffer before it is written: every
 * decode gets a new buffer (the caller keeps it), and on the 2-core VM faulting in its 4 KiB pages
 * one by one was the largest cost outside libopenjp2 (about 1,500 faults for the 1760x1760 RG3
 * frame; with this, ~1,000 faults per whole decode instead of ~1,850, bench/README.md). Only the
 * 2 MiB-aligned middle of the buffer is advised (a buffer under 4 MiB may get nothing); with THP
 * set to "never" this changes nothing.
 */
static void huge_pages(void *ptr, size_t len) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const uintptr_t huge = (uintptr_t)2 << 20;
  uintptr_t start = ((uintptr_t)ptr + huge - 1) & ~(huge - 1);
  uintptr_t end = ((uintptr_t)ptr + len) & ~(huge - 1);
  if (end > start) (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
#else
  (void)ptr;
  (void)len;
#endif
}

/*
 * Samples to little-endian bytes, colour-by-pixel. A function of its own, not inlined, because
 * inside decode() GCC took these loops for cold code and left them scalar. For one component the
 * plain narrowing loops vectorise: ~3 ms -> under 1 ms for the RG3 frame (C test, 2026-11-27).
 */
__attribute__((noinline)) static void write_samples(uint8_t *out, const opj_image_t *image, OPJ_UINT32 ncomp, size_t pixels, size_t bytes_per_sample) {
  if (ncomp == 1) {
    const OPJ_INT32 *src = image->comps[0].data;
    if (bytes_per_sample == 1) {
      for (size_t i = 0; i < pixels; i++) out[i] = (uint8_t)src[i];
      return;
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (((uintptr_t)out & 1) == 0) {
      uint16_t *out16 = (uint16_t *)out; /* little-endian host: the stored byte order */
      for (size_t i = 0; i < pixels; i++) out16[i] = (uint16_t)src[i];
      return;
    }
#endif
  }
  for (OPJ_UINT32 c = 0; c < ncomp; c++) {
    const OPJ_INT32 *src = image->comps[c].data;
    if (bytes_per_sample == 1) {
      for (size_t i = 0; i < pixels; i++) out[i * ncomp + c] = (uint8_t)src[i];
    } else {
      for (size_t i = 0; i < pixels; i++) {
        uint16_t v = (uint16_t)src[i]; /* keeps the two's complement bits of a signed sample */
        size_t at = (i * ncomp + c) * 2;
        out[at] = (uint8_t)(v & 0xff);
        out[at + 1] = (uint8_t)(v >> 8);
      }
    }
  }
}

static napi_value decode(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return throw_error(env, "decode: bad call", NULL);

  bool is_typed = false;
  if (argc < 1 || napi_is_typedarray(env, argv[0], &is_typed) != napi_ok || !is_typed) {
    return throw_error(env, "decode: the codestream must be a Uint8Array", NULL);
  }
  napi_typedarray_type ta_type;
  size_t length = 0;
  void *bytes = NULL;
  napi_value ab;
  size_t offset = 0;
  if (napi_get_typedarray_info(env, argv[0], &ta_type, &length, &bytes, &ab, &offset) != napi_ok || ta_type != napi_uint8_array) {
    return throw_error(env, "decode: the codestream must be a Uint8Array", NULL);
  }
  int32_t reduce = 0;
  if (argc >= 2) {
    napi_valuetype t;
    napi_typeof(env, argv[1], &t);
    if (t != napi_undefined && (t != napi_number || napi_get_value_int32(env, argv[1], &reduce) != napi_ok || reduce < 0 || reduce > 32)) {
      return throw_error(env, "decode: reduce must be an integer from 0 to 32", NULL);
    }
  }

  const uint8_t *p = (const uint8_t *)bytes;
  static const uint8_t jp2_signature[12] = {0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20, 0x0d, 0x0a, 0x87, 0x0a};
  OPJ_CODEC_FORMAT format;
  if (length >= 12 && memcmp(p, jp2_signature, 12) == 0) {
    format = OPJ_CODEC_JP2;
  } else if (length >= 4 && p[0] == 0xff && p[1] == 0x4f && p[2] == 0xff && p[3] == 0x51) {
    format = OPJ_CODEC_J2K; /* SOC followed by SIZ */
  } else {
    return throw_error(env, "JPEG 2000: neither a codestream (SOC, SIZ) nor a JP2 file", NULL);
  }

  ErrorSink sink;
  sink.message[0] = '\0';
  MemStream mem = {p, (OPJ_UINT64)length, 0};
  opj_codec_t *codec = NULL;
  opj_stream_t *stream = NULL;
  opj_image_t *image = NULL;
  const char *failure = NULL;
  napi_value result = NULL;

  opj_dparameters_t params;
  opj_set_default_decoder_parameters(&params);
  params.cp_reduce = (OPJ_UINT32)reduce;

  codec = opj_create_decompress(format);
  if (!codec) {
    failure = "cannot create the decoder";
    goto done;
  }
  opj_set_error_handler(codec, on_error, &sink);
  opj_set_warning_handler(codec, on_quiet, NULL);
  opj_set_info_handler(codec, on_quiet, NULL);
  if (!opj_setup_decoder(codec, &params) || !opj_decoder_set_strict_mode(codec, OPJ_TRUE)) {
    failure = "cannot set up the decoder";
    goto done;
  }
  stream = opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_TRUE);
  if (!stream) {
    failure = "cannot create the input stream";
    goto done;
  }
  opj_stream_set_user_data(stream, &mem, NULL);
  opj_stream_set_user_data_length(stream, mem.size);
  opj_stream_set_read_function(stream, mem_read);
  opj_stream_set_skip_function(stream, mem_skip);
  opj_stream_set_seek_function(stream, mem_seek);

  if (!opj_read_header(stream, codec, &image) || !image) {
    failure = "cannot read the header";
    goto done;
  }
  if (!opj_decode(codec, stream, image) || !opj_end_decompress(codec, stream)) {
    failure = "cannot decode";
    goto done;
  }

  OPJ_UINT32 ncomp = image->numcomps;
  if (ncomp != 1 && ncomp != 3) {
    failure = ncomp == 0 ? "no components" : "only 1 or 3 components are supported";
    goto done;
  }
  const opj_image_comp_t *c0 = &image->comps[0];
  for (OPJ_UINT32 c = 0; c < ncomp; c++) {
    const opj_image_comp_t *ci = &image->comps[c];
    if (!ci->data || ci->w != c0->w || ci->h != c0->h || ci->prec != c0->prec || ci->sgnd != c0->sgnd || ci->dx != 1 || ci->dy != 1) {
      failure = "components differ in size, precision or sign, or are subsampled (not supported)";
      goto done;
    }
  }
  if (c0->prec < 1 || c0->prec > 16) {
    failure = "precision above 16 bits is not supported";
    goto done;
  }
  size_t pixels = (size_t)c0->w * (size_t)c0->h;
  size_t bytes_per_sample = c0->prec > 8 ? 2 : 1;
  size_t out_len = pixels * ncomp * bytes_per_sample;
  if (pixels == 0) {
    failure = "empty image";
    goto done;
  }

  napi_value buffer;
  void *out_ptr = NULL;
  if (napi_create_buffer(env, out_len, &out_ptr, &buffer) != napi_ok) {
    failure = "cannot allocate the output buffer";
    goto done;
  }
  huge_pages(out_ptr, out_len);
  write_samples((uint8_t *)out_ptr, image, ncomp, pixels, bytes_per_sample);

  napi_value obj;
  napi_value sgnd;
  if (napi_create_object(env, &obj) != napi_ok || !set_number(env, obj, "columns", c0->w) || !set_number(env, obj, "rows", c0->h) ||
      !set_number(env, obj, "components", ncomp) || !set_number(env, obj, "precision", c0->prec) ||
      napi_get_boolean(env, c0->sgnd != 0, &sgnd) != napi_ok || napi_set_named_property(env, obj, "signed", sgnd) != napi_ok ||
      napi_set_named_property(env, obj, "data", buffer) != napi_ok) {
    failure = "cannot build the result";
    goto done;
  }
  result = obj;

done:
  if (image) opj_image_destroy(image);
  if (stream) opj_stream_destroy(stream);
  if (codec) opj_destroy_codec(codec);
  if (failure) return throw_error(env, "JPEG 2000", sink.message[0] ? sink.message : failure);
  return result;
}

static int set_string(napi_env env, napi_value obj, const char *name, const char *value) {
  napi_value v;
  return napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v) == napi_ok && napi_set_named_property(env, obj, name, v) == napi_ok;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_value version;
  napi_value build;
  const char *missing = cpu_mismatch();
  if (missing) {
    char text[300];
    snprintf(text, sizeof text, "carpus_openjpeg was compiled for %s and this CPU lacks some of its instructions: rebuild it here with `npm run build:native`", missing);
    napi_throw_error(env, NULL, text);
    return NULL;
  }
  if (napi_create_function(env, "decode", NAPI_AUTO_LENGTH, decode, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "decode", fn) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, opj_version(), NAPI_AUTO_LENGTH, &version) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "openjpegVersion", version) != napi_ok) return NULL;
  if (napi_create_object(env, &build) != napi_ok || !set_string(env, build, "library", CARPUS_OPENJPEG_LIBRARY) ||
      !set_string(env, build, "source", CARPUS_OPENJPEG_SOURCE) || !set_string(env, build, "linkage", CARPUS_OPENJPEG_LINKAGE) ||
      !set_string(env, build, "isa", CARPUS_OPENJPEG_ISA_NAME) || !set_string(env, build, "cflags", CARPUS_OPENJPEG_CFLAGS) ||
      napi_set_named_property(env, exports, "openjpegBuild", build) != napi_ok) {
    return NULL;
  }
  return exports;
}
