#!/bin/bash
# Instruction counts of one RG3 J2KR decode (issue 3), noise-free where timings on the shared VM are
# not: the codestream (the frame's fragments, as the addon gets them) decoded once under callgrind
# with the OpenJPEG that build.mjs compiled from source (or PREFIX), then the functions grouped by
# decoder stage. Needs valgrind and gdcmraw (libgdcm-tools); not run by CI.
#   bash bench/j2k-callgrind.sh [PREFIX] [--branch-sim]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prefix=${1:-$(ls -d "$here"/../native/openjpeg/deps/openjpeg2-*-x86-64-v3 | head -1)}
work=$(mktemp -d /tmp/j2k-callgrind.XXXX)
trap 'rm -rf "$work"' EXIT
gdcmraw -i "$here/../../shared/data/dicom/cr-wg04/RG3_J2KR.dcm" -o "$work/rg3.j2k" -t 7fe0,0010
# -O3 without -march: how node-gyp compiles the addon's conversion.
cc -O3 -I"$prefix/include/openjpeg-2.5" "$here/j2k-callgrind.c" "$prefix/lib/libopenjp2.a" -lm -lpthread -o "$work/drv"
echo "OpenJPEG: $prefix ($(cat "$prefix/carpus-stamp.json" 2>/dev/null | grep -o '"cflags":"[^"]*"' || echo 'no stamp'))"
if [[ "${2:-}" == --branch-sim ]]; then
  valgrind --tool=cachegrind --cache-sim=no --branch-sim=yes --cachegrind-out-file="$work/cg" "$work/drv" "$work/rg3.j2k" 2>&1 | grep -E '^[0-9]+x|I +refs|Branches|Mispred'
  exit 0
fi
valgrind --tool=callgrind --callgrind-out-file="$work/cg" "$work/drv" "$work/rg3.j2k" 2>&1 | grep -E '^[0-9]+x|Collected'
callgrind_annotate --inclusive=yes --threshold=100 "$work/cg" 2>/dev/null | awk '
  /^ *[0-9,]+ / { n = $1; gsub(",", "", n); for (i = 2; i <= NF; i++) if ($i ~ /:/) { f = $i; break } sub(/.*:/, "", f); incl[f] = n }
  END {
    dec = incl["opj_decode"]; pass = 0
    for (f in incl) if (f ~ /^opj_t1_dec_(sig|ref|cln)pass/ && f !~ /_step/) pass += incl[f]
    printf "opj_decode %.1f M instructions (opj_read_header %.1f M, narrowing to 16 bits %.1f M)\n", dec / 1e6, incl["opj_read_header"] / 1e6, incl["narrow16"] / 1e6
    printf "  tier-1 code-block passes (MQ) %5.1f %%\n", 100 * pass / dec
    printf "  code-block buffer zeroing     %5.1f %%\n", 100 * incl["opj_t1_allocate_buffers"] / dec
    printf "  tier-1 total                  %5.1f %%\n", 100 * incl["opj_t1_decode_cblks"] / dec
    printf "  inverse DWT 5/3               %5.1f %%\n", 100 * incl["opj_dwt_decode"] / dec
    printf "  T2 packets                    %5.1f %%\n", 100 * incl["opj_t2_decode_packets"] / dec
    printf "  the rest (DC level shift, set-up, copies) %.1f %%\n", 100 * (dec - incl["opj_t1_decode_cblks"] - incl["opj_dwt_decode"] - incl["opj_t2_decode_packets"]) / dec
  }'
