"""scripts/font_cache.py (run by setup): a font list without matplotlib's own fonts is rebuilt, a good one kept."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "font_cache.py"
FINDS_STIX = ("from matplotlib import font_manager as fm; "
              "print(fm.findfont('STIXGeneral', fallback_to_default=False, rebuild_if_missing=False))")


def python(code_or_script, config_dir: Path) -> subprocess.CompletedProcess:
    args = [str(code_or_script)] if isinstance(code_or_script, Path) else ["-c", code_or_script]
    env = {**os.environ, "MPLCONFIGDIR": str(config_dir)}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=120)


def test_a_font_list_without_matplotlibs_fonts_is_rebuilt(tmp_path):
    assert python(FINDS_STIX, tmp_path).returncode == 0            # builds a good cache in tmp_path
    cache = next(tmp_path.glob("fontlist-v*.json"))
    fonts = json.loads(cache.read_text())
    # matplotlib's own fonts are listed by paths relative to mpl-data; a distribution's matplotlib has none
    fonts["ttflist"] = [f for f in fonts["ttflist"] if Path(f["fname"]).is_absolute()]
    cache.write_text(json.dumps(fonts))
    assert python(FINDS_STIX, tmp_path).returncode != 0, "the broken cache should hide STIXGeneral"

    repaired = python(SCRIPT, tmp_path)
    assert repaired.returncode == 0 and "Rebuilt matplotlib's font cache" in repaired.stdout
    assert "mpl-data" in python(FINDS_STIX, tmp_path).stdout
    again = python(SCRIPT, tmp_path)
    assert again.returncode == 0 and again.stdout == ""             # a good cache is left alone, silently
