{
  "targets": [
    {
      "target_name": "carpus_openjpeg",
      "sources": ["carpus_openjpeg.c"],
      "cflags": ["<!@(pkg-config --cflags libopenjp2)"],
      "libraries": ["<!@(pkg-config --libs libopenjp2)"],
      "xcode_settings": { "OTHER_CFLAGS": ["<!@(pkg-config --cflags libopenjp2)"] }
    }
  ]
}
