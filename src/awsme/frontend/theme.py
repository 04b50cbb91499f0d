"""The banner colour: chosen with -ui-color, or derived from the version, so that a
rolling update from one version to the next changes colour on screen."""

from __future__ import annotations

import colorsys
import hashlib


def accent_for(version: str, ui_color: str = "") -> tuple[str, str]:
    """(accent, text colour on it) as CSS colours."""
    if ui_color:
        return ui_color, _contrast(ui_color)
    digest = hashlib.sha256(version.encode()).digest()
    hue = int.from_bytes(digest[:2], "big") % 360
    red, green, blue = colorsys.hls_to_rgb(hue / 360, 0.36, 0.62)  # dark enough for white text
    accent = f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"
    return accent, _contrast(accent)


def _contrast(color: str) -> str:
    """Black or white text, whichever reads better on `color` (white for names)."""
    if not color.startswith("#"):
        return "#ffffff"
    digits = color[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    red, green, blue = (int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4))
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return "#111111" if luminance > 0.6 else "#ffffff"


def theme_css(version: str, ui_color: str = "") -> str:
    accent, contrast = accent_for(version, ui_color)
    return f":root {{ --accent: {accent}; --accent-contrast: {contrast}; }}\n"
