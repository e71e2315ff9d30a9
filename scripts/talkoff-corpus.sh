#!/usr/bin/env bash
# Regenerates testdata/speech/: about 90 s of synthetic Vietnamese and English speech, 8 kHz 16-bit
# mono, that the in-band DTMF detector must hear no digit in (talk-off). Several voices, pitches
# and speeds, because talk-off hides in particular voices: a high female voice whose harmonics
# land on two DTMF frequencies at once is the classic failure.
#
# Needs espeak-ng and sox. Output is deterministic for a given espeak-ng version; the WAVs are
# committed (about 1.4 MB) so tests do not depend on either tool.
set -euo pipefail
cd "$(dirname "$0")/.."
out=testdata/speech
mkdir -p "$out"
rm -f "$out"/*.wav
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

vi_text="Xin chào, đây là tổng đài bảo hiểm xã hội Việt Nam. Để lấy lại mật khẩu VssID, vui lòng \
bấm phím tám. Mật khẩu mới của \
quý khách là: một, năm, chín, bốn, hai, bảy."
en_text="Thank you for calling the social insurance hotline. To reset your password, press eight. \
Your new password is three, one, four, one, five, nine. The quick brown fox jumps over the lazy dog."

# voice  speed(wpm)  pitch(0-99)  text
while read -r voice speed pitch lang; do
  text=$vi_text
  [[ $lang == en ]] && text=$en_text
  name="${voice//+/_}-s${speed}-p${pitch}"
  espeak-ng -v "$voice" -s "$speed" -p "$pitch" -w "$tmp/$name.wav" "$text"
  sox "$tmp/$name.wav" -r 8000 -b 16 -c 1 "$out/$name.wav" gain -n -3
done <<'VOICES'
vi 150 50 vi
vi+f3 170 70 vi
vi-vn-x-south+m3 130 40 vi
vi-vn-x-central+f5 190 85 vi
en-us 160 50 en
en-gb+f4 175 80 en
en-us+m7 140 30 en
en-gb-scotland+f2 200 99 en
VOICES
soxi -D "$out"/*.wav | paste -sd+ | bc | xargs printf 'total %.1f s\n'
du -sh "$out"
