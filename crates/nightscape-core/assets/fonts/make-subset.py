#!/usr/bin/env python3
"""Makes NotoSansSC-Bold-subset.otf, the font nightscape renders text
layers with (run by hand; the build does not need it).

Needs: Noto Sans CJK Bold (Debian package fonts-noto-cjk, 2.004) and
fonttools (pip install fonttools) for pyftsubset.

The subset is Noto Sans CJK SC Bold cut down to:
  - printable ASCII (U+0020-U+007E);
  - the 3,755 level-1 hanzi of GB 2312 (the most common simplified
    Chinese characters);
  - every character of glyphs.txt (festival and signage words, CJK
    punctuation, a few symbols such as ℃ and ¥).
Layout tables (GSUB/GPOS) and hinting are dropped: text is set one
glyph after another at LED-pixel sizes. Bold, because thin strokes
vanish on a coarse pixel grid. Licence: SIL OFL 1.1 (LICENCE beside it).
"""
import pathlib
import subprocess

HERE = pathlib.Path(__file__).parent
SOURCE = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
SC = 2  # face index of Noto Sans CJK SC in the collection

chars = [chr(c) for c in range(0x20, 0x7F)]
for hi in range(0xB0, 0xD8):  # GB 2312 rows 16-55: level-1 hanzi
    for lo in range(0xA1, 0xFF):
        try:
            chars.append(bytes([hi, lo]).decode("gb2312"))
        except UnicodeDecodeError:
            pass
chars += [c for c in (HERE / "glyphs.txt").read_text(encoding="utf-8") if not c.isspace()]
text = "".join(sorted(set(chars)))
(HERE / "subset-chars.txt").write_text(text + "\n", encoding="utf-8")
subprocess.run(
    ["pyftsubset", SOURCE, f"--font-number={SC}", f"--text-file={HERE / 'subset-chars.txt'}",
     "--layout-features=", "--no-hinting", "--name-IDs=*", "--name-languages=*",
     f"--output-file={HERE / 'NotoSansSC-Bold-subset.otf'}"],
    check=True,
)
