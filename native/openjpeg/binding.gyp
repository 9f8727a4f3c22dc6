{
  "targets": [
    {
      "target_name": "carpus_openjpeg",
      "sources": ["carpus_openjpeg.c"],
      "cflags": ["<!@(node flags.mjs cflags)"],
      "libraries": ["<!@(node flags.mjs libraries)"],
      "ldflags": ["<!@(node flags.mjs ldflags)"],
      "xcode_settings": { "OTHER_CFLAGS": ["<!@(node flags.mjs cflags)"] }
    }
  ]
}
